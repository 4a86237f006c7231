"""A rate limit shared by every worker and instance: at most `calls` in any `seconds`
(a sliding-window log in a Redis sorted set, timed by Redis's own clock)."""

import uuid

from quantumlive import keys
from quantumlive.redis_conn import get_redis

_TAKE = r"""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 1
"""


def rate_take(*, service: str, calls: int, seconds: int) -> bool:
    """True (and the call is counted) when one more call is allowed now."""
    script = get_redis().register_script(_TAKE)
    allowed = script(keys=[keys.search_rate(service)], args=[calls, seconds * 1000, uuid.uuid4().hex])
    return bool(allowed)
