"""Throttles, counted in the Redis cache so every worker and instance shares them.

Anonymous clients are throttled on every request. Authenticated clients are throttled on
what is expensive — writes, search, analysis submissions — and not on reads, so the hot read
path (GET a track) costs no throttle round trip. Rates come from QL_THROTTLE_* settings
("<n>/<second|minute|hour|day>", or "off").

Login attempts have throttles of their own, per username and per address (LoginAttempt,
below), checked by the login view before it checks the password.
"""

import hashlib
import math
import unicodedata
import uuid

from django.conf import settings
from rest_framework.exceptions import Throttled
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from quantumlive import keys
from quantumlive.redis_conn import get_redis
from quantumlive.scripts import Script


class _SettingsRateThrottle(SimpleRateThrottle):
    setting = ""

    def get_rate(self):
        rate = getattr(settings, self.setting)
        return None if rate in ("off", "", None) else rate

    def allow_request(self, request, view):
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class AnonThrottle(_SettingsRateThrottle):
    """Every request of an anonymous client, by its address."""

    scope = "anon"
    setting = "QL_THROTTLE_ANON"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class _UserThrottle(_SettingsRateThrottle):
    def get_cache_key(self, request, view):
        if not (request.user and request.user.is_authenticated) or not self.applies(request, view):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}

    def applies(self, request, view) -> bool:
        raise NotImplementedError


class WriteThrottle(_UserThrottle):
    """Writes (anything but GET/HEAD/OPTIONS) of authenticated clients, except on views that
    have a throttle of their own (search, analysis)."""

    scope = "writes"
    setting = "QL_THROTTLE_WRITES"

    def applies(self, request, view) -> bool:
        return request.method not in SAFE_METHODS and getattr(view, "throttle_scope", None) is None


class SearchThrottle(_UserThrottle):
    scope = "search"
    setting = "QL_THROTTLE_SEARCH"

    def applies(self, request, view) -> bool:
        return getattr(view, "throttle_scope", None) == "search"


class AnalysisThrottle(_UserThrottle):
    scope = "analysis"
    setting = "QL_THROTTLE_ANALYSIS"

    def applies(self, request, view) -> bool:
        return getattr(view, "throttle_scope", None) == "analysis" and request.method == "POST"


# --- login (issue 17): brute force, per username and per address -----------------------------
# A sliding-window log per key in a Redis sorted set, timed by Redis's clock, checked and
# counted in one script for both keys, BEFORE the password is checked: parallel guesses cannot
# pass the limit, and a refused attempt costs no password hash. Every attempt counts for its
# address (QL_THROTTLE_LOGIN_ADDRESS: bounds the hashing one address can ask for); for the
# username only failures count (QL_THROTTLE_LOGIN_USER): a success takes its own attempt back
# out, so a user who logs in from many devices is never throttled. The keys hold SHA-256s,
# never a username or an address in clear. Answers {1, ""} when the attempt is counted, else
# {0, <ms until the oldest attempt of the full key leaves the window>}.
_LOGIN_ADMIT = Script(keys=("windows*",), args=("attempt_id", "limits*"), source=r"""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
for i = 1, #KEYS do
  local calls, window = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= calls then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + window - now)
  end
end
if wait > 0 then return {0, tostring(wait)} end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2 * i + 1]))
end
return {1, ''}
""")


class LoginAttempt:
    """One login attempt, counted before the password is checked:

        attempt = LoginAttempt.begin(request, username)   # raises Throttled (429)
        ... if the password is right: attempt.succeeded()
    """

    def __init__(self, user_key: str | None, attempt_id: str):
        self.user_key = user_key
        self.attempt_id = attempt_id

    @classmethod
    def begin(cls, request, username: str) -> "LoginAttempt":
        windows, limits = [], []
        address_rate, user_rate = (_login_rate("QL_THROTTLE_LOGIN_ADDRESS"),
                                   _login_rate("QL_THROTTLE_LOGIN_USER"))
        if address_rate:
            windows.append(keys.login_attempts("address", _digest(BaseThrottle().get_ident(request) or "")))
            limits += address_rate
        user_key = None
        if user_rate:
            user_key = keys.login_attempts("user", _digest(unicodedata.normalize("NFKC", username).casefold()))
            windows.append(user_key)
            limits += user_rate
        attempt = cls(user_key, uuid.uuid4().hex)
        if windows:
            admitted, wait_ms = _LOGIN_ADMIT(get_redis(), windows=windows, attempt_id=attempt.attempt_id,
                                             limits=limits)
            if not int(admitted):
                raise Throttled(wait=max(1, math.ceil(int(wait_ms) / 1000)))
        return attempt

    def succeeded(self) -> None:
        """The password was right: the attempt does not count against the username."""
        if self.user_key is not None:
            get_redis().zrem(self.user_key, self.attempt_id)


def _login_rate(setting: str) -> list[int] | None:
    """[calls, window in ms] of a QL_THROTTLE_LOGIN_* setting, or None when off."""
    rate = getattr(settings, setting)
    if rate in ("off", "", None):
        return None
    calls, seconds = SimpleRateThrottle.parse_rate(None, rate)
    return [calls, seconds * 1000]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
