"""The subscriber: a thread that keeps a process's track cache exact. It subscribes to the
invalidation channel, applies every message to the storage in order, acknowledges the writes
that wait for this process, holds the read lease while reads justify it (leases.py), fills the
storage in bulk when asked to (warm start), and starts over from a new baseline whenever the
messages may have stopped arriving.

Every track write increments the global generation `{p}:gen` and publishes
`"<gen> <kind> <id> <ack>"` in the same Lua script (kind `t`: the track's fields, `o`: the
playlist order too; `ack`: the write's acknowledgement token, `-` when nobody waits).
"""

import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable

import redis

from django.conf import settings

from quantumlive import keys
from quantumlive.redis_conn import make_client
from tracks.cache.leases import (DataSetChanged, Policy, lease_clock, lease_request, lease_retire,
                                 writes_acknowledge, LEASE_MARGIN)
from tracks.cache.storage import Entry, Stamp, Storage

log = logging.getLogger(__name__)

# How long a subscriber without a lease lets invalidations wait in its socket (a read that
# finds the process behind applies them itself).
PASSIVE_WAIT = 0.1
# How long a read that finds this process behind waits for the messages in flight.
CATCH_UP_WAIT = 0.001
# How many messages a read's catch-up applies at most (a bounded detour for a request).
CATCH_UP_MESSAGES = 4096
# The interpreter's switch interval in a process with a subscriber (seconds; Python's default
# is 0.005). Each system call of the subscriber gives up the GIL, and while the process serves
# requests, taking it back waits for the request thread to be asked to let go: up to one
# interval per call, and writers wait for the acknowledgement that follows. A thread that does
# not wait for the GIL is not interrupted, so a quiet subscriber costs the requests nothing.
SWITCH_INTERVAL = 0.001
# Invalidations that name something else than a cache entry: "<prefix><rest>" -> a function
# given <rest>, called in order with the rest, before the write is acknowledged. A revoked
# token, "token:<sha256>" (quantumlive/auth.py), is one.
NAMED_LISTENERS: dict[str, Callable[[str], None]] = {}
# How long the subscriber may be behind the generation without progress and still vouch.
VOUCH_BEHIND = 0.25


class Subscription:
    """The invalidation channel on a connection of its own, read through redis-py's public
    Connection interface: `can_read` polls the socket (or finds messages already buffered),
    `read_response` takes one message (`push_request`: a message is the answer asked for, not
    a notification to pass on), from the parser's buffer when one receive brought several.
    Waiting and reading both use the parser: one thread at a time (the subscriber's drain_lock)."""

    def __init__(self, name: str, channel: str):
        self.connection = make_client(settings.REDIS_URL, client_name=name, health_check_interval=0,
                                      socket_keepalive=True).connection_pool.make_connection()
        self.connection.connect()  # AUTH, SELECT, CLIENT SETNAME as configured
        self.connection.send_command("SUBSCRIBE", channel)
        self.closed = False
        # the last `wait` found something that no read has taken yet (both hold the drain lock)
        self.found_by_wait = False
        deadline = time.monotonic() + 5
        while not any(item[0] == "subscribe" for item in self.read_messages()):
            if time.monotonic() > deadline:
                raise TimeoutError("no subscribe confirmation")
            self.wait(0.1)

    def wait(self, timeout: float) -> bool:
        """Whether something arrived (or the connection closed) within `timeout` seconds.
        Like every use of the connection, by one thread at a time (the subscriber's
        drain_lock)."""
        if self.closed or not self.connection.is_connected:
            return True  # (the next read says it is closed)
        try:
            readable = self.connection.can_read(timeout=timeout)
        except Exception:
            self.found_by_wait = False
            return True  # closed: the next read says so
        self.found_by_wait = readable
        return readable

    def read_messages(self, limit: int | None = None) -> list:
        """The messages that have arrived (at most `limit`), without waiting for more."""
        # A redis-py Connection that was closed (a socket error, a disconnect) opens itself
        # again on its next use, without SUBSCRIBE: deaf. A closed one ends the subscription.
        if self.closed or not self.connection.is_connected:
            self.closed = True
            raise ConnectionError("subscription closed")
        items = []
        try:
            if self.found_by_wait and limit != 0:
                # `wait` has just found something to read: `can_read` would poll twice again
                items.append(self.connection.read_response(push_request=True))
            while (limit is None or len(items) < limit) and self.connection.can_read(timeout=0):
                items.append(self.connection.read_response(push_request=True))
        except Exception:
            self.closed = True
            raise
        finally:
            self.found_by_wait = False
        return items

    def close(self) -> None:
        self.closed = True
        self.connection.disconnect()


