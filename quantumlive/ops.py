"""Liveness and readiness: plain Django views, the cheapest request the service answers."""

from django.db import connection
from django.http import JsonResponse

from quantumlive.redis_conn import get_redis


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
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
