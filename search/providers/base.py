"""What every search provider is: one class per service with the same interface.

A provider knows its endpoint, its query parameters, how to map its service's answer to the
normalized item of API.md (`parse`) and how to read its service's error answers (`failure`).
`search()` makes the one HTTP call on the session it is given and returns the items, or
raises one of the three exceptions below with a short message of our own: never the text of
a `requests` exception, which carries the URL and so the credentials in its query string.
"""

import json
import math
import re
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import requests
import urllib3
from django.conf import settings

# The normalized item of API.md, in this order. `isrc` travels with the items internally
# (matching uses it) and is dropped from answers.
ITEM_FIELDS = ("service", "id", "title", "artist", "url", "duration", "artwork_url",
               "preview_url", "genre")
MAX_BODY_BYTES = 4 * 2**20
CONNECT_TIMEOUT = 1.0
TIMEOUT_MARGIN = 0.05
MIN_TIMEOUT = 0.05
DEFAULT_COOLDOWN = 60
MAX_COOLDOWN = 86_400
# Answers to a bad query rather than of a failing service (401/403 are credentials).
QUERY_ERROR_STATUSES = (400, 404)


class ProviderError(Exception):
    """The service failed this time (status `error`)."""

    status = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ProviderQueryError(ProviderError):
    """The service refused this query (HTTP 400 or 404): this request's `error`, not a sign
    that the service is failing, so the breaker does not count it."""


class ProviderTimeout(ProviderError):
    """The service did not answer within its timeout (status `timeout`)."""

    status = "timeout"

    def __init__(self, message: str = "timed out"):
        super().__init__(message)


class ProviderUnavailable(ProviderError):
    """The service refuses calls for a while: switch it off for `cooldown` seconds."""

    status = "unavailable"

    def __init__(self, message: str, cooldown: int):
        super().__init__(message)
        self.cooldown = max(1, min(int(cooldown), MAX_COOLDOWN))


class Provider:
    name: str = ""
    # Seconds one call may take; None: just under QL_SEARCH_DEADLINE, so that a call that
    # times out ends (and is counted by the breaker) before the answer is sent.
    timeout: float | None = None
    # (calls, seconds) shared by every worker through Redis, or None.
    rate_limit: tuple[int, int] | None = None
    # Quota units one call spends, charged to the user whose request sends it (0: none).
    units_per_call: int = 0

    # --- what each service defines ------------------------------------------------------
    def configured(self) -> bool:
        return True

    def user_units_cap(self) -> int | None:
        """The most units one user may spend in a day (search/quota.py), or None: no cap."""
        return None

    def endpoint(self) -> str:
        raise NotImplementedError

    def params(self, query: str, limit: int) -> dict:
        raise NotImplementedError

    def parse(self, body) -> list[dict]:
        """Items from a decoded 200 body; KeyError/TypeError/ValueError mean an unexpected shape."""
        raise NotImplementedError

    def failure(self, status: int, headers, body) -> ProviderError:
        """The exception for a non-200 answer (`body`: decoded JSON or None)."""
        if status == 429:
            return ProviderUnavailable("rate limited", retry_after(headers))
        if status in QUERY_ERROR_STATUSES:
            return ProviderQueryError(f"HTTP {status}")
        return ProviderError(f"HTTP {status}")

    # --- the call -----------------------------------------------------------------------
    def call_timeout(self) -> float:
        if self.timeout is not None:
            return self.timeout
        return max(MIN_TIMEOUT, settings.QL_SEARCH_DEADLINE - TIMEOUT_MARGIN)

    def search(self, session: requests.Session, *, query: str, limit: int) -> list[dict]:
        timeout = self.call_timeout()
        status, headers, raw = fetch(session, self.endpoint(), self.params(query, limit), timeout)
        if status != 200:
            raise self.failure(status, headers, decode_json(raw))
        body = decode_json(raw)
        if body is None:
            raise ProviderError("malformed response")
        try:
            items = self.parse(body)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            raise ProviderError("unexpected response") from None
        return items[:limit]


def fetch(session: requests.Session, url: str, params: dict, timeout: float):
    """(status, headers, body bytes) of one GET, the whole of it bounded by `timeout`."""
    until = time.monotonic() + timeout
    try:
        # No redirects: the query string carries the credentials.
        response = session.get(url, params=params, stream=True, allow_redirects=False,
                               timeout=(min(CONNECT_TIMEOUT, timeout), timeout))
        with response:
            chunks, size = [], 0
            for chunk in response.iter_content(65536):
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise ProviderError("response too large")
                if time.monotonic() > until:
                    raise ProviderTimeout()
                chunks.append(chunk)
            return response.status_code, response.headers, b"".join(chunks)
    except requests.Timeout:
        raise ProviderTimeout() from None
    except requests.ConnectionError as exc:
        # A read timeout while streaming the body reaches us as a ConnectionError.
        if exc.args and isinstance(exc.args[0], urllib3.exceptions.ReadTimeoutError):
            raise ProviderTimeout() from None
        raise ProviderError("connection failed") from None
    except requests.RequestException:
        raise ProviderError("request failed") from None


def decode_json(raw: bytes):
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deep
        return None


def retry_after(headers, default: int = DEFAULT_COOLDOWN) -> int:
    """Seconds a Retry-After header asks for (seconds or an HTTP date), else `default`."""
    value = (headers.get("Retry-After") or "").strip()
    if value.isdigit():
        return max(1, min(int(value), MAX_COOLDOWN))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    seconds = math.ceil((when - datetime.now(timezone.utc)).total_seconds())
    return max(1, min(seconds, MAX_COOLDOWN))


# --- small helpers for parse() -----------------------------------------------------------
# A lone surrogate ("\ud800" in a service's JSON) that json.loads lets through: neither Redis
# nor the answer can encode it in UTF-8, so it becomes U+FFFD as a UTF-8 decoder would make it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def text(value) -> str | None:
    """A non-empty string, stripped, lone surrogates replaced, or None."""
    if isinstance(value, str) and value.strip():
        return _SURROGATE.sub("\ufffd", value.strip())
    return None


def millis_to_seconds(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    return round(value / 1000, 3)


def make_item(*, service: str, id, title, artist, url, duration=None, artwork_url=None,
              preview_url=None, genre=None, isrc=None) -> dict | None:
    """The normalized item, or None when the service's record lacks an id, title or URL."""
    item_id = str(id) if isinstance(id, (str, int)) and not isinstance(id, bool) and str(id) else None
    item_id = item_id and _SURROGATE.sub("\ufffd", item_id)
    title, url = text(title), text(url)
    if item_id is None or title is None or url is None:
        return None
    return {
        "service": service, "id": item_id, "title": title, "artist": text(artist) or "",
        "url": url, "duration": duration, "artwork_url": text(artwork_url),
        "preview_url": text(preview_url), "genre": text(genre), "isrc": text(isrc),
    }
