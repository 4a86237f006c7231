"""Throttles shared through Redis: anonymous clients on everything, authenticated ones on
writes (and search/analysis), never on authenticated reads."""

import pytest

pytestmark = pytest.mark.django_db


def test_anonymous_clients_are_throttled(anon, settings):
    settings.QL_THROTTLE_ANON = "3/min"
    assert [anon.get("/api/tracks/").status_code for _ in range(3)] == [200, 200, 200]
    response = anon.get("/api/tracks/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0 and "detail" in response.json()


def test_authenticated_writes_are_throttled_but_not_reads(api, settings):
    settings.QL_THROTTLE_WRITES = "2/min"
    statuses = [api.post("/api/tracks/", {"title": "a", "artist": "b"}, format="json").status_code
                for _ in range(3)]
    assert statuses == [201, 201, 429]
    assert {api.get("/api/tracks/").status_code for _ in range(10)} == {200}
    assert api.get("/api/tracks/").json()["count"] == 2


def test_off_turns_a_throttle_off(anon, settings):
    settings.QL_THROTTLE_ANON = "off"
    assert {anon.get("/api/youtube/").status_code for _ in range(20)} == {200}


def test_search_and_analysis_have_their_own_throttles(api, settings):
    settings.QL_THROTTLE_SEARCH = "1/min"
    settings.QL_THROTTLE_ANALYSIS = "1/min"
    first = api.get("/api/search/", {"q": "x", "services": "soundcloud"})  # not configured: no call
    assert first.status_code == 200
    assert api.get("/api/search/", {"q": "x", "services": "soundcloud"}).status_code == 429
    assert api.post("/api/analysis/", {"path": "missing.wav"}, format="json").status_code == 404
    assert api.post("/api/analysis/", {"path": "missing.wav"}, format="json").status_code == 429
    # writes to tracks are counted separately
    assert api.post("/api/tracks/", {"title": "a", "artist": "b"}, format="json").status_code == 201


def test_a_spoofed_x_forwarded_for_does_not_escape_the_anonymous_throttle(anon, settings):
    settings.QL_THROTTLE_ANON = "2/min"
    statuses = [anon.get("/api/tracks/", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").status_code for n in range(3)]
    assert statuses == [200, 200, 429]
