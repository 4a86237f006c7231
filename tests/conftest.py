"""Shared fixtures: the real Redis at REDIS_URL under this run's own key prefix (only those
keys are ever deleted), API clients with and without a token. Imports are lazy so pure
modules' tests also run without Django (`-p no:django`)."""

import pytest
from django.conf import settings


def delete_own_keys(client=None) -> None:
    from quantumlive import keys
    from quantumlive.redis_conn import get_redis

    client = client or get_redis()
    assert settings.QL_REDIS_PREFIX.startswith("qltest"), "tests only delete their own keys"
    batch = keys.keys_of_prefix(client, settings.QL_REDIS_PREFIX)
    client.srem(keys.rq_queue_registry(), keys.rq_queue(settings.QL_REDIS_PREFIX))
    for start in range(0, len(batch), 500):
        client.unlink(*batch[start:start + 500])


@pytest.fixture(autouse=True)
def clean_redis():
    """Each test starts with none of this run's keys and a fresh per-process cache."""
    if not settings.configured:
        yield
        return
    from tracks.cache import reset_process_cache

    reset_process_cache()
    delete_own_keys()
    yield
    reset_process_cache()
    delete_own_keys()


@pytest.fixture
def user(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("dj", password="pw-dj-123456")


@pytest.fixture
def token(user):
    from rest_framework.authtoken.models import Token

    return Token.objects.create(user=user).key


@pytest.fixture
def api(token):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def anon(db):
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture(scope="session", autouse=True)
def clean_redis_at_the_end():
    """Set up first, torn down last: after every process the session started has stopped."""
    yield
    if settings.configured:
        delete_own_keys()


@pytest.fixture
def prefix_of_its_own(settings):
    """A key prefix for this test alone: no other process (an analysis worker, its cache
    subscriber) reads or writes under it."""
    settings.QL_REDIS_PREFIX = settings.QL_REDIS_PREFIX + "-own"
    delete_own_keys()
    yield
    delete_own_keys()


@pytest.fixture
def idle_queue(prefix_of_its_own):
    """No analysis worker listens on this test's queue: a queued job stays queued."""
