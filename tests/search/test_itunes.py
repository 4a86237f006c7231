"""iTunes: the request it sends and the mapping of its real answer, against a fake server."""

import requests

from search.providers import PROVIDERS
from search.providers.base import ProviderError, ProviderUnavailable
from tests.search.fakes import itunes_body, sample

ITUNES = PROVIDERS["itunes"]


def search(query="afro house", limit=3):
    return ITUNES.search(requests.Session(), query=query, limit=limit)


def test_it_calls_the_search_endpoint_with_the_documented_parameters(fakes):
    search("afro house", limit=7)
    assert fakes.itunes.requests == [{"path": "/search", "query": {
        "term": ["afro house"], "media": ["music"], "entity": ["song"], "limit": ["7"]}}]


def test_it_maps_the_real_answer_to_normalized_items(fakes):
    items = search()
    assert items[0] == {
        "service": "itunes", "id": "1539193675", "title": "Hidden Garden 7", "artist": "Marlow Vance",
        "url": "https://music.apple.com/us/album/hidden-garden-7/1479731225?i=1539193675&uo=4",
        "duration": 387.975,
        "artwork_url": "https://is1-ssl.mzstatic.com/image/thumb/Music/v4/03/1539193675/source/100x100bb.jpg",
        "preview_url": "https://audio-ssl.itunes.apple.com/itunes-assets/AudioPreview/v4/1539193675/mzaf_1539193675.plus.aac.p.m4a",
        "genre": "House", "isrc": None,
    }
    assert [item["title"] for item in items] == ["Hidden Garden 7", "Hidden River", "Electric Motion"]
    assert [item["duration"] for item in items] == [387.975, 363.465, 194.811]


def test_it_skips_records_that_are_not_songs_or_lack_an_id(fakes):
    body = itunes_body({"title": "Song", "artist": "A"}, {"title": "Clip", "artist": "A", "raw": {"kind": "music-video"}},
                       {"title": "No id", "artist": "A", "raw": {"trackId": None}})
    fakes.itunes.answer(body=body)
    assert [item["title"] for item in search()] == ["Song"]


def test_an_unknown_length_is_null(fakes):
    fakes.itunes.answer(body=itunes_body({"title": "Song", "artist": "A", "raw": {"trackTimeMillis": None}}))
    assert search()[0]["duration"] is None


def test_it_keeps_at_most_limit_items(fakes):
    assert len(search(limit=2)) == 2


def test_a_429_switches_it_off_for_its_retry_after(fakes):
    fakes.itunes.answer(status=429, body=sample("itunes_429.json"), headers={"Retry-After": "30"})
    try:
        search()
    except ProviderUnavailable as exc:
        assert (exc.message, exc.cooldown) == ("rate limited", 30)
    else:
        raise AssertionError("no ProviderUnavailable")


def test_a_403_is_apples_rate_limit_answer_and_switches_it_off_for_a_minute(fakes):
    fakes.itunes.answer(status=403, raw=b"")
    try:
        search()
    except ProviderUnavailable as exc:
        assert (exc.message, exc.cooldown) == ("rate limited", 60)
    else:
        raise AssertionError("no ProviderUnavailable")


def test_a_body_without_results_is_an_unexpected_response(fakes):
    fakes.itunes.answer(body={"resultCount": 0})
    try:
        search()
    except ProviderError as exc:
        assert (exc.status, exc.message) == ("error", "unexpected response")
    else:
        raise AssertionError("no ProviderError")
