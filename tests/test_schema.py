"""The OpenAPI document (/api/schema/) and Swagger UI (/api/docs/), and the code tested
against the document (Zulip's habit): real answers of the API validate against the response
schemas it publishes, with every object closed (an undocumented field fails), and every
example in it validates against its own schema.
"""

import copy
import json
import re
from datetime import datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from django.urls import URLPattern, URLResolver, get_resolver

from tests.system.servers import free_port

pytestmark = pytest.mark.django_db

ERROR_CODES = {"401", "429", "503"}  # every /api/ operation
OPERATIONS = {  # (method, path): every status the operation documents
    ("get", "/api/tracks/"): {"200", "400", "414"},
    ("post", "/api/tracks/"): {"201", "400", "403", "413", "415"},
    ("get", "/api/tracks/{track_id}/"): {"200", "304", "404", "414"},
    ("patch", "/api/tracks/{track_id}/"): {"200", "400", "403", "404", "412", "413", "414", "415"},
    ("delete", "/api/tracks/{track_id}/"): {"204", "403", "404", "412", "414"},
    ("post", "/api/tracks/{track_id}/move/"): {"200", "400", "403", "404", "412", "413", "414", "415"},
    ("post", "/api/tracks/{track_id}/apply-analysis/"): {"200", "400", "403", "404", "412", "413", "414", "415"},
    ("get", "/api/tracks/{track_id}/suggestions/"): {"200", "400", "404", "414"},
    ("get", "/api/tracks/{track_id}/waveform.json"): {"200", "304", "400", "404", "414"},
    ("get", "/api/youtube/"): {"200"},
    ("post", "/api/youtube/"): {"200", "201", "400", "403", "413", "415"},
    ("delete", "/api/youtube/{video_id}/"): {"204", "403", "404", "414"},
    ("post", "/api/youtube/compact/"): {"200", "403"},
    ("get", "/api/search/"): {"200", "400", "414"},
    ("post", "/api/search/"): {"200", "400", "403", "413", "415"},
    ("post", "/api/analysis/"): {"200", "202", "400", "403", "404", "413", "415"},
    ("get", "/api/analysis/{job_id}/"): {"200", "404", "414"},
    ("get", "/api/analysis/{job_id}/waveform.json"): {"200", "304", "400", "404", "414"},
    ("get", "/api/playlists/"): {"200", "400", "414"},
    ("post", "/api/playlists/"): {"201", "400", "403", "413", "415"},
    ("get", "/api/playlists/{playlist_id}/"): {"200", "304", "404", "414"},
    ("patch", "/api/playlists/{playlist_id}/"): {"200", "400", "403", "404", "412", "413", "414", "415"},
    ("delete", "/api/playlists/{playlist_id}/"): {"204", "403", "404", "412", "414"},
    ("get", "/api/playlists/{playlist_id}/items/"): {"200", "400", "404", "414"},
    ("post", "/api/playlists/{playlist_id}/items/"): {"201", "400", "403", "404", "412", "413", "414", "415"},
    ("delete", "/api/playlists/{playlist_id}/items/{entry_id}/"): {"204", "403", "404", "412", "414"},
    ("post", "/api/playlists/{playlist_id}/items/remove/"): {"200", "400", "403", "404", "412", "413", "414", "415"},
    ("post", "/api/playlists/{playlist_id}/reorder/"): {"200", "400", "403", "404", "412", "413", "414", "415"},
    ("get", "/api/tracks/export/"): {"200", "400", "414"},
    ("get", "/api/playlists/{playlist_id}/export/"): {"200", "400", "404", "414"},
    ("post", "/api/imports/"): {"200", "202", "400", "403", "413", "415"},
    ("get", "/api/imports/{job_id}/"): {"200", "404", "414"},
    # the login reads no credentials (no 401) and no session (no CSRF 403); the logout takes a
    # token only (no 403)
    ("post", "/api/auth/token/"): {"200", "400", "413", "415"},
    ("post", "/api/auth/logout/"): {"204", "400", "413", "415"},
}
NO_CREDENTIALS = {("post", "/api/auth/token/")}


