"""A request id for every request: the client's `X-Request-ID` when it is well-formed (so an
id set by nginx or a caller follows the request through), else a new one. It is echoed in
the response's `X-Request-ID` header and put on every log line written while the request is
handled (quantumlive/logging.py), gunicorn's access line included."""

import re
import uuid
from contextvars import ContextVar

from django.core.signals import request_finished

HEADER = "X-Request-ID"
# Ids we pass through: what nginx ($request_id: 32 hex), UUIDs and common tracing ids look
# like; nothing that could break a header or a log line.
MAX_LENGTH = 128
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,%d}" % MAX_LENGTH)

_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def well_formed(value: str | None) -> bool:
    return value is not None and len(value) <= MAX_LENGTH and _WELL_FORMED.fullmatch(value) is not None


def current_request_id() -> str | None:
    """The id of the request being handled in this thread, or None outside a request."""
    return _current.get()


class RequestIdMiddleware:
    """First in MIDDLEWARE, so even answers made by other middleware carry the id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.META.get("HTTP_X_REQUEST_ID")  # not request.headers: built on first use
        request_id = given if well_formed(given) else uuid.uuid4().hex
        request.request_id = request_id
        _current.set(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


def _forget(**kwargs) -> None:
    # Sent when the response is closed: after Django's own log line for a 4xx/5xx and after
    # gunicorn's access line, which still carry the id.
    _current.set(None)


request_finished.connect(_forget, dispatch_uid="quantumlive.request_id.forget")
