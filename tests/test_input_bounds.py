"""API.md, "Bad input, bounded": every string is length-checked before any parsing or
matching, so a 200,000-character value costs about what a 2-character one does (issue 12,
finding 1), and JSON types are strict (finding 10).

Timings are ratios measured side by side: the fastest of several runs of the big value
against the fastest of as many runs of the small one, through the real API (DRF's test
client, the whole middleware stack). The big values are the adversarial ones: for `key`,
"A" + "b" * n + "!" made the old key pattern backtrack quadratically (8,000 characters took
about 1 s; 200,000 would take minutes)."""

import time

import pytest

pytestmark = pytest.mark.django_db

TRACKS = "/api/tracks/"
BIG = 200_000
RUNS = 5
# Generous for a loaded 2-core machine: a linear check of a 200 KB body is a few ms, like a
# 2-character value's full path; the old quadratic key pattern was 10,000 x slower.
MAX_RATIO = 20


def fastest(call, runs: int = RUNS) -> tuple[float, object]:
    best, response = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        response = call()
        best = min(best, time.perf_counter() - start)
    return best, response


def assert_bounded(big_call, small_call):
    """The big value is a 400 and costs at most MAX_RATIO times the small one."""
    fastest(small_call, 1)  # warm-up (imports, first connection)
    small, _ = fastest(small_call)
    big, response = fastest(big_call)
    assert response.status_code == 400, response.content[:300]
    assert big <= MAX_RATIO * small, f"big {big * 1000:.1f} ms vs small {small * 1000:.1f} ms"


def adversarial_key(length: int) -> str:
    return "A" + "b" * (length - 2) + "!"


@pytest.fixture
def track(api):
    response = api.post(TRACKS, {"title": "t", "artist": "a"}, format="json")
    assert response.status_code == 201
    return response.json()


# --- finding 1: big values through the API --------------------------------------------------
@pytest.mark.parametrize("field, big, small", [
    ("key", adversarial_key(BIG), "Am"),
    ("key", "A" + " " * (BIG - 2) + "!", "Am"),
    ("title", "x" * BIG, "ab"),
    ("artist", "x" * BIG, "ab"),
    ("genres", ["g" * BIG], ["ab"]),
    ("notes", "n" * BIG, "ab"),
    ("sources", {"web": "https://x.org/" + "a" * BIG}, {"web": "ab"}),
    ("sources", {"w" * BIG: "https://x.org/"}, {"ab": "https://x.org/"}),
    ("cues", [{"name": "n" * BIG, "start": 0, "end": 1}], [{"name": "ab", "start": 0, "end": 1}]),
])
def test_a_big_value_in_a_create_costs_like_a_small_one(api, field, big, small):
    def post(value):
        return lambda: api.post(TRACKS, {"title": "t", "artist": "a", field: value}, format="json")

    assert_bounded(post(big), post(small))


@pytest.mark.parametrize("field, big, small", [
    ("key", adversarial_key(BIG), "Am"),
    ("title", "x" * BIG, "ab"),
    ("genres", ["g" * BIG], ["ab"]),
    ("sources", {"web": "https://x.org/" + "a" * BIG}, {"web": "https://x.org/"}),
])
def test_a_big_value_in_a_patch_costs_like_a_small_one(api, track, field, big, small):
    url = f"{TRACKS}{track['id']}/"

    def patch(value):
        return lambda: api.patch(url, {field: value}, format="json")

    assert_bounded(patch(big), patch(small))


@pytest.mark.parametrize("param, big, small", [
    ("key", adversarial_key(BIG), "Am"),
    ("q", "q" * BIG, "ab"),
    ("genre", "g" * BIG, "ab"),
    ("bpm_min", "1" * BIG, "12"),
    ("limit", "1" * BIG, "10"),
])
def test_a_big_list_filter_costs_like_a_small_one(anon, param, big, small):
    def get(value):
        return lambda: anon.get(TRACKS, {param: value})

    assert_bounded(get(big), get(small))


def test_a_big_youtube_url_costs_like_a_small_one(api):
    def post(value):
        return lambda: api.post("/api/youtube/", {"url": value}, format="json")

    assert_bounded(post("https://www.youtube.com/watch?v=" + "a" * BIG), post("ab"))


