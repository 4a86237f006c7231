"""Structured logs: one JSON object per line, with the request id, and no upstream secrets.

- `RequestIdFilter` puts the id of the request being handled on each record
  (quantumlive/request_id.py).
- `ScrubSecretsFilter` rewrites each record before any handler formats it: the values of
  the query parameters `key`, `client_id`, `api_key` and `token` (how the YouTube and
  SoundCloud credentials travel) and the configured YOUTUBE_API_KEY, SOUNDCLOUD_CLIENT_ID and
  SECRET_KEY values, wherever they appear (also URL-encoded), become `***`; in the message,
  its arguments, the exception text and the stack.
- `JsonFormatter` writes {"time", "level", "logger", "message", "request_id", "pid", ...}.

settings.LOGGING puts both filters on the console handler, which also takes gunicorn's
access and error logs in the workers, so every line written there is scrubbed.
"""

import json
import logging
import re
from datetime import datetime, timezone
from urllib.parse import quote, quote_plus

from quantumlive.request_id import current_request_id

MASK = "***"
SECRET_PARAMS = ("api_key", "client_id", "key", "token")
# `key=...` as a parameter (not `monkey=`), up to the end of the value.
_PARAM = re.compile(
    r"(?i)(?<![A-Za-z0-9_])((?:%s)=)[^&\s\"'#<>]+" % "|".join(re.escape(p) for p in SECRET_PARAMS)
)
_SETTING_NAMES = ("YOUTUBE_API_KEY", "SOUNDCLOUD_CLIENT_ID", "SECRET_KEY")
_MIN_SECRET = 4  # shorter configured values would mask ordinary words

_compiled: tuple[tuple[str, ...], re.Pattern | None] = ((), None)


def _configured_secrets() -> tuple[str, ...]:
    try:
        from django.conf import settings

        values = [getattr(settings, name, "") or "" for name in _SETTING_NAMES]
    except Exception:  # settings not configured (a bare script): only the parameters
        return ()
    found: set[str] = set()
    for value in values:
        if isinstance(value, str) and len(value) >= _MIN_SECRET:
            found |= {value, quote(value, safe=""), quote_plus(value)}
    return tuple(sorted(found, key=len, reverse=True))


def _secrets_pattern() -> re.Pattern | None:
    global _compiled
    secrets = _configured_secrets()
    if secrets != _compiled[0]:
        pattern = re.compile("|".join(re.escape(s) for s in secrets)) if secrets else None
        _compiled = (secrets, pattern)
    return _compiled[1]


def scrub(text: str) -> str:
    """`text` with every credential masked."""
    if not text:
        return text
    pattern = _secrets_pattern()
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return _PARAM.sub(lambda m: m.group(1) + MASK, text)


class ScrubSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: log what there is, scrubbed
            message = f"{record.msg!r} {record.args!r}"
        record.msg = scrub(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            request = getattr(record, "request", None)
            record.request_id = getattr(request, "request_id", None) or current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (newlines inside values are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
            "pid": record.process,
        }
        status = getattr(record, "status_code", None)
        if status is not None:
            entry["status"] = status
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
