"""CORS (API.md, "Browser clients and observability"): origins from
DJANGO_CORS_ALLOWED_ORIGINS; preflights for every method of the API with its request headers;
ETag, Location, Retry-After and X-Request-ID exposed; and the headers on every answer,
including those given before the view: the hot track read (tracks/middleware.py), 503 while
Redis is down (quantumlive/middleware.py and the hot read's own), 429. A preflight needs
neither Redis nor the database."""

import pytest

from tests.test_ops import private_redis  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

ORIGIN = "http://dj-frontend.example:5173"
OTHER = "http://elsewhere.example"
METHODS = {"GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"}
REQUEST_HEADERS = {"authorization", "content-type", "if-match", "if-none-match", "x-request-id"}
EXPOSED = {"etag", "location", "retry-after", "x-request-id"}


@pytest.fixture
def allowed(settings):
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]


def listed(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",") if part.strip()}


def assert_cors(response, origin=ORIGIN):
    assert response["Access-Control-Allow-Origin"] == origin, dict(response.items())
    assert listed(response["Access-Control-Expose-Headers"]) == EXPOSED
    assert "origin" in listed(response["Vary"])
    assert "Access-Control-Allow-Credentials" not in response  # tokens, never cookies


def preflight(client, path, method, headers="authorization, content-type, if-match, if-none-match, x-request-id",
              origin=ORIGIN):
    return client.options(path, HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
                          HTTP_ACCESS_CONTROL_REQUEST_HEADERS=headers)


def create_track(api) -> str:
    response = api.post("/api/tracks/", {"title": "Live Session", "artist": "Quantum Crew"}, format="json")
    assert response.status_code == 201
    return f"/api/tracks/{response.json()['id']}/"


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_preflight_is_accepted_for_every_method_and_header_of_the_api(anon, allowed, method):
    for path in ("/api/tracks/", "/api/tracks/6f1c1d2e-0000-4000-8000-000000000000/", "/api/auth/token/",
                 "/api/playlists/", "/readyz"):
        response = preflight(anon, path, method)
        assert response.status_code == 200 and response.content == b""
        assert response["Access-Control-Allow-Origin"] == ORIGIN
        assert listed(response["Access-Control-Allow-Methods"]) == {m.lower() for m in METHODS}
        assert listed(response["Access-Control-Allow-Headers"]) == REQUEST_HEADERS
        assert int(response["Access-Control-Max-Age"]) > 0
        assert response["X-Request-ID"]  # the request id middleware comes first


def test_an_origin_not_listed_gets_no_cors_headers(anon, api, allowed):
    url = create_track(api)
    for response in (anon.get(url, HTTP_ORIGIN=OTHER), preflight(anon, url, "PATCH", origin=OTHER)):
        assert "Access-Control-Allow-Origin" not in response
        assert "Access-Control-Allow-Methods" not in response


def test_with_no_origins_configured_no_origin_is_allowed(anon, api, settings):
    settings.CORS_ALLOWED_ORIGINS = []
    url = create_track(api)
    assert "Access-Control-Allow-Origin" not in anon.get(url, HTTP_ORIGIN=ORIGIN)
    assert "Access-Control-Allow-Origin" not in preflight(anon, url, "GET")