def test_big_conditional_headers_cost_like_small_ones(api, track):
    url = f"{TRACKS}{track['id']}/"
    big_tag = " " * BIG + "x"

    def patch(tag):
        return lambda: api.patch(url, {"notes": "n"}, format="json", HTTP_IF_MATCH=tag)

    fastest(patch('"1"'), 1)
    small, _ = fastest(patch("x"))
    big, response = fastest(patch(big_tag))
    assert response.status_code == 412
    assert big <= MAX_RATIO * small


def test_a_big_value_is_not_echoed_in_the_error(api):
    response = api.post(TRACKS, {"title": "t", "artist": "a", "key": adversarial_key(BIG),
                                 "sources": {"w" * BIG: "https://x.org/"}}, format="json")
    assert response.status_code == 400
    assert len(response.content) < 1000, response.content[:300]


def test_an_oversized_list_is_refused_before_its_items_are_validated(api):
    response = api.post("/api/tracks/", {"title": "a", "artist": "b", "cues": [{"start": -1}] * 20000},
                        format="json")
    assert response.status_code == 400
    assert response.json() == {"cues": ["Ensure this field has no more than 512 elements."]}


# --- finding 10: strict JSON types ----------------------------------------------------------
BASE = {"title": "t", "artist": "a"}
CUE = {"start": 0, "end": 1}

# (field, a value of the wrong JSON type), for every field of a track body.
WRONG_TRACK_TYPES = [
    ("title", 5), ("title", 1.5), ("title", True), ("title", ["t"]), ("title", {"t": 1}),
    ("artist", 5), ("artist", False), ("artist", ["a"]),
    ("bpm", "120"), ("bpm", True), ("bpm", [120]), ("bpm", {"v": 120}),
    ("key", 7), ("key", True), ("key", ["Am"]),
    ("duration", "60"), ("duration", False), ("duration", [60]),
    ("genres", [5]), ("genres", [True]), ("genres", [["house"]]), ("genres", {"a": "house"}),
    ("genres", "house"),
    ("sources", {"web": 5}), ("sources", {"web": ["https://x.org/"]}), ("sources", ["https://x.org/"]),
    ("sources", "https://x.org/"),
    ("notes", 5), ("notes", ["n"]), ("notes", {"n": 1}),
    ("cues", {"0": CUE}), ("cues", [[0, 1]]), ("cues", ["0-1"]),
    ("cues", [{**CUE, "name": 5}]), ("cues", [{**CUE, "start": "0"}]), ("cues", [{**CUE, "end": "1"}]),
    ("cues", [{**CUE, "start": False}]), ("cues", [{**CUE, "waveform": {"0": 1}}]),
    ("cues", [{**CUE, "waveform": ["0.5"]}]), ("cues", [{**CUE, "waveform": [True]}]),
]


