"""The hot read answered early (tracks/middleware.py): a token GET of a track, without
cookies, is answered before the middleware only the admin and session clients need (sessions,
CSRF, authentication, messages), with the same answer and headers as the full path. A probe
listed last in MIDDLEWARE shows which requests went the whole way."""

import re

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import clear_script_prefix, set_script_prefix

pytestmark = pytest.mark.django_db

SEEN = []


class Probe:
    """Listed after every other middleware: records the paths that reached it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        SEEN.append((request.method, request.path))
        return self.get_response(request)


@pytest.fixture
def probe():
    SEEN.clear()
    with override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, f"{__name__}.Probe"]):
        yield SEEN


def create(api, **fields):
    response = api.post("/api/tracks/", {"title": "Live Session", "artist": "Quantum Crew", **fields},
                        format="json")
    assert response.status_code == 201, response.content
    return response.json()


def read_twice(api, url):
    """The first read verifies the token through DRF; the second is answered early."""
    api.get(url)
    SEEN.clear()
    return api.get(url)


def test_a_token_read_is_answered_before_the_session_and_csrf_middleware(api, probe):
    track = create(api, cues=[{"start": 0, "end": 1, "waveform": [0.5]}])
    url = f"/api/tracks/{track['id']}/"
    response = read_twice(api, url)
    assert response.status_code == 200
    assert response.json() == {**track, "position": 0}
    assert response["ETag"] == '"1"' and response["X-Track-Cache"] in ("hit", "checked", "miss")
    assert probe == []


def test_a_read_with_cookies_goes_the_whole_way(api, user, probe):
    track = create(api)
    url = f"/api/tracks/{track['id']}/"
    api.force_login(user)  # a session cookie beside the token: the session middleware may matter
    response = read_twice(api, url)
    assert response.status_code == 200 and response.json()["id"] == track["id"]
    assert probe == [("GET", url)]


def test_what_the_early_answer_cannot_give_goes_the_whole_way(api, anon, probe):
    track = create(api)
    url = f"/api/tracks/{track['id']}/"
    read_twice(api, url)
    missing = "/api/tracks/00000000-0000-4000-8000-000000000000/"
    cases = [
        (anon.get(url), 200, url),                      # anonymous: throttled, through DRF
        (api.get(missing), 404, missing),               # no such track
        (api.get("/api/tracks/not-a-uuid/"), 404, "/api/tracks/not-a-uuid/"),
        (api.head(url), 200, url),                      # only GET is answered early
        (api.get(f"{url}move/"), 405, f"{url}move/"),   # another route under the same prefix
    ]
    for response, status, path in cases:
        assert response.status_code == status, (path, response.content)
    assert [path for _, path in probe] == [path for _, _, path in cases]


def early_and_full(api, url, **extra):
    """The same GET answered early and (with a cookie) the whole way."""
    early = api.get(url, **extra)
    api.cookies["theme"] = "dark"  # any cookie sends the read the whole way
    try:
        full = api.get(url, **extra)
    finally:
        del api.cookies["theme"]
    return early, full


def same_headers(early, full):
    ignored = {"X-Request-ID", "X-Track-Cache"}
    return ({k: v for k, v in early.headers.items() if k not in ignored}
            == {k: v for k, v in full.headers.items() if k not in ignored})


def test_the_early_answer_has_the_headers_of_the_full_path(api, probe):
    track = create(api)
    url = f"/api/tracks/{track['id']}/"
    api.get(url)
    SEEN.clear()
    early, full = early_and_full(api, url)
    assert probe == [("GET", url)]  # only the one with a cookie
    assert early.status_code == full.status_code == 200 and early.content == full.content
    assert same_headers(early, full) and early["X-Frame-Options"] == "DENY"
    early, full = early_and_full(api, url, HTTP_IF_NONE_MATCH='"1"')
    assert early.status_code == full.status_code == 304 and same_headers(early, full)


def test_an_error_in_the_early_answer_is_the_500_of_the_full_path(api, probe, monkeypatch):
    track = create(api)
    url = f"/api/tracks/{track['id']}/"
    api.get(url)

    def broken(**kwargs):
        raise RuntimeError("a bug in the hot path")

    monkeypatch.setattr("tracks.store.track_entry", broken)
    api.raise_request_exception = False
    early, full = early_and_full(api, url)
    assert early.status_code == full.status_code == 500
    assert same_headers(early, full) and early["X-Frame-Options"] == "DENY"


def test_a_missing_track_is_looked_up_no_more_often_than_by_the_view_alone(api, monkeypatch):
    from tracks import store

    track = create(api)
    api.get(f"/api/tracks/{track['id']}/")  # the token is verified
    calls = []
    lookup = store.track_entry

    def counted(**kwargs):
        calls.append(kwargs)
        return lookup(**kwargs)

    monkeypatch.setattr("tracks.store.track_entry", counted)
    assert api.get("/api/tracks/00000000-0000-4000-8000-000000000000/").status_code == 404
    assert len(calls) == 2  # the hot path once, DRF's view once (as without the middleware)


def test_the_early_answer_still_checks_the_host_and_the_user_agent(api, probe):
    track = create(api)
    url = f"/api/tracks/{track['id']}/"
    read_twice(api, url)
    assert api.get(url, HTTP_HOST="evil.example").status_code == 400
    with override_settings(DISALLOWED_USER_AGENTS=[re.compile("BadBot")]):
        assert api.get(url, HTTP_USER_AGENT="BadBot/1.0").status_code == 403
    assert probe == []


def test_under_a_script_prefix_the_route_is_matched_without_it(api, token, probe):
    """Deployed under a sub-path (SCRIPT_NAME), path_info is the path after it: the route is
    found without the prefix even when the first request the middleware sees has one."""
    from rest_framework.test import APIClient

    track = create(api)
    url = f"/api/tracks/{track['id']}/"
    api.get(url)  # the token is verified
    client = APIClient()  # a handler of its own: its first request is under the prefix
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    SEEN.clear()
    set_script_prefix("/dj set/")  # what WSGIHandler does for SCRIPT_NAME (the test client does not)
    try:
        response = client.get(url, SCRIPT_NAME="/dj set")
    finally:
        clear_script_prefix()
    assert response.status_code == 200 and response.json()["id"] == track["id"]
    assert probe == []


def test_a_www_redirect_answered_early_is_the_full_paths(api, probe):
    track = create(api)
    url = f"/api/tracks/{track['id']}/"
    api.get(url)
    with override_settings(PREPEND_WWW=True, ALLOWED_HOSTS=["dj.example", "www.dj.example"]):
        early, full = early_and_full(api, url, HTTP_HOST="dj.example")
    assert early.status_code == full.status_code == 301
    assert early["Location"] == "http://www.dj.example" + url and same_headers(early, full)
