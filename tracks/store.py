"""The track store: tracks in Redis hashes keyed by UUID, the playlist order in a sorted set,
a per-process cache kept consistent by pub/sub invalidation (tracks/cache/), and writes
under expiring Redis locks with fencing (tracks/lua.py). No HTTP in here.

A track travels as a plain dict: id, title, artist, bpm, key, duration, genres, sources,
notes, cues, version, created, updated (+ position when read). Summaries are the same
without cue waveforms.
"""

import base64
import json
import time
import uuid
from collections.abc import Sequence

from django.conf import settings

from quantumlive import keys
from quantumlive.clock import now_iso
from quantumlive.hash_sizes import hash_field_lengths
from quantumlive.locks import LockTimeout, lock_acquire, lock_release
from quantumlive.redis_conn import REDIS_DOWN_ERRORS, get_binary_redis, get_redis
from quantumlive.scripts import Script
from tracks import cache, lua, signals
from tracks.cache import Entry, Found, Loaded, Stamp, entry_size

# Fields a client may write, each stored JSON-encoded in its own hash field.
WRITABLE = ("title", "artist", "bpm", "key", "duration", "genres", "sources", "notes", "location", "cues")
# Server-owned fields an applied analysis fills (tracks/analysis_values.py), stored the same way.
ANALYSIS_OWNED = ("beatgrid", "mix_in", "mix_out", "loudness")
# Every stored field: `analysis` is the id of the analysis job last applied (not shown: it
# names the track's waveform copy, keys.track_waveform).
STORED = (*WRITABLE, *ANALYSIS_OWNED, "analysis")
_JSON_FIELDS = ("title", "artist", "bpm", "key", "duration", "genres", "sources", "notes", "location",
                *ANALYSIS_OWNED, "analysis")
# Fields added after tracks were first stored: a hash written before has none (JSON null).
_LATER_FIELDS = ("location", *ANALYSIS_OWNED, "analysis")
# What list views read: everything but the cue waveforms ("cues" holds them; "marks" not).
_SUMMARY_FIELDS = ("id", *_JSON_FIELDS, "marks", "version", "created", "updated")


class TrackNotFound(Exception):
    pass


class VersionMismatch(Exception):
    def __init__(self, current: int | None):
        super().__init__(f"current version is {current}")
        self.current = current


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


def _with_later_fields(raw: dict) -> dict:
    for name in _LATER_FIELDS:
        if raw.get(name) is None:
            raw[name] = "null"
    return raw


def _writable_values(values: dict) -> dict:
    """Every stored field of a new track, from `values` (the later fields may be left out:
    None)."""
    return {name: values[name] if name in values or name not in _LATER_FIELDS else None for name in STORED}


def _summary_from_hash(raw: dict) -> dict:
    _with_later_fields(raw)
    # one json.loads of the fields as one array: a fraction of the cost of one call each
    values = json.loads("[" + ",".join([raw[name] for name in _JSON_FIELDS]) + "," + raw["marks"] + "]")
    if len(values) != len(_JSON_FIELDS) + 1:
        raise ValueError(f"track {raw['id']}: a field holds more than one JSON value")
    summary = {"id": raw["id"]}
    summary.update(zip(_JSON_FIELDS, values))
    summary["cues"] = values[-1]
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
    return lock_acquire(keys.track_lock(track_id), what=track_id)


def _release(track_id: str, token: str) -> None:
    lock_release(get_redis(), keys.track_lock(track_id), token=token)


# --- acknowledgements ---------------------------------------------------------------------
# How long one wait for acknowledgements blocks before it checks which leases still exist.
_ACK_SLICE = 0.1


def _await_acks(ack: str, live_leases: Sequence) -> None:
    """Returns once every cache whose lease was alive when the write landed (`live_leases`:
    Redis's now in ms, then session, expiry, …; the same sessions are in the write's
    `ack_pending` set) has acknowledged its invalidation, or once that lease has expired or
    been retired. Until then the write must not answer: those caches answer reads from memory
    without asking Redis (tracks/cache/)."""
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
            missing = list(redis.smembers(keys.ack_pending(ack)))
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
    fields += encode_fields(_writable_values(values))
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
    if "duration" in values:
        signals.track_durations_changed.send(sender=None, track_ids=[track_id])
    return _track_written(written)


def track_move(*, track_id: str, position: int, expected_version: int | None = None) -> dict:
    written = _run_locked(lua.move_track, track_id=track_id, expected_version=expected_version,
                          updated=now_iso(), position=position)
    return _track_written(written)


