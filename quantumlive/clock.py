"""The time stamps the stored records carry (tracks, YouTube entries, analysis jobs)."""

from datetime import datetime, timezone


def now_iso() -> str:
    """Now in UTC, ISO 8601 to the millisecond with a "Z": ``2026-11-28T23:30:00.000Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
