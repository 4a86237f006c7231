"""Search input and upstream titles, bounded (API.md "Bad input, bounded"; issue 12,
findings 1 and 10): a 200,000-character query costs like a 2-character one, JSON types are
strict, and the title patterns that run on providers' data take linear time."""

import time

import pytest

from search import matching
from tests.test_input_bounds import BIG, assert_bounded

pytestmark = pytest.mark.django_db


def test_a_big_search_query_costs_like_a_small_one(api, fakes):
    # Values without characters to percent-encode: Django decodes 100,000 escapes of a query
    # string in ~0.3 s (not this code's cost; gunicorn refuses request lines over 4,094 bytes).
    assert_bounded(lambda: api.get("/api/search/", {"q": "q" * BIG}),
                   lambda: api.get("/api/search/", {"q": "ab"}))
    assert_bounded(lambda: api.post("/api/search/", {"query": "q" * BIG}, format="json"),
                   lambda: api.post("/api/search/", {"query": "ab"}, format="json"))
    assert_bounded(lambda: api.get("/api/search/", {"q": "ab", "services": "i" * BIG}),
                   lambda: api.get("/api/search/", {"q": "ab", "services": "it"}))
    assert_bounded(lambda: api.post("/api/search/", {"query": "ab", "services": ["i" * BIG]}, format="json"),
                   lambda: api.post("/api/search/", {"query": "ab", "services": ["it"]}, format="json"))


@pytest.mark.parametrize("body, field", [
    ({"query": 5}, "query"), ({"query": 1.5}, "query"), ({"query": True}, "query"),
    ({"query": ["x"]}, "query"), ({"query": {"q": "x"}}, "query"),
    ({"query": "x", "services": [5]}, "services"), ({"query": "x", "services": {"itunes": 1}}, "services"),
    ({"query": "x", "services": [["itunes"]]}, "services"), ({"query": "x", "services": "itunes"}, "services"),
    ({"query": "x", "limit": "1"}, "limit"), ({"query": "x", "limit": 1.5}, "limit"),
    ({"query": "x", "limit": True}, "limit"), ({"query": "x", "limit": [1]}, "limit"),
])
def test_a_search_body_with_a_wrong_json_type_is_400(api, fakes, body, field):
    response = api.post("/api/search/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()


# --- patterns on upstream titles ------------------------------------------------------------
SMALL, LARGE = 2_000, 20_000  # the old patterns: ~3 s on 20,000 characters, quadratic

# Inputs that made a pattern of search/matching.py backtrack: a repeat that can start at every
# position of a long run, or two repeats that can split the same characters.
ADVERSARIAL = {
    "topic suffix (spaces)": lambda n: "a" + " " * n + "x",
    "dash split (spaces)": lambda n: "a" + " " * n + "x",
    "feat. in unclosed brackets": lambda n: "(feat x " * (n // 8),
    "noise words in an unclosed bracket": lambda n: "(" + "official " * (n // 9),
    "feat. on many lines": lambda n: " feat x" * (n // 8) + "\ny",
}


def fastest(function, text: str, *, calls: int, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(calls):
            function(text)
        best = min(best, time.perf_counter() - start)
    return best


def _uncapped_keys(text: str):
    """What recording_keys does to a title and an artist, without its length cap."""
    return (matching.normalize_title(text), matching.normalize_artist(text),
            matching._DASH.split(text, maxsplit=1))


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_title_patterns_take_linear_time(name):
    """10 times the text costs about 10 times the time (quadratic: 100 times). Both samples do
    the same number of characters (the small text read 10 times), so load hits them alike."""
    make = ADVERSARIAL[name]
    small = fastest(_uncapped_keys, make(SMALL), calls=LARGE // SMALL)
    large = fastest(_uncapped_keys, make(LARGE), calls=1)
    assert large <= 4 * small, f"{name}: {large * 1e3:.1f} ms for {LARGE} chars vs {small * 1e3:.1f} ms for 10 x {SMALL}"


def test_recording_keys_reads_at_most_the_cap():
    long_title = "Artist - Title " + "x" * BIG
    keys = matching.recording_keys({"title": long_title, "artist": "a" * BIG})
    assert all(len(artist) <= matching.MAX_MATCH_TEXT and len(title) <= matching.MAX_MATCH_TEXT
               for artist, title in keys)
    assert ("artist", "title " + "x" * (matching.MAX_MATCH_TEXT - len("Artist - Title "))) in keys


def test_the_linear_patterns_normalize_as_before():
    assert matching.normalize_title("Song (feat. X) [Official Video]") == "song"
    assert matching.normalize_title("Song (Live at the BBC)") == "song live at the bbc"
    assert matching.normalize_title("Song feat. Someone Else") == "song"
    assert matching.normalize_artist("Artist - Topic") == "artist"
    assert matching.normalize_artist("Artist  -  TOPIC  ") == "artist"
    assert matching.normalize_artist("Artist-Topic") == "artist topic"
    assert ("artist", "title") in matching.recording_keys({"title": "Artist – Title", "artist": "x"})
    assert matching.recording_keys({"title": "A-B", "artist": "x"}) == {("x", "a b")}


# --- providers' text that no answer could encode -------------------------------------------
# A provider's JSON may hold a lone surrogate ("\ud800", e.g. a title cut inside a pair):
# json.loads takes it, but neither Redis (the shared cache) nor the answer can encode it in
# UTF-8. It used to end the lookup as "internal error", leave the single flight held for its
# lease (the next searches of that query waited the whole deadline: "timeout") and, had it
# been cached, make every answer to that query a 500.
SURROGATE_ITUNES = (b'{"results": [{"kind": "song", "trackId": "1\\udc01", "trackName": "Night \\ud800Drive",'
                    b' "artistName": "DJ \\udfff", "trackViewUrl": "https://music.apple.com/x/1?i=\\ud83d",'
                    b' "primaryGenreName": "House\\udc00"}]}')


def test_a_providers_lone_surrogate_is_replaced_and_the_answer_cached(api, fakes):
    fakes.itunes.answer(raw=SURROGATE_ITUNES)
    first = api.get("/api/search/", {"q": "night drive", "services": "itunes"})
    assert first.status_code == 200, first.content[:300]
    itunes = first.json()["services"]["itunes"]
    assert itunes["status"] == "ok", itunes
    item = itunes["results"][0]
    assert (item["id"], item["title"], item["artist"], item["url"], item["genre"]) == (
        "1\ufffd", "Night \ufffdDrive", "DJ \ufffd", "https://music.apple.com/x/1?i=\ufffd", "House\ufffd")
    again = api.get("/api/search/", {"q": "night drive", "services": "itunes"}).json()["services"]["itunes"]
    assert (again["status"], again["cached"], again["results"]) == ("ok", True, itunes["results"])
    assert fakes.calls()["itunes"] == 1
