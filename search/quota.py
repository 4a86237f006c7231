"""YouTube's daily quota, shared fairly between users (API.md, "Bad input, bounded").

Google gives a key QL_YOUTUBE_DAILY_UNITS units a day (a search costs 100) and resets the
count at midnight Pacific time. No user may spend more than QL_YOUTUBE_USER_SHARE percent of
them: each user's spending of the day is a Redis counter named after the Pacific date
(`keys.search_user_units`), raised atomically only while it stays within the share, and kept
until an hour after that day ends. Only a call sent upstream spends units: an answer from the
shared cache and a single-flight follower cost nothing (search/lookup.py charges the leader).
"""

import math
from fractions import Fraction
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from django.conf import settings

from quantumlive import keys
from quantumlive.redis_conn import get_redis
from quantumlive.scripts import Script

PACIFIC = ZoneInfo("America/Los_Angeles")
# A day's counter outlives the day by this much (clocks of app hosts and Redis may differ a
# little; the next day has a counter of its own anyway).
SECONDS_KEPT_AFTER_RESET = 3600
USER_QUOTA_EXCEEDED = "user quota exceeded"

_CHARGE = Script(keys=("spent",), args=("units", "cap", "ttl"), source=r"""
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
if spent + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
""")


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def quota_day(now: datetime | None = None) -> str:
    """The Pacific date (YYYY-MM-DD) of `now` (aware; default: now): the quota's day."""
    return _now(now).astimezone(PACIFIC).date().isoformat()


def seconds_until_quota_reset(now: datetime | None = None) -> int:
    """Seconds from `now` (aware; default: now) to the next midnight in America/Los_Angeles."""
    now = _now(now)
    local = now.astimezone(PACIFIC)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=PACIFIC)
    return max(1, math.ceil((midnight - now).total_seconds()))


def user_share_units() -> int:
    """The most units one user may spend in a day, computed exactly from the percentage as
    written (4.6 % of 50,000 is 2,300; in floating point 2,299.99…, one search fewer)."""
    percent = Fraction(str(settings.QL_YOUTUBE_USER_SHARE))
    return int(settings.QL_YOUTUBE_DAILY_UNITS * percent / 100)


def user_units_charge(*, service: str, user_id, units: int, cap: int,
                     now: datetime | None = None) -> bool:
    """Counts `units` spent by the user today and answers True, unless that would take the
    day's count past `cap`: then nothing is counted and the answer is False."""
    now = _now(now)  # one reading: the day named and its expiry must agree across midnight
    name = keys.search_user_units(service, quota_day(now), str(user_id))
    ttl = seconds_until_quota_reset(now) + SECONDS_KEPT_AFTER_RESET
    return bool(_CHARGE(get_redis(), spent=name, units=units, cap=cap, ttl=ttl))


def user_units_spent(*, service: str, user_id, now: datetime | None = None) -> int:
    """Units the user's calls spent on the day of `now`."""
    return int(get_redis().get(keys.search_user_units(service, quota_day(now), str(user_id))) or 0)
