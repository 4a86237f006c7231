"""The breaker counts what says the service is failing, not what says the query was bad
(API.md, "Bad input, bounded"): an upstream 400 or 404 is that request's `error` and leaves
the shared failure count as it was; 401/403 (credentials), 429 and 5xx count as before."""

import pytest

from quantumlive import keys
from quantumlive.redis_conn import get_redis
from search.fanout import fanout_search
from tests.search.fakes import sample

ITUNES_400 = {"errorMessage": "Invalid value(s) for key(s): [term]", "queryParameters": {}}
YOUTUBE_400 = {"error": {"code": 400, "message": "Request contains an invalid argument.",
                         "errors": [{"message": "Request contains an invalid argument.",
                                     "domain": "youtube.search", "reason": "invalidSearchFilter"}],
                         "status": "INVALID_ARGUMENT"}}
QUERY_ERRORS = [
    ("itunes", 400, ITUNES_400, "HTTP 400"),
    ("soundcloud", 400, {"code": 400, "message": "bad query"}, "HTTP 400"),
    ("youtube", 400, YOUTUBE_400, "HTTP 400"),
    ("itunes", 404, {}, "HTTP 404"),
    ("soundcloud", 404, {}, "HTTP 404"),
]


def answer(name, query):
    entry = fanout_search(query=query, services=[name], limit=3)[name]
    return entry["status"], entry.get("error")


def breaker_state(name):
    redis = get_redis()
    return redis.get(keys.search_off(name)), redis.get(keys.search_failures(name))


@pytest.mark.parametrize("name, status, body, error", QUERY_ERRORS)
def test_six_query_errors_in_a_row_leave_the_breaker_closed(fakes, name, status, body, error):
    getattr(fakes, name).answer(status=status, body=body)
    seen = [answer(name, f"bad query {n}") for n in range(6)]
    assert seen == [("error", error)] * 6
    assert getattr(fakes, name).calls == 6
    assert breaker_state(name) == (None, None)


@pytest.mark.parametrize("name", ["itunes", "soundcloud", "youtube"])
def test_five_upstream_500s_in_a_row_open_it(fakes, name):
    getattr(fakes, name).answer(status=500, raw=b"")
    seen = [answer(name, f"q{n}") for n in range(6)]
    assert seen == [("error", "HTTP 500")] * 5 + [("unavailable", "repeated failures")]
    assert getattr(fakes, name).calls == 5


def test_a_query_error_neither_counts_nor_clears_the_count(fakes):
    fakes.soundcloud.answer(status=500, raw=b"")
    for n in range(4):
        answer("soundcloud", f"a{n}")
    fakes.soundcloud.answer(status=400, body={})
    assert answer("soundcloud", "bad") == ("error", "HTTP 400")
    assert breaker_state("soundcloud") == (None, "4")
    fakes.soundcloud.answer(status=500, raw=b"")
    assert answer("soundcloud", "a4") == ("error", "HTTP 500")
    assert answer("soundcloud", "a5") == ("unavailable", "repeated failures")


@pytest.mark.parametrize("name, status, body, error", [
    ("soundcloud", 401, sample("soundcloud_401.json"), "invalid client id"),
    ("youtube", 400, sample("youtube_key_invalid.json"), "invalid API key"),
    ("youtube", 403, {"error": {"code": 403, "errors": [{"reason": "forbidden"}]}}, "HTTP 403"),
    ("soundcloud", 403, {}, "HTTP 403"),
    ("itunes", 401, {}, "HTTP 401"),
    ("youtube", 502, {}, "HTTP 502"),
])
def test_bad_credentials_and_server_errors_still_count(fakes, name, status, body, error):
    getattr(fakes, name).answer(status=status, body=body)
    seen = [answer(name, f"q{n}") for n in range(6)]
    assert seen == [("error", error)] * 5 + [("unavailable", "repeated failures")]
