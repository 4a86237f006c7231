"""The shared cache of provider answers: one JSON string per (service, limit, normalized
query) in Redis (`keys.search_result`), kept QL_SEARCH_CACHE_TTL seconds. Only successful
answers are stored."""

import json


def encode_items(items: list[dict]) -> str:
    return json.dumps(items, ensure_ascii=False, separators=(",", ":"))


def decode_items(raw: str | None) -> list[dict] | None:
    """The items of a cached answer, or None for a miss or an unreadable entry."""
    if raw is None:
        return None
    try:
        items = json.loads(raw)
    except ValueError:
        return None
    return items if isinstance(items, list) else None
