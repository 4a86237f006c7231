"""django-cors-headers' middleware with its settings read once per process.

The library reads a dozen Django settings per request through its `conf` object, and every
read of a setting goes through LazySettings' `__getattribute__`: measured here 15 µs per
request without an Origin header and ~70 µs with one (tools in the issue 17 report), as much
as TrackReadMiddleware saves on the hot read. This subclass snapshots the settings (again
whenever a CORS_ setting changes: tests) and, for the configuration this project uses — an
explicit origin list, no origin regexes, not "allow all", no credentials, no private-network
header, CORS_URLS_REGEX matching every path, no `check_request_enabled` receivers — answers
exactly as the library does, header for header, without those reads. Any other
configuration goes through the library's own code.
"""

from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urlsplit

from corsheaders import middleware as cors
from corsheaders.conf import conf
from corsheaders.signals import check_request_enabled
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpResponse
from django.utils.cache import patch_vary_headers


class _Snapshot(NamedTuple):
    simple: bool  # the configuration the fast path answers exactly as the library does
    origins: frozenset  # (scheme, netloc) of each allowed origin
    null_allowed: bool  # the origin "null" is listed
    expose: str
    allow_headers: str
    allow_methods: str
    max_age: str


@lru_cache(maxsize=1)
def _snapshot() -> _Snapshot:
    origins = list(conf.CORS_ALLOWED_ORIGINS)
    simple = (not conf.CORS_ALLOW_ALL_ORIGINS and not conf.CORS_ALLOW_CREDENTIALS
              and not conf.CORS_ALLOWED_ORIGIN_REGEXES and not conf.CORS_ALLOW_PRIVATE_NETWORK
              and conf.CORS_URLS_REGEX in (r"^.*$", "^.*$"))
    parsed = [urlsplit(origin) for origin in origins]
    return _Snapshot(
        simple=simple, origins=frozenset((url.scheme, url.netloc) for url in parsed),
        null_allowed="null" in origins,
        expose=", ".join(conf.CORS_EXPOSE_HEADERS), allow_headers=", ".join(conf.CORS_ALLOW_HEADERS),
        allow_methods=", ".join(conf.CORS_ALLOW_METHODS),
        max_age=str(conf.CORS_PREFLIGHT_MAX_AGE) if conf.CORS_PREFLIGHT_MAX_AGE else "",
    )


@receiver(setting_changed)
def _forget(setting, **kwargs):
    if setting.startswith("CORS_"):
        _snapshot.cache_clear()


class CorsMiddleware(cors.CorsMiddleware):
    def __call__(self, request):
        snapshot = _snapshot()
        if self.async_mode or not snapshot.simple or check_request_enabled.receivers:
            return super().__call__(request)
        meta = request.META
        if request.method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in meta:
            response = HttpResponse(headers={"content-length": "0"})  # a preflight: nothing else runs
        else:
            response = self.get_response(request)
        if "Vary" in response.headers:
            patch_vary_headers(response, ("origin",))
        else:
            response.headers["Vary"] = "origin"  # (what patch_vary_headers writes, without its parsing)
        origin = meta.get("HTTP_ORIGIN")
        if not origin:
            return response
        try:
            url = urlsplit(origin)
        except ValueError:
            return response
        if not ((url.scheme, url.netloc) in snapshot.origins or (origin == "null" and snapshot.null_allowed)):
            return response
        response[cors.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
        if snapshot.expose:
            response[cors.ACCESS_CONTROL_EXPOSE_HEADERS] = snapshot.expose
        if request.method == "OPTIONS":
            response[cors.ACCESS_CONTROL_ALLOW_HEADERS] = snapshot.allow_headers
            response[cors.ACCESS_CONTROL_ALLOW_METHODS] = snapshot.allow_methods
            if snapshot.max_age:
                response[cors.ACCESS_CONTROL_MAX_AGE] = snapshot.max_age
        return response
