"""The track store: tracks in Redis hashes keyed by UUID, the playlist order in a sorted set,
a per-process cache kept consistent by pub/sub invalidation (tracks/cache.py), and writes
under expiring Redis locks with fencing (tracks/lua.py). No HTTP in here.

A track travels as a plain dict: id, title, artist, bpm, key, duration, genres, sources,
notes, cues, version, created, updated (+ position when read). Summaries are the same
without cue waveforms.
"""

import json
import random
import time
import uuid
from collections.abc import Sequence

from django.conf import settings

from quantumlive import keys
from quantumlive.clock import now_iso
from quantumlive.hash_sizes import hash_field_lengths
from quantumlive.redis_conn import REDIS_DOWN_ERRORS, get_redis
from tracks import lua
from tracks.cache import Entry, entry_size, process_cache

# Fields a client may write, each stored JSON-encoded in its own hash field.
WRITABLE = ("title", "artist", "bpm", "key", "duration", "genres", "sources", "notes", "cues")
_JSON_FIELDS = ("title", "artist", "bpm", "key", "duration", "genres", "sources", "notes")
# What list views read: everything but the cue waveforms ("cues" holds them; "marks" not).
_SUMMARY_FIELDS = ("id", *_JSON_FIELDS, "marks", "version", "created", "updated")


class TrackNotFound(Exception):
    pass


class VersionMismatch(Exception):
    def __init__(self, current: int | None):
        super().__init__(f"current version is {current}")
        self.current = current


class LockTimeout(Exception):
    """The track's lock could not be had in time (heavy contention): nothing changed."""


class TrackExists(Exception):
    pass


# --- encoding ----------------------------------------------------------------------------
def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _marks(cues: list[dict]) -> list[dict]:
    return [{"name": c["name"], "start": c["start"], "end": c["end"]} for c in cues]


def encode_fields(values: dict) -> list[str]:
    """Flat [field, value, …] for HSET from a dict of writable fields."""
    flat: list[str] = []
    for name, value in values.items():
        if name == "cues":
            flat += ["cues", _dumps(value), "marks", _dumps(_marks(value))]
        else:
            flat += [name, _dumps(value)]
    return flat


def _summary_from_hash(raw: dict) -> dict:
    summary = {"id": raw["id"]}
    for name in _JSON_FIELDS:
        summary[name] = json.loads(raw[name])
    summary["cues"] = json.loads(raw["marks"])
    summary["version"] = int(raw["version"])
    summary["created"] = raw["created"]
    summary["updated"] = raw["updated"]
    return summary


def _utf8_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def _entry_from_hash(raw: dict) -> Entry:
    summary = _summary_from_hash(raw)
    cues_json = raw["cues"]
    # the body that serializers.rendered_body keeps on the entry: these fields' JSON, the
    # cues JSON and a few hundred bytes of names, id, dates, version and position
    body = 256 + _utf8_length(cues_json) + sum(_utf8_length(raw[name]) for name in _JSON_FIELDS)
    return Entry(version=summary["version"], summary=summary, cues_json=cues_json,
                 size=entry_size(summary, raw["marks"], cues_json=cues_json, body=body))


def full_track(entry: Entry) -> dict:
    track = dict(entry.summary)
    track["cues"] = json.loads(entry.cues_json)
    return track


# --- locks -------------------------------------------------------------------------------
def _acquire(track_id: str) -> str:
    """Takes the track's lock (expires after QL_LOCK_TTL) or raises LockTimeout."""
    redis = get_redis()
    token = uuid.uuid4().hex
    ttl_ms = int(settings.QL_LOCK_TTL * 1000)
    deadline = time.monotonic() + settings.QL_LOCK_WAIT
    pause = 0.002
    while True:
        if redis.set(keys.track_lock(track_id), token, nx=True, px=ttl_ms):
            return token
        if time.monotonic() + pause > deadline:
            raise LockTimeout(track_id)
        time.sleep(pause * (0.5 + random.random()))
        pause = min(pause * 1.5, 0.05)


def _release(track_id: str, token: str) -> None:
    lua.release_lock(get_redis(), track_id=track_id, lock_token=token)


# --- acknowledgements ---------------------------------------------------------------------
# How long one wait for acknowledgements blocks before it checks which leases still exist.
_ACK_SLICE = 0.1


