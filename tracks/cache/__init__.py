"""The per-process track cache: reads answered from memory, never with data older than a write
that had answered before the read began.

Its one read interface is `read(track_id, load)`, `read_order(load)` and
`read_summaries(track_ids, load)`: the store says what it wants and how to load it from Redis
(with the Stamp it was read at: the data set's epoch and the generation of track writes), the
cache decides whether memory may answer and what it may keep.

The rule, across workers and instances: every track write increments the generation and
publishes an invalidation in the same Lua script; this process's subscriber (subscriber.py)
applies them in order to the storage (storage.py). Memory answers a read

- under a read lease (leases.py), with no round trip: the lease is held only by a subscriber
  that has applied every invalidation, and every write waits for the leased caches'
  acknowledgements before it answers;
- else after one round trip: the current generation is read (with the track's position), and
  memory answers only when the subscriber has applied up to it (after applying what waits in
  its socket).

Everything else is loaded from Redis, stamped with the generation read with it (or before
it), and kept only if no newer invalidation of it was applied. When the subscription drops,
the cache is emptied and bypassed until the subscriber is back; the epoch catches a Redis that
lost its data. A worker fills its cache in bulk when it starts (`warm`), under the same rule.

Leases: kept, because they earn their lines. Measured side by side (bench/tracks_bench.py
--structure, 4 rounds, fresh instances, 10,000 tracks, 4 workers, bench/RESULTS-tracks-structure.md;
a loaded 2-core machine, so rates are noisy and CPU per request is the steadier figure): with
leases against QL_TRACK_LEASE=0, single-connection reads 1.45x the rate (0.77x the CPU per
request), 8-connection reads 0.69x (plain) and 0.71x (analysed) the CPU per request, the first
10 s of an instance 1.63x. Without them a cached read costs one round trip, about what the
plain view that reads one Redis hash costs (1.07x its rate, against 1.55x with leases: the
issue asks for 1.2x). What they cost: while reads hold them, each write waits for every
worker's acknowledgement (PATCH latency under a read load, median 25.5 against 18.5 ms here;
+0.4 ms on a quiet machine, bench/RESULTS-tracks.md), and PATCH throughput right after a read
load was 0.61x (the leases are given up within a period of the reads stopping).
"""

import os
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from quantumlive import keys
from quantumlive.redis_conn import get_redis
from tracks.cache.leases import Policy
from tracks.cache.storage import Entry, Stamp, Storage, entry_size, order_size, summary_size
from tracks.cache.subscriber import BatchLoader, OrderLoader, Subscriber

__all__ = ["Entry", "Found", "Loaded", "Stamp", "Status", "TrackCache", "entry_size", "order_size",
           "process_cache", "read", "read_grouped", "read_order", "read_summaries", "reset_process_cache",
           "summary_size"]

# How long reset_process_cache waits for the subscriber to end (it is told to at once; a
# connection attempt in progress is what takes longest).
STOP_WAIT = 2.0


class Loaded(NamedTuple):
    """What a track load read from Redis at `stamp`: its entry (None when only the position
    was asked for, or the track is gone) and its position (None: gone)."""

    stamp: Stamp
    entry: Entry | None
    position: int | None


class Found(NamedTuple):
    """A track read: its entry, its position, and where it came from: "hit" (memory under the
    lease, no round trip), "checked" (memory after one round trip), "miss" (Redis, one round
    trip), "off" (no cache)."""

    entry: Entry
    position: int
    source: str


# load(track_id, with_entry=…): with_entry False reads only the stamp and the position.
TrackLoader = Callable[..., Loaded]
OrderRead = Callable[[], tuple[Stamp, list[str]]]
SummariesLoader = Callable[[list[str]], dict[str, Entry]]
# load() -> (the stamp read before the data, an Entry of it or None when there is nothing)
GroupedLoader = Callable[[], tuple[Stamp, Entry | None]]


class Status(NamedTuple):
    """What the cache is doing, for diagnostics and tests."""

    subscribed: bool  # the storage is valid (subscribed, baseline taken)
    session: str | None
    applied_generation: int
    leased: bool  # memory may answer without a round trip now
    lease_chosen: bool  # the subscriber holds (or asks for) a lease this period
    reads_this_period: int
    invalidations_this_period: int
    wakeups: int  # the subscriber loop's turns
    entries: int
    bytes: int
    budget: int
    invalidation_stamps: int
    warming: bool
    running: bool  # the subscriber thread is alive


