"""Switching a service off for every worker: the circuit breaker (5 failures in a row —
errors and timeouts — switch it off for 60 s) and the cool-downs a service asks for (quota
spent, 429 Retry-After). All state is in Redis keys with TTLs.

After a cool-down the failure count is still at the threshold, so the first call that fails
again switches the service off again at once (half-open); a success clears the count.
"""

from quantumlive import keys
from quantumlive.redis_conn import get_redis
from quantumlive.scripts import Script

FAILURES_TO_TRIP = 5
TRIP_SECONDS = 60
TRIP_REASON = "repeated failures"
# The count forgets failures after an hour without any.
FAILURES_TTL = 3600

_RECORD_FAILURE = Script(keys=("failures", "off"), args=("failures_to_trip", "failures_ttl", "reason", "off_seconds"),
                         source=r"""
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
if n >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
  return 1
end
return 0
""")


def service_switch_off(*, service: str, reason: str, seconds: int) -> None:
    get_redis().set(keys.search_off(service), reason, ex=max(1, int(seconds)))


def breaker_record_failure(*, service: str) -> bool:
    """Counts a failed call; True when it switched the service off."""
    tripped = _RECORD_FAILURE(get_redis(), failures=keys.search_failures(service), off=keys.search_off(service),
                              failures_to_trip=FAILURES_TO_TRIP, failures_ttl=FAILURES_TTL, reason=TRIP_REASON,
                              off_seconds=TRIP_SECONDS)
    return bool(tripped)


def breaker_record_success(*, service: str) -> None:
    get_redis().delete(keys.search_failures(service))
