"""SoundCloud v2: the request, the mapping (full_duration for previews), the 401."""

import pytest
import requests

from search.providers import PROVIDERS
from search.providers.base import ProviderError
from tests.search.fakes import CLIENT_ID, sample, soundcloud_body

SOUNDCLOUD = PROVIDERS["soundcloud"]


def search(query="afro house", limit=3):
    return SOUNDCLOUD.search(requests.Session(), query=query, limit=limit)


def test_it_calls_search_tracks_with_the_client_id(fakes):
    search("afro house", limit=5)
    assert fakes.soundcloud.requests == [{"path": "/search/tracks", "query": {
        "q": ["afro house"], "client_id": [CLIENT_ID], "limit": ["5"]}}]


def test_it_maps_the_real_answer_to_normalized_items(fakes):
    items = search()
    assert items[0] == {
        "service": "soundcloud", "id": "820246168", "title": "Electric Skyline 5",
        "artist": "Rafa Oyelaran", "url": "https://soundcloud.com/rafaoyelaran/electric-skyline-5",
        "duration": 422.782,
        "artwork_url": "https://i1.sndcdn.com/artworks-000820246168-abc123-large.jpg",
        "preview_url": None, "genre": "Deep House", "isrc": None,
    }
    assert [item["artist"] for item in items] == ["Rafa Oyelaran", "Ondine Beats", "Softcore Sundays"]


def test_a_snipped_track_reports_its_full_duration_not_the_previews(fakes):
    body = soundcloud_body({"title": "Snip", "artist": "A", "millis": 30_000, "full_millis": 245_500,
                            "raw": {"policy": "SNIP"}})
    fakes.soundcloud.answer(body=body)
    assert search()[0]["duration"] == 245.5


def test_the_publishers_artist_and_isrc_are_used_when_given(fakes):
    body = soundcloud_body({"title": "T", "artist": "label-uploads", "isrc": "USRC17607839"})
    body["collection"][0]["publisher_metadata"]["artist"] = "Real Artist"
    fakes.soundcloud.answer(body=body)
    item = search()[0]
    assert (item["artist"], item["isrc"]) == ("Real Artist", "USRC17607839")


def test_a_401_reads_invalid_client_id(fakes):
    fakes.soundcloud.answer(status=401, body=sample("soundcloud_401.json"))
    with pytest.raises(ProviderError) as caught:
        search()
    assert (caught.value.status, caught.value.message) == ("error", "invalid client id")


def test_without_a_client_id_it_is_not_configured(settings):
    settings.SOUNDCLOUD_CLIENT_ID = ""
    assert SOUNDCLOUD.configured() is False
