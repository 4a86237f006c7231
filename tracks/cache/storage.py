"""What a process's track cache holds: decoded entries (least recently used first), the
playlist order, and the per-track invalidation stamps that keep a late fill out; all within
one memory budget. No threads, no Redis: the subscriber and the reads share one Storage under
its lock.

An entry is stored only with the generation it was read at (its stamp): it is refused if an
invalidation newer than that stamp was already applied (the fill-after-evict race), either the
one recorded for its track, or one forgotten (the stamps are kept for the most recent
`invalidation_limit` tracks written; an entry read before the newest stamp forgotten is
refused, so forgetting never lets a stale entry in).

Memory: each entry is counted, once when it is made, for what it holds (entry_size: the
decoded summary, the cues JSON and the body rendered from it); the cached order for its ids
and index; the invalidation stamps for a reserve of the budget (a 32nd). Checked against
tracemalloc in tests/tracks/test_track_cache_memory.py.
"""

import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple


@dataclass
class Entry:
    """One decoded track: its summary (no waveforms), the raw cues JSON (None in a summary-only
    entry, filled by list reads), and its rendered body (tracks/serializers.py rendered_body)."""

    version: int
    summary: dict
    cues_json: str | None
    size: int
    rendered: dict = field(default_factory=dict)
    # the track's position as read at generation `position_stamp` (valid until the order changes)
    position: int | None = None
    position_stamp: int = -1
    # an entry of something else than a track (read_grouped): the key whose invalidation
    # drops it with the rest of its group, and when it was loaded (time.monotonic())
    group: str | None = None
    loaded_at: float = 0.0


class Stamp(NamedTuple):
    """What a read's data was read together with (or after): the data set's epoch and the
    generation of track writes at that moment."""

    epoch: str | None
    generation: int


class Usage(NamedTuple):
    """What the storage holds: entries, their counted bytes (with the order's), the budget."""

    entries: int
    bytes: int
    budget: int
    invalidation_stamps: int