@pytest.mark.parametrize("field, value", WRONG_TRACK_TYPES + [
    ("position", "1"), ("position", 1.5), ("position", True), ("position", [1]),
    ("analysis", 5), ("analysis", ["id"]),
])
def test_a_create_with_a_wrong_json_type_is_400(api, field, value):
    response = api.post(TRACKS, {**BASE, field: value}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert api.get(TRACKS).json()["count"] == 0


@pytest.mark.parametrize("field, value", WRONG_TRACK_TYPES)
def test_a_patch_with_a_wrong_json_type_is_400_and_changes_nothing(api, track, field, value):
    url = f"{TRACKS}{track['id']}/"
    response = api.patch(url, {field: value}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert api.get(url).json() == track


@pytest.mark.parametrize("value", ["1", 1.5, True, None, [1], {"p": 1}])
def test_a_move_with_a_wrong_json_type_is_400(api, track, value):
    response = api.post(f"{TRACKS}{track['id']}/move/", {"position": value}, format="json")
    assert response.status_code == 400, response.content
    assert "position" in response.json()


@pytest.mark.parametrize("body, field", [
    ({"analysis": 5}, "analysis"), ({"analysis": ["x"]}, "analysis"),
    ({"analysis": "x", "overwrite": "true"}, "overwrite"), ({"analysis": "x", "overwrite": 1}, "overwrite"),
    ({"analysis": "x", "overwrite": 0}, "overwrite"), ({"analysis": "x", "overwrite": [True]}, "overwrite"),
])
def test_apply_analysis_with_a_wrong_json_type_is_400(api, track, body, field):
    response = api.post(f"{TRACKS}{track['id']}/apply-analysis/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()


@pytest.mark.parametrize("value", [5, 1.5, True, ["https://youtu.be/dQw4w9WgXcQ"], {"u": 1}])
def test_a_youtube_add_with_a_wrong_json_type_is_400(api, value):
    response = api.post("/api/youtube/", {"url": value}, format="json")
    assert response.status_code == 400, response.content
    assert "url" in response.json()
    assert api.get("/api/youtube/").json()["count"] == 0


def test_the_right_json_types_are_still_accepted(api):
    response = api.post(TRACKS, {
        "title": "t", "artist": "a", "bpm": 120, "key": "Am", "duration": 60.5, "genres": ["house"],
        "sources": {"web": "https://x.org/"}, "notes": None,
        "cues": [{"name": "in", "start": 0, "end": 1.5, "waveform": [0, 0.5]}], "position": 0,
    }, format="json")
    assert response.status_code == 201, response.content
    track = response.json()
    moved = api.post(f"{TRACKS}{track['id']}/move/", {"position": 0.0}, format="json")
    assert moved.status_code == 200, moved.content


def test_query_parameters_are_still_text(anon):
    response = anon.get(TRACKS, {"limit": "5", "offset": "0", "bpm_min": "60", "bpm_max": "180.5"})
    assert response.status_code == 200, response.content


# --- odd names: a 400 that names them, never a 500 --------------------------------------------
# JSON may name a field with a lone surrogate ("\ud800"): json.loads takes it, but the answer
# cannot be UTF-8 encoded if the error repeats it as it came (500 in DRF's renderer).
LONE_SURROGATE = "\ud800"


def post_json_text(client, url, obj, method="post"):
    """`obj` as JSON text with \\u escapes (how a client can send a lone surrogate)."""
    import json

    return getattr(client, method)(url, data=json.dumps(obj).encode(), content_type="application/json")


@pytest.mark.parametrize("url, body", [
    (TRACKS, {**BASE, LONE_SURROGATE: 1}),
    (TRACKS, {**BASE, "a" + LONE_SURROGATE + "b": 1}),
    (TRACKS, {**BASE, "cues": [{**CUE, LONE_SURROGATE: 1}]}),
    (TRACKS, {**BASE, "sources": {LONE_SURROGATE: "https://x.org/"}}),
    ("/api/youtube/", {LONE_SURROGATE: "x"}),
    ("/api/search/", {"query": "x", LONE_SURROGATE: 1}),
    ("/api/analysis/", {"path": "x.wav", LONE_SURROGATE: 1}),
    ("/api/analysis/", {"path": "x.wav", "intervals": [{"start": 0, "end": 1, LONE_SURROGATE: 1}]}),
])
def test_a_field_named_with_a_lone_surrogate_is_400_not_500(api, url, body):
    api.raise_request_exception = False
    response = post_json_text(api, url, body)
    assert response.status_code == 400, response.content[:300]
    assert "\\ud800" in json_text(response)  # the name, escaped, so that the client can find it
    assert api.get(TRACKS).json()["count"] == 0


@pytest.mark.parametrize("suffix, body", [
    ("", {LONE_SURROGATE: 1}),
    ("", {"cues": [{**CUE, LONE_SURROGATE: 1}]}),
    ("", {"sources": {"web" + LONE_SURROGATE: "https://x.org/"}}),
    ("move/", {"position": 0, LONE_SURROGATE: 1}),
    ("apply-analysis/", {"analysis": "x", LONE_SURROGATE: 1}),
])
def test_a_write_to_a_track_naming_a_lone_surrogate_is_400_and_changes_nothing(api, track, suffix, body):
    api.raise_request_exception = False
    url = f"{TRACKS}{track['id']}/{suffix}"
    response = post_json_text(api, url, body, method="patch" if not suffix else "post")
    assert response.status_code == 400, response.content[:300]
    assert api.get(f"{TRACKS}{track['id']}/").json() == track


def test_a_long_unknown_field_name_is_not_echoed_whole(api):
    response = api.post(TRACKS, {**BASE, "u" * BIG: 1}, format="json")
    assert response.status_code == 400
    assert len(response.content) < 1000, response.content[:300]


def json_text(response) -> str:
    return response.content.decode("utf-8")