def track_delete(*, track_id: str, expected_version: int | None = None) -> None:
    _run_locked(lua.delete_track, track_id=track_id, expected_version=expected_version)
    signals.tracks_removed.send(sender=None, track_ids=[track_id])


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
        values = fill(current)
        try:
            written = _run_locked(lua.update_fields, track_id=track_id, expected_version=current["version"],
                                  updated=now_iso(), fields=encode_fields(values))
        except VersionMismatch:
            if expected_version is not None:
                raise
            continue
        if "duration" in values:
            signals.track_durations_changed.send(sender=None, track_ids=[track_id])
        return _track_written(written)
    raise LockTimeout(track_id)


def track_waveform_put(*, track_id: str, analysis_job_id: str, blob: bytes) -> bool:
    """Keeps `blob` (analysis/waveform.py's bytes; b"" removes the copy) as the track's waveform
    when `analysis_job_id` is still the analysis last applied to it; whether it was kept."""
    return lua.waveform_put(track_id=track_id, analysis_json=_dumps(analysis_job_id), analysis=analysis_job_id,
                            data=blob)


def track_waveform_get(*, track_id: str) -> tuple[str | None, bytes | None]:
    """(the id of the analysis a track's waveform copy was made from, its bytes); (None, None)
    when the track has no copy."""
    analysis, data = get_binary_redis().hmget(keys.track_waveform(track_id), ["analysis", "data"])
    return (analysis.decode() if analysis is not None else None), data


def track_waveform_source(*, track_id: str) -> str | None:
    """The id of the analysis a track's waveform copy was made from (its bytes not read);
    None when the track has no copy."""
    return get_redis().hget(keys.track_waveform(track_id), "analysis")


# --- reads -------------------------------------------------------------------------------
# What a track read needs, in one round trip and at one moment: the data set's epoch and the
# generation (the cache's stamp), the track's position and, with `with_entry`, its fields.
# Read-only: it runs while Redis refuses writes for memory.
_TRACK_READ = Script(
    keys=("epoch", "generation", "track", "playlist"),
    args=("track_id", "with_entry"),
    source="""#!lua flags=no-writes
local state = redis.call('MGET', KEYS[1], KEYS[2])
local rank = redis.call('ZRANK', KEYS[4], ARGV[1])
local fields = {}
if ARGV[2] == '1' and rank then fields = redis.call('HGETALL', KEYS[3]) end
return {state[1], state[2], rank, fields}
""")

# The playlist order with the stamp it was read at.
_ORDER_READ = Script(
    keys=("epoch", "generation", "playlist"),
    source="""#!lua flags=no-writes
local state = redis.call('MGET', KEYS[1], KEYS[2])
return {state[1], state[2], redis.call('ZRANGE', KEYS[3], 0, -1)}
""")


def _stamp(epoch, generation) -> Stamp:
    return Stamp(epoch, int(generation or 0))


def _load_track(track_id: str, *, with_entry: bool) -> Loaded:
    epoch, generation, rank, flat = _TRACK_READ(
        get_redis(), epoch=keys.epoch(), generation=keys.generation(), track=keys.track(track_id),
        playlist=keys.playlist(), track_id=track_id, with_entry="1" if with_entry else "0")
    entry = _entry_from_hash(dict(zip(flat[::2], flat[1::2]))) if flat else None
    return Loaded(_stamp(epoch, generation), entry, rank)


def _load_order(client=None) -> tuple[Stamp, list[str]]:
    epoch, generation, order = _ORDER_READ(client or get_redis(), epoch=keys.epoch(),
                                           generation=keys.generation(), playlist=keys.playlist())
    return _stamp(epoch, generation), order


def _summary_entry(raw: dict) -> Entry:
    summary = _summary_from_hash(raw)
    return Entry(version=summary["version"], summary=summary, cues_json=None,
                 size=entry_size(summary, raw["marks"]))


def _load_summaries(track_ids: list[str]) -> dict[str, Entry]:
    """Summary-only entries of these tracks (pipelined, 1,000 at a time); a track that is
    gone is left out."""
    entries = {}
    for start in range(0, len(track_ids), 1000):
        batch = track_ids[start:start + 1000]
        pipe = get_redis().pipeline(transaction=False)
        for track_id in batch:
            pipe.hmget(keys.track(track_id), _SUMMARY_FIELDS)
        for track_id, values in zip(batch, pipe.execute()):
            if values[0] is not None:
                entries[track_id] = _summary_entry(dict(zip(_SUMMARY_FIELDS, values)))
    return entries


