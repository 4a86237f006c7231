"""YouTube Data API v3: `{YOUTUBE_API_URL}/search?part=snippet&type=video&videoCategoryId=10
&q=&maxResults=&key=`.

Titles and channel names arrive HTML-escaped; search gives no duration (null). A search
costs 100 of the daily quota units (QL_YOUTUBE_DAILY_UNITS, Google's default 10,000):
`403 quotaExceeded`/`dailyLimitExceeded` switch the service off until the quota resets, at
midnight Pacific time. One user spends at most QL_YOUTUBE_USER_SHARE of them (search/quota.py).
"""

import html

from django.conf import settings

from search.providers.base import (
    DEFAULT_COOLDOWN, Provider, ProviderError, ProviderUnavailable, make_item,
)
from search.quota import seconds_until_quota_reset, user_share_units

QUOTA_REASONS = {"quotaExceeded", "dailyLimitExceeded"}
RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
KEY_REASONS = {"keyInvalid", "API_KEY_INVALID"}
WATCH_URL = "https://www.youtube.com/watch?v="
TOPIC_SUFFIX = " - Topic"
SEARCH_UNITS = 100  # what one search.list call costs


def error_reasons(body) -> set[str]:
    """Every `reason` of a Google API error body, old form (`errors`) and new (`details`)."""
    reasons = set()
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        for part in (error.get("errors"), error.get("details")):
            for entry in part if isinstance(part, list) else ():
                if isinstance(entry, dict) and isinstance(entry.get("reason"), str):
                    reasons.add(entry["reason"])
    return reasons


def channel_artist(channel) -> str | None:
    if not isinstance(channel, str):
        return None
    name = html.unescape(channel).strip()
    if name.endswith(TOPIC_SUFFIX):
        name = name[: -len(TOPIC_SUFFIX)].strip()
    return name


class YouTube(Provider):
    name = "youtube"
    units_per_call = SEARCH_UNITS

    def configured(self) -> bool:
        return bool(settings.YOUTUBE_API_KEY)

    def user_units_cap(self) -> int:
        return user_share_units()

    def endpoint(self) -> str:
        return settings.YOUTUBE_API_URL.rstrip("/") + "/search"

    def params(self, query: str, limit: int) -> dict:
        return {"part": "snippet", "type": "video", "videoCategoryId": "10", "q": query,
                "maxResults": limit, "key": settings.YOUTUBE_API_KEY}

    def parse(self, body) -> list[dict]:
        entries = body["items"]
        if not isinstance(entries, list):
            raise TypeError("items is not a list")
        items = []
        for entry in entries:
            ident = entry.get("id") if isinstance(entry, dict) else None
            snippet = entry.get("snippet") if isinstance(entry, dict) else None
            if not isinstance(ident, dict) or not isinstance(snippet, dict):
                continue
            if ident.get("kind", "youtube#video") != "youtube#video":
                continue
            video_id = ident.get("videoId")
            if not isinstance(video_id, str) or not video_id:
                continue
            title = snippet.get("title")
            thumbnails = snippet.get("thumbnails")
            item = make_item(
                service=self.name, id=video_id,
                title=html.unescape(title) if isinstance(title, str) else None,
                artist=channel_artist(snippet.get("channelTitle")), url=WATCH_URL + video_id,
                artwork_url=best_thumbnail(thumbnails),
            )
            if item is not None:
                items.append(item)
        return items

    def failure(self, status: int, headers, body) -> ProviderError:
        reasons = error_reasons(body)
        if status == 403 and reasons & QUOTA_REASONS:
            return ProviderUnavailable("quota exceeded", seconds_until_quota_reset())
        if status == 403 and reasons & RATE_REASONS:
            return ProviderUnavailable("rate limited", DEFAULT_COOLDOWN)
        if status in (400, 403) and reasons & KEY_REASONS:
            return ProviderError("invalid API key")
        return super().failure(status, headers, body)


def best_thumbnail(thumbnails) -> str | None:
    if not isinstance(thumbnails, dict):
        return None
    for size in ("high", "medium", "default"):
        entry = thumbnails.get(size)
        if isinstance(entry, dict) and isinstance(entry.get("url"), str):
            return entry["url"]
    return None