def _await_acks(ack: str, live_leases: Sequence) -> None:
    """Returns once every cache whose lease was alive when the write landed (`live_leases`:
    Redis's now in ms, then session, expiry, …; the same sessions are in the write's
    `ack_pending` set) has acknowledged its invalidation, or once that lease has expired or
    been retired. Until then the write must not answer: those caches answer reads from memory
    without asking Redis (tracks/cache.py)."""
    if len(live_leases) < 3:
        return
    started = time.monotonic()
    now_ms = int(live_leases[0])
    # Deadlines by this clock: measured from `started`, later than Redis's `now` was read,
    # so they are late, never early.
    deadlines = {live_leases[i]: started + (int(float(live_leases[i + 1])) - now_ms) / 1000
                 for i in range(1, len(live_leases), 2)}
    redis = get_redis()
    try:
        while True:
            # the last cache to acknowledge pushes onto `ack_done` (tracks/lua.py ACK)
            # (at least 10 ms: Redis reads a timeout that rounds to 0 ms as "block forever")
            # (and below the socket timeout, or the wait would read as "Redis is down")
            block = max(0.01, min(_ACK_SLICE, settings.QL_REDIS_SOCKET_TIMEOUT / 2,
                                  max(deadlines.values()) - time.monotonic()))
            if redis.blpop([keys.ack_done(ack)], timeout=block) is not None:
                return
            # Slow: who is still missing, and is their lease still alive (not expired, not retired)?
            missing = list(redis.smembers(keys.ack_wanted(ack)))
            now = time.monotonic()
            missing = [session for session in missing if deadlines.get(session, 0) > now]
            if missing:
                scores = redis.zmscore(keys.leases(), missing)
                missing = [session for session, score in zip(missing, scores) if score is not None]
            if not missing:
                return
    except REDIS_DOWN_ERRORS:
        # Redis went away after the write landed: the leases run out by themselves.
        time.sleep(max(0.0, max(deadlines.values()) - time.monotonic()))


def _run_locked(write, *, track_id: str, expected_version: int | None, **arguments) -> lua.Written:
    """Runs `write` (a guarded write of tracks/lua.py) under the track's lock; retries when
    the lock expired under us (fencing refused the write). Answers once the caches have
    applied it."""
    for _ in range(3):
        token = _acquire(track_id)
        ack = uuid.uuid4().hex
        try:
            written = write(track_id=track_id, ack=ack, expected_version=expected_version, lock_token=token,
                            **arguments)
        except BaseException:
            _release(track_id, token)
            raise
        if written.status == "missing":
            raise TrackNotFound(track_id)
        if written.status == "conflict":
            raise VersionMismatch(written.current_version)
        if written.status == "lost_lock":
            continue
        _await_acks(ack, written.live_leases)
        return written
    raise LockTimeout(track_id)


def _track_written(written: lua.Written) -> dict:
    """The track as a write left it, with its position."""
    track = full_track(_entry_from_hash(written.track_hash))
    track["position"] = written.position
    return track


# --- writes ------------------------------------------------------------------------------
def track_create(*, values: dict, position: int | None = None, track_id: str | None = None,
                 created: str | None = None, updated: str | None = None) -> dict:
    """Creates a track from validated `values` (all of WRITABLE) at `position` (None: last).
    `track_id`/`created`/`updated` are for imports; an existing id raises TrackExists."""
    track_id = track_id or str(uuid.uuid4())
    stamp = now_iso()
    fields = ["id", track_id, "version", "1", "created", created or stamp, "updated", updated or stamp]
    fields += encode_fields({name: values[name] for name in WRITABLE})
    ack = uuid.uuid4().hex
    written = lua.create_track(get_redis(), track_id=track_id, ack=ack, position=position, fields=fields)
    if written.status == "exists":
        raise TrackExists(track_id)
    _await_acks(ack, written.live_leases)
    return _track_written(written)


def track_update(*, track_id: str, values: dict, expected_version: int | None = None) -> dict:
    """Sets the given writable fields (only those), bumping the version."""
    written = _run_locked(lua.update_fields, track_id=track_id, expected_version=expected_version,
                          updated=now_iso(), fields=encode_fields(values))
    return _track_written(written)


def track_move(*, track_id: str, position: int, expected_version: int | None = None) -> dict:
    written = _run_locked(lua.move_track, track_id=track_id, expected_version=expected_version,
                          updated=now_iso(), position=position)
    return _track_written(written)