def _load_tracks(client, track_ids: list[str]) -> tuple[Stamp, dict[str, Entry]]:
    """Full entries of these tracks (one pipeline), with the stamp read before them."""
    pipe = client.pipeline(transaction=False)
    pipe.mget(keys.epoch(), keys.generation())
    for track_id in track_ids:
        pipe.hgetall(keys.track(track_id))
    (epoch, generation), *hashes = pipe.execute()
    entries = {track_id: _entry_from_hash(raw) for track_id, raw in zip(track_ids, hashes) if raw}
    return _stamp(epoch, generation), entries


def cache_invalidate(*, groups: list[str]) -> None:
    """After a write of something else than a track that the caches hold (a playlist's
    pages, under read_grouped's `group`): publishes it as a track write publishes itself, and
    returns once every leased cache has applied it."""
    if not groups:
        return
    ack = uuid.uuid4().hex
    _await_acks(ack, lua.invalidate(items=groups, ack=ack))


def cached_read(*, key: str, group: str, load, max_age: float):
    """(the entry kept under `key` in `group`, or loaded by `load() -> (Stamp, Entry | None)`;
    where it came from): see tracks/cache read_grouped."""
    return cache.read_grouped(key, group, load, max_age=max_age)


def cache_stamp_into(pipe) -> None:
    """Queues on `pipe` the read of the cache's stamp (the epoch and the generation): a load
    that reads it before its data is stamped conservatively."""
    pipe.mget(keys.epoch(), keys.generation())


def track_cache_warm(*, wait: float = 0.0) -> bool:
    """Fills this process's track cache in bulk (a web worker that starts), waiting up to
    `wait` seconds for it to be filled; whether it is."""
    return cache.warm_start(load_order=_load_order, load_batch=_load_tracks, wait=wait)


def track_entry(*, track_id: str) -> Found | None:
    """The track's decoded entry, its position and where it came from (tracks/cache: "hit",
    "checked", "miss" or "off")."""
    return cache.read(track_id, _load_track)


def track_get(*, track_id: str) -> dict | None:
    found = track_entry(track_id=track_id)
    if found is None:
        return None
    track = full_track(found.entry)
    track["position"] = found.position
    return track


def track_summaries(track_ids: list[str]) -> dict[str, dict]:
    """The summaries (no cue waveforms, no position) of those of these tracks that exist."""
    return {summary["id"]: summary for summary in _summaries(track_ids)}


def _order() -> list[str]:
    return cache.read_order(_load_order)


def _summaries(track_ids: list[str]) -> list[dict]:
    return cache.read_summaries(track_ids, _load_summaries)


# A filtered list reads every summary, this many at a time, and keeps only its page: what a
# request holds is one batch and the page, however large the library (20,000 maximal tracks'
# summaries are ~4.6 GB decoded).
_FILTER_BATCH = 100


def track_list(*, offset: int = 0, limit: int = 50, match=None, order_by=None, only: set[str] | None = None
               ) -> tuple[int, list[dict]]:
    """(count, page) of track summaries, each with its `position`, in playlist order or by
    `order_by` (serializers.sorter: (value of a summary, descending)); `match(summary) ->
    bool` filters (then every summary is read, or those of `only`: summaries_select)."""
    order = _order()
    if match is None and order_by is None and only is None:
        page_ids = order[offset:offset + limit]
        page = _summaries(page_ids)
        positions = {track_id: offset + index for index, track_id in enumerate(page_ids)}
        count = len(order)
    elif order_by is None and only is None:
        count, page, positions = 0, [], {}
        for start in range(0, len(order), _FILTER_BATCH):
            batch = order[start:start + _FILTER_BATCH]
            for summary in _summaries(batch):
                if match(summary):
                    if offset <= count < offset + limit:
                        page.append(summary)
                        positions[summary["id"]] = start + batch.index(summary["id"])
                    count += 1
    else:
        count, chosen = summaries_select(order, match=match, order_by=order_by, only=only, offset=offset,
                                         limit=limit)
        page = _summaries([order[index] for index in chosen])
        positions = {order[index]: index for index in chosen}
    result = []
    for summary in page:
        item = dict(summary)
        item["position"] = positions[summary["id"]]
        result.append(item)
    return count, result


