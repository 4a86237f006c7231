"""A rate limit shared by every worker and instance: at most `calls` in any `seconds`
(a sliding-window log in a Redis sorted set, timed by Redis's own clock)."""

import uuid

from quantumlive import keys
from quantumlive.redis_conn import get_redis
from quantumlive.scripts import Script

# Counts the call (a unique member, at Redis's time in ms) when fewer than `calls` were counted
# in the last `window_ms`.
_ADMIT = Script(keys=("calls_sent",), args=("calls", "window_ms", "call_id"), source=r"""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 1
""")


def rate_limit_admit(*, service: str, calls: int, seconds: int) -> bool:
    """True (and the call is counted) when one more call is allowed now."""
    allowed = _ADMIT(get_redis(), calls_sent=keys.search_rate(service), calls=calls, window_ms=seconds * 1000,
                     call_id=uuid.uuid4().hex)
    return bool(allowed)
