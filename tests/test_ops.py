"""/healthz, /readyz, and 503s while Redis is unreachable (a private redis-server we stop)."""

import time

import pytest

from tests.system.servers import PrivateRedis
from tracks.cache import reset_process_cache

pytestmark = pytest.mark.django_db


def test_healthz_answers_ok(anon):
    response = anon.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_reports_both_up(anon):
    response = anon.get("/readyz")
    assert response.status_code == 200 and response.json() == {"redis": "ok", "database": "ok"}


@pytest.fixture
def private_redis(settings):
    server = PrivateRedis().start()
    settings.REDIS_URL = server.url
    reset_process_cache()
    yield server
    reset_process_cache()
    server.close()


def test_while_redis_is_down_the_api_answers_503_fast_and_recovers(api, anon, private_redis):
    created = api.post("/api/tracks/", {"title": "a", "artist": "b"}, format="json")
    assert created.status_code == 201
    track_url = f"/api/tracks/{created.json()['id']}/"
    assert anon.get(track_url).status_code == 200  # now possibly cached in this process
    assert api.get(track_url).status_code == 200  # the token is verified: the hot read

    private_redis.stop()
    calls = [
        lambda: anon.get(track_url),
        lambda: api.get(track_url),
        lambda: anon.get("/api/tracks/"),
        lambda: anon.get("/api/youtube/"),
        lambda: api.post("/api/tracks/", {"title": "c", "artist": "d"}, format="json"),
        lambda: api.patch(track_url, {"notes": "x"}, format="json"),
        lambda: api.post("/api/youtube/", {"url": "dQw4w9WgXcQ"}, format="json"),
    ]
    for call in calls:
        started = time.monotonic()
        response = call()
        assert time.monotonic() - started < 2
        assert response.status_code == 503
        assert response["Retry-After"]
        assert "detail" in response.json()

    health = anon.get("/healthz")
    assert health.status_code == 200
    ready = anon.get("/readyz")
    assert ready.status_code == 503 and ready.json() == {"redis": "down", "database": "ok"}

    private_redis.start()  # same port; this Redis kept nothing
    deadline = time.monotonic() + 10
    while anon.get("/readyz").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert anon.get("/api/tracks/").status_code == 200
    assert anon.get(track_url).status_code == 404  # the data went with that Redis: no stale read
    assert api.post("/api/tracks/", {"title": "c", "artist": "d"}, format="json").status_code == 201
