"""Error shapes: DRF's, plus 503 for an unreachable Redis or one that refuses writes for
memory (maxmemory reached with noeviction), and 413 for an oversized body."""

import logging

import redis

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from quantumlive import metrics
from quantumlive.exceptions import RETRY_AFTER_SECONDS, PayloadTooLarge, ServiceUnavailable
from quantumlive.redis_conn import REDIS_DOWN_ERRORS

log = logging.getLogger(__name__)

REDIS_DOWN_DETAIL = "Service temporarily unavailable: the data store (Redis) cannot be reached."
REDIS_FULL_DETAIL = ("Service temporarily unavailable: the data store (Redis) is full and refuses "
                     "writes (maxmemory reached). Nothing was changed.")
# Memory is not freed within seconds: clients retry later than for an unreachable Redis.
REDIS_FULL_RETRY_AFTER = "30"


def is_redis_full(exc: BaseException) -> bool:
    """Redis refused a write for memory (OOM), directly or through django-redis, which wraps
    every Redis error of the cache (throttles) in ConnectionInterrupted."""
    for error in (exc, exc.__cause__):
        if isinstance(error, redis.exceptions.OutOfMemoryError):
            return True
    return False


def redis_full_response() -> JsonResponse:
    metrics.redis_error("full")
    response = JsonResponse({"detail": REDIS_FULL_DETAIL}, status=503)
    response["Retry-After"] = REDIS_FULL_RETRY_AFTER
    return response


def redis_down_response() -> JsonResponse:
    metrics.redis_error("down")
    response = JsonResponse({"detail": REDIS_DOWN_DETAIL}, status=503)
    response["Retry-After"] = RETRY_AFTER_SECONDS
    return response


def exception_handler(exc, context):
    if is_redis_full(exc):
        log.warning("redis refuses writes: maxmemory reached")
        metrics.redis_error("full")
        exc = ServiceUnavailable(REDIS_FULL_DETAIL, retry_after=REDIS_FULL_RETRY_AFTER)
    elif isinstance(exc, REDIS_DOWN_ERRORS):
        log.warning("redis unreachable: %s", type(exc).__name__)
        metrics.redis_error("down")
        exc = ServiceUnavailable(REDIS_DOWN_DETAIL)
    elif isinstance(exc, RequestDataTooBig):
        from django.conf import settings

        exc = PayloadTooLarge(f"Request body larger than {settings.QL_MAX_BODY_MB} MB.")
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, ServiceUnavailable):
        response["Retry-After"] = exc.retry_after
    return response


def error(status_code: int, detail) -> Response:
    return Response({"detail": detail}, status=status_code)