def test_the_configured_setting_is_read_from_the_environment():
    from quantumlive import settings as project_settings

    assert project_settings.CORS_ALLOWED_ORIGINS == []  # the tests set no DJANGO_CORS_ALLOWED_ORIGINS
    import subprocess
    import sys

    from tests.system.servers import ROOT, base_env

    env = base_env(DJANGO_CORS_ALLOWED_ORIGINS=f" {ORIGIN} , https://b.example ,")
    out = subprocess.run([sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
                          "print(settings.CORS_ALLOWED_ORIGINS)"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60, check=True)
    assert out.stdout.strip() == str([ORIGIN, "https://b.example"])


def test_a_view_answer_exposes_etag_location_and_the_request_id(api, allowed):
    created = api.post("/api/tracks/", {"title": "a", "artist": "b"}, format="json", HTTP_ORIGIN=ORIGIN)
    assert created.status_code == 201 and created["Location"]
    assert_cors(created)
    read = api.get(created["Location"], HTTP_ORIGIN=ORIGIN)
    assert read["ETag"] == '"1"'
    assert_cors(read)


def test_the_hot_read_answered_in_middleware_carries_the_headers(api, token, allowed, settings):
    from quantumlive import auth
    from tests.system.servers import wait_until
    from tests.tracks.test_track_read_middleware import Probe, SEEN

    url = create_track(api)
    # the token is verified and remembered (once the track cache's subscriber vouches for it)
    wait_until(lambda: api.get(url).status_code == 200 and auth.remembered(token), timeout=5,
               what="the token remembered")
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{Probe.__module__}.Probe"]
    SEEN.clear()
    response = api.get(url, HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 200 and SEEN == []  # answered before the view
    assert_cors(response)
    not_modified = api.get(url, HTTP_ORIGIN=ORIGIN, HTTP_IF_NONE_MATCH='"1"')
    assert not_modified.status_code == 304
    assert_cors(not_modified)


def test_a_throttled_answer_carries_the_headers(anon, allowed, settings):
    settings.QL_THROTTLE_ANON = "1/min"
    assert anon.get("/api/tracks/", HTTP_ORIGIN=ORIGIN).status_code == 200
    throttled = anon.get("/api/tracks/", HTTP_ORIGIN=ORIGIN)
    assert throttled.status_code == 429 and throttled["Retry-After"]
    assert_cors(throttled)


def test_errors_carry_the_headers(api, anon, allowed):
    assert_cors(anon.post("/api/tracks/", {}, format="json", HTTP_ORIGIN=ORIGIN))  # 401
    missing = api.get("/api/tracks/00000000-0000-4000-8000-000000000000/", HTTP_ORIGIN=ORIGIN)
    assert missing.status_code == 404
    assert_cors(missing)
    assert_cors(api.patch(create_track(api), {"bpm": 1}, format="json", HTTP_IF_MATCH='"9"',
                          HTTP_ORIGIN=ORIGIN))  # 412


def test_while_redis_is_down_503s_and_preflights_carry_the_headers(api, anon, allowed, private_redis):  # noqa: F811
    url = create_track(api)
    assert api.get(url).status_code == 200  # the token is remembered: the next read is the hot one
    private_redis.stop()
    answers = {
        "token read": api.get(url, HTTP_ORIGIN=ORIGIN),
        "anonymous read (a DRF view)": anon.get(url, HTTP_ORIGIN=ORIGIN),
        "write": api.patch(url, {"notes": "x"}, format="json", HTTP_ORIGIN=ORIGIN),
        "readyz": anon.get("/readyz", HTTP_ORIGIN=ORIGIN),
        "login": anon.post("/api/auth/token/", {"username": "dj", "password": "x"}, format="json",
                           HTTP_ORIGIN=ORIGIN),
    }
    for what, response in answers.items():
        assert response.status_code == 503, what
        assert response["Retry-After"], what
        assert_cors(response)
    for method in ("GET", "PATCH", "DELETE"):
        response = preflight(anon, url, method)
        assert response.status_code == 200 and response["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.parametrize("configuration", [
    {"CORS_ALLOWED_ORIGINS": [ORIGIN, "null"]},
    {"CORS_ALLOWED_ORIGINS": []},
    {"CORS_ALLOWED_ORIGINS": [ORIGIN], "CORS_PREFLIGHT_MAX_AGE": 0, "CORS_EXPOSE_HEADERS": []},
    {"CORS_ALLOWED_ORIGINS": [], "CORS_ALLOWED_ORIGIN_REGEXES": [r"^http://.*\.example$"]},  # the library's path
    {"CORS_ALLOW_ALL_ORIGINS": True},
    {"CORS_ALLOWED_ORIGINS": [ORIGIN], "CORS_ALLOW_CREDENTIALS": True, "CORS_URLS_REGEX": r"^/api/.*$"},
])
def test_the_middleware_answers_header_for_header_as_django_cors_headers_does(configuration, settings):
    """quantumlive/cors.py reads its settings once; its answers are the library's."""
    from corsheaders.middleware import CorsMiddleware as Library
    from django.http import HttpResponse
    from django.test import RequestFactory

    from quantumlive.cors import CorsMiddleware

    for name, value in configuration.items():
        setattr(settings, name, value)

    def view(request):
        response = HttpResponse(b"{}", status=201)
        if request.method != "GET":
            response["Vary"] = "Accept"
        return response

    factory = RequestFactory()
    cases = []
    for origin in (None, ORIGIN, OTHER, "null", "http://[bad", "http://dj-frontend.example:5174"):
        extra = {"HTTP_ORIGIN": origin} if origin else {}
        for method in ("get", "post", "patch", "delete", "head", "options"):
            cases.append((method, "/api/tracks/", extra))
        cases.append(("options", "/api/tracks/", {**extra, "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "PATCH"}))
        cases.append(("get", "/admin/", extra))
    for method, path, extra in cases:
        ours = CorsMiddleware(view)(getattr(factory, method)(path, **extra))
        theirs = Library(view)(getattr(factory, method)(path, **extra))
        assert (ours.status_code, ours.content, sorted(ours.items())) == (
            theirs.status_code, theirs.content, sorted(theirs.items())), (method, path, extra)
