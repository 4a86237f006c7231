"""Turns "Redis unreachable" and "Redis full" (writes refused for memory) raised outside DRF
views (admin, plain views) into a 503."""

from quantumlive.errors import is_redis_full, redis_down_response, redis_full_response
from quantumlive.redis_conn import REDIS_DOWN_ERRORS


class RedisUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_redis_full(exception):
            return redis_full_response()
        if isinstance(exception, REDIS_DOWN_ERRORS):
            return redis_down_response()
        return None