def track_delete(*, track_id: str, expected_version: int | None = None) -> None:
    _run_locked(lua.delete_track, track_id=track_id, expected_version=expected_version)


def track_apply(*, track_id: str, fill, expected_version: int | None = None) -> dict:
    """Read-modify-write: `fill(track) -> values` decides what to set from the current track.
    Lands only if the version read is still current (else it is read again, or
    VersionMismatch when the caller named the version it expects)."""
    for _ in range(5):
        current = track_get(track_id=track_id)
        if current is None:
            raise TrackNotFound(track_id)
        if expected_version is not None and current["version"] != expected_version:
            raise VersionMismatch(current["version"])
        try:
            written = _run_locked(lua.update_fields, track_id=track_id, expected_version=current["version"],
                                  updated=now_iso(), fields=encode_fields(fill(current)))
        except VersionMismatch:
            if expected_version is not None:
                raise
            continue
        return _track_written(written)
    raise LockTimeout(track_id)


# --- reads -------------------------------------------------------------------------------
def _state(pipe) -> None:
    pipe.mget(keys.epoch(), keys.generation())


def track_entry(*, track_id: str) -> tuple[Entry, int, str] | None:
    """The track's decoded entry, its position and where it came from ("hit": this process's
    cache under its lease, no round trip; "checked": the cache, trusted after one round trip;
    "miss": Redis, one round trip; "off": no cache)."""
    cache = process_cache()
    redis = get_redis()
    if cache is None:
        pipe = redis.pipeline(transaction=True)
        pipe.hgetall(keys.track(track_id))
        pipe.zrank(keys.playlist(), track_id)
        raw, rank = pipe.execute()
        if not raw or rank is None:
            return None
        return _entry_from_hash(raw), rank, "off"

    # The entry is taken from the cache only AFTER the lease or generation check: an entry read
    # before it could be one that an invalidation applied in between has already evicted.
    peek = cache.get(track_id)
    if peek is not None and peek.cues_json is not None:  # else absent or summary-only (lists)
        if cache.leased():
            entry = cache.get(track_id)
            if entry is not None and entry.cues_json is not None:
                position = cache.position(track_id, entry)
                if position is not None:
                    return entry, position, "hit"
        rank = None
        if cache.position(track_id, peek) is None:
            pipe = redis.pipeline(transaction=False)
            _state(pipe)
            pipe.zrank(keys.playlist(), track_id)
            (epoch, gen), rank = pipe.execute()
        else:
            epoch, gen = redis.mget(keys.epoch(), keys.generation())
        if cache.trusted(epoch, gen):
            entry = cache.get(track_id)
            if entry is not None and entry.cues_json is not None:
                if rank is not None:
                    cache.set_position(entry, rank, stamp=int(gen or 0))
                position = cache.position(track_id, entry)
                if position is not None:
                    return entry, position, "checked"
    pipe = redis.pipeline(transaction=True)
    _state(pipe)
    pipe.hgetall(keys.track(track_id))
    pipe.zrank(keys.playlist(), track_id)
    (epoch, gen), raw, rank = pipe.execute()
    if not raw or rank is None:
        return None
    entry = _entry_from_hash(raw)
    stamp = int(gen or 0)
    entry.position, entry.position_stamp = rank, stamp
    cache.put(track_id, entry, epoch=epoch, stamp=stamp)
    return entry, rank, "miss"


def track_get(*, track_id: str) -> dict | None:
    found = track_entry(track_id=track_id)
    if found is None:
        return None
    entry, position, _ = found
    track = full_track(entry)
    track["position"] = position
    return track


def _order() -> list[str]:
    """The playlist order, from the cache when trusted."""
    cache = process_cache()
    redis = get_redis()
    if cache is not None and cache.get_order() is not None:
        if cache.leased():
            order = cache.get_order()  # after the check (see track_entry)
            if order is not None:
                return order
        epoch, gen = redis.mget(keys.epoch(), keys.generation())
        if cache.trusted(epoch, gen):
            order = cache.get_order()  # after the check (see track_entry)
            if order is not None:
                return order
    pipe = redis.pipeline(transaction=True)
    _state(pipe)
    pipe.zrange(keys.playlist(), 0, -1)
    (epoch, gen), order = pipe.execute()
    if cache is not None:
        cache.put_order(order, epoch=epoch, stamp=int(gen or 0))
    return order


