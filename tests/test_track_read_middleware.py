"""The hot read answered early (tracks/middleware.py): a token GET of a track, without
cookies, is answered before the middleware only the admin and session clients need (sessions,
CSRF, authentication, messages), with the same answer and headers as the full path. A probe
listed last in MIDDLEWARE shows which requests went the whole way."""

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


def test_the_early_answer_has_the_headers_of_the_full_path(api, probe):
    track = create(api)
    url = f"/api/tracks/{track['id']}/"
    early = read_twice(api, url)
    api.cookies["theme"] = "dark"  # any cookie sends the read the whole way
    full = api.get(url)
    assert probe == [("GET", url)]
    assert early.content == full.content
    ignored = {"X-Request-ID", "X-Track-Cache"}
    assert {k: v for k, v in early.headers.items() if k not in ignored} == \
           {k: v for k, v in full.headers.items() if k not in ignored}
    assert early["X-Frame-Options"] == "DENY"


def test_the_early_answer_still_checks_the_host(api, probe):
    track = create(api)
    url = f"/api/tracks/{track['id']}/"
    read_twice(api, url)
    response = api.get(url, HTTP_HOST="evil.example")
    assert response.status_code == 400


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
    set_script_prefix("/quantum/")  # what WSGIHandler does for SCRIPT_NAME (the test client does not)
    try:
        response = client.get(url, SCRIPT_NAME="/quantum")
    finally:
        clear_script_prefix()
    assert response.status_code == 200 and response.json()["id"] == track["id"]
    assert probe == []
