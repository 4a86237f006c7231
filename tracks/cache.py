"""The per-process track cache and the subscriber thread that keeps it honest.

The rule that makes it safe across workers and instances: every track write increments the
global generation `{p}:gen` and publishes `"<gen> <kind> <id> <ack>"` in the same Lua script.
This process's subscriber applies those messages in order and records the highest
generation it has applied (`seen_gen`).

Reads under a lease (no round trip). While its subscription is healthy and reads use it
at least as often as writes arrive, the subscriber holds a read lease: a `{p}:leases` entry
that Redis grants only when the subscriber has applied every invalidation so far (tracks/lua.py
LEASE), renewed every QL_TRACK_LEASE/4 seconds. Writes wait for every lease holder, so a
process that is written more than it is read (or idle) holds none (_decide), and its
subscriber stops waking for each message: they wait in the socket and are applied in
batches, or by the first read that needs them (catch_up).
A write answers its client only after every cache whose lease was alive when it landed has
applied its invalidation (each takes itself out of the write's `{p}:ack:<ack>` set; the last
one wakes the writer) or that lease has expired or been retired.
So a cache whose lease has not run out (by its own clock, which it started before asking)
has applied every write that had answered before the read began, and may answer from memory.
A subscriber that stalls, loses its connection or falls behind stops renewing; its lease
runs out and its reads fall back to:

Reads after one round trip. A reader reads the current generation (`MGET epoch gen`) and
trusts the cache only when `seen_gen` has reached it (after applying what waits in the
socket). Otherwise it reads Redis.

Entries are stamped with the generation read together with their data, and an entry is not
stored if an invalidation newer than that stamp was already applied (the classic
fill-after-evict race). When the subscription drops, the cache is emptied and bypassed until
the subscriber is back; `epoch` catches a Redis that lost its data.

Memory. The cache holds at most QL_TRACK_CACHE_MB as measured (tracemalloc, in
tests/test_track_cache_memory.py): each entry is counted, once when it is made, for what it
holds (entry_size: the decoded summary, the cues JSON and the body rendered from it), the
cached playlist order for its ids and index, and the per-track invalidation stamps
(`last_inval`) for a reserve of the budget: they are kept for the most recent
`inval_limit` tracks written, and an entry read before the newest stamp forgotten
(`forgotten_gen`) is not stored, so forgetting never lets a stale entry in.
"""

import functools
import logging
import os
import select
import ssl
import sys
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

import hiredis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from quantumlive import keys
from quantumlive.redis_conn import get_redis, make_client, run_script
from tracks import lua

log = logging.getLogger(__name__)


class _Subscription:
    """The invalidation channel on a connection of its own, read raw: one poll and one recv
    per wake-up, however many messages came (redis-py's PubSub makes several system calls per
    message, and every worker pays them for every write). The socket is non-blocking: waiting
    for it (`wait`) needs no lock, reading it (`read`) never blocks."""

    CHUNK = 65536

    def __init__(self, name: str, channel: str):
        self.conn = make_client(settings.REDIS_URL, client_name=name, health_check_interval=0,
                                socket_keepalive=True).connection_pool.make_connection()
        self.conn.connect()  # AUTH, SELECT, CLIENT SETNAME as configured
        self.conn.send_command("SUBSCRIBE", channel)
        self.sock = self.conn._sock
        self.sock.settimeout(0.0)
        self.reader = hiredis.Reader(encoding="utf-8")
        self.more = False  # the last read filled its buffer: more may be waiting
        deadline = time.monotonic() + 5
        while not any(item[0] == "subscribe" for item in self.read()):
            if time.monotonic() > deadline:
                raise TimeoutError("no subscribe confirmation")
            self.wait(0.1)

    def wait(self, timeout: float) -> bool:
        """Whether something arrived (or the connection closed) within `timeout` seconds."""
        # (TLS: no decrypted bytes wait in the SSL object: every drain reads until it is empty)
        poller = select.poll()  # one per call: a poll object refuses concurrent poll() calls
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(timeout * 1000))

    def read(self) -> list:
        """The messages that have arrived (up to 64 KiB of them), without waiting."""
        try:
            data = self.sock.recv(self.CHUNK)
        except (BlockingIOError, ssl.SSLWantReadError):
            self.more = False
            return []
        if not data:
            raise ConnectionError("subscription closed by Redis")
        # TLS: a recv returns one record (16 KiB at most): only another recv can tell
        self.more = len(data) == self.CHUNK or isinstance(self.sock, ssl.SSLSocket)
        self.reader.feed(data)
        items = []
        while (item := self.reader.gets()) is not False:
            items.append(item)
        return items

    def close(self) -> None:
        self.conn.disconnect()


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


