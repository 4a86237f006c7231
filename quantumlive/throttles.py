"""Throttles, counted in the Redis cache so every worker and instance shares them.

Anonymous clients are throttled on every request. Authenticated clients are throttled on
what is expensive — writes, search, analysis submissions — and not on reads, so the hot read
path (GET a track) costs no throttle round trip. Rates come from QL_THROTTLE_* settings
("<n>/<second|minute|hour|day>", or "off").
"""

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import SimpleRateThrottle


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
