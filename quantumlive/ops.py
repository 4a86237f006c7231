"""Liveness and readiness: plain Django views, the cheapest request the service answers.

/readyz asks Redis `INFO memory` (one round trip, like PING): "full" when Redis refuses
writes for memory, i.e. `maxmemory` is set with the `noeviction` policy (docker-compose.yml)
and less than FULL_HEADROOM of it is left. Redis refuses a write when the memory it uses,
the write's own bytes included, would pass `maxmemory`: with a few KB left small writes still
land and a track's do not, so "full" starts a little before the last byte.
"""

import redis
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from quantumlive.redis_conn import REDIS_DOWN_ERRORS, get_redis

_READS = ("GET", "HEAD")
# "full" when less than this is left below maxmemory: 1 % of it, at most 1 MiB.
FULL_HEADROOM_FRACTION = 0.01
FULL_HEADROOM_MAX = 2**20


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
    state = {"redis": redis_state(), "database": "ok"}
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


def redis_state() -> str:
    """"ok", "full" (writes refused for memory) or "down"."""
    client = get_redis()
    try:
        memory = client.info("memory")
    except REDIS_DOWN_ERRORS:
        return "down"
    except redis.exceptions.ResponseError:  # INFO not allowed (ACL, managed Redis): PING only
        try:
            client.ping()
        except Exception:
            return "down"
        return "ok"
    except Exception:
        return "down"
    return "full" if memory_is_full(memory) else "ok"


def memory_is_full(memory: dict) -> bool:
    """From INFO memory: does Redis refuse writes (or is about to, for a track's size)?"""
    maxmemory = int(memory.get("maxmemory") or 0)
    if maxmemory <= 0 or memory.get("maxmemory_policy") != "noeviction":
        return False  # unbounded, or writes evict other keys instead of failing
    # What Redis counts against maxmemory (AOF and replica buffers are not counted).
    used = int(memory.get("used_memory") or 0) - int(memory.get("mem_not_counted_for_evict") or 0)
    headroom = min(FULL_HEADROOM_MAX, int(maxmemory * FULL_HEADROOM_FRACTION))
    return used >= maxmemory - headroom