def _full(entry: Entry | None) -> bool:
    return entry is not None and entry.cues_json is not None  # (else absent, or summary-only)


class TrackCache:
    def __init__(self, *, max_bytes: int, lease_seconds: float = 0.0):
        self.storage = Storage(max_bytes)
        self.policy = Policy(lease_seconds)
        self.subscriber = Subscriber(self.storage, self.policy)
        self.name = self.subscriber.name
        self.pid = self.subscriber.pid

    def start(self) -> None:
        self.subscriber.start()

    def stop(self) -> None:
        """Stops the subscriber; the lease ends at once (reads check Redis from now on)."""
        self.subscriber.stop()

    def warm(self, *, load_order: OrderLoader, load_batch: BatchLoader) -> None:
        """Fills the cache in bulk (playlist order, within the budget) from now, and after
        every reconnection."""
        self.subscriber.warm(load_order, load_batch)

    def wait_warm(self, timeout: float) -> bool:
        """Waits (at most `timeout` seconds, 2 if the subscriber is not subscribed by then)
        until the warm start has filled the cache; whether it has."""
        deadline = time.monotonic() + timeout
        subscribed_by = time.monotonic() + min(timeout, 2.0)
        while time.monotonic() < deadline:
            status = self.status()
            if status.subscribed and not status.warming:
                return True
            if not status.subscribed and time.monotonic() > subscribed_by:
                return False
            time.sleep(0.02)
        return False

    def clear(self) -> None:
        """Empties the cache; it fills again from reads made from now on."""
        self.storage.clear()

    def status(self) -> Status:
        usage = self.storage.usage()
        subscriber, policy = self.subscriber, self.policy
        return Status(
            subscribed=self.storage.open, session=subscriber.session,
            applied_generation=self.storage.applied_generation, leased=policy.valid(),
            lease_chosen=policy.hold, reads_this_period=policy.reads,
            invalidations_this_period=policy.invalidations, wakeups=subscriber.wakeups,
            entries=usage.entries, bytes=usage.bytes, budget=usage.budget,
            invalidation_stamps=usage.invalidation_stamps,
            warming=subscriber.warming,
            running=subscriber.running(),
        )

    # --- reads ----------------------------------------------------------------------------
    def _stamp_now(self) -> Stamp:
        epoch, generation = get_redis().mget(keys.epoch(), keys.generation())
        return Stamp(epoch, int(generation or 0))

    def read(self, track_id: str, load: TrackLoader) -> Found | None:
        """The track from memory when that is exact, else loaded (and kept)."""
        storage = self.storage
        # An entry is taken from memory only AFTER the lease or generation check: one taken
        # before it could be one that an invalidation applied in between has already evicted.
        if _full(storage.get(track_id)):
            if self.policy.read_counts():
                entry = storage.get(track_id)
                if _full(entry):
                    position = storage.position(track_id, entry)
                    if position is not None:
                        return Found(entry, position, "hit")
            checked = load(track_id, with_entry=False)
            if self.subscriber.caught_up_to(checked.stamp):
                entry = storage.get(track_id)
                if _full(entry):
                    if checked.position is not None:
                        storage.set_position(entry, checked.position, generation=checked.stamp.generation)
                    position = storage.position(track_id, entry)
                    if position is not None:
                        return Found(entry, position, "checked")
        loaded = load(track_id, with_entry=True)
        if loaded.entry is None or loaded.position is None:
            return None
        entry = loaded.entry
        entry.position, entry.position_stamp = loaded.position, loaded.stamp.generation
        storage.put(track_id, entry, loaded.stamp)
        return Found(entry, loaded.position, "miss")

    def read_order(self, load: OrderRead) -> list[str]:
        """The playlist order from memory when that is exact, else loaded (and kept)."""
        storage = self.storage
        if storage.get_order() is not None:
            if self.policy.read_counts():
                order = storage.get_order()  # after the check (see read)
                if order is not None:
                    return order
            if self.subscriber.caught_up_to(self._stamp_now()):
                order = storage.get_order()  # after the check (see read)
                if order is not None:
                    return order
        stamp, order = load()
        storage.put_order(order, stamp)
        return order

    def read_grouped(self, key: str, group: str, load: GroupedLoader, max_age: float) -> tuple[Entry | None, str]:
        """Something else than a track kept under `key` (a page of a playlist), dropped with
        every entry of `group` when an invalidation names `group` (the writer's
        tracks.store.cache_invalidate): from memory when that is exact and the entry is not
        older than `max_age` seconds, else loaded (and kept). With where it came from."""
        storage = self.storage
        entry = storage.get(key)
        if entry is not None and time.monotonic() - entry.loaded_at <= max_age:
            if self.policy.read_counts():
                entry = storage.get(key)  # after the check (see read)
                if entry is not None:
                    return entry, "hit"
            elif self.subscriber.caught_up_to(self._stamp_now()):
                entry = storage.get(key)
                if entry is not None:
                    return entry, "checked"
        stamp, entry = load()
        if entry is None:
            return None, "miss"
        entry.group, entry.loaded_at = group, time.monotonic()
        storage.put(key, entry, stamp)
        return entry, "miss"

    def read_summaries(self, track_ids: list[str], load: SummariesLoader) -> list[dict]:
        """Summaries of these tracks in this order (memory first; the rest loaded, then kept
        as summary-only entries). A track that is gone is left out."""
        storage = self.storage
        if self.policy.read_counts():
            # Summaries loaded below are stamped with the generation applied before loading
            # them: an invalidation of anything they missed comes later.
            stamp, trusted = Stamp(storage.epoch, storage.applied_generation), True
        else:
            stamp = self._stamp_now()
            trusted = self.subscriber.caught_up_to(stamp)
        found: dict[str, dict] = {}
        missing = track_ids
        if trusted:
            missing = []
            for track_id in track_ids:
                entry = storage.get(track_id)
                if entry is None:
                    missing.append(track_id)
                else:
                    found[track_id] = entry.summary
        if missing:
            for track_id, entry in load(missing).items():
                found[track_id] = entry.summary
                storage.put(track_id, entry, stamp)  # loaded after `stamp`: conservative
        return [found[track_id] for track_id in track_ids if track_id in found]