class Storage:
    def __init__(self, max_bytes: int):
        self.lock = threading.Lock()
        self.max_bytes = max_bytes
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        # What the entries and the order hold (their counted sizes); they keep within
        # entry_budget, the budget less the reserve of the invalidation stamps.
        self.bytes = 0
        self.order: list[str] | None = None
        self.order_index: dict[str, int] = {}
        self.order_bytes = 0
        # group key -> the keys of the entries stored in that group (read_grouped)
        self.groups: dict[str, set[str]] = {}
        # track id -> generation of its last invalidation applied, oldest first
        self.invalidated_at: OrderedDict[str, int] = OrderedDict()
        self.invalidation_limit = max(INVALIDATION_MIN, max_bytes // INVALIDATION_SHARE // INVALIDATION_RECORD)
        self.entry_budget = max_bytes - self.invalidation_limit * INVALIDATION_RECORD
        self.newest_forgotten_generation = 0
        self.order_changed_at = 0
        # The data set and generation the storage started from (entries read before it are
        # refused), and the newest generation whose invalidation has been applied.
        self.epoch: str | None = None
        self.start_generation = 0
        self.applied_generation = 0
        self.open = False

    # --- its life -------------------------------------------------------------------------
    def start(self, *, epoch: str, generation: int) -> None:
        """Empty, valid from `generation` of the data set `epoch` (the subscriber receives
        every invalidation after it)."""
        with self.lock:
            self._start(epoch, generation)

    def _start(self, epoch: str, generation: int) -> None:
        self._clear()
        self.epoch = epoch
        self.applied_generation = self.start_generation = generation
        self.invalidated_at.clear()
        self.newest_forgotten_generation = 0
        self.order_changed_at = generation
        self.open = True

    def clear(self) -> None:
        """Empty (the invalidation stamps too), valid from the generation applied so far: a
        fill read before it is refused. (One hold of the lock: an invalidation applied
        meanwhile is not lost.)"""
        with self.lock:
            if self.open:
                self._start(self.epoch, self.applied_generation)
            else:
                self._clear()
                self.invalidated_at.clear()

    def close(self) -> None:
        """Empty and refusing everything until started again."""
        with self.lock:
            self.open = False
            self.epoch = None
            self._clear()
            self.invalidated_at.clear()

    def usage(self) -> Usage:
        with self.lock:
            return Usage(len(self.entries), self.bytes, self.entry_budget, len(self.invalidated_at))

    def _clear(self) -> None:
        self.entries.clear()
        self.groups.clear()
        self.bytes = 0
        self._drop_order()

    def _pop(self, key: str) -> Entry | None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry.size
            if entry.group is not None:
                members = self.groups.get(entry.group)
                if members is not None:
                    members.discard(key)
                    if not members:
                        del self.groups[entry.group]
        return entry

    def _drop_order(self) -> None:
        self.bytes -= self.order_bytes
        self.order = None
        self.order_index = {}
        self.order_bytes = 0

    # --- invalidations --------------------------------------------------------------------
    def apply_invalidation(self, *, generation: int, track_id: str, order_changed: bool) -> None:
        with self.lock:
            self._pop(track_id)
            for key in self.groups.pop(track_id, ()):  # the entries of the group it names
                entry = self.entries.pop(key, None)
                if entry is not None:
                    self.bytes -= entry.size
            self._record_invalidation(track_id, generation)
            if order_changed:
                self._drop_order()
                self.order_changed_at = generation
            if generation > self.applied_generation:
                self.applied_generation = generation

    def _record_invalidation(self, track_id: str, generation: int) -> None:
        """Generations arrive in order, so the oldest record is first; past
        `invalidation_limit` records the oldest is forgotten (see put)."""
        records = self.invalidated_at
        if records.pop(track_id, None) is None and len(records) >= self.invalidation_limit:
            _, forgotten = records.popitem(last=False)
            if forgotten > self.newest_forgotten_generation:
                self.newest_forgotten_generation = forgotten
        records[track_id] = generation

    def covers(self, stamp: Stamp) -> bool:
        """Whether every invalidation up to `stamp` has been applied here."""
        return self.open and stamp.epoch == self.epoch and self.applied_generation >= stamp.generation

    # --- entries --------------------------------------------------------------------------
    def get(self, track_id: str) -> Entry | None:
        with self.lock:
            entry = self.entries.get(track_id)
            if entry is not None:
                self.entries.move_to_end(track_id)
            return entry

    def has_room(self, size: int) -> bool:
        """Whether an entry of `size` bytes fits beside what is held."""
        return self.bytes + size <= self.entry_budget

    def _refused(self, stamp: Stamp) -> bool:
        return not self.open or stamp.epoch != self.epoch or stamp.generation < self.start_generation

    def put(self, track_id: str, entry: Entry, stamp: Stamp, *, evict: bool = True) -> bool:
        """Stores `entry`, read at `stamp`, unless something newer evicted it (it, or the
        group its `group` names); without `evict` only if it fits beside what is held.
        Whether it was stored."""
        with self.lock:
            if self._refused(stamp):
                return False
            if (stamp.generation < self.newest_forgotten_generation
                    or self.invalidated_at.get(track_id, 0) > stamp.generation
                    or (entry.group is not None and self.invalidated_at.get(entry.group, 0) > stamp.generation)):
                return False
            self._pop(track_id)
            room = self.entry_budget - (self.bytes if not evict else self.order_bytes)
            if entry.size > room:
                return False  # (larger than the whole cache: nothing is evicted for it)
            self.entries[track_id] = entry
            self.bytes += entry.size
            if entry.group is not None:
                self.groups.setdefault(entry.group, set()).add(track_id)
            self._evict()
            return True

    def _evict(self) -> None:
        """Drops the least recently used entries until the storage is within its budget."""
        while self.bytes > self.entry_budget and self.entries:
            self._pop(next(iter(self.entries)))

    def position(self, track_id: str, entry: Entry) -> int | None:
        """The entry's position if no order change was applied since it was read."""
        if entry.position is not None and entry.position_stamp >= self.order_changed_at:
            return entry.position
        with self.lock:
            if self.order is None:
                return None
            return self.order_index.get(track_id)

    def set_position(self, entry: Entry, position: int, *, generation: int) -> None:
        with self.lock:
            entry.position = position
            entry.position_stamp = generation

    # --- the playlist order ---------------------------------------------------------------
    def get_order(self) -> list[str] | None:
        with self.lock:
            return self.order

    def put_order(self, order: list[str], stamp: Stamp) -> None:
        """Keeps the playlist order (and its index) read at `stamp`, unless it would take more
        than half the budget (then lists read it from Redis each time)."""
        if self.order_changed_at > stamp.generation:
            return  # (checked again below: the cheap early answer of a busy library)
        index = {track_id: position for position, track_id in enumerate(order)}
        size = order_size(order, index)
        if size > self.entry_budget // 2:
            return
        with self.lock:
            if self._refused(stamp) or self.order_changed_at > stamp.generation:
                return
            self._drop_order()
            self.order, self.order_index, self.order_bytes = order, index, size
            self.bytes += size
            self._evict()


# --- what the storage holds -----------------------------------------------------------------
# Sizes as CPython counts them (sys.getsizeof, which tracemalloc agrees with to a few %). An
# entry's size is computed once, when it is made, in time that does not grow with its number
# of cues (no walk of its marks).
_getsizeof = sys.getsizeof
_FLOAT = _getsizeof(0.5)
_INT = _getsizeof(2**20)
_ASCII_STR = _getsizeof("")  # + 1 byte a character
# a cue mark as JSON decodes it: {"name": str, "start": float, "end": float}, and its list slot
_MARK = _getsizeof({"name": "", "start": 0.0, "end": 0.0}) + 2 * _FLOAT + 8
# the fewest characters a mark takes in its JSON list, name aside: {"name":"","start":0,"end":0},
_MARK_SYNTAX = 30
# the keys one json.loads makes and shares between the marks' dicts
_MARK_KEYS = 3 * (_ASCII_STR + 5)
# what every entry holds beside its summary: the Entry and its attributes, its empty
# `rendered` dict, its position and stamp, its slot in the storage's OrderedDict and its key
# (measured with tracemalloc on CPython 3.11: 351)
_ENTRY = 352
# a rendered body kept in `rendered`: the dict's one key, the (position, bytes) tuple, the header
_RENDERED = _getsizeof({"body": None}) - _getsizeof({}) + _getsizeof((0, b"")) + _getsizeof(b"")
# one invalidation stamp (its id, its generation, its OrderedDict slot; measured: ~210)
INVALIDATION_RECORD = 256
# the invalidation stamps' reserve: a 32nd of the budget, and at least INVALIDATION_MIN records
INVALIDATION_SHARE = 32
INVALIDATION_MIN = 64


# the summary's fields that hold an object of numbers (tracks/store.py ANALYSIS_OWNED)
_NESTED = ("beatgrid", "loudness")


def summary_size(summary: dict, marks_json: str) -> int:
    """Bytes a decoded summary holds (tracks/store.py), `marks_json` being the JSON its cue
    marks were decoded from. Strings, genres, sources and the analysis's objects (beat grid,
    loudness) are measured; the marks (up to 512) are counted from their number and their
    JSON's length when it is ASCII (a name takes one byte a character, the JSON at least
    that), else measured."""
    size = _getsizeof(summary)
    for value in summary.values():
        if value is not None:
            size += _getsizeof(value)
    size += sum(map(_getsizeof, summary["genres"]))
    for name, url in summary["sources"].items():
        size += _getsizeof(name) + _getsizeof(url)
    for name in _NESTED:  # an applied analysis's objects: their keys and numbers
        nested = summary.get(name)
        if nested:
            size += sum(_getsizeof(key) + (_getsizeof(value) if value is not None else 0)
                        for key, value in nested.items())
    marks = summary["cues"]
    if marks:
        size += _MARK_KEYS + len(marks) * _MARK
        if marks_json.isascii():
            size += len(marks) * _ASCII_STR + max(0, len(marks_json) - len(marks) * _MARK_SYNTAX)
        else:
            size += sum(_getsizeof(mark["name"]) for mark in marks)
    return size


def entry_size(summary: dict, marks_json: str, *, cues_json: str | None = None, body: int = 0) -> int:
    """What an Entry holds: its summary and, for a full entry, its cues JSON and the `body`
    bytes of the rendered body kept beside them (counted before it is rendered)."""
    size = _ENTRY + summary_size(summary, marks_json)
    if cues_json is not None:
        size += _getsizeof(cues_json) + _RENDERED + body
    return size


def order_size(order: list[str], index: dict[str, int]) -> int:
    """What the cached playlist order holds: the list of ids, the ids, the index and its positions."""
    return _getsizeof(order) + sum(map(_getsizeof, order)) + _getsizeof(index) + len(order) * _INT