@pytest.fixture(scope="module")
def document(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    return json.loads(response.content)


# --- the document ------------------------------------------------------------------------
def test_the_document_generates_without_warnings_and_validates(tmp_path):
    from django.core.management import call_command

    target = tmp_path / "schema.yaml"
    # --fail-on-warn: drf-spectacular's warnings and errors (W001/W002 of check --deploy) fail
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert yaml.safe_load(target.read_text())["openapi"] == "3.1.0"


def test_the_served_document_validates_and_its_schemas_are_json_schema(document):
    from drf_spectacular.validation import validate_schema

    validate_schema(document)  # against the OpenAPI 3.1 meta-schema
    for name, schema in document["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)
    assert document["info"]["title"] == "QuantumLive API"
    assert set(document["components"]["securitySchemes"]) == {"tokenAuth", "cookieAuth"}


def test_yaml_and_json_forms_are_served_and_agree(anon, document):
    as_yaml = anon.get("/api/schema/")
    assert as_yaml.status_code == 200
    assert as_yaml["Content-Type"].startswith("application/vnd.oai.openapi")
    assert yaml.safe_load(as_yaml.content) == document
    explicit = anon.get("/api/schema/?format=yaml")
    assert explicit.status_code == 200 and yaml.safe_load(explicit.content) == document
    as_json = anon.get("/api/schema/?format=json")
    assert as_json["Content-Type"] == "application/vnd.oai.openapi+json"


def test_an_unknown_format_is_a_json_404_and_other_methods_405(anon):
    response = anon.get("/api/schema/?format=xml")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}
    response = anon.post("/api/schema/", {}, format="json")
    assert response.status_code == 405 and response.json() == {"detail": 'Method "POST" not allowed.'}


def test_the_schema_ignores_a_bad_token_and_unknown_languages(anon, document):
    anon.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = anon.get("/api/schema/?format=json&lang=xx-nope")
    assert response.status_code == 200 and json.loads(response.content) == document


def _api_routes(patterns=None, prefix=""):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _api_routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def test_every_api_route_and_the_operations_pages_are_in_the_document(document):
    routes = {route for route in _api_routes() if route.startswith("/api/")}
    assert routes == set(document["paths"]) - {"/healthz", "/readyz", "/metrics"}
    assert {"/healthz", "/readyz", "/api/schema/", "/api/docs/"} <= set(document["paths"])


def test_every_operation_documents_exactly_its_answers(document):
    found = {
        (method, path): set(operation["responses"])
        for path, operations in document["paths"].items() if path not in ("/api/schema/", "/api/docs/")
        for method, operation in operations.items() if path.startswith("/api/")
    }
    assert set(found) == set(OPERATIONS)
    for key, statuses in OPERATIONS.items():
        assert found[key] == statuses | (ERROR_CODES - {"401"} if key in NO_CREDENTIALS else ERROR_CODES), key


def test_error_answers_have_drfs_shapes_and_an_example(document):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith(("4", "5")) or status == "414" or not path.startswith("/api/"):
                    continue
                media = response["content"]["application/json"]
                assert media["examples"], (method, path, status)
                expected = ({"anyOf": [{"$ref": "#/components/schemas/Error"},
                                       {"$ref": "#/components/schemas/ValidationError"}]}
                            if status == "400" else {"$ref": "#/components/schemas/Error"})
                assert media["schema"] == expected, (method, path, status)
    retry = document["paths"]["/api/tracks/"]["post"]["responses"]["503"]["headers"]
    assert "Retry-After" in retry


def test_every_operation_has_an_answer_schema_and_the_main_ones_examples(document):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            success = [r for s, r in operation["responses"].items() if s.startswith("2") and s != "204"]
            assert success or method == "delete" or path == "/api/auth/logout/", (method, path)
            for response in success:
                for media in response["content"].values():
                    assert media["schema"], (method, path)
            if path.startswith("/api/") and path not in ("/api/schema/", "/api/docs/", "/api/auth/logout/") \
                    and method != "delete":
                assert any("examples" in media for r in success for media in r["content"].values()), (method, path)


def test_reads_are_open_to_anonymous_clients_and_writes_need_a_token(document):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            anonymous = {} in operation["security"]
            if path in ("/healthz", "/readyz", "/api/schema/", "/api/docs/", "/api/auth/token/"):
                assert operation["security"] == [{}]
            elif path == "/api/auth/logout/":
                assert operation["security"] == [{"tokenAuth": []}]
            elif path in ("/api/search/", "/api/imports/{job_id}/"):  # (an import job: its owner's)
                assert not anonymous
            else:
                assert anonymous == (method == "get"), (method, path)


def test_request_bodies_refuse_unknown_fields(document):
    schemas = document["components"]["schemas"]
    for name in ("TrackCreateRequest", "PatchedTrackPatchRequest", "CueRequest", "MoveRequest",
                 "ApplyAnalysisRequest", "YouTubeAddRequest", "SearchBodyRequest", "AnalysisPathRequest",
                 "AnalysisUploadRequest", "IntervalRequest", "PlaylistCreateRequest",
                 "PatchedPlaylistPatchRequest", "EntriesAddRequest", "EntriesRemoveRequest", "ReorderRequest",
                 "LoginRequest", "LogoutRequest"):
        assert schemas[name]["additionalProperties"] is False, name
    assert schemas["TrackCreateRequest"]["required"] == ["artist", "title"]
    assert "id" in schemas["TrackCreateRequest"]["properties"]  # server-owned: accepted, ignored
    assert schemas["PlaylistCreateRequest"]["required"] == ["name"]
    assert "owner" in schemas["PlaylistCreateRequest"]["properties"]


# --- Swagger UI, offline -----------------------------------------------------------------
class _References(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def local_references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    urls = parser.urls + re.findall(r'url:\s*"([^"]+)"', html)
    assert not re.search(r"https?://", html), "the docs page names an outside address"
    return urls


def test_the_docs_page_uses_only_local_assets_and_they_are_served(anon):
    response = anon.get("/api/docs/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    urls = local_references(response.content.decode())
    assert "/api/schema/" in urls
    assets = [url for url in urls if url.startswith("/static/")]
    assert {url.rsplit("/", 1)[1] for url in assets} == {
        "favicon-32x32.png", "swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"}
    for url in urls:
        assert url.startswith(("/static/", "/api/schema/")), url
        answer = anon.get(url)
        assert answer.status_code == 200, url
        body = b"".join(answer.streaming_content) if answer.streaming else answer.content
        assert len(body) > 500, url


def test_schema_and_docs_answer_while_redis_is_down(anon, api, settings):
    from tracks.cache import reset_process_cache

    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings.REDIS_URL = dead
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": dead}}  # throttles' counters
    reset_process_cache()
    try:
        assert anon.get("/api/tracks/").status_code == 503  # Redis is down indeed
        assert anon.get("/api/schema/").status_code == 200
        assert anon.get("/api/docs/").status_code == 200
    finally:
        reset_process_cache()


# --- real answers against the document (Zulip's habit) -----------------------------------
def _closed(schema):
    """A copy where every object that lists its properties allows no other."""
    if isinstance(schema, dict):
        schema = {key: _closed(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


def _is_datetime(value) -> bool:
    if not isinstance(value, str):
        return True  # formats only speak of strings
    if not value.endswith("Z"):
        return False
    try:
        datetime.fromisoformat(value[:-1] + "+00:00")
    except ValueError:
        return False
    return "T" in value


def _is_uri(value) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


FORMATS = jsonschema.FormatChecker()
FORMATS.checks("date-time")(_is_datetime)
FORMATS.checks("uri")(_is_uri)


class Contract:
    def __init__(self, document):
        self.document = document
        self.components = _closed(document["components"])

    def operation(self, method: str, path: str) -> dict:
        return self.document["paths"][path][method]

    def validate(self, value, schema):
        root = {**_closed(schema), "components": self.components}
        jsonschema.Draft202012Validator(root, format_checker=FORMATS).validate(value)

    def check(self, response, method: str, path: str):
        """The answer's status is documented for the operation, with its content type,
        required headers and body schema."""
        documented = self.operation(method, path)["responses"]
        status = str(response.status_code)
        assert status in documented, f"{method.upper()} {path}: {status} is not documented"
        spec = documented[status]
        for name, header in spec.get("headers", {}).items():
            if header.get("required"):
                assert name in response, f"{method.upper()} {path} {status}: no {name} header"
        if "content" not in spec:
            assert not response.content, f"{method.upper()} {path} {status}: a body was not documented"
            return None
        media_type = response["Content-Type"].split(";")[0]
        assert media_type in spec["content"], f"{method.upper()} {path} {status}: {media_type}"
        body = json.loads(response.content)
        self.validate(body, spec["content"][media_type]["schema"])
        return body


@pytest.fixture
def contract(document):
    return Contract(document)


@pytest.fixture
def offline_search(settings):
    """Search with every provider failing fast on 127.0.0.1 (nothing is ever fetched)."""
    dead = f"http://127.0.0.1:{free_port()}"
    settings.ITUNES_API_URL = settings.SOUNDCLOUD_API_URL = settings.YOUTUBE_API_URL = dead
    settings.SOUNDCLOUD_CLIENT_ID = settings.YOUTUBE_API_KEY = ""
    settings.QL_SEARCH_DEADLINE = 1.0


TRACKS = "/api/tracks/"
TRACK = "/api/tracks/{track_id}/"
FULL_TRACK = {
    "title": "Live Session", "artist": "Quantum Crew", "bpm": 124, "key": "am", "duration": 301.2,
    "genres": ["house", "Latin", "HOUSE"], "sources": {"youtube": "https://youtu.be/dQw4w9WgXcQ"},
    "notes": "warm-up", "cues": [{"start": 0, "end": 7.74, "waveform": [0, 0.5, 1]}, {"name": "drop", "start": 8, "end": 9}],
}


def test_track_answers_match_the_document(api, anon, contract):
    created = api.post(TRACKS, FULL_TRACK, format="json")
    track = contract.check(created, "post", TRACKS)
    assert track["key"] == "A minor" and track["camelot"] == "8A" and track["cues"][0]["name"] == "cue_0"
    bare = contract.check(api.post(TRACKS, {"title": "t", "artist": "a"}, format="json"), "post", TRACKS)
    assert bare["bpm"] is None and bare["key"] is None and bare["notes"] is None
    url = f"{TRACKS}{track['id']}/"

    contract.check(anon.get(url), "get", TRACK)
    contract.check(api.get(url), "get", TRACK)  # the hot path's own answer
    not_modified = api.get(url, HTTP_IF_NONE_MATCH='"1"')
    assert not_modified.status_code == 304
    contract.check(not_modified, "get", TRACK)
    contract.check(api.patch(url, {"notes": None, "bpm": 126.5}, format="json", HTTP_IF_MATCH='"1"'), "patch", TRACK)
    contract.check(api.post(f"{url}move/", {"position": 5}, format="json"), "post", "/api/tracks/{track_id}/move/")

    for query in ("", "?limit=1", "?limit=1&offset=1", "?genre=latin&bpm_min=100&key=A%20minor"):
        page = contract.check(anon.get(TRACKS + query), "get", TRACKS)  # list cues: no waveform
        assert page["results"], query
    contract.check(api.delete(url), "delete", TRACK)


def test_suggestions_and_dj_filters_match_the_document(api, anon, contract):
    first = api.post(TRACKS, {**FULL_TRACK, "key": "8A", "bpm": 124}, format="json").json()
    api.post(TRACKS, {**FULL_TRACK, "key": "9A", "bpm": 126}, format="json")
    bare = api.post(TRACKS, {"title": "t", "artist": "a"}, format="json").json()
    path = "/api/tracks/{track_id}/suggestions/"
    body = contract.check(anon.get(f"{TRACKS}{first['id']}/suggestions/?bpm_tolerance=6&limit=5"), "get", path)
    assert [item["relation"] for item in body["results"]] == ["+1"]
    contract.check(anon.get(f"{TRACKS}{bare['id']}/suggestions/"), "get", path)  # 400: no key
    contract.check(anon.get(f"{TRACKS}{first['id']}/suggestions/?limit=0"), "get", path)
    contract.check(anon.get(f"{TRACKS}{first['id']}x/suggestions/"), "get", path)  # 404
    for query in ("?camelot=8A&ordering=-bpm", "?compatible_with=1m&ordering=key"):
        assert contract.check(anon.get(TRACKS + query), "get", TRACKS)["results"], query
    contract.check(anon.get(TRACKS + "?ordering=nope"), "get", TRACKS)


def test_track_errors_match_the_document(api, anon, contract):
    track = api.post(TRACKS, {"title": "t", "artist": "a"}, format="json").json()
    url = f"{TRACKS}{track['id']}/"
    cases = [
        (anon.post(TRACKS, {"title": "t", "artist": "a"}, format="json"), "post", TRACKS, 401),
        (api.post(TRACKS, {"artist": "a", "colour": "red"}, format="json"), "post", TRACKS, 400),
        (api.post(TRACKS, {"title": "t", "artist": "a", "cues": [{"start": 2, "end": 1, "x": 0}]}, format="json"),
         "post", TRACKS, 400),
        (api.post(TRACKS, b"{not json", content_type="application/json"), "post", TRACKS, 400),
        (api.post(TRACKS, b"[1, 2]", content_type="application/json"), "post", TRACKS, 400),
        (api.post(TRACKS, b"title=t", content_type="text/plain"), "post", TRACKS, 415),
        (anon.get(TRACKS + "?limit=0&bpm_min=x"), "get", TRACKS, 400),
        (anon.get(f"{TRACKS}not-a-uuid/"), "get", TRACK, 404),
        (api.get(f"{TRACKS}6f1c2d4e-8b7a-4c3d-9e2f-0a1b2c3d4e5f/"), "get", TRACK, 404),
        (api.patch(url, {}, format="json"), "patch", TRACK, 400),
        (api.patch(url, {"cues": [{"end": 1}]}, format="json"), "patch", TRACK, 400),
        (api.patch(url, {"bpm": 1}, format="json", HTTP_IF_MATCH='"7"'), "patch", TRACK, 412),
        (api.delete(url, HTTP_IF_MATCH="nonsense"), "delete", TRACK, 412),
        (api.post(f"{url}move/", {"position": -1}, format="json"), "post", "/api/tracks/{track_id}/move/", 400),
        (api.post(f"{url}apply-analysis/", {"analysis": "nope"}, format="json"),
         "post", "/api/tracks/{track_id}/apply-analysis/", 400),
        (api.put(url, {"title": "t"}, format="json"), None, None, 405),
    ]
    for response, method, path, status in cases:
        assert response.status_code == status, (method, path, response.content)
        if method is None:
            assert set(response.json()) == {"detail"}
            continue
        body = contract.check(response, method, path)
        assert body


def test_a_body_over_the_limit_is_a_documented_413(api, contract, settings):
    settings.QL_MAX_BODY_MB = 1
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2**20
    big = json.dumps({"title": "t", "artist": "a", "notes": "x" * (2**20)})
    response = api.post(TRACKS, big, content_type="application/json")
    assert response.status_code == 413
    contract.check(response, "post", TRACKS)


def test_youtube_answers_match_the_document(api, anon, contract):
    created = api.post("/api/youtube/", {"url": "https://youtu.be/dQw4w9WgXcQ"}, format="json")
    assert created.status_code == 201
    contract.check(created, "post", "/api/youtube/")
    again = api.post("/api/youtube/", {"url": "dQw4w9WgXcQ"}, format="json")
    assert again.status_code == 200
    contract.check(again, "post", "/api/youtube/")
    assert contract.check(anon.get("/api/youtube/"), "get", "/api/youtube/")["count"] == 1
    contract.check(api.post("/api/youtube/compact/"), "post", "/api/youtube/compact/")
    contract.check(api.post("/api/youtube/", {"url": "https://vimeo.com/1"}, format="json"), "post", "/api/youtube/")
    contract.check(api.delete("/api/youtube/dQw4w9WgXcQ/"), "delete", "/api/youtube/{video_id}/")
    missing = api.delete("/api/youtube/dQw4w9WgXcQ/")
    assert missing.status_code == 404
    contract.check(missing, "delete", "/api/youtube/{video_id}/")


def test_search_answers_match_the_document(api, anon, contract, offline_search):
    answer = contract.check(api.get("/api/search/?q=afrohouse&services=itunes,youtube"), "get", "/api/search/")
    assert set(answer["services"]) == {"itunes", "youtube"}
    assert answer["services"]["youtube"]["status"] == "not_configured"
    contract.check(api.post("/api/search/", {"query": "x", "limit": 3}, format="json"), "post", "/api/search/")
    for response, method in ((api.get("/api/search/?q=x&services=napster"), "get"),
                             (api.post("/api/search/", {"query": ""}, format="json"), "post"),
                             (anon.get("/api/search/?q=x"), "get")):
        assert response.status_code in (400, 401)
        contract.check(response, method, "/api/search/")


def test_analysis_answers_match_the_document(api, anon, contract, settings, tmp_path):
    settings.QL_AUDIO_ROOT = tmp_path / "audio"
    settings.QL_UPLOAD_DIR = tmp_path / "uploads"
    (tmp_path / "audio").mkdir()
    with open(tmp_path / "noise.wav", "wb") as handle:
        handle.write(b"RIFF\xd8\x07\x00\x00WAVE" + bytes(2000))  # a WAV by its bytes: not refused at submit
    with open(tmp_path / "noise.wav", "rb") as handle:  # no worker runs here: the job stays queued
        queued = api.post("/api/analysis/", {"file": handle, "auto_cues": "false"}, format="multipart")
    assert queued.status_code == 202
    job = contract.check(queued, "post", "/api/analysis/")
    contract.check(anon.get(f"/api/analysis/{job['id']}/"), "get", "/api/analysis/{job_id}/")
    for response, method, path in (
        (api.post("/api/analysis/", {"path": "missing.wav"}, format="json"), "post", "/api/analysis/"),
        (api.post("/api/analysis/", {"path": "../etc/passwd"}, format="json"), "post", "/api/analysis/"),
        (api.post("/api/analysis/", {"path": "x" * 4000}, format="json"), "post", "/api/analysis/"),
        (api.post("/api/analysis/", {"path": "a.wav", "bpm_range": [200, 100]}, format="json"), "post", "/api/analysis/"),
        (anon.get("/api/analysis/nope/"), "get", "/api/analysis/{job_id}/"),
    ):
        assert response.status_code in (400, 404), response.content
        contract.check(response, method, path)


PLAYLISTS = "/api/playlists/"
PLAYLIST = "/api/playlists/{playlist_id}/"
ITEMS = "/api/playlists/{playlist_id}/items/"


def test_playlist_answers_match_the_document(api, anon, contract):
    track = api.post(TRACKS, FULL_TRACK, format="json").json()
    created = api.post(PLAYLISTS, {"name": "Friday", "public": True}, format="json")
    playlist = contract.check(created, "post", PLAYLISTS)
    url = f"{PLAYLISTS}{playlist['id']}/"
    contract.check(anon.get(url), "get", PLAYLIST)
    not_modified = anon.get(url, HTTP_IF_NONE_MATCH='"1"')
    assert not_modified.status_code == 304
    contract.check(not_modified, "get", PLAYLIST)
    contract.check(api.patch(url, {"description": "warm"}, format="json", HTTP_IF_MATCH='"1"'), "patch", PLAYLIST)
    added = contract.check(api.post(f"{url}items/", {"tracks": [track["id"]] * 3}, format="json"), "post", ITEMS)
    assert added["entries"][0]["track"]["cues"][0] == {"name": "cue_0", "start": 0.0, "end": 7.74}
    page = contract.check(anon.get(f"{url}items/?limit=1&offset=1"), "get", ITEMS)
    assert page["next"] and page["previous"]
    for query in ("", "?owner=me&q=fri&limit=1", "?owner=dj"):
        assert contract.check(api.get(PLAYLISTS + query), "get", PLAYLISTS)["results"], query
    contract.check(api.post(f"{url}reorder/", {"range_start": 0, "insert_before": 3}, format="json"),
                   "post", f"{PLAYLIST}reorder/")
    entries = [entry["entry"] for entry in added["entries"]]
    contract.check(api.post(f"{url}items/remove/", {"entries": entries[:1]}, format="json"),
                   "post", f"{ITEMS}remove/")
    contract.check(api.delete(f"{url}items/{entries[1]}/"), "delete", f"{ITEMS}{{entry_id}}/")
    contract.check(api.delete(url), "delete", PLAYLIST)


def test_playlist_errors_match_the_document(api, anon, contract, django_user_model):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    guest = APIClient()
    guest.credentials(HTTP_AUTHORIZATION="Token " + Token.objects.create(
        user=django_user_model.objects.create_user("guest", password="pw-guest-123456")).key)
    public = api.post(PLAYLISTS, {"name": "p", "public": True}, format="json").json()
    private = api.post(PLAYLISTS, {"name": "q"}, format="json").json()
    url, hidden = f"{PLAYLISTS}{public['id']}/", f"{PLAYLISTS}{private['id']}/"
    missing = "6f1c2d4e-8b7a-4c3d-9e2f-0a1b2c3d4e5f"
    cases = [
        (anon.post(PLAYLISTS, {"name": "x"}, format="json"), "post", PLAYLISTS, 401),
        (api.post(PLAYLISTS, {"name": "", "colour": 1}, format="json"), "post", PLAYLISTS, 400),
        (anon.get(PLAYLISTS + "?limit=0"), "get", PLAYLISTS, 400),
        (anon.get(hidden), "get", PLAYLIST, 404),
        (guest.patch(url, {"name": "x"}, format="json"), "patch", PLAYLIST, 403),
        (guest.patch(hidden, {"name": "x"}, format="json"), "patch", PLAYLIST, 404),
        (api.patch(url, {}, format="json"), "patch", PLAYLIST, 400),
        (api.patch(url, {"name": "x"}, format="json", HTTP_IF_MATCH='"9"'), "patch", PLAYLIST, 412),
        (guest.delete(url), "delete", PLAYLIST, 403),
        (api.delete(url, HTTP_IF_MATCH="nonsense"), "delete", PLAYLIST, 412),
        (anon.get(f"{hidden}items/"), "get", ITEMS, 404),
        (anon.get(f"{url}items/?offset=-1"), "get", ITEMS, 400),
        (api.post(f"{url}items/", {"tracks": [missing]}, format="json"), "post", ITEMS, 400),
        (api.post(f"{url}items/", {"tracks": ["x"], "position": -1}, format="json"), "post", ITEMS, 400),
        (guest.post(f"{url}items/", {"tracks": [missing]}, format="json"), "post", ITEMS, 403),
        (api.delete(f"{url}items/{missing}/"), "delete", f"{ITEMS}{{entry_id}}/", 404),
        (api.post(f"{url}items/remove/", {"entries": [missing]}, format="json"), "post", f"{ITEMS}remove/", 400),
        (api.post(f"{url}reorder/", {"range_start": 0, "insert_before": 0}, format="json"),
         "post", f"{PLAYLIST}reorder/", 400),
        (api.put(url, {"name": "x"}, format="json"), None, None, 405),
    ]
    for response, method, path, status in cases:
        assert response.status_code == status, (method, path, response.content)
        if method is None:
            assert set(response.json()) == {"detail"}
            continue
        assert contract.check(response, method, path)


def test_operations_answers_match_the_document(anon, contract):
    from django.test import Client

    contract.check(anon.get("/healthz"), "get", "/healthz")
    contract.check(anon.get("/readyz"), "get", "/readyz")
    scrape = anon.get("/metrics")  # text, not JSON: its status and type only
    assert scrape["Content-Type"].split(";")[0] in contract.operation("get", "/metrics")["responses"][
        str(scrape.status_code)]["content"]
    contract.check(Client(REMOTE_ADDR="192.0.2.7").get("/metrics"), "get", "/metrics")
    for url in ("/healthz", "/readyz", "/metrics"):
        refused = anon.post(url)
        assert refused.status_code == 405 and refused["Allow"] == "GET, HEAD"


def test_the_contract_check_catches_an_undocumented_field(contract):
    track = {"id": "6f1c2d4e-8b7a-4c3d-9e2f-0a1b2c3d4e5f", "title": "t", "artist": "a", "bpm": None,
             "key": None, "camelot": None, "open_key": None, "duration": None, "genres": [], "sources": {},
             "notes": None, "location": None, "beatgrid": None, "mix_in": None, "mix_out": None, "loudness": None,
             "cues": [], "position": 0, "version": 1, "created": "2026-11-28T23:30:00.000Z",
             "updated": "2026-11-28T23:30:00.000Z"}
    schema = {"$ref": "#/components/schemas/Track"}
    contract.validate(track, schema)
    for broken in ({**track, "extra": 1}, {**track, "key": "H minor"}, {**track, "created": "yesterday"},
                   {k: v for k, v in track.items() if k != "version"}):
        with pytest.raises(jsonschema.ValidationError):
            contract.validate(broken, schema)


def test_every_example_in_the_document_matches_its_schema(contract, document):
    checked = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            bodies = [operation.get("requestBody", {})] + list(operation["responses"].values())
            for body in bodies:
                for media in body.get("content", {}).values():
                    for name, example in media.get("examples", {}).items():
                        contract.validate(copy.deepcopy(example["value"]), media["schema"])
                        checked += 1
    assert checked >= 40