def _summaries(track_ids: list[str]) -> list[dict]:
    """Summaries of these tracks in this order (cache first; the rest in pipelined batches,
    then cached as summary-only entries). A track deleted meanwhile is left out."""
    cache = process_cache()
    redis = get_redis()
    found: dict[str, dict] = {}
    missing = track_ids
    epoch = gen = None
    if cache is not None:
        if cache.leased():
            # Summaries read from Redis below are stamped with the generation applied before
            # reading them: an invalidation of anything they missed comes later (tracks/cache.py).
            epoch, gen, trusted = cache.epoch, cache.seen_gen, True
        else:
            epoch, gen = redis.mget(keys.epoch(), keys.generation())
            trusted = cache.trusted(epoch, gen)
        if trusted:
            missing = []
            for track_id in track_ids:
                entry = cache.get(track_id)
                if entry is None:
                    missing.append(track_id)
                else:
                    found[track_id] = entry.summary
    for start in range(0, len(missing), 1000):
        batch = missing[start:start + 1000]
        pipe = redis.pipeline(transaction=False)
        for track_id in batch:
            pipe.hmget(keys.track(track_id), _SUMMARY_FIELDS)
        for track_id, values in zip(batch, pipe.execute()):
            if values[0] is None:
                continue
            raw = dict(zip(_SUMMARY_FIELDS, values))
            summary = _summary_from_hash(raw)
            found[track_id] = summary
            if cache is not None:  # read after `gen`: stamping it with `gen` is conservative
                cache.put(track_id, Entry(version=summary["version"], summary=summary, cues_json=None,
                                          size=entry_size(summary, raw["marks"])),
                          epoch=epoch, stamp=int(gen or 0))
    return [found[track_id] for track_id in track_ids if track_id in found]


# A filtered list reads every summary, this many at a time, and keeps only its page: what a
# request holds is one batch and the page, however large the library (20,000 maximal tracks'
# summaries are ~4.6 GB decoded).
_FILTER_BATCH = 100


def track_list(*, offset: int = 0, limit: int = 50, match=None) -> tuple[int, list[dict]]:
    """(count, page) of track summaries in playlist order, each with its `position`;
    `match(summary) -> bool` filters (then every summary is read)."""
    order = _order()
    if match is None:
        page_ids = order[offset:offset + limit]
        page = _summaries(page_ids)
        positions = {track_id: offset + index for index, track_id in enumerate(page_ids)}
        count = len(order)
    else:
        count, page, positions = 0, [], {}
        for start in range(0, len(order), _FILTER_BATCH):
            batch = order[start:start + _FILTER_BATCH]
            for summary in _summaries(batch):
                if match(summary):
                    if offset <= count < offset + limit:
                        page.append(summary)
                        positions[summary["id"]] = start + batch.index(summary["id"])
                    count += 1
    result = []
    for summary in page:
        item = dict(summary)
        item["position"] = positions[summary["id"]]
        result.append(item)
    return count, result


def track_ids() -> list[str]:
    return list(_order())


# --- backup and restore (tracks/backup.py) --------------------------------------------------
# A track's backup record: these keys in this order (server-owned ones as stored).
RECORD_FIELDS = ("id", *WRITABLE, "version", "created", "updated")


def order_snapshot_into(pipe, *, target: str, ttl_ms: int) -> None:
    """Queues on `pipe` (a MULTI, with the snapshots of the other lists) a copy of the
    playlist order, as it is at that moment, into the scratch key `target`."""
    pipe.copy(keys.playlist(), target, replace=True)
    pipe.pexpire(target, ttl_ms)


def track_records(track_ids: list[str]) -> list[str | None]:
    """Each track's backup record as compact JSON text, from one atomic HGETALL of its hash
    (pipelined; the stored JSON of every field is written as it is), None for a track deleted
    meanwhile."""
    pipe = get_redis().pipeline(transaction=False)
    for track_id in track_ids:
        pipe.hgetall(keys.track(track_id))
    records = []
    for raw in pipe.execute():
        if not raw:
            records.append(None)
            continue
        parts = ['{"id":', _dumps(raw["id"])]
        for name in WRITABLE:
            parts += [',"', name, '":', raw[name]]
        parts += [',"version":', str(int(raw["version"])), ',"created":', _dumps(raw["created"]),
                  ',"updated":', _dumps(raw["updated"]), "}"]
        records.append("".join(parts))
    return records


