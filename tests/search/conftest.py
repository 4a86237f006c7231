import pytest

from tests.search.fakes import Fakes

DEADLINE = 1.0


@pytest.fixture
def fakes(settings):
    """The three fake services, the app pointed at them with credentials, a 1 s deadline.
    At teardown no call of the search pool is left running (it could write to Redis)."""
    from search import pool

    upstream = Fakes()
    for name, value in upstream.settings().items():
        setattr(settings, name, value)
    settings.QL_SEARCH_DEADLINE = DEADLINE
    settings.QL_SEARCH_CACHE_TTL = 600
    yield upstream
    upstream.stop()
    assert pool.wait_idle(5), "search calls still running after the test"


@pytest.fixture
def user(db):
    """The API tests' user, without a password: hashing one costs ~0.4 s a test."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("dj")