def summaries_select(track_ids: list[str], *, match=None, order_by=None, only: set[str] | None = None,
                     offset: int, limit: int) -> tuple[int, list[int]]:
    """Filters and orders a list of tracks (the library's order, a playlist's entries: the
    same id may repeat) by their summaries: (how many match, the indexes into `track_ids` of
    the page `offset`, `limit`). `order_by`: (value of a summary or None, descending) or None
    (the list's order). `only`: the ids that may match at all (from the harmonic index: the
    others' summaries are not read). Summaries are read _FILTER_BATCH at a time; what is held
    is one batch and, per match, its sort value and index. Tracks without a value come last in
    both directions, in list order; equal values keep list order (a stable sort, also
    reversed)."""
    value_of, descending = order_by if order_by is not None else (None, False)
    if only is None:
        if match is None and value_of is None:  # the list's order, or its reverse: nothing to read
            indexes = range(len(track_ids) - 1, -1, -1) if descending else range(len(track_ids))
            return len(track_ids), list(indexes[offset:offset + limit])
        candidates = range(len(track_ids))
    else:
        candidates = [index for index, track_id in enumerate(track_ids) if track_id in only]
    valued, unvalued = [], []
    for start in range(0, len(candidates), _FILTER_BATCH):
        batch = candidates[start:start + _FILTER_BATCH]
        summaries = {summary["id"]: summary
                     for summary in _summaries(list(dict.fromkeys(track_ids[index] for index in batch)))}
        for index in batch:
            summary = summaries.get(track_ids[index])
            if summary is None or (match is not None and not match(summary)):
                continue
            value = index if value_of is None else value_of(summary)
            if value is None:
                unvalued.append(index)
            else:
                valued.append((value, index))
    valued.sort(key=lambda item: item[0], reverse=descending)
    chosen = [index for _, index in valued] + unvalued
    return len(chosen), chosen[offset:offset + limit]


def track_positions(track_ids: list[str]) -> dict[str, int]:
    """The position of each of these tracks that is in the library (one pipelined round trip)."""
    if not track_ids:
        return {}
    pipe = get_redis().pipeline(transaction=False)
    for track_id in track_ids:
        pipe.zrank(keys.playlist(), track_id)
    return {track_id: rank for track_id, rank in zip(track_ids, pipe.execute()) if rank is not None}


def track_ids() -> list[str]:
    return list(_order())


# --- backup and restore (tracks/backup.py) --------------------------------------------------
# A track's backup record: these keys in this order (server-owned ones as stored; `waveform`:
# its waveform copy, base64, or null).
RECORD_FIELDS = ("id", *STORED, "version", "created", "updated", "waveform")
# Each stored field's name as bytes (track_records reads the hash with the binary client) and
# whether a hash stored before it existed may lack it (null, as _with_later_fields has it).
_RECORD_NAMES = tuple((name.encode(), name in _LATER_FIELDS) for name in STORED)


def order_snapshot_into(pipe, *, target: str, ttl_ms: int) -> None:
    """Queues on `pipe` (a MULTI, with the snapshots of the other lists) a copy of the
    playlist order, as it is at that moment, into the scratch key `target`."""
    pipe.copy(keys.playlist(), target, replace=True)
    pipe.pexpire(target, ttl_ms)


def track_records(track_ids: list[str]) -> list[str | None]:
    """Each track's backup record as compact JSON text, None for a track deleted meanwhile.
    Its hash (HGETALL: the stored JSON of every field is written as it is) and its waveform
    copy are read in one MULTI for the whole batch (on the binary client: the copy is bytes),
    so a record and its copy are of one moment; the copy is written base64-encoded, or null
    when there is none or it was made from another analysis than the one the track names (an
    apply lands the track, then its copy: the new one is on its way). (A MULTI, not a script:
    Redis spends on it what it spends on a pipeline of the same reads; a script that reads the
    hashes costs it about five times as much.)"""
    pipe = get_binary_redis().pipeline(transaction=True)
    for track_id in track_ids:
        pipe.hgetall(keys.track(track_id))
        pipe.hmget(keys.track_waveform(track_id), ["analysis", "data"])
    replies = pipe.execute() if track_ids else []
    records = []
    for raw, (copied_from, data) in zip(replies[::2], replies[1::2]):
        if not raw:
            records.append(None)
            continue
        # built as bytes and decoded once (the stored fields are UTF-8 JSON text)
        parts = [b'{"id":', _dumps(raw[b"id"].decode()).encode()]
        for name, later in _RECORD_NAMES:
            value = raw.get(name) if later else raw[name]
            parts += [b',"', name, b'":', b"null" if value is None else value]
        parts += [b',"version":', b"%d" % int(raw[b"version"]),
                  b',"created":', _dumps(raw[b"created"].decode()).encode(),
                  b',"updated":', _dumps(raw[b"updated"].decode()).encode(), b',"waveform":']
        if data and copied_from is not None and json.loads(raw.get(b"analysis") or b"null") == copied_from.decode():
            parts += [b'"', base64.b64encode(data), b'"}']
        else:
            parts.append(b"null}")
        records.append(b"".join(parts).decode())
    return records


