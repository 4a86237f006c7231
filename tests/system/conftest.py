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


# The fault suites print their counts; pytest captures them, so they are shown again in the
# run's summary (every run of `make test` says what the faults did, not only a failing one).
_FAULT_COUNTS: list[tuple[str, str]] = []


def pytest_runtest_logreport(report):
    if report.when == "call" and "/test_faults" in report.nodeid and report.capstdout.strip():
        _FAULT_COUNTS.append((report.nodeid, report.capstdout.strip()))


def pytest_terminal_summary(terminalreporter):
    if _FAULT_COUNTS:
        terminalreporter.section("fault suite counts")
        for nodeid, text in _FAULT_COUNTS:
            terminalreporter.write_line(f"{nodeid}:")
            for line in text.splitlines():
                terminalreporter.write_line(f"    {line}")