class TrackCache:
    def __init__(self, *, max_bytes: int, lease_seconds: float = 0.0):
        self.max_bytes = max_bytes
        self.lease_seconds = lease_seconds
        # monotonic time until which this process may answer from memory without a round
        # trip (0: no lease); the subscriber session the lease belongs to
        self.lease_until = 0.0
        # Whether to hold a lease, decided every QL_TRACK_LEASE/4 from the reads and the
        # invalidations applied in the period before (see _decide), or at once when a read
        # comes in a period with no invalidation so far.
        self.wanted = False
        self.asked = False  # a read woke the subscriber for a decision this period
        self.reads = 0
        self.invalidations = 0
        self.ack_until = 0.0  # lease clock: until then a lease of ours may be in a write's ack set
        self.wake = threading.Event()  # a read wants a lease now (or stop())
        self.wakeups = 0  # the subscriber's loop turns (tests: it does not turn per write when idle)
        # the subscription's socket and the ack connection: used by the subscriber, and by a
        # read that finds this process behind (catch_up), one at a time
        self.drain_lock = threading.Lock()
        self.subscription: _Subscription | None = None
        self.ack_conn = None
        self.broken = False  # a read's catch_up found the subscription closed
        self.session: str | None = None
        self.sessions = 0
        self.lock = threading.Lock()
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        # What the entries and the order hold (their counted sizes); they keep within
        # entry_budget, the budget less the reserve of the invalidation stamps.
        self.bytes = 0
        self.order: list[str] | None = None
        self.order_index: dict[str, int] = {}
        self.order_bytes = 0
        # track id -> generation of its last invalidation applied, oldest first, for the
        # `inval_limit` tracks written last; `forgotten_gen`: the newest generation dropped
        self.last_inval: OrderedDict[str, int] = OrderedDict()
        self.inval_limit = max(INVAL_MIN, max_bytes // INVAL_SHARE // INVAL_RECORD)
        self.entry_budget = max_bytes - self.inval_limit * INVAL_RECORD
        self.forgotten_gen = 0
        self.last_order_inval = 0
        self.floor_gen = 0
        self.seen_gen = 0
        self.epoch: str | None = None
        self.healthy = False
        self.pid = os.getpid()
        # the subscriber connection's CLIENT SETNAME (visible in CLIENT LIST): one per cache
        # (pids repeat across containers: the random part keeps sessions apart)
        self.name = f"ql-inval:{settings.QL_REDIS_PREFIX}:{self.pid}:{uuid.uuid4().hex[:12]}"
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
        self.wake.set()
        if session is not None:
            _retire(session)

    def _run(self) -> None:
        backoff = 0.05
        while not self.stopping.is_set():
            subscription = acks = commands = None
            try:
                # the thread's own connections: its commands (baseline, leases), its
                # acknowledgements, the subscription; the request path's pool is not touched
                commands = make_client(settings.REDIS_URL, client_name=self.name + ":cmd", max_connections=2)
                acks = self._ack_connection()
                subscription = _Subscription(self.name, keys.invalidation_channel())
                self._baseline(commands)
                backoff = 0.05
                log.info("track cache subscriber ready (pid %s)", os.getpid())
                self._listen(subscription, commands, acks)
            except Exception as exc:  # any failure: drop the cache, reconnect
                self._reset()
                if not self.stopping.is_set():
                    log.warning("track cache subscriber lost (%s); reconnecting", type(exc).__name__)
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 1.0)
            finally:
                for close in (subscription and subscription.close, acks and acks.disconnect,
                              commands and commands.close):
                    try:
                        if close:
                            close()
                    except Exception:
                        pass

    def _ack_connection(self):
        """A connection for acknowledgements that Redis does not answer (CLIENT REPLY OFF):
        an acknowledgement costs one send, no wait. (A lost one only makes its writer wait
        until this lease runs out.)"""
        conn = make_client(settings.REDIS_URL, client_name=self.name + ":ack",
                           health_check_interval=0).connection_pool.make_connection()
        conn.connect()
        conn.send_command("CLIENT", "REPLY", "OFF")
        return conn

    def _listen(self, subscription: "_Subscription", commands, ack_conn) -> None:
        """Applies invalidations, acknowledges them, holds a lease while reads outnumber
        writes (else checks once a second that it is caught up, and the epoch). Reconnects
        (raises) when the invalidations stop arriving: still behind the generation after a
        while.

        Active (a lease held or wanted, or behind): every message is applied as it arrives,
        since writers wait for a lease holder's acknowledgement. Passive (no lease): messages
        wait in the socket and are applied in batches every PASSIVE_WAIT, or at once by a
        read that finds this process behind (catch_up), so a process that is written more
        than it is read does not wake for every write."""
        every = self.lease_seconds / 4 if self.lease_seconds else 1.0
        next_check = next_decision = 0.0
        behind_since = None
        behind_at = 0  # seen_gen when behind_since was last reset
        with self.drain_lock:
            self.subscription, self.ack_conn = subscription, ack_conn
        try:
            while not self.stopping.is_set():
                self.wakeups += 1
                if self.wanted or self.lease_until or behind_since is not None:
                    arrived = subscription.wait(0.002 if behind_since is not None else 0.1)
                else:
                    self.wake.wait(PASSIVE_WAIT)
                    arrived = True
                if self.broken:
                    raise ConnectionError("subscription closed (seen by a read)")
                if arrived:
                    with self.drain_lock:
                        self._drain(subscription)
                if self.stopping.is_set():
                    break
                now = time.monotonic()
                if now >= next_decision or self.wake.is_set() or self._lopsided():
                    if now >= next_decision:
                        self.asked = False
                    self.wake.clear()
                    self._decide()
                    next_decision = now + every
                    if not self.wanted:
                        self._give_up_lease(commands)
                    elif self.lease_until == 0.0:
                        next_check = 0.0  # ask for the lease now
                if now < next_check:
                    continue
                caught_up = self._renew(commands) if self.wanted else self._caught_up(commands)
                if caught_up:
                    behind_since, next_check = None, now + (every if self.wanted else 1.0)
                    continue
                # behind: messages in flight, most likely; ask again as soon as they are applied.
                # Messages still arriving (seen_gen moving) is progress, however busy the writes.
                if behind_since is None or self.seen_gen > behind_at:
                    behind_since, behind_at = now, self.seen_gen
                next_check = now + 0.002
                if now - behind_since > max(2.0, self.lease_seconds):
                    raise TimeoutError("invalidations stopped arriving")
        finally:
            with self.drain_lock:
                self.subscription = self.ack_conn = None

    def _decide(self) -> None:
        """Whether to hold a lease for the next period: only if reads used the cache at least
        as often as invalidations arrived in the last one. A lease saves each read a round
        trip, and costs each write a wake-up here and a wait for our acknowledgement."""
        with self.lock:  # (reads are counted without it: a lost count only nudges the choice)
            reads, self.reads = self.reads, 0
            invalidations, self.invalidations = self.invalidations, 0
        self.wanted = bool(self.lease_seconds) and reads > 0 and reads >= invalidations

    def _lopsided(self) -> bool:
        """The period so far already argues against the current choice by a wide margin:
        decide now (a burst of writes should not wait for a lease holder for a whole period)."""
        if self.wanted:
            return self.invalidations - self.reads > DECIDE_EARLY
        return bool(self.lease_seconds) and self.reads - self.invalidations > DECIDE_EARLY

    def _take(self, items: list) -> None:
        """Applies these messages and acknowledges the writes that may be waiting for us
        (under drain_lock)."""
        acks = set()
        for item in items:
            if item[0] == "message":
                ack = self._apply(item[2])
                if ack != "-":
                    acks.add(ack)
        if acks and _lease_clock() < self.ack_until:
            self._acknowledge(self.ack_conn, acks)

    def _drain(self, subscription: "_Subscription", *, reads: int | None = None) -> None:
        """Applies the messages waiting in the socket (all of them, or what `reads` receives
        of 64 KiB each), without blocking (under drain_lock)."""
        while reads is None or reads > 0:
            self._take(subscription.read())
            if not subscription.more:
                return
            if reads is not None:
                reads -= 1

    def catch_up(self, gen: int) -> None:
        """A read found this process behind generation `gen`: apply what is waiting in the
        socket, and what Redis is writing into it at this moment (it may answer the read's
        MGET before it has sent us a message the generation already counts; a millisecond
        at most). If the subscriber is draining, the read does not wait for it (it reads
        Redis). A closed subscription stops the cache; the subscriber reconnects."""
        if not self.drain_lock.acquire(timeout=CATCH_UP_WAIT):
            return  # the subscriber is draining (or stuck sending acknowledgements): read Redis
        try:
            subscription = self.subscription
            if subscription is not None and not self.broken:
                self._drain(subscription, reads=16)  # a bounded detour for a request
                if self.seen_gen < gen and subscription.wait(CATCH_UP_WAIT):
                    self._drain(subscription, reads=16)
        except Exception:
            with self.lock:
                self.lease_until = 0.0  # first: the subscriber will retire the lease
                self.broken = True
                self.healthy = False
            self.wake.set()
        finally:
            self.drain_lock.release()

    def _give_up_lease(self, commands) -> None:
        """Reads no longer justify the lease (see _decide): end it, so writers stop waiting
        for this process."""
        with self.lock:
            if self.lease_until == 0.0:
                return
            self.lease_until = 0.0  # first: no read trusts memory without a check from here
            session = self.session
        commands.zrem(keys.leases(), session)

    def _caught_up(self, commands) -> bool:
        """Without leases: whether every invalidation so far is applied. A Redis that lost
        its data (restart without persistence, keys deleted) has a new epoch or none: start
        over from a new baseline. (The lease script checks the epoch itself.)"""
        epoch, gen = commands.mget(keys.epoch(), keys.generation())
        if epoch != self.epoch:
            raise LookupError("epoch changed")
        return self.seen_gen >= int(gen or 0)

    def _acknowledge(self, ack_conn, acks: set[str]) -> None:
        names = []
        for ack in acks:
            names += [keys.ack_wanted(ack), keys.ack_done(ack)]
        # EVAL, not EVALSHA: with no replies, a NOSCRIPT would go unseen
        ack_conn.send_command("EVAL", lua.ACK, len(names), *names, self.session, ACK_TTL_MS)

    def _renew(self, commands) -> bool:
        """Asks for the lease (granted only if every invalidation so far is applied); True
        when granted. The lease counts from before the request, so it ends here no later
        than in Redis."""
        started = _lease_clock()
        with self.lock:
            session, applied, epoch = self.session, self.seen_gen, self.epoch
            # From the moment Redis may grant it, writes wait for our acknowledgement: a read's
            # catch_up that applies one of theirs before the reply is back must acknowledge it.
            ack_until, self.ack_until = self.ack_until, max(self.ack_until, started + 2 * self.lease_seconds)
        granted = run_script(commands, lua.LEASE, 3, keys.leases(), keys.generation(), keys.epoch(),
                             session, applied, int(self.lease_seconds * 1000), epoch or "")
        if granted == -1:
            raise LookupError("epoch changed")
        if granted != 1:
            self.ack_until = ack_until  # refused: nobody waits for this session
            return False
        with self.lock:
            taken = self.healthy and self.session == session and not self.stopping.is_set()
            if taken:
                self.lease_until = started + self.lease_seconds * LEASE_MARGIN
                self.ack_until = _lease_clock() + 2 * self.lease_seconds
            else:
                self.lease_until = 0.0  # before the ZREM below (see _retire)
        if not taken:
            # stopped (or reset) meanwhile: its retirement may have come before this grant;
            # nobody would acknowledge for this session, so take the lease back out
            commands.zrem(keys.leases(), session)
        return taken

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
            self.forgotten_gen = 0
            self.last_order_inval = self.floor_gen
            self.broken = False
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
        self._drop_order()

    def _drop_order(self) -> None:
        self.bytes -= self.order_bytes
        self.order = None
        self.order_index = {}
        self.order_bytes = 0

    def _apply(self, data: str) -> str:
        """Applies one invalidation; returns its writer's ack token ("-": nobody waits)."""
        gen_text, kind, track_id, ack = data.split(" ", 3)
        gen = int(gen_text)
        with self.lock:
            entry = self.entries.pop(track_id, None)
            if entry is not None:
                self.bytes -= entry.size
            self._stamp(track_id, gen)
            if kind == "o":
                self._drop_order()
                self.last_order_inval = gen
            if gen > self.seen_gen:
                self.seen_gen = gen
            self.invalidations += 1
        return ack

    def _stamp(self, track_id: str, gen: int) -> None:
        """Records the track's invalidation at `gen` (generations arrive in order, so the
        oldest record is first); past `inval_limit` records the oldest is forgotten, and with
        it every entry read before its generation (see put)."""
        last_inval = self.last_inval
        if last_inval.pop(track_id, None) is None and len(last_inval) >= self.inval_limit:
            _, forgotten = last_inval.popitem(last=False)
            if forgotten > self.forgotten_gen:
                self.forgotten_gen = forgotten
        last_inval[track_id] = gen

    # --- readers --------------------------------------------------------------------------
    def leased(self) -> bool:
        """Whether this process may answer from memory without a round trip: its lease has
        not run out, so every write that had answered has been applied here. Asking is what
        keeps the lease (or gets one): the subscriber holds it while reads outnumber writes."""
        self.reads += 1
        if _lease_clock() < self.lease_until:
            return True
        if not self.wanted and self.invalidations == 0 and not self.asked and self.lease_seconds:
            self.asked = True  # (once a period: under writes the answer would be no each time)
            self.wake.set()  # no writes lately: ask for the lease at once
        return False

    def trusted(self, epoch: str | None, gen: str | None) -> bool:
        """Whether cached data may answer a read that began at generation `gen` (applying
        the invalidations waiting in the socket first if this process is behind it)."""
        if not (self.healthy and epoch is not None and epoch == self.epoch):
            return False
        current = int(gen or 0)
        if self.seen_gen < current:
            self.catch_up(current)
        return self.healthy and self.seen_gen >= current

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
            # an invalidation after `stamp` was applied: the one recorded, or one forgotten
            if stamp < self.forgotten_gen or self.last_inval.get(track_id, 0) > stamp:
                return
            old = self.entries.pop(track_id, None)
            if old is not None:
                self.bytes -= old.size
            if entry.size > self.entry_budget - self.order_bytes:
                return  # larger than the whole cache: not kept, and nothing evicted for it
            self.entries[track_id] = entry
            self.bytes += entry.size
            self._evict()

    def _evict(self) -> None:
        """Drops the least recently used entries until the cache is within its budget."""
        while self.bytes > self.entry_budget and self.entries:
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
        """Keeps the playlist order (and its index) read at `stamp`, unless it would take more
        than half the budget (then lists read it from Redis each time)."""
        if self.last_order_inval > stamp:
            return  # (checked again below: the cheap early answer of a busy library)
        index = {track_id: position for position, track_id in enumerate(order)}
        size = order_size(order, index)
        if size > self.entry_budget // 2:
            return
        with self.lock:
            if not self.healthy or epoch != self.epoch or stamp < self.floor_gen:
                return
            if self.last_order_inval > stamp:
                return
            self._drop_order()
            self.order, self.order_index, self.order_bytes = order, index, size
            self.bytes += size
            self._evict()


