"""Liveness and readiness: plain Django views, the cheapest request the service answers.

/readyz asks Redis `INFO memory` (one round trip, like PING): "full" when Redis refuses
writes for memory, i.e. `maxmemory` is set with the `noeviction` policy (docker-compose.yml)
and less than FULL_HEADROOM of it is left. Redis refuses a write when the memory it uses,
the write's own bytes included, would pass `maxmemory`: with a few KB left small writes still
land and a track's do not, so "full" starts a little before the last byte.

It also reports the analysis queue (issue 17): "analysis_workers", the RQ workers registered on
the analysis queue whose RQ key is still alive (RQ expires it when the heartbeats stop:
QL_ANALYSIS_WORKER_TTL + 60 s after the last one), and "queue", the jobs waiting in it. Read
in the same round trip as INFO, plus one for the workers' keys (none when no worker is
registered); at most MAX_WORKERS_READ workers are looked at. Neither makes the service
unready: 0 workers is a 200 that says 0 (the API takes submissions; they wait). Both are
null when Redis cannot be read.
"""

import redis
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from quantumlive import keys
from quantumlive.redis_conn import REDIS_DOWN_ERRORS, get_redis

_READS = ("GET", "HEAD")
# "full" when less than this is left below maxmemory: 1 % of it, at most 1 MiB.
FULL_HEADROOM_FRACTION = 0.01
FULL_HEADROOM_MAX = 2**20
# The most registered workers whose liveness one /readyz reads (a bound on its cost).
MAX_WORKERS_READ = 1000


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
    redis, workers, waiting = redis_and_queue_state()
    state = {"redis": redis, "database": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        state["database"] = "down"
    ready = all(value == "ok" for value in state.values())
    state.update(analysis_workers=workers, queue=waiting)
    response = JsonResponse(state, status=200 if ready else 503)
    if not ready:
        response["Retry-After"] = "2"
    return response


def redis_state() -> str:
    """"ok", "full" (writes refused for memory) or "down"."""
    return redis_and_queue_state()[0]


def redis_and_queue_state() -> tuple[str, int | None, int | None]:
    """(Redis: "ok", "full" or "down"; live analysis workers; jobs waiting in the analysis
    queue), the last two None when Redis cannot be read. Two round trips at most."""
    client = get_redis()
    pipe = client.pipeline(transaction=False)
    pipe.info("memory")
    pipe.smembers(keys.rq_queue_workers())
    pipe.llen(keys.rq_queue())
    try:
        memory, workers, waiting = pipe.execute(raise_on_error=False)
    except Exception:
        return "down", None, None
    if isinstance(workers, Exception) or isinstance(waiting, Exception):
        return "down", None, None
    if isinstance(memory, redis.exceptions.ResponseError):  # INFO not allowed (ACL, managed Redis)
        state = "ok"
    elif isinstance(memory, Exception):
        return "down", None, None
    else:
        state = "full" if memory_is_full(memory) else "ok"
    try:
        alive = workers_alive(client, sorted(workers)[:MAX_WORKERS_READ])
    except Exception:
        return "down", None, None
    return state, alive, int(waiting)


def workers_alive(client, worker_keys: list[str]) -> int:
    """How many of these RQ worker keys still exist (one round trip; none for no key)."""
    if not worker_keys:
        return 0
    pipe = client.pipeline(transaction=False)
    for key in worker_keys:
        pipe.exists(key)
    return sum(pipe.execute())


def memory_is_full(memory: dict) -> bool:
    """From INFO memory: does Redis refuse writes (or is about to, for a track's size)?"""
    maxmemory = int(memory.get("maxmemory") or 0)
    if maxmemory <= 0 or memory.get("maxmemory_policy") != "noeviction":
        return False  # unbounded, or writes evict other keys instead of failing
    # What Redis counts against maxmemory (AOF and replica buffers are not counted).
    used = int(memory.get("used_memory") or 0) - int(memory.get("mem_not_counted_for_evict") or 0)
    headroom = min(FULL_HEADROOM_MAX, int(maxmemory * FULL_HEADROOM_FRACTION))
    return used >= maxmemory - headroom
