"""SoundCloud API v2: `{SOUNDCLOUD_API_URL}/search/tracks?q=&client_id=&limit=`.

`duration` is the length of what plays, only a preview for `policy: "SNIP"` tracks:
the track's own length is `full_duration`. Both in milliseconds. The streams need a second
call signed with the client id, so items carry no `preview_url`.
"""

from django.conf import settings

from search.providers.base import Provider, ProviderError, make_item, millis_to_seconds


class SoundCloud(Provider):
    name = "soundcloud"

    def configured(self) -> bool:
        return bool(settings.SOUNDCLOUD_CLIENT_ID)

    def endpoint(self) -> str:
        return settings.SOUNDCLOUD_API_URL.rstrip("/") + "/search/tracks"

    def params(self, query: str, limit: int) -> dict:
        return {"q": query, "client_id": settings.SOUNDCLOUD_CLIENT_ID, "limit": limit}

    def parse(self, body) -> list[dict]:
        collection = body["collection"]
        if not isinstance(collection, list):
            raise TypeError("collection is not a list")
        items = []
        for record in collection:
            if not isinstance(record, dict) or record.get("kind", "track") != "track":
                continue
            publisher = record.get("publisher_metadata")
            publisher = publisher if isinstance(publisher, dict) else {}
            user = record.get("user")
            user = user if isinstance(user, dict) else {}
            full = millis_to_seconds(record.get("full_duration"))
            item = make_item(
                service=self.name, id=record.get("id"), title=record.get("title"),
                artist=publisher.get("artist") or user.get("username"),
                url=record.get("permalink_url"),
                duration=full if full is not None else millis_to_seconds(record.get("duration")),
                artwork_url=record.get("artwork_url"), genre=record.get("genre"),
                isrc=publisher.get("isrc"),
            )
            if item is not None:
                items.append(item)
        return items

    def failure(self, status: int, headers, body) -> ProviderError:
        if status == 401:
            return ProviderError("invalid client id")
        return super().failure(status, headers, body)