# --- what the cache holds -----------------------------------------------------------------
# Sizes as CPython counts them (sys.getsizeof, which tracemalloc agrees with to a few %), checked
# against tracemalloc in tests/test_track_cache_memory.py. An entry's size is computed once,
# when it is made, in time that does not grow with its number of cues (no walk of its marks).
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
# `rendered` dict, its position and stamp, its slot in the cache's OrderedDict and its key
# (measured with tracemalloc on CPython 3.11: 351)
_ENTRY = 352
# a rendered body kept in `rendered`: the dict's one key, the (position, bytes) tuple, the header
_RENDERED = _getsizeof({"body": None}) - _getsizeof({}) + _getsizeof((0, b"")) + _getsizeof(b"")
# one `last_inval` record (its id, its generation, its OrderedDict slot; measured: ~210)
INVAL_RECORD = 256
# the invalidation stamps' reserve: a 32nd of the budget, and at least INVAL_MIN records
INVAL_SHARE = 32
INVAL_MIN = 64


def summary_size(summary: dict, marks_json: str) -> int:
    """Bytes a decoded summary holds (tracks/store.py _summary_from_hash), `marks_json` being
    the JSON its cue marks were decoded from. Strings, genres and sources are measured; the
    marks (up to 512) are counted from their number and their JSON's length when it is ASCII
    (a name takes one byte a character, the JSON at least that), else measured."""
    size = _getsizeof(summary)
    for value in summary.values():
        if value is not None:
            size += _getsizeof(value)
    size += sum(map(_getsizeof, summary["genres"]))
    for name, url in summary["sources"].items():
        size += _getsizeof(name) + _getsizeof(url)
    marks = summary["cues"]
    if marks:
        size += _MARK_KEYS + len(marks) * _MARK
        if marks_json.isascii():
            size += len(marks) * _ASCII_STR + max(0, len(marks_json) - len(marks) * _MARK_SYNTAX)
        else:
            size += sum(_getsizeof(mark["name"]) for mark in marks)
    return size


