"""The per-process track cache and the subscriber thread that keeps it honest.

The rule that makes it safe across workers and instances: every track write increments the
global generation `{p}:gen` and publishes `"<gen> <kind> <id> <ack>"` in the same Lua script.
This process's subscriber applies those messages in order and records the highest
generation it has applied (`seen_gen`).

Reads under a lease (no round trip). While its subscription is healthy the subscriber holds a
read lease: a `{p}:leases` entry that Redis grants only when the subscriber has applied every
invalidation so far (tracks/lua.py LEASE), renewed every QL_TRACK_LEASE/4 seconds. A write
answers its client only after every cache whose lease was alive when it landed has applied
its invalidation (each pushes its session onto `{p}:ack:<ack>`) or that lease has expired.
So a cache whose lease has not run out (by its own clock, which it started before asking)
has applied every write that had answered before the read began, and may answer from memory.
A subscriber that stalls, loses its connection or falls behind stops renewing; its lease
runs out and its reads fall back to:

Reads after one round trip. A reader reads the current generation (`MGET epoch gen`) and
trusts the cache only when `seen_gen` has reached it. Otherwise it reads Redis.

Entries are stamped with the generation read together with their data, and an entry is not
stored if an invalidation newer than that stamp was already applied (the classic
fill-after-evict race). When the subscription drops, the cache is emptied and bypassed until
the subscriber is back; `epoch` catches a Redis that lost its data.
"""

import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from quantumlive import keys
from quantumlive.redis_conn import get_redis, make_client, run_script
from tracks import lua

log = logging.getLogger(__name__)


@dataclass
class Entry:
    """One decoded track: its summary (no waveforms), the raw cues JSON (None in a summary-only
    entry, filled by list reads), and rendered parts."""

    version: int
    summary: dict
    cues_json: str | None
    size: int
    rendered: dict = field(default_factory=dict)
    # the track's position as read at generation `position_stamp` (valid until the order changes)
    position: int | None = None
    position_stamp: int = -1


