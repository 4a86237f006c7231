import pytest

from tests.system.servers import Database


@pytest.fixture(scope="session")
def database(django_db_blocker):
    with django_db_blocker.unblock():
        db = Database()
    yield db
    db.close()


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/system/" in str(item.fspath):
            item.add_marker(pytest.mark.system)
