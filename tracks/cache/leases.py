"""Read leases: when a process's cache may answer from memory without asking Redis, when it
holds one, and the acknowledgements that make writes wait for it.

A lease is a `{p}:leases` entry (session -> expiry, Redis's clock) that Redis grants only to a
subscriber that has applied every invalidation so far (LEASE). Every write answers its client
only after each cache whose lease was alive when it landed has acknowledged its invalidation
(ACK: each takes itself out of the write's `{p}:ack:<token>` set; the last one wakes the
writer) or that lease has run out or been retired. So a cache whose lease has not run out by
its own clock (started before it asked) has applied every write that had answered before a
read began.

A lease saves each read a round trip and costs each write a wake-up of every holder and a wait
for its acknowledgement, so a process holds one only while its reads use the cache at least
as often as invalidations arrive (Policy).
"""

import functools
import threading
import time

from quantumlive import keys
from quantumlive.redis_conn import get_redis
from quantumlive.scripts import Script

# What part of a lease its holder uses: covers its clock running slower than Redis's.
LEASE_MARGIN = 0.9
# By how much reads and invalidations may disagree with the lease choice before a period ends.
DECIDE_EARLY = 64
# How long a write's acknowledgement keys live (its writer waits far less).
ACK_TTL_MS = 10_000

# The lease holder's clock: CLOCK_BOOTTIME where there is one (Linux; it keeps counting while
# the host is suspended, unlike CLOCK_MONOTONIC, so a lease cannot outlive a suspend).
lease_clock = (functools.partial(time.clock_gettime, time.CLOCK_BOOTTIME)
               if hasattr(time, "CLOCK_BOOTTIME") else time.monotonic)


# Granted (1) only to a subscriber that has applied every invalidation so far (`applied` >=
# the generation) of the data set it knows (`known_epoch`; -1: another data set, start over),
# else 0. Drops expired leases.
_LEASE = Script(
    keys=("leases", "generation", "epoch"),
    args=("session", "applied", "ttl_ms", "known_epoch"),
    source=r"""
if redis.call('GET', KEYS[3]) ~= ARGV[4] then return -1 end
if tonumber(ARGV[2]) < tonumber(redis.call('GET', KEYS[2]) or '0') then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[3])), ARGV[1])
return 1
""")

# A cache has applied these writes' invalidations: takes its session out of each write's
# waiting set; the last one out tells the writer (its `done` list).
# KEYS: waiting set and done list of each write, in pairs.
_ACK = Script(
    keys=("waiting_and_done*",),
    args=("session", "ttl_ms"),
    source=r"""
for i = 1, #KEYS, 2 do
  if redis.call('SREM', KEYS[i], ARGV[1]) == 1 and redis.call('EXISTS', KEYS[i]) == 0 then
    redis.call('RPUSH', KEYS[i + 1], '1')
    redis.call('PEXPIRE', KEYS[i + 1], ARGV[2])
  end
end
return 1
""")


class DataSetChanged(Exception):
    """Redis holds another data set than the one this cache started from (its epoch)."""


def lease_request(client, *, session: str, applied_generation: int, seconds: float, epoch: str | None) -> bool:
    """Asks Redis for `session`'s lease for `seconds`; whether it was granted (not: this
    subscriber has not applied every invalidation yet). DataSetChanged for another epoch."""
    granted = _LEASE(client, leases=keys.leases(), generation=keys.generation(), epoch=keys.epoch(),
                     session=session, applied=applied_generation, ttl_ms=int(seconds * 1000),
                     known_epoch=epoch or "")
    if granted == -1:
        raise DataSetChanged()
    return granted == 1


def lease_retire(session: str) -> None:
    """Removes a session's lease so writers stop waiting for it (best effort: else it runs
    out). Only called once the session's own lease has ended (Policy.end)."""
    try:
        get_redis().zrem(keys.leases(), session)
    except Exception:
        pass


def writes_acknowledge(connection, *, session: str, tokens: set[str]) -> None:
    """Tells the writers of these acknowledgement tokens that `session` has applied their
    invalidations, on a connection whose replies are off (CLIENT REPLY OFF): one send, no
    wait. (A lost one only makes its writer wait until this lease runs out.)"""
    names = []
    for token in tokens:
        names += [keys.ack_pending(token), keys.ack_done(token)]
    # EVAL, not EVALSHA: with no replies, a NOSCRIPT would go unseen
    connection.send_command("EVAL", _ACK.source, len(names), *names, session, ACK_TTL_MS)


class Policy:
    """Whether this process holds a lease, and until when it may use it.

    Decided every `seconds`/4 from the reads and the invalidations of the period before (or
    at once when a read comes in a period with no invalidation so far, or when the period so
    far argues against the choice by DECIDE_EARLY)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        # lease clock until which this process may answer from memory (0: no lease)
        self.until = 0.0
        # until then a lease of ours may be in a write's acknowledgement set
        self.acknowledge_until = 0.0
        self.hold = False  # the choice for this period
        self.read_asked_this_period = False
        self.reads = 0
        self.invalidations = 0
        self.wake = threading.Event()  # a read asks for a lease now (or the cache stops)

    @property
    def enabled(self) -> bool:
        return bool(self.seconds)

    @property
    def period(self) -> float:
        return self.seconds / 4 if self.seconds else 1.0

    def valid(self) -> bool:
        return lease_clock() < self.until

    def read_counts(self) -> bool:
        """Counts a read; whether this process may answer it from memory without a round trip.
        Asking is what keeps the lease (or gets one)."""
        self.reads += 1
        if lease_clock() < self.until:
            return True
        if self.enabled and not self.hold and self.invalidations == 0 and not self.read_asked_this_period:
            self.read_asked_this_period = True  # (once a period: under writes it would be no each time)
            self.wake.set()  # no writes lately: ask for the lease at once
        return False

    def decide(self, *, period_ended: bool) -> None:
        """The choice for the next period: hold a lease only if reads used the cache at least
        as often as invalidations arrived. (Counted without a lock: a lost count only nudges it.)"""
        if period_ended:
            self.read_asked_this_period = False
        self.wake.clear()
        reads, self.reads = self.reads, 0
        invalidations, self.invalidations = self.invalidations, 0
        self.hold = self.enabled and reads > 0 and reads >= invalidations

    def choice_contradicted(self) -> bool:
        """The period so far already argues against the current choice by a wide margin
        (a burst of writes should not wait for a lease holder for a whole period)."""
        if self.hold:
            return self.invalidations - self.reads > DECIDE_EARLY
        return self.enabled and self.reads - self.invalidations > DECIDE_EARLY

    def end(self) -> None:
        """No read trusts memory without a check from here."""
        self.until = 0.0