class TrackCache:
    def __init__(self, *, max_bytes: int, lease_seconds: float = 0.0):
        self.max_bytes = max_bytes
        self.lease_seconds = lease_seconds
        # monotonic time until which this process may answer from memory without a round
        # trip (0: no lease); the subscriber session the lease belongs to
        self.lease_until = 0.0
        self.session: str | None = None
        self.sessions = 0
        self.lock = threading.Lock()
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        self.bytes = 0
        self.order: list[str] | None = None
        self.order_index: dict[str, int] = {}
        self.last_inval: dict[str, int] = {}
        self.last_order_inval = 0
        self.floor_gen = 0
        self.seen_gen = 0
        self.epoch: str | None = None
        self.healthy = False
        self.pid = os.getpid()
        # the subscriber connection's CLIENT SETNAME (visible in CLIENT LIST): one per cache
        self.name = f"ql-inval:{settings.QL_REDIS_PREFIX}:{self.pid}:{id(self):x}"
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()

    # --- the subscriber -------------------------------------------------------------------
    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="ql-track-invalidation", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stops the subscriber; the lease ends at once (reads check Redis from now on)."""
        with self.lock:
            self.stopping.set()
            self.lease_until = 0.0
            session = self.session
        if session is not None:
            _retire(session)

    def _run(self) -> None:
        backoff = 0.05
        while not self.stopping.is_set():
            pubsub = None
            try:
                client = make_client(settings.REDIS_URL, socket_timeout=None, health_check_interval=2,
                                     client_name=self.name)
                # the thread's own connection for its commands (baseline, leases, acks): the
                # request path's pool is not touched from here
                commands = make_client(settings.REDIS_URL, client_name=self.name + ":cmd", max_connections=2)
                pubsub = client.pubsub()
                pubsub.subscribe(keys.invalidation_channel())
                deadline = time.monotonic() + 5
                while True:
                    message = pubsub.get_message(timeout=1.0)
                    if message and message["type"] == "subscribe":
                        break
                    if time.monotonic() > deadline:
                        raise TimeoutError("no subscribe confirmation")
                self._baseline(commands)
                backoff = 0.05
                log.info("track cache subscriber ready (pid %s)", os.getpid())
                self._listen(pubsub, commands)
            except Exception as exc:  # any failure: drop the cache, reconnect
                self._reset()
                if not self.stopping.is_set():
                    log.warning("track cache subscriber lost (%s); reconnecting", type(exc).__name__)
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 1.0)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:
                        pass

    def _listen(self, pubsub, commands) -> None:
        """Applies invalidations as they come, acknowledges them, keeps the lease renewed."""
        renew_every = self.lease_seconds / 4
        next_renewal = 0.0
        checked = time.monotonic()
        while not self.stopping.is_set():
            if self.lease_seconds:
                wait = max(0.0, min(1.0, next_renewal - time.monotonic()))
            else:
                wait = 1.0
            message = pubsub.get_message(timeout=wait)
            acks: set[str] = set()
            while message is not None:  # everything that has arrived, then one round trip
                if message["type"] == "message":
                    ack = self._apply(message["data"])
                    if ack:
                        acks.add(ack)
                message = pubsub.get_message(timeout=0.0)
            if acks:
                self._acknowledge(commands, acks)
            now = time.monotonic()
            if self.lease_seconds:
                if now >= next_renewal:
                    # behind (messages in flight): try again as soon as they are applied
                    next_renewal = now + (renew_every if self._renew(commands) else 0.002)
            elif now - checked > 1.0:
                # A Redis that lost its data (restart without persistence, keys deleted) has a
                # new epoch or none: start over from a new baseline. (The lease script checks
                # the epoch itself.)
                checked = now
                if commands.get(keys.epoch()) != self.epoch:
                    raise LookupError("epoch changed")

    def _acknowledge(self, commands, acks: set[str]) -> None:
        pipe = commands.pipeline(transaction=False)
        for ack in acks:
            pipe.rpush(keys.ack(ack), self.session)
            pipe.pexpire(keys.ack(ack), ACK_TTL_MS)
        pipe.execute()

    def _renew(self, commands) -> bool:
        """Asks for the lease (granted only if every invalidation so far is applied); True
        when granted. The lease counts from before the request, so it ends here no later
        than in Redis."""
        started = time.monotonic()
        with self.lock:
            session, applied, epoch = self.session, self.seen_gen, self.epoch
        granted = run_script(commands, lua.LEASE, 3, keys.leases(), keys.generation(), keys.epoch(),
                             session, applied, int(self.lease_seconds * 1000), epoch or "")
        if granted == -1:
            raise LookupError("epoch changed")
        if granted == 1:
            with self.lock:
                if self.healthy and self.session == session and not self.stopping.is_set():
                    self.lease_until = started + self.lease_seconds * LEASE_MARGIN
        return granted == 1

    def _baseline(self, commands) -> None:
        """Subscribed: from the current generation on, every invalidation reaches us."""
        commands.set(keys.epoch(), uuid.uuid4().hex, nx=True)
        epoch, gen = commands.mget(keys.epoch(), keys.generation())
        with self.lock:
            self._clear()
            self.sessions += 1
            self.session = f"{self.name}:{self.sessions}"
            self.epoch = epoch
            self.seen_gen = self.floor_gen = int(gen or 0)
            self.last_inval.clear()
            self.last_order_inval = self.floor_gen
            self.healthy = True

    def _reset(self) -> None:
        with self.lock:
            self.lease_until = 0.0  # first: from here on no read trusts memory without a check
            self.healthy = False
            self.epoch = None
            self._clear()
            session, self.session = self.session, None
        if session is not None:
            _retire(session)

    def _clear(self) -> None:
        self.entries.clear()
        self.bytes = 0
        self.order = None
        self.order_index = {}

    def _apply(self, data: str) -> str | None:
        """Applies one invalidation; returns the list where its writer waits for acks."""
        gen_text, kind, track_id, ack = data.split(" ", 3)
        gen = int(gen_text)
        with self.lock:
            entry = self.entries.pop(track_id, None)
            if entry is not None:
                self.bytes -= entry.size
            self.last_inval[track_id] = gen
            if kind == "o":
                self.order = None
                self.order_index = {}
                self.last_order_inval = gen
            if gen > self.seen_gen:
                self.seen_gen = gen
        return ack

    # --- readers --------------------------------------------------------------------------
    def leased(self) -> bool:
        """Whether this process may answer from memory without a round trip: its lease has
        not run out, so every write that had answered has been applied here."""
        return time.monotonic() < self.lease_until

    def trusted(self, epoch: str | None, gen: str | None) -> bool:
        """Whether cached data may answer a read that began at generation `gen`."""
        return self.healthy and epoch is not None and epoch == self.epoch and self.seen_gen >= int(gen or 0)

    def get(self, track_id: str) -> Entry | None:
        with self.lock:
            entry = self.entries.get(track_id)
            if entry is not None:
                self.entries.move_to_end(track_id)
            return entry

    def put(self, track_id: str, entry: Entry, *, epoch: str | None, stamp: int) -> None:
        """Store `entry`, read at generation `stamp`, unless something newer evicted it."""
        with self.lock:
            if not self.healthy or epoch != self.epoch or stamp < self.floor_gen:
                return
            if self.last_inval.get(track_id, 0) > stamp:
                return
            old = self.entries.pop(track_id, None)
            if old is not None:
                self.bytes -= old.size
            self.entries[track_id] = entry
            self.bytes += entry.size
            while self.bytes > self.max_bytes and self.entries:
                _, evicted = self.entries.popitem(last=False)
                self.bytes -= evicted.size

    def position(self, track_id: str, entry: Entry) -> int | None:
        """The entry's position if no order change was applied since it was read."""
        if entry.position is not None and entry.position_stamp >= self.last_order_inval:
            return entry.position
        with self.lock:
            if self.order is None:
                return None
            return self.order_index.get(track_id)

    def set_position(self, entry: Entry, position: int, *, stamp: int) -> None:
        with self.lock:
            entry.position = position
            entry.position_stamp = stamp

    def get_order(self) -> list[str] | None:
        with self.lock:
            return self.order

    def put_order(self, order: list[str], *, epoch: str | None, stamp: int) -> None:
        with self.lock:
            if not self.healthy or epoch != self.epoch or stamp < self.floor_gen:
                return
            if self.last_order_inval > stamp:
                return
            self.order = order
            self.order_index = {track_id: index for index, track_id in enumerate(order)}


