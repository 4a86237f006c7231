"""The normalized form of a search query (what is sent upstream and what the cache keys)."""

import hashlib
import unicodedata


def normalize_query(query: str) -> str:
    """Unicode NFKC, case-folded, whitespace runs collapsed to one space, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", query).casefold().split())


def query_hash(normalized: str) -> str:
    """A fixed-size key part for a normalized query (queries never appear in key names)."""
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()[:32]
