"""The hot read answered early: `GET /api/tracks/{id}/` by a client with a token this process
verified lately, and without cookies, is answered by the track view's hot path before the
middleware that only the admin and session clients need.

Listed after SecurityMiddleware and before SessionMiddleware. For such a request the
middleware it skips would do nothing: without cookies there is no session, no CSRF cookie
and no messages, a GET is never CSRF-checked, and the answer reads neither `request.user`
nor the session. What of them applies to every answer is applied here with Django's own
code: CommonMiddleware (ALLOWED_HOSTS, DISALLOWED_USER_AGENTS, Content-Length) and
XFrameOptionsMiddleware (its header), also to a 500 made of an error in the hot path.
SecurityMiddleware and the request id come before it and apply as always; Redis down is the
same 503 that RedisUnavailableMiddleware gives the views. Anything the hot path cannot
answer, and every request with a cookie, goes the whole way. Saves ~60 µs of CPU per read
(in-process figures in bench/RESULTS.md)."""

from django.core.handlers.exception import response_for_exception
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.urls import NoReverseMatch, get_resolver

from quantumlive import metrics
from quantumlive.auth import known_token_user
from quantumlive.errors import is_redis_full, redis_down_response, redis_full_response
from quantumlive.redis_conn import REDIS_DOWN_ERRORS
from tracks.views import HOT_READ_TRIED, hot_track_read


class TrackReadMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.common = CommonMiddleware(get_response)
        self.xframe = XFrameOptionsMiddleware(get_response)
        self._prefix = None
        self._route = None  # the route's pattern, for /metrics

    def prefix(self) -> str:
        """The track-detail route's path before the id ("/api/tracks/"), from the URLconf and
        without the script prefix (as request.path_info is); "" if the URLconf has no such route."""
        if self._prefix is None:
            try:
                route = get_resolver().reverse("track-detail", "-")  # "api/tracks/-/"
            except NoReverseMatch:
                route = None
            self._prefix = "/" + route[:-2] if route else ""
            self._route = get_resolver().resolve("/" + route).route if route else None
        return self._prefix

    def track_id(self, request) -> str | None:
        """The id of a cookie-less GET of the track-detail route, else None."""
        if request.method != "GET" or request.META.get("HTTP_COOKIE", "").strip():
            return None
        prefix, path = self.prefix(), request.path_info
        track_id = path[len(prefix):-1]
        if prefix and path.startswith(prefix) and path.endswith("/") and track_id and "/" not in track_id:
            return track_id
        return None

    def __call__(self, request):
        track_id = self.track_id(request)
        if track_id is None or known_token_user(request) is None:
            return self.get_response(request)
        refused = self.common.process_request(request)  # raises for a bad host or user agent
        if refused is not None:  # a redirect (PREPEND_WWW)
            return self.common.process_response(request, refused)
        setattr(request, HOT_READ_TRIED, True)  # the view does not try again
        setattr(request, metrics.ROUTE_ATTRIBUTE, self._route)  # counted under the route's pattern
        try:
            response = hot_track_read(request, track_id)
        except REDIS_DOWN_ERRORS:  # what RedisUnavailableMiddleware.process_exception gives views
            response = redis_down_response()
        except Exception as exc:  # the 500 (logged, signalled) Django makes of a view's error
            # (Redis refusing for memory is the views' 503, should anything here write)
            response = redis_full_response() if is_redis_full(exc) else response_for_exception(request, exc)
        if response is None:
            return self.get_response(request)
        response = self.common.process_response(request, response)  # Content-Length
        return self.xframe.process_response(request, response)