def track_record_sizes(track_ids: list[str]) -> list[int]:
    """About how many bytes each track's backup record holds (the lengths of its stored
    fields, HSTRLEN in one script: nothing is read), 0 for a track that is gone: what an
    export may read at once is chosen from these before the records are read."""
    return hash_field_lengths(hashes=[keys.track(track_id) for track_id in track_ids], fields=WRITABLE)


def restore_fields(*, track_id: str, values: dict, version: int, created: str, updated: str) -> list[str]:
    """The flat HSET list of a restored track's hash (as track_create writes it, with the
    backup's version and times)."""
    fields = ["id", track_id, "version", str(version), "created", created, "updated", updated]
    return fields + encode_fields({name: values[name] for name in WRITABLE})


def _acquire_many(track_ids: list[str], token: str) -> None:
    """Takes the locks of these tracks, all with `token` (one pipelined round trip, then a
    wait for each lock that was busy, bounded by QL_LOCK_WAIT each: LockTimeout)."""
    redis = get_redis()
    ttl_ms = int(settings.QL_LOCK_TTL * 1000)
    pipe = redis.pipeline(transaction=False)
    for track_id in track_ids:
        pipe.set(keys.track_lock(track_id), token, nx=True, px=ttl_ms)
    try:
        for track_id, got in zip(track_ids, pipe.execute()):
            if got:
                continue
            deadline = time.monotonic() + settings.QL_LOCK_WAIT
            pause = 0.002
            while not redis.set(keys.track_lock(track_id), token, nx=True, px=ttl_ms):
                if time.monotonic() + pause > deadline:
                    raise LockTimeout(track_id)
                time.sleep(pause * (0.5 + random.random()))
                pause = min(pause * 1.5, 0.05)
    except BaseException:
        _release_many(track_ids, token)  # those we got (the others are not ours: left alone)
        raise


def _release_many(track_ids: list[str], token: str) -> None:
    pipe = get_redis().pipeline(transaction=False)
    for track_id in track_ids:
        lua.release_lock(pipe, track_id=track_id, lock_token=token)
    try:
        pipe.execute()
    except Exception:
        pass  # they expire


def tracks_swap_in(*, staged: list[tuple[str, str, int]], replace: bool) -> list[str]:
    """Moves staged track hashes (`(track_id, staged key, position)`) into the library in one
    script, with the invalidations and acknowledgements of any write (tracks/lua.py).
    Without `replace` a track is added (last) only where its id is free; with it, each is
    written over what is there (under the tracks' locks) and given its position's score.
    Returns per track "created", "replaced", "unchanged" (same version and time) or
    "conflict:<library's version>:<staged version>"."""
    outcomes: dict[str, str] = {}
    pending = list(staged)
    for _ in range(5):
        token = uuid.uuid4().hex
        if replace:
            _acquire_many([track_id for track_id, _, _ in pending], token)
        ack = uuid.uuid4().hex
        try:
            results, live_leases = lua.swap_in_staged(staged=pending, replace=replace, lock_token=token, ack=ack)
        except BaseException:
            if replace:
                _release_many([track_id for track_id, _, _ in pending], token)
            raise
        _await_acks(ack, live_leases)
        retry = []
        for item, result in zip(pending, results):
            if result == "lost_lock":
                retry.append(item)
            else:
                outcomes[item[0]] = result
        if not retry:
            return [outcomes[track_id] for track_id, _, _ in staged]
        pending = retry
    raise LockTimeout(pending[0][0])


def tracks_drop_absent(*, track_ids: list[str], kept: str) -> int:
    """Deletes, under their locks, those of these tracks whose id is not a field of the hash
    `kept` (an import with --replace: the tracks its file does not hold). Returns how many."""
    dropped = 0
    pending = list(track_ids)
    for _ in range(5):
        if not pending:
            break
        token = uuid.uuid4().hex
        _acquire_many(pending, token)
        ack = uuid.uuid4().hex
        try:
            results, live_leases = lua.drop_absent(track_ids=pending, kept=kept, lock_token=token, ack=ack)
        except BaseException:
            _release_many(pending, token)
            raise
        _await_acks(ack, live_leases)
        dropped += sum(1 for result in results if result == "deleted")
        pending = [track_id for track_id, result in zip(pending, results) if result == "lost_lock"]
    if pending:
        raise LockTimeout(pending[0])
    return dropped