# What part of a lease its holder uses (its clock may run a little faster than Redis's).
LEASE_MARGIN = 0.9
# How long an unclaimed acknowledgement list lives (its writer waits far less).
ACK_TTL_MS = 10_000


def _retire(session: str) -> None:
    """Removes an ended session's lease so writers stop waiting for it (best effort: else
    it expires). Only called after the session's own lease_until was zeroed."""
    try:
        get_redis().zrem(keys.leases(), session)
    except Exception:
        pass


_cache: TrackCache | None = None
_cache_lock = threading.Lock()


_enabled: bool | None = None  # settings.QL_TRACK_CACHE, read once (settings are lazy objects)


@receiver(setting_changed)
def _forget(setting, **kwargs):
    global _enabled
    if setting == "QL_TRACK_CACHE":
        _enabled = None


def process_cache() -> TrackCache | None:
    """This process's cache (its subscriber started on first use, after any fork), or None
    when QL_TRACK_CACHE is off."""
    global _cache, _enabled
    if _enabled is None:
        _enabled = bool(settings.QL_TRACK_CACHE)
    if not _enabled:
        return None
    cache = _cache
    if cache is None or cache.pid != os.getpid():
        with _cache_lock:
            cache = _cache
            if cache is None or cache.pid != os.getpid():
                cache = TrackCache(max_bytes=settings.QL_TRACK_CACHE_MB * 2**20,
                                   lease_seconds=settings.QL_TRACK_LEASE)
                cache.start()
                _cache = cache
    return cache


def reset_process_cache() -> None:
    """Stops this process's subscriber and forgets the cache (tests that switch Redis)."""
    global _cache
    with _cache_lock:
        if _cache is not None and _cache.pid == os.getpid():
            _cache.stop()
            _cache._reset()
        _cache = None