# --- this process's cache ---------------------------------------------------------------------
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
    """Stops this process's subscriber, waits (bounded) for it to end, so that it writes
    nothing to Redis afterwards, and forgets the cache (a worker's exit, tests)."""
    global _cache
    with _cache_lock:
        if _cache is not None and _cache.pid == os.getpid():
            _cache.stop()
            _cache.subscriber.join(STOP_WAIT)
            _cache.subscriber.reset()
        _cache = None


# --- the read interface, with or without a cache ------------------------------------------------
def read(track_id: str, load: TrackLoader) -> Found | None:
    """A track and its position: from this process's cache when that is exact, else `load`ed.
    `load(track_id, with_entry=bool) -> Loaded` reads Redis (the stamp, the position and, with
    `with_entry`, the track) in one round trip."""
    cache = process_cache()
    if cache is not None:
        return cache.read(track_id, load)
    loaded = load(track_id, with_entry=True)
    if loaded.entry is None or loaded.position is None:
        return None
    return Found(loaded.entry, loaded.position, "off")


def read_order(load: OrderRead) -> list[str]:
    """The playlist order; `load() -> (Stamp, order)` reads it from Redis."""
    cache = process_cache()
    if cache is not None:
        return cache.read_order(load)
    return load()[1]


def read_summaries(track_ids: list[str], load: SummariesLoader) -> list[dict]:
    """Summaries of these tracks in this order; `load(ids) -> {id: summary-only Entry}` reads
    those not in memory (read after the stamp the cache takes first)."""
    cache = process_cache()
    if cache is not None:
        return cache.read_summaries(track_ids, load)
    entries = load(track_ids)
    return [entries[track_id].summary for track_id in track_ids if track_id in entries]


def read_grouped(key: str, group: str, load: GroupedLoader, *, max_age: float) -> tuple[Entry | None, str]:
    """An entry of something else than a track, kept under `key` in `group` (TrackCache.read_grouped)."""
    cache = process_cache()
    if cache is not None:
        return cache.read_grouped(key, group, load, max_age)
    return load()[1], "off"


def warm_start(*, load_order: OrderLoader, load_batch: BatchLoader, wait: float = 0.0) -> bool:
    """Fills this process's cache in bulk (a worker that starts), waiting up to `wait` seconds
    for it; whether it is filled (False without a cache)."""
    cache = process_cache()
    if cache is None:
        return False
    cache.warm(load_order=load_order, load_batch=load_batch)
    return cache.wait_warm(wait) if wait > 0 else False