def _ack_connection(name: str):
    """A connection for acknowledgements that Redis does not answer (CLIENT REPLY OFF)."""
    connection = make_client(settings.REDIS_URL, client_name=name,
                             health_check_interval=0).connection_pool.make_connection()
    connection.connect()
    connection.send_command("CLIENT", "REPLY", "OFF")
    return connection


# A bulk load for the warm start: the playlist order (with the stamp it was read at), and the
# entries of a batch of tracks (with a stamp read before them).
# Each is given the subscriber's own client.
OrderLoader = Callable[[redis.Redis], tuple[Stamp, list[str]]]
BatchLoader = Callable[[redis.Redis, list[str]], tuple[Stamp, dict[str, Entry]]]
WARM_BATCH = 20
# What share of the process's time the warm start may take while the process serves reads:
# after a batch during which reads came it pauses for as long as the batch took over that
# share, so a request waiting for the interpreter (the GIL) gets it within a batch's time.
WARM_SHARE = 0.5


class Subscriber:
    def __init__(self, storage: Storage, policy: Policy):
        self.storage = storage
        self.policy = policy
        # the subscription and the acknowledgement connection: used by the subscriber, and by
        # a read that finds this process behind (catch_up), one at a time
        self.drain_lock = threading.Lock()
        self.subscription: Subscription | None = None
        self.ack_connection = None
        self.lost_by_read = False  # a read's catch_up found the subscription closed
        self.session: str | None = None
        self.sessions = 0
        # (session, t): every message that reached this session's socket before t
        # (time.monotonic()) has been applied; None while unsubscribed. What the token cache
        # trusts (quantumlive/auth.py).
        self.vouch: tuple[str, float] | None = None
        self.started_at = 0.0  # time.monotonic() of start()
        self.wakeups = 0  # the loop's turns (it does not turn per write when idle)
        self.pid = os.getpid()
        # the subscriber connection's CLIENT SETNAME (visible in CLIENT LIST): one per cache
        # (pids repeat across containers: the random part keeps sessions apart)
        self.name = f"ql-inval:{settings.QL_REDIS_PREFIX}:{self.pid}:{uuid.uuid4().hex[:12]}"
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.warm_loaders: tuple[OrderLoader, BatchLoader] | None = None
        self.warm_queue: list[str] | None = None  # ids still to load, in playlist order
        self.warm_order_stamp = -1
        self.warm_positions: dict[str, int] = {}
        self.warm_started = 0.0

    # --- its life ---------------------------------------------------------------------------
    def start(self) -> None:
        self.started_at = time.monotonic()
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self.thread = threading.Thread(target=self._run, name="ql-track-invalidation", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Tells the thread to end; the lease ends at once (reads check Redis from now on)."""
        with self.storage.lock:
            self.stopping.set()
            self.vouch = None
            self.policy.end()
            session = self.session
        self.policy.wake.set()
        if session is not None:
            lease_retire(session)

    def join(self, timeout: float) -> None:
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=timeout)

    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def warm(self, load_order: OrderLoader, load_batch: BatchLoader) -> None:
        """Fills the storage in bulk, in playlist order until its budget is used, in batches
        between the handling of messages; again after each new baseline."""
        self.warm_loaders = (load_order, load_batch)
        self.warm_queue = None
        self.policy.wake.set()

    @property
    def warming(self) -> bool:
        """Whether a bulk fill is asked for and not done."""
        return self.warm_loaders is not None and self.warm_queue != []

    def _run(self) -> None:
        backoff = 0.05
        while not self.stopping.is_set():
            subscription = acks = commands = None
            try:
                # the thread's own connections: its commands (baseline, leases, warm start), its
                # acknowledgements, the subscription; the request path's pool is not touched
                commands = make_client(settings.REDIS_URL, client_name=self.name + ":cmd", max_connections=2)
                acks = _ack_connection(self.name + ":ack")
                subscribed_at = time.monotonic()
                subscription = Subscription(self.name, keys.invalidation_channel())
                self._baseline(commands, subscribed_at)
                backoff = 0.05
                log.info("track cache subscriber ready (pid %s)", os.getpid())
                self._listen(subscription, commands, acks)
            except Exception as exc:  # any failure: drop the cache, reconnect
                self.reset()
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

    def _baseline(self, commands, subscribed_at: float) -> None:
        """Subscribed (since `subscribed_at`): from the current generation on, every
        invalidation reaches us."""
        commands.set(keys.epoch(), uuid.uuid4().hex, nx=True)
        epoch, generation = commands.mget(keys.epoch(), keys.generation())
        with self.storage.lock:
            self.sessions += 1
            self.session = f"{self.name}:{self.sessions}"
            self.lost_by_read = False
        self.storage.start(epoch=epoch, generation=int(generation or 0))
        self.warm_queue = None
        self.vouch = (self.session, subscribed_at)

    def reset(self) -> None:
        """The cache is emptied and bypassed until the next baseline; the lease is retired."""
        with self.storage.lock:
            self.vouch = None
            self.policy.end()  # first: from here on no read trusts memory without a check
            session, self.session = self.session, None
        self.storage.close()
        if session is not None:
            lease_retire(session)

    # --- the loop ---------------------------------------------------------------------------
    def _listen(self, subscription: Subscription, commands, ack_connection) -> None:
        """Applies invalidations, acknowledges them, holds a lease while reads justify it
        (else checks once a second that it is caught up, and the epoch). Reconnects (raises)
        when the invalidations stop arriving: still behind the generation after a while.

        Active (a lease held or chosen, or behind): every message is applied as it arrives,
        since writers wait for a lease holder's acknowledgement. Passive (no lease): messages
        wait in the socket and are applied in batches every PASSIVE_WAIT, or at once by a read
        that finds this process behind (catch_up), so a process that is written more than it
        is read does not wake for every write."""
        policy = self.policy
        next_check = next_decision = 0.0
        behind_since = None
        applied_when_behind = 0  # the applied generation when behind_since was last reset
        with self.drain_lock:
            self.subscription, self.ack_connection = subscription, ack_connection
        try:
            while not self.stopping.is_set():
                self.wakeups += 1
                warming = self.warming
                if warming and behind_since is None:
                    timeout = 0.0
                elif policy.hold or policy.until or behind_since is not None:
                    timeout = 0.002 if behind_since is not None else 0.1
                else:
                    timeout = None
                if timeout is None:
                    policy.wake.wait(PASSIVE_WAIT)
                if self.lost_by_read:
                    raise ConnectionError("subscription closed (seen by a read)")
                # One thread at a time uses the connection, waiting included: redis-py's
                # `can_read` fills the parser's buffer and its next response, which a read
                # catching up in another thread would share (a message could be lost). A read
                # that finds the lock taken reads Redis instead.
                with self.drain_lock:
                    checked = time.monotonic()
                    if timeout is None or subscription.wait(timeout):
                        self._drain(subscription)
                    # what had arrived by then is applied (unless it is behind the generation
                    # for a while without progress: messages may be lost on the way)
                    if not (self.lost_by_read or self.stopping.is_set()) and (
                            behind_since is None or checked - behind_since < VOUCH_BEHIND):
                        self.vouch = (self.session, checked)
                if self.stopping.is_set():
                    break
                if warming and behind_since is None and not self._warm_step(commands):
                    next_check = 0.0  # behind the warm start's read: wait for what is in flight
                now = time.monotonic()
                if now >= next_decision or policy.wake.is_set() or policy.choice_contradicted():
                    policy.decide(period_ended=now >= next_decision)
                    next_decision = now + policy.period
                    if not policy.hold:
                        self._give_up_lease(commands)
                    elif policy.until == 0.0:
                        next_check = 0.0  # ask for the lease now
                if now < next_check:
                    continue
                caught_up = self._renew(commands) if policy.hold else self._caught_up(commands)
                if caught_up:
                    behind_since, next_check = None, now + (policy.period if policy.hold else 1.0)
                    continue
                # behind: messages in flight, most likely; ask again as soon as they are applied.
                # Messages still arriving (the applied generation moving) is progress.
                applied = self.storage.applied_generation
                if behind_since is None or applied > applied_when_behind:
                    behind_since, applied_when_behind = now, applied
                next_check = now + 0.002
                if now - behind_since > max(2.0, policy.seconds):
                    raise TimeoutError("invalidations stopped arriving")
        finally:
            with self.drain_lock:
                self.subscription = self.ack_connection = None

    def _apply(self, items: list) -> None:
        """Applies these messages and acknowledges the writes that may be waiting for us
        (under drain_lock)."""
        tokens = set()
        applied = 0
        for item in items:
            if item[0] != "message":
                continue
            generation, kind, track_id, token = item[2].split(" ", 3)
            self.storage.apply_invalidation(generation=int(generation), track_id=track_id,
                                            order_changed=kind == "o")
            for prefix, listener in NAMED_LISTENERS.items():
                if track_id.startswith(prefix):
                    listener(track_id[len(prefix):])
            applied += 1
            if token != "-":
                tokens.add(token)
        self.policy.invalidations += applied
        if tokens and lease_clock() < self.policy.acknowledge_until:
            writes_acknowledge(self.ack_connection, session=self.session, tokens=tokens)

    def _drain(self, subscription: Subscription, limit: int | None = None) -> None:
        """Applies the messages waiting (all of them, or `limit`), without blocking."""
        self._apply(subscription.read_messages(limit))

    def catch_up(self, generation: int) -> None:
        """A read found this process behind `generation`: apply what is waiting in the socket,
        and what Redis is writing into it at this moment (it may answer the read before it has
        sent us a message the generation already counts; a millisecond at most). If the
        subscriber is draining, the read does not wait for it (it reads Redis). A closed
        subscription stops the cache; the subscriber reconnects."""
        if not self.drain_lock.acquire(timeout=CATCH_UP_WAIT):
            return  # the subscriber is draining (or stuck sending acknowledgements): read Redis
        try:
            subscription = self.subscription
            if subscription is not None and not self.lost_by_read:
                self._drain(subscription, CATCH_UP_MESSAGES)
                if self.storage.applied_generation < generation and subscription.wait(CATCH_UP_WAIT):
                    self._drain(subscription, CATCH_UP_MESSAGES)
        except Exception:
            with self.storage.lock:
                self.vouch = None
                self.policy.end()  # first: the subscriber will retire the lease
                self.lost_by_read = True
                self.storage.open = False
            self.policy.wake.set()
        finally:
            self.drain_lock.release()

    def caught_up_to(self, stamp: Stamp) -> bool:
        """Whether cached data may answer a read that began at `stamp` (applying the
        invalidations waiting in the socket first if this process is behind it)."""
        storage = self.storage
        if not (storage.open and stamp.epoch is not None and stamp.epoch == storage.epoch):
            return False
        if storage.applied_generation < stamp.generation:
            self.catch_up(stamp.generation)
        return storage.covers(stamp)

    # --- the lease ----------------------------------------------------------------------------
    def _give_up_lease(self, commands) -> None:
        """Reads no longer justify the lease: end it, so writers stop waiting for this process."""
        with self.storage.lock:
            if self.policy.until == 0.0:
                return
            self.policy.end()
            session = self.session
        commands.zrem(keys.leases(), session)

    def _caught_up(self, commands) -> bool:
        """Without a lease: whether every invalidation so far is applied. A Redis that lost
        its data (restart without persistence, keys deleted) has a new epoch or none: start
        over from a new baseline. (The lease script checks the epoch itself.)"""
        epoch, generation = commands.mget(keys.epoch(), keys.generation())
        if epoch != self.storage.epoch:
            raise DataSetChanged()
        return self.storage.applied_generation >= int(generation or 0)

    def _renew(self, commands) -> bool:
        """Asks for the lease (granted only if every invalidation so far is applied); True
        when granted. The lease counts from before the request, so it ends here no later
        than in Redis."""
        policy = self.policy
        started = lease_clock()
        with self.storage.lock:
            session, applied, epoch = self.session, self.storage.applied_generation, self.storage.epoch
            # From the moment Redis may grant it, writes wait for our acknowledgement: a read's
            # catch_up that applies one of theirs before the reply is back must acknowledge it.
            acknowledge_until = policy.acknowledge_until
            policy.acknowledge_until = max(acknowledge_until, started + 2 * policy.seconds)
        if not lease_request(commands, session=session, applied_generation=applied, seconds=policy.seconds,
                             epoch=epoch):
            policy.acknowledge_until = acknowledge_until  # refused: nobody waits for this session
            return False
        with self.storage.lock:
            taken = self.storage.open and self.session == session and not self.stopping.is_set()
            if taken:
                policy.until = started + policy.seconds * LEASE_MARGIN
                policy.acknowledge_until = lease_clock() + 2 * policy.seconds
            else:
                policy.end()  # before the ZREM below (see lease_retire)
        if not taken:
            # stopped (or reset) meanwhile: its retirement may have come before this grant;
            # nobody would acknowledge for this session, so take the lease back out
            commands.zrem(keys.leases(), session)
        return taken

    # --- the warm start -----------------------------------------------------------------------
    def _warm_step(self, commands) -> bool:
        """One batch of the bulk fill: the order first, then WARM_BATCH tracks at a time;
        ends when every track is loaded or the budget is used. False if this process is
        behind what it read (nothing is stored: the step is taken again once caught up)."""
        load_order, load_batch = self.warm_loaders
        storage = self.storage
        if self.warm_queue is None:
            stamp, order = load_order(commands)
            if not self.caught_up_to(stamp):
                return False  # invalidations in flight would evict what is loaded: apply them first
            storage.put_order(order, stamp)
            self.warm_queue = list(reversed(order))  # (popped from the end)
            self.warm_order_stamp = stamp.generation
            self.warm_positions = {track_id: position for position, track_id in enumerate(order)}
            self.warm_started = time.monotonic()
            return True
        started, reads = time.monotonic(), self.policy.reads
        batch = [self.warm_queue.pop() for _ in range(min(WARM_BATCH, len(self.warm_queue)))]
        try:
            stamp, entries = load_batch(commands, batch)
        except redis.RedisError:
            raise  # (the subscriber starts over)
        except Exception:
            # a track that does not decode fails its own reads, not the cache: its batch is left out
            log.exception("track cache warm start: a batch of %s tracks left out", len(batch))
            stamp, entries = None, {}
        if entries and not self.caught_up_to(stamp):
            self.warm_queue.extend(reversed(batch))
            return False
        for track_id, entry in entries.items():
            entry.position, entry.position_stamp = self.warm_positions[track_id], self.warm_order_stamp
            if not storage.put(track_id, entry, stamp, evict=False) and not storage.has_room(entry.size):
                self.warm_queue = []  # the budget is used: what is held stays
                break
        if not self.warm_queue:
            self.warm_positions = {}
            log.info("track cache warm: %s entries in %.1f s (pid %s)", storage.usage().entries,
                     time.monotonic() - self.warm_started, os.getpid())
        if self.policy.reads != reads:
            self.stopping.wait((time.monotonic() - started) * (1 - WARM_SHARE) / WARM_SHARE)
        return True
