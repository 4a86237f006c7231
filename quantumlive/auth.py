"""Token authentication without a database query per request.

DRF's TokenAuthentication reads the token table on every request. The hot read path
(GET a track, the request a live set makes most) must cost no more than the store's read, so
each process remembers tokens it has verified for QL_TOKEN_CACHE_SECONDS (default 30): a
deleted token or deactivated user stops working within that time on every worker.
"""

import threading
import time

from django.conf import settings
from rest_framework.authentication import TokenAuthentication, get_authorization_header

_lock = threading.Lock()
_verified: dict[str, tuple[object, object, float]] = {}
_MAX_ENTRIES = 10000


class CachedTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        found = remembered(key)
        if found is not None:
            return found
        user, token = super().authenticate_credentials(key)
        with _lock:
            if len(_verified) >= _MAX_ENTRIES:
                _verified.clear()
            _verified[key] = (user, token, time.monotonic() + settings.QL_TOKEN_CACHE_SECONDS)
        return user, token


def remembered(key: str):
    """(user, token) of a token this process verified recently, else None."""
    entry = _verified.get(key)
    if entry is None:
        return None
    if entry[2] < time.monotonic():
        with _lock:
            _verified.pop(key, None)
        return None
    return entry[0], entry[1]


def known_token_user(request):
    """The user of a recently verified `Authorization: Token <key>` header, else None (no
    header, another scheme, or a token this process has not verified lately)."""
    parts = get_authorization_header(request).split()
    if len(parts) != 2 or parts[0].lower() != b"token":
        return None
    try:
        found = remembered(parts[1].decode())
    except UnicodeError:
        return None
    return found[0] if found else None


def forget_all() -> None:
    with _lock:
        _verified.clear()