def track_record_sizes(track_ids: list[str]) -> list[int]:
    """About how many bytes each track's backup record holds (the lengths of its stored
    fields and of its waveform copy once base64-encoded, HSTRLEN: nothing is read), 0 for a
    track that is gone: what an export may read at once is chosen from these before the
    records are read."""
    fields = hash_field_lengths(hashes=[keys.track(track_id) for track_id in track_ids], fields=STORED)
    copies = hash_field_lengths(hashes=[keys.track_waveform(track_id) for track_id in track_ids], fields=("data",))
    return [size + (copy + 2) // 3 * 4 for size, copy in zip(fields, copies)]


def restore_fields(*, track_id: str, values: dict, version: int, created: str, updated: str) -> list[str]:
    """The flat HSET list of a restored track's hash (as track_create writes it, with the
    backup's version and times)."""
    fields = ["id", track_id, "version", str(version), "created", created, "updated", updated]
    return fields + encode_fields(_writable_values(values))


def waveform_stage_into(pipe, *, target: str, analysis_job_id: str, blob: bytes, ttl_ms: int) -> None:
    """Queues on `pipe` a restored track's waveform copy (as track_waveform_put keeps it: made
    from the analysis `analysis_job_id`) into the scratch key `target`, beside its staged
    hash: tracks_swap_in moves it in with the track."""
    pipe.hset(target, mapping={"analysis": analysis_job_id, "data": blob})
    pipe.pexpire(target, ttl_ms)


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
            lock_acquire(keys.track_lock(track_id), what=track_id, token=token)
    except BaseException:
        _release_many(track_ids, token)  # those we got (the others are not ours: left alone)
        raise


def _release_many(track_ids: list[str], token: str) -> None:
    pipe = get_redis().pipeline(transaction=False)
    for track_id in track_ids:
        lock_release(pipe, keys.track_lock(track_id), token=token)
    try:
        pipe.execute()
    except Exception:
        pass  # they expire


def tracks_swap_in(*, staged: list[tuple[str, str, str, int]], replace: bool) -> list[str]:
    """Moves staged track hashes (`(track_id, staged key, staged waveform copy's key,
    position)`) into the library in one script, with the invalidations and acknowledgements of
    any write (tracks/lua.py). A track written takes its staged waveform copy (none staged: it
    has none); one left alone keeps its own (the staged copy is deleted).
    Without `replace` a track is added (last) only where its id is free; with it, each is
    written over what is there (under the tracks' locks) and given its position's score.
    Returns per track "created", "replaced", "unchanged" (same version and time) or
    "conflict:<library's version>:<staged version>"."""
    outcomes: dict[str, str] = {}
    pending = list(staged)
    for _ in range(5):
        token = uuid.uuid4().hex
        if replace:
            _acquire_many([track_id for track_id, *_ in pending], token)
        ack = uuid.uuid4().hex
        try:
            results, live_leases = lua.swap_in_staged(staged=pending, replace=replace, lock_token=token, ack=ack)
        except BaseException:
            if replace:
                _release_many([track_id for track_id, *_ in pending], token)
            raise
        _await_acks(ack, live_leases)
        replaced = [item[0] for item, result in zip(pending, results) if result == "replaced"]
        if replaced:
            signals.track_durations_changed.send(sender=None, track_ids=replaced)
        retry = []
        for item, result in zip(pending, results):
            if result == "lost_lock":
                retry.append(item)
            else:
                outcomes[item[0]] = result
        if not retry:
            return [outcomes[track_id] for track_id, *_ in staged]
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
        deleted = [track_id for track_id, result in zip(pending, results) if result == "deleted"]
        if deleted:
            signals.tracks_removed.send(sender=None, track_ids=deleted)
        dropped += len(deleted)
        pending = [track_id for track_id, result in zip(pending, results) if result == "lost_lock"]
    if pending:
        raise LockTimeout(pending[0])
    return dropped
