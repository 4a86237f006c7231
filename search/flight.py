"""Single flight across processes and instances: of all concurrent identical lookups of one
service (same normalized query and limit), one — the leader — calls upstream; the others
wait for its answer, which they read from the shared cache (success) or from the flight key
(a failure, kept a few seconds for the waiters of that flight only: errors are not cached).

The flight key holds the leader's token while it calls, with a lease that outlives the
call's timeout so a crashed leader never wedges a query; then `done:<token>:<JSON>`.
Everything a waiter checks on each poll (cache, switched off, flight state) is one script.
"""

import json

from quantumlive import keys
from quantumlive.redis_conn import get_redis
from quantumlive.scripts import Script

_JOIN = Script(keys=("result", "flight", "off"), args=("token", "lease_ms", "seen"), source=r"""
local cached = redis.call('GET', KEYS[1])
if cached then return {'cached', cached} end
local off = redis.call('GET', KEYS[3])
if off then return {'off', off} end
local flight = redis.call('GET', KEYS[2])
if flight then
  if ARGV[3] ~= '' then
    local done = 'done:' .. ARGV[3] .. ':'
    if string.sub(flight, 1, #done) == done then return {'done', string.sub(flight, #done + 1)} end
  end
  if string.sub(flight, 1, 5) ~= 'done:' then return {'wait', flight} end
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return {'lead', ''}
""")

# `outcome` 'ok': `payload` is the items' JSON, cached; else the failure's JSON, left on the
# flight key for its waiters.
_FINISH = Script(keys=("result", "flight"), args=("token", "outcome", "payload", "cache_ttl", "done_ttl_ms"),
                 source=r"""
if ARGV[2] == 'ok' then redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4]) end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  if ARGV[2] == 'ok' then
    redis.call('DEL', KEYS[2])
  else
    redis.call('SET', KEYS[2], 'done:' .. ARGV[1] .. ':' .. ARGV[3], 'PX', ARGV[5])
  end
end
return 1
""")

_RELEASE = Script(keys=("flight",), args=("token",), source=r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
""")


def flight_join(*, service: str, limit: int, query_hash: str, token: str, seen: str,
                lease_ms: int) -> tuple[str, str]:
    """One step of a lookup. Returns (kind, value):
    `cached` (value: the cached JSON), `off` (the reason the service is switched off),
    `done` (the JSON failure of the flight `seen` this caller waited on),
    `wait` (another caller leads: value is its token, pass it as `seen` next time),
    `lead` (the caller now leads, under `token`, for `lease_ms`)."""
    kind, value = _JOIN(get_redis(), result=keys.search_result(service, limit, query_hash),
                        flight=keys.search_flight(service, limit, query_hash), off=keys.search_off(service),
                        token=token, lease_ms=lease_ms, seen=seen)
    return kind, value


def flight_finish(*, service: str, limit: int, query_hash: str, token: str, items_json: str = "",
                  failure: dict | None = None, cache_ttl: int, done_ttl_ms: int) -> None:
    """The leader's end: a success is cached (for everyone) and the flight ends; a failure
    is left on the flight key for this flight's waiters only."""
    if failure is None:
        kind, payload = "ok", items_json
    else:
        kind, payload = "fail", json.dumps(failure, separators=(",", ":"))
    _FINISH(get_redis(), result=keys.search_result(service, limit, query_hash),
            flight=keys.search_flight(service, limit, query_hash), token=token, outcome=kind, payload=payload,
            cache_ttl=cache_ttl, done_ttl_ms=done_ttl_ms)


def flight_release(*, service: str, limit: int, query_hash: str, token: str) -> None:
    """The leader gives the flight up without an answer (it may not call: its user's share
    is spent): waiters take the lead themselves, as when a lease ends, but at once."""
    _RELEASE(get_redis(), flight=keys.search_flight(service, limit, query_hash), token=token)