def entry_size(summary: dict, marks_json: str, *, cues_json: str | None = None, body: int = 0) -> int:
    """What an Entry holds in the cache: its summary and, for a full entry, its cues JSON and
    the `body` bytes of the rendered body kept beside them (counted before it is rendered)."""
    size = _ENTRY + summary_size(summary, marks_json)
    if cues_json is not None:
        size += _getsizeof(cues_json) + _RENDERED + body
    return size


def order_size(order: list[str], index: dict[str, int]) -> int:
    """What the cached playlist order holds: the list of ids, the ids, the index and its positions."""
    return _getsizeof(order) + sum(map(_getsizeof, order)) + _getsizeof(index) + len(order) * _INT


# How long a subscriber without a lease lets invalidations wait in its socket (a read that
# finds the process behind applies them itself).
PASSIVE_WAIT = 0.1
# How long a read that finds this process behind waits for the messages in flight.
CATCH_UP_WAIT = 0.001
# By how much reads and invalidations may disagree with the lease choice before a period ends.
DECIDE_EARLY = 64
# What part of a lease its holder uses: covers its clock running slower than Redis's.
LEASE_MARGIN = 0.9
# How long reset_process_cache waits for the subscriber to end (it is told to at once; a
# connection attempt in progress is what takes longest).
STOP_WAIT = 2.0


# The lease holder's clock: CLOCK_BOOTTIME where there is one (Linux; it keeps counting while
# the host is suspended, unlike CLOCK_MONOTONIC, so a lease cannot outlive a suspend).
_lease_clock = (functools.partial(time.clock_gettime, time.CLOCK_BOOTTIME)
                if hasattr(time, "CLOCK_BOOTTIME") else time.monotonic)
# How long a write's acknowledgement keys live (its writer waits far less).
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
    """Stops this process's subscriber, waits (bounded) for it to end, so that it writes
    nothing to Redis afterwards, and forgets the cache (a worker's exit, tests)."""
    global _cache
    with _cache_lock:
        if _cache is not None and _cache.pid == os.getpid():
            _cache.stop()
            if _cache.thread is not None and _cache.thread is not threading.current_thread():
                _cache.thread.join(timeout=STOP_WAIT)
            _cache._reset()
        _cache = None
