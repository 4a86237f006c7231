"""Liveness and readiness: plain Django views, the cheapest request the service answers."""

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from quantumlive.redis_conn import get_redis

_READS = ("GET", "HEAD")


def _not_allowed(request) -> JsonResponse:
    response = JsonResponse({"detail": f'Method "{request.method}" not allowed.'}, status=405)
    response["Allow"] = ", ".join(_READS)
    return response


@csrf_exempt  # any other method is 405, not a CSRF 403
def healthz(request):
    if request.method not in _READS:
        return _not_allowed(request)
    return JsonResponse({"status": "ok"})


@csrf_exempt
def readyz(request):
    if request.method not in _READS:
        return _not_allowed(request)
    state = {"redis": "ok", "database": "ok"}
    try:
        get_redis().ping()
    except Exception:
        state["redis"] = "down"
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        state["database"] = "down"
    ready = all(value == "ok" for value in state.values())
    response = JsonResponse(state, status=200 if ready else 503)
    if not ready:
        response["Retry-After"] = "2"
    return response
