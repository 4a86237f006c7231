"""YouTube Data API v3: the request, the mapping (unescaped titles, "- Topic" channels, no
duration), quota and key errors, and when the quota resets."""

from datetime import datetime, timezone

import pytest
import requests

from search.providers import PROVIDERS
from search.providers.base import ProviderError, ProviderUnavailable
from search.providers.youtube import seconds_until_quota_reset
from tests.search.fakes import API_KEY, sample, youtube_body

YOUTUBE = PROVIDERS["youtube"]


def search(query="afro house", limit=3):
    return YOUTUBE.search(requests.Session(), query=query, limit=limit)


def test_it_calls_search_for_music_videos_with_the_key(fakes):
    search("afro house", limit=4)
    assert fakes.youtube.requests == [{"path": "/youtube/v3/search", "query": {
        "part": ["snippet"], "type": ["video"], "videoCategoryId": ["10"], "q": ["afro house"],
        "maxResults": ["4"], "key": [API_KEY]}}]


def test_it_maps_the_real_answer_to_normalized_items(fakes):
    items = search()
    assert items[0] == {
        "service": "youtube", "id": "LQfEtHO1tIA", "title": "Wild Harbor 3 (Official Audio)",
        "artist": "Club Mixes Weekly", "url": "https://www.youtube.com/watch?v=LQfEtHO1tIA",
        "duration": None, "artwork_url": "https://i.ytimg.com/vi/LQfEtHO1tIA/hqdefault.jpg",
        "preview_url": None, "genre": None, "isrc": None,
    }
    assert [item["id"] for item in items] == ["LQfEtHO1tIA", "IwPpUztNPuA", "3S4j4c8kiEA"]


def test_titles_and_channels_are_unescaped_and_topic_suffixes_dropped(fakes):
    fakes.youtube.answer(body=youtube_body(
        {"title": "Rock &amp; Roll Ain&#39;t Noise &quot;Live&quot;", "channel": "AC&amp;DC - Topic"}))
    item = search()[0]
    assert (item["title"], item["artist"]) == ('Rock & Roll Ain\'t Noise "Live"', "AC&DC")


def test_quota_exceeded_switches_it_off_until_midnight_pacific(fakes):
    fakes.youtube.answer(status=403, body=sample("youtube_quota_exceeded.json"))
    with pytest.raises(ProviderUnavailable) as caught:
        search()
    assert caught.value.message == "quota exceeded"
    assert abs(caught.value.cooldown - seconds_until_quota_reset()) <= 2


def test_daily_limit_exceeded_is_a_spent_quota_too(fakes):
    body = sample("youtube_quota_exceeded.json")
    body["error"]["errors"][0]["reason"] = "dailyLimitExceeded"
    fakes.youtube.answer(status=403, body=body)
    with pytest.raises(ProviderUnavailable) as caught:
        search()
    assert caught.value.message == "quota exceeded"


def test_an_invalid_key_reads_invalid_api_key_in_the_current_form(fakes):
    fakes.youtube.answer(status=400, body=sample("youtube_key_invalid.json"))
    with pytest.raises(ProviderError) as caught:
        search()
    assert (caught.value.status, caught.value.message) == ("error", "invalid API key")


def test_an_invalid_key_reads_invalid_api_key_in_the_older_form(fakes):
    body = {"error": {"code": 400, "message": "Bad Request", "errors": [
        {"message": "Bad Request", "domain": "usageLimits", "reason": "keyInvalid"}]}}
    fakes.youtube.answer(status=400, body=body)
    with pytest.raises(ProviderError) as caught:
        search()
    assert caught.value.message == "invalid API key"


def test_another_403_is_a_plain_error(fakes):
    body = {"error": {"code": 403, "message": "Forbidden", "errors": [{"reason": "forbidden"}]}}
    fakes.youtube.answer(status=403, body=body)
    with pytest.raises(ProviderError) as caught:
        search()
    assert (type(caught.value), caught.value.message) == (ProviderError, "HTTP 403")


@pytest.mark.parametrize("now, seconds", [
    (datetime(2026, 7, 1, 6, 59, 0, tzinfo=timezone.utc), 60),             # 23:59 PDT
    (datetime(2026, 7, 1, 7, 0, 0, tzinfo=timezone.utc), 86_400),          # 00:00 PDT
    (datetime(2026, 1, 15, 20, 0, 0, tzinfo=timezone.utc), 12 * 3600),     # 12:00 PST
    (datetime(2026, 3, 8, 8, 0, 0, tzinfo=timezone.utc), 23 * 3600),       # 00:00 PST, spring forward day
    (datetime(2026, 11, 1, 7, 0, 0, tzinfo=timezone.utc), 25 * 3600),      # 00:00 PDT, fall back day
])
def test_the_quota_resets_at_midnight_pacific_time_across_daylight_saving(now, seconds):
    assert seconds_until_quota_reset(now) == seconds
