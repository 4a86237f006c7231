"""iTunes Search API: `{ITUNES_API_URL}/search?term=&media=music&entity=song&limit=`.

No credentials. Apple allows about 20 calls a minute from one address; the limit,
QL_ITUNES_RATE (`off`: none, for deployments whose calls leave from several addresses), is
shared by every worker and instance through Redis (search/ratelimit.py). Apple answers 403
when it is exceeded.
"""

from django.conf import settings

from search.providers.base import (
    DEFAULT_COOLDOWN, Provider, ProviderError, ProviderUnavailable, make_item, millis_to_seconds,
    retry_after,
)


class ITunes(Provider):
    name = "itunes"

    @property
    def rate_limit(self) -> tuple[int, int] | None:
        return settings.QL_ITUNES_RATE

    def endpoint(self) -> str:
        return settings.ITUNES_API_URL.rstrip("/") + "/search"

    def params(self, query: str, limit: int) -> dict:
        return {"term": query, "media": "music", "entity": "song", "limit": limit}

    def parse(self, body) -> list[dict]:
        results = body["results"]
        if not isinstance(results, list):
            raise TypeError("results is not a list")
        items = []
        for record in results:
            if not isinstance(record, dict) or record.get("kind", "song") != "song":
                continue
            item = make_item(
                service=self.name, id=record.get("trackId"), title=record.get("trackName"),
                artist=record.get("artistName"), url=record.get("trackViewUrl"),
                duration=millis_to_seconds(record.get("trackTimeMillis")),
                artwork_url=record.get("artworkUrl100") or record.get("artworkUrl60"),
                preview_url=record.get("previewUrl"), genre=record.get("primaryGenreName"),
            )
            if item is not None:
                items.append(item)
        return items

    def failure(self, status: int, headers, body) -> ProviderError:
        if status == 403:  # what Apple answers to a client over its rate limit
            return ProviderUnavailable("rate limited", retry_after(headers, DEFAULT_COOLDOWN))
        return super().failure(status, headers, body)
