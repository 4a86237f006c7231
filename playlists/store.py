"""The playlist store: playlists of library tracks in Redis, every key of one playlist under a
hash tag of its own (quantumlive/keys.py), every change one fenced script (playlists/lua.py)
run under the playlist's lock. No HTTP in here.

Reads: a playlist is one read-only script to Redis (one round trip). A page of its entries
is the same script's answer, kept in the library's per-process cache (tracks/cache/
read_grouped; see "the pages of entries in the per-process cache" below): every write
publishes the playlist's invalidation before it answers. The entries' tracks come from the
same cache, exact by its own rule. (Pages read from Redis reached 0.71 x a page of library
tracks, which memory answers; cached, 0.85-0.89: bench/RESULTS-playlists.md.)

A playlist travels as a dict: id, name, description, public, owner, owner_id, tracks (the
number of entries), duration (seconds), version, created, updated. An entry: entry, position,
added, track (the library track's summary).

The library's side: `{p}:inplaylists:<track>` names the playlists a track was added to; it is
added to only while the track exists (lua.tracks_register, before the insert and again after
it), so when a track leaves the library (`track_removed`) or changes its duration every
playlist that may hold it is found; an add that loses the race with a deletion takes its
entries out again and answers that the track is unknown. A deleted playlist leaves its
tracks' sets.
"""

import json
import sys
import time
import uuid

from django.conf import settings

from quantumlive import keys
from quantumlive.clock import now_iso
from quantumlive.locks import LockTimeout, lock_acquire
from quantumlive.redis_conn import get_redis
from quantumlive.scripts import Script
from playlists import lua
from tracks import store as library
from tracks.cache import Entry, Stamp

__all__ = ["BadRange", "LockTimeout", "PlaylistNotFound", "TooManyEntries", "UnknownEntry", "UnknownTracks",
           "VersionMismatch"]


class PlaylistNotFound(Exception):
    pass


class VersionMismatch(Exception):
    def __init__(self, current: int | None):
        super().__init__(f"current version is {current}")
        self.current = current


class UnknownTracks(Exception):
    """Track ids that are not in the library (in the order given)."""

    def __init__(self, track_ids: list[str]):
        super().__init__(", ".join(track_ids))
        self.track_ids = track_ids


class UnknownEntry(Exception):
    def __init__(self, entry_id: str):
        super().__init__(entry_id)
        self.entry_id = entry_id


class BadRange(Exception):
    """A reorder's range does not fit the playlist (`count` entries)."""

    def __init__(self, count: int):
        super().__init__(f"the playlist has {count} entries")
        self.count = count


class TooManyEntries(Exception):
    def __init__(self, limit: int):
        super().__init__(f"a playlist holds at most {limit} entries")
        self.limit = limit


# --- shapes ------------------------------------------------------------------------------
def _playlist(meta: dict, count: int) -> dict:
    return {
        "id": meta["id"], "name": meta["name"], "description": meta["description"],
        "public": meta["public"] == "1", "owner": meta["owner"], "owner_id": int(meta["owner_id"]),
        "tracks": count, "duration": round(int(meta.get("duration_ms") or 0) / 1000, 3),
        "version": int(meta["version"]), "created": meta["created"], "updated": meta["updated"],
    }


def _duration_ms(duration) -> str:
    """A track's duration (seconds, or None) as a playlist counts it: whole ms, or "-"."""
    return "-" if duration is None else str(round(duration * 1000))


# --- reads -------------------------------------------------------------------------------
_READ = Script(
    keys=("meta", "order", "entries"),
    args=("offset", "limit"),
    source="""#!lua flags=no-writes
local meta = redis.call('HGETALL', KEYS[1])
if #meta == 0 then return {} end
local n = redis.call('ZCARD', KEYS[2])
local ids, values = {}, {}
local limit = tonumber(ARGV[2])
if limit > 0 then
  ids = redis.call('ZRANGE', KEYS[2], ARGV[1], tonumber(ARGV[1]) + limit - 1)
  for i = 1, #ids, 1000 do  -- unpack() refuses ~8,000 values: a long page is read in parts
    local part = redis.call('HMGET', KEYS[3], unpack(ids, i, math.min(i + 999, #ids)))
    for j = 1, #part do values[#values + 1] = part[j] end
  end
end
return {meta, n, ids, values}
""")


# Past the end of any playlist; ranks sent to Lua stay below this (Lua writes a number of
# 1e14 or more in exponent form, which ZRANGE refuses).
_FAR = 2**31


def _read(playlist_id: str, offset: int, limit: int):
    offset, limit = min(offset, _FAR), min(limit, _FAR)
    reply = _READ(get_redis(), meta=keys.playlist_meta(playlist_id), order=keys.playlist_order(playlist_id),
                  entries=keys.playlist_entries(playlist_id), offset=offset, limit=limit)
    if not reply:
        return None
    flat, count, ids, values = reply
    return dict(zip(flat[::2], flat[1::2])), int(count), ids, values


def playlist_get(*, playlist_id: str) -> dict | None:
    found = _read(playlist_id, 0, 0)
    return None if found is None else _playlist(found[0], found[1])


# --- the pages of entries in the per-process cache ------------------------------------------
# A page of entries (the playlist's hash, count, entry ids and values read in one script) is
# kept in the library's per-process cache (tracks/cache read_grouped) under
# "pl:<id>:<offset>:<limit>", in the group "pl:<id>": every write of the playlist publishes
# the group's invalidation after its script (_changed) and answers once every leased cache
# has applied it, as a track write does. A kept page is used for PAGE_MAX_AGE seconds at most:
# a writer that died between its script and its invalidation leaves a page older than the
# playlist for that long, no longer.
PAGE_MAX_AGE = 5.0


def _group(playlist_id: str) -> str:
    return "pl:" + playlist_id


def _changed(*playlist_ids: str) -> None:
    """Publishes that these playlists changed (their pages kept by every worker are dropped)
    and returns once the leased caches have applied it."""
    library.cache_invalidate(groups=[_group(playlist_id) for playlist_id in dict.fromkeys(playlist_ids)])


def _page_size(meta: dict, ids: list, values: list) -> int:
    size = 600 + sys.getsizeof(ids) + sys.getsizeof(values)
    size += sum(sys.getsizeof(key) + sys.getsizeof(value) for key, value in meta.items())
    return size + sum(map(sys.getsizeof, ids)) + sum(sys.getsizeof(value) for value in values if value)


class Page(tuple):
    """What entries_page answers: (the playlist, its entries), with `source`, where the page
    came from: "hit" (this process's memory under its read lease), "checked" (memory after
    one round trip), "miss" (Redis) or "off" (no cache)."""

    source = "off"


def _read_page(playlist_id: str, offset: int, limit: int):
    """_read of a page, from this process's cache when that is exact; with where it came from."""
    offset, limit = min(offset, _FAR), min(limit, _FAR)

    def load():
        pipe = get_redis().pipeline(transaction=False)
        library.cache_stamp_into(pipe)  # before the data: a stamp no newer than what it read
        _READ(pipe, meta=keys.playlist_meta(playlist_id), order=keys.playlist_order(playlist_id),
              entries=keys.playlist_entries(playlist_id), offset=offset, limit=limit)
        (epoch, generation), reply = pipe.execute()
        stamp = Stamp(epoch, int(generation or 0))
        if not reply:
            return stamp, None
        flat, count, ids, values = reply
        meta = dict(zip(flat[::2], flat[1::2]))
        page = (meta, int(count), ids, values)
        return stamp, Entry(version=int(meta["version"]), summary=page, cues_json="",
                            size=_page_size(meta, ids, values))

    entry, source = library.cached_read(key=f"pl:{playlist_id}:{offset}:{limit}", group=_group(playlist_id),
                                        load=load, max_age=PAGE_MAX_AGE)
    return None if entry is None else entry.summary, source


def entries_page(*, playlist_id: str, offset: int = 0, limit: int = 50) -> Page | None:
    """(the playlist, a page of its entries in order) read at one moment; None when there is
    no such playlist. An entry whose track has just left the library is left out (and, if the
    track is gone from Redis, taken out of the playlist: what a deletion interrupted by a crash
    would have done)."""
    found, source = _read_page(playlist_id, offset, limit)
    if found is None:
        return None
    meta, count, ids, values = found
    rows = []
    for index, (entry_id, value) in enumerate(zip(ids, values)):
        if value is None:
            continue
        track_id, added = value.split(" ", 1)
        rows.append((entry_id, offset + index, added, track_id))
    summaries = library.track_summaries(list(dict.fromkeys(row[3] for row in rows)))
    gone = {row[3] for row in rows if row[3] not in summaries}
    if gone:
        _drop_vanished(playlist_id, gone)
    entries = [{"entry": entry_id, "position": position, "added": added, "track": summaries[track_id]}
               for entry_id, position, added, track_id in rows if track_id in summaries]
    page = Page((_playlist(meta, count), entries))
    page.source = source
    return page


def entries_select(*, playlist_id: str, match=None, order_by=None, only: set[str] | None = None,
                   offset: int = 0, limit: int = 50) -> Page | None:
    """entries_page with filters (`match(track summary) -> bool`) and an order (`order_by`,
    tracks.store.summaries_select): the whole playlist is read (one script, at most
    QL_PLAYLIST_MAX_ENTRIES entries, kept in the per-process cache like any page), its tracks'
    summaries a batch at a time; only the chosen page's entries are made."""
    found, source = _read_page(playlist_id, 0, settings.QL_PLAYLIST_MAX_ENTRIES)
    if found is None:
        return None
    meta, count, ids, values = found
    rows = []
    for index, (entry_id, value) in enumerate(zip(ids, values)):
        if value is not None:
            track_id, added = value.split(" ", 1)
            rows.append((entry_id, index, added, track_id))
    track_ids = [row[3] for row in rows]
    matched, chosen = library.summaries_select(track_ids, match=match, order_by=order_by, only=only, offset=offset,
                                               limit=limit)
    summaries = library.track_summaries(list(dict.fromkeys(track_ids[index] for index in chosen)))
    entries = [{"entry": rows[index][0], "position": rows[index][1], "added": rows[index][2],
                "track": summaries[rows[index][3]]} for index in chosen if rows[index][3] in summaries]
    page = Page((_playlist(meta, count), entries))
    page.count = matched
    page.source = source
    return page


def playlist_tracks_among(*, playlist_id: str, track_ids: list[str]) -> set[str]:
    """Those of these library tracks that the playlist holds (one HMGET of its tracks hash)."""
    if not track_ids:
        return set()
    held = get_redis().hmget(keys.playlist_tracks(playlist_id), track_ids)
    return {track_id for track_id, record in zip(track_ids, held) if record is not None}


def _drop_vanished(playlist_id: str, track_ids: set[str]) -> None:
    redis = get_redis()
    pipe = redis.pipeline(transaction=False)
    for track_id in track_ids:
        pipe.exists(keys.track(track_id))
    vanished = [track_id for track_id, exists in zip(track_ids, pipe.execute()) if not exists]
    for track_id in vanished:
        lua.track_drop(redis, playlist_id=playlist_id, track_id=track_id, updated=now_iso())
    if vanished:
        _changed(playlist_id)


def _visible(meta_fields: list, viewer_id: int | None) -> bool:
    public, owner_id = meta_fields
    return public == "1" or (viewer_id is not None and owner_id == str(viewer_id))


# The list reads the visibility fields of its candidates this many at a time (with `q`).
_LIST_BATCH = 500

# A page of a list without `q`, from the indexes alone. One index (anonymous: the public
# ones; one's own): its count and a range. One's own and the public ones: the public index
# (any size) and one's own that are not public (S, read whole: a user's), merged by (creation
# time, id) as ZRANGE orders them, with a few commands per member of S, whatever the number
# of public playlists. Another's public ones: those of the owner's index found public.


def _index_sources(viewer_id: int | None, owner_id: int | None) -> list[str]:
    """The indexes a list of what `viewer_id` sees (of `owner_id`'s) reads."""
    if owner_id is not None:
        return [keys.playlists_of_owner(owner_id)] + ([] if owner_id == viewer_id else [keys.playlists_public()])
    if viewer_id is not None:
        return [keys.playlists_of_owner(viewer_id), keys.playlists_public()]
    return [keys.playlists_public()]


def _index_page(viewer_id: int | None, owner_id: int | None, offset: int, limit: int) -> tuple[int, list[str]]:
    """(count, the page's ids) of what the indexes say `viewer_id` sees."""
    redis = get_redis()
    offset, limit = min(offset, _FAR), min(limit, _FAR)
    public = keys.playlists_public()
    if owner_id is None and viewer_id is None:
        own = None
    else:
        own = keys.playlists_of_owner(owner_id if owner_id is not None else viewer_id)

    def one_index(index: str) -> tuple[int, list[str]]:
        pipe = redis.pipeline(transaction=False)
        pipe.zcard(index)
        pipe.zrange(index, offset, offset + limit - 1)
        count, ids = pipe.execute()
        return count, ids

    if own is None or owner_id == viewer_id and owner_id is not None:
        return one_index(own or public)
    members = redis.zrange(own, 0, -1, withscores=True)
    in_public = redis.zmscore(public, [member for member, _ in members]) if members else []
    if owner_id is not None:  # another's: those of theirs that are public
        shown = [member for (member, _), score in zip(members, in_public) if score is not None]
        return len(shown), shown[offset:offset + limit]
    private = [(score, member) for (member, score), found in zip(members, in_public) if found is None]
    if not private:
        return one_index(public)
    # each private one's rank in the union: its index among them + the public ones before it
    pipe = redis.pipeline(transaction=False)
    pipe.zcard(public)
    for score, _ in private:
        pipe.zcount(public, "-inf", "(%r" % score)
        pipe.zrange(public, score, score, byscore=True)
    replies = pipe.execute()
    public_count = replies[0]
    ranks = []
    for index, (score, member) in enumerate(private):
        before, tied = replies[1 + 2 * index], replies[2 + 2 * index]
        ranks.append(index + before + sum(1 for other in tied if other < member))
    count = public_count + len(private)
    stop = min(offset + limit, count)
    at = dict(zip(ranks, (member for _, member in private)))
    first_public = offset - sum(1 for rank in ranks if rank < offset)
    wanted = sum(1 for position in range(offset, stop) if position not in at)
    from_public = iter(redis.zrange(public, first_public, first_public + wanted - 1) if wanted > 0 else [])
    ids = []
    for position in range(offset, stop):
        found = at.get(position)
        if found is None:
            found = next(from_public, None)
            if found is None:  # (the index changed meanwhile)
                break
        ids.append(found)
    return count, ids


def _index_repair(playlist_ids: list[str], sources: list[str]) -> None:
    """Takes out of the indexes what they say wrongly of these playlists (left by a writer that
    died between a playlist's script and its index step): a playlist that is gone (out of
    every index, `sources` too), a private one listed as public."""
    redis = get_redis()
    pipe = redis.pipeline(transaction=False)
    for playlist_id in playlist_ids:
        pipe.hmget(keys.playlist_meta(playlist_id), "public", "owner_id")
    pipe_fix = redis.pipeline(transaction=False)
    for playlist_id, (public, owner) in zip(playlist_ids, pipe.execute()):
        if public != "1":
            pipe_fix.zrem(keys.playlists_public(), playlist_id)
        if public is None:
            for index in {keys.playlists_all(), *sources}:
                pipe_fix.zrem(index, playlist_id)
    pipe_fix.execute()


def playlist_list(*, viewer_id: int | None, owner_id: int | None = None, q: str | None = None,
                  offset: int = 0, limit: int = 50) -> tuple[int, list[dict]]:
    """(count, page) of the playlists `viewer_id` sees (None: anonymous): their own and every
    public one, oldest first; `owner_id` keeps one owner's, `q` those whose name contains it
    (case-insensitive).

    Without `q` the indexes give the count and the page (a few commands in Redis, whatever
    the number of playlists) and only the page's playlists are read; one an index names
    wrongly (a writer died between a playlist's write and its index step) is left out of the
    page, taken out of the index, and the page read again. With `q` every candidate's name is
    read (time grows with the playlists the caller sees, as the library's `q` does)."""
    if not q:
        for _ in range(3):
            count, ids = _index_page(viewer_id, owner_id, offset, limit)
            page = [playlist for playlist in playlists_get(ids)
                    if playlist["public"] or playlist["owner_id"] == viewer_id]
            if len(page) == len(ids):
                break
            _index_repair([playlist_id for playlist_id in ids if playlist_id not in {playlist["id"] for playlist in page}],
                          _index_sources(viewer_id, owner_id))
        return count, page
    redis = get_redis()
    if owner_id is not None:
        sources = [keys.playlists_of_owner(owner_id)]
    elif viewer_id is not None:
        sources = [keys.playlists_of_owner(viewer_id), keys.playlists_public()]
    else:
        sources = [keys.playlists_public()]
    pipe = redis.pipeline(transaction=False)
    for source in sources:
        pipe.zrange(source, 0, -1, withscores=True)
    candidates = {}
    for found in pipe.execute():
        candidates.update(found)
    ordered = sorted(candidates, key=lambda playlist_id: (candidates[playlist_id], playlist_id))
    folded = q.casefold()
    chosen = []
    for start in range(0, len(ordered), _LIST_BATCH):
        batch = ordered[start:start + _LIST_BATCH]
        pipe = redis.pipeline(transaction=False)
        for playlist_id in batch:
            pipe.hmget(keys.playlist_meta(playlist_id), "public", "owner_id", "name")
        for playlist_id, (public, owner, name) in zip(batch, pipe.execute()):
            if name is None or not _visible([public, owner], viewer_id):
                continue
            if folded not in name.casefold():
                continue
            chosen.append(playlist_id)
    return len(chosen), playlists_get(chosen[offset:offset + limit])


def playlists_get(playlist_ids: list[str]) -> list[dict]:
    """These playlists (each read at one moment, all in one pipelined round trip), those that
    exist, in this order."""
    pipe = get_redis().pipeline(transaction=False)
    for playlist_id in playlist_ids:
        _READ(pipe, meta=keys.playlist_meta(playlist_id), order=keys.playlist_order(playlist_id),
              entries=keys.playlist_entries(playlist_id), offset=0, limit=0)
    return [_playlist(dict(zip(reply[0][::2], reply[0][1::2])), int(reply[1])) for reply in pipe.execute() if reply]


def playlist_ids() -> list[str]:
    """Every playlist's id, oldest first (the admin, backups)."""
    return get_redis().zrange(keys.playlists_all(), 0, -1)


# --- writes ------------------------------------------------------------------------------
def playlist_create(*, owner_id: int, owner: str, name: str, description: str = "", public: bool = False,
                    playlist_id: str | None = None, version: int = 1, created: str | None = None,
                    updated: str | None = None) -> dict:
    """A new, empty playlist (`playlist_id`, `version` and the times are for imports)."""
    playlist_id = playlist_id or str(uuid.uuid4())
    stamp = now_iso()
    redis = get_redis()
    score = time.time() * 1000
    # the indexes first: a list skips an id whose playlist does not exist (yet, or any more)
    pipe = redis.pipeline(transaction=False)
    pipe.zadd(keys.playlists_all(), {playlist_id: score})
    pipe.zadd(keys.playlists_of_owner(owner_id), {playlist_id: score})
    if public:
        pipe.zadd(keys.playlists_public(), {playlist_id: score})
    pipe.execute()
    meta = {"id": playlist_id, "name": name, "description": description, "public": "1" if public else "0",
            "owner": owner, "owner_id": str(owner_id), "version": str(version), "created": created or stamp,
            "updated": updated or stamp, "duration_ms": "0"}
    redis.hset(keys.playlist_meta(playlist_id), mapping=meta)
    return _playlist(meta, 0)


def _locked(write, *, playlist_id: str, expected_version: int | None, **arguments) -> tuple[lua.Written, str]:
    """Runs `write` (a fenced write of playlists/lua.py) under the playlist's lock, retried
    when the lock expired under it. Returns what it wrote and the lock's token (the lock is
    released by the scripts that say so, and here on every failure)."""
    for _ in range(3):
        token = lock_acquire(keys.playlist_lock(playlist_id), what=playlist_id)
        try:
            written = write(playlist_id=playlist_id, expected_version=expected_version, lock_token=token,
                            updated=now_iso(), **arguments)
        except BaseException:
            lua.release_lock(playlist_id=playlist_id, lock_token=token)
            raise
        if written.status == "lost_lock":
            continue
        if written.status in ("ok", "conflict"):
            # a conflict too: a client whose If-Match failed reads again, and must not read a
            # page kept from before a write whose writer died before it published
            _changed(playlist_id)
        if written.status != "ok":
            lua.release_lock(playlist_id=playlist_id, lock_token=token)
        if written.status == "missing":
            raise PlaylistNotFound(playlist_id)
        if written.status == "conflict":
            raise VersionMismatch(written.current_version)
        if written.status == "bad_range":
            raise BadRange(written.count)
        if written.status == "unknown":
            raise UnknownEntry(written.detail)
        if written.status == "too_many":
            raise TooManyEntries(settings.QL_PLAYLIST_MAX_ENTRIES)
        return written, token
    raise LockTimeout(playlist_id)


def playlist_update(*, playlist_id: str, values: dict, expected_version: int | None = None) -> dict:
    """Sets name, description and/or public."""
    fields = []
    for name in ("name", "description"):
        if name in values:
            fields += [name, values[name]]
    if "public" in values:
        fields += ["public", "1" if values["public"] else "0"]
    redis = get_redis()
    if not redis.exists(keys.playlist_meta(playlist_id)):
        raise PlaylistNotFound(playlist_id)

    def write(**arguments) -> lua.Written:
        # Under the lock, so that crossing updates cannot leave the index behind the playlist:
        # listed as public before it is (lists check the playlist), and the index made to
        # follow what the playlist is once the script ran (refused or not).
        if values.get("public") is True:
            redis.zadd(keys.playlists_public(), {playlist_id: _score(playlist_id)})
        written = lua.meta_update(release=False, **arguments)
        if written.status == "lost_lock":
            return written
        public = (written.meta if written.status == "ok" else
                  {"public": redis.hget(keys.playlist_meta(playlist_id), "public")})["public"]
        if public != "1":
            redis.zrem(keys.playlists_public(), playlist_id)
        return written

    written, token = _locked(write, playlist_id=playlist_id, expected_version=expected_version, fields=fields)
    lua.release_lock(playlist_id=playlist_id, lock_token=token)
    return _playlist(written.meta, written.count)


def _score(playlist_id: str) -> float:
    return get_redis().zscore(keys.playlists_all(), playlist_id) or time.time() * 1000


def playlist_delete(*, playlist_id: str, expected_version: int | None = None) -> None:
    """Deletes the playlist (its tracks stay in the library)."""
    written, _ = _locked(lua.playlist_remove, playlist_id=playlist_id, expected_version=expected_version)
    pipe = get_redis().pipeline(transaction=False)
    pipe.zrem(keys.playlists_all(), playlist_id)
    pipe.zrem(keys.playlists_public(), playlist_id)
    pipe.zrem(keys.playlists_of_owner(written.meta["owner_id"]), playlist_id)
    for track_id in written.detail:  # (no add can name it again: it is gone)
        pipe.srem(keys.track_in_playlists(track_id), playlist_id)
    pipe.execute()


def entries_add(*, playlist_id: str, track_ids: list[str], position: int | None = None,
                expected_version: int | None = None) -> tuple[int, list[dict]]:
    """Inserts entries of these library tracks (repeats allowed), in this order, at
    `position` (None or past the end: appended). All or nothing: UnknownTracks names the ids
    not in the library. Returns the playlist's version and the new entries.

    Under the playlist's lock: the playlist is named in its tracks' inplaylists sets (while
    they exist) before the insert, so that a worker dying after the insert leaves entries the
    library's later changes still reach; after it, a second registration catches a track
    deleted meanwhile (its deletion may have run before the insert landed)."""
    distinct = list(dict.fromkeys(track_ids))
    summaries = library.track_summaries(distinct)
    unknown = [track_id for track_id in distinct if track_id not in summaries]
    if unknown:
        raise UnknownTracks(unknown)
    items = [(str(uuid.uuid4()), track_id) for track_id in track_ids]
    redis = get_redis()
    counted: dict[str, int] = {}  # the track version the insert counted

    def register_and_insert(**arguments) -> lua.Written:
        if not redis.exists(keys.playlist_meta(playlist_id)):  # (no playlist: named nowhere)
            return lua.Written("missing")
        found = lua.tracks_register(playlist_id=playlist_id, track_ids=distinct)
        gone = [track_id for track_id, value in zip(distinct, found) if value is None]
        if gone:
            raise UnknownTracks(gone)
        current = {track_id: (int(value[0]), _duration_ms(json.loads(value[1])))
                   for track_id, value in zip(distinct, found)}
        counted.update({track_id: value[0] for track_id, value in current.items()})
        return lua.entries_insert(items=[(entry_id, track_id, *current[track_id]) for entry_id, track_id in items],
                                  **arguments)

    written, token = _locked(register_and_insert, playlist_id=playlist_id, expected_version=expected_version,
                             position=-1 if position is None else position,
                             max_entries=settings.QL_PLAYLIST_MAX_ENTRIES)
    version = int(written.meta["version"])
    try:
        registered = lua.tracks_register(playlist_id=playlist_id, track_ids=distinct)
        gone = [track_id for track_id, found in zip(distinct, registered) if found is None]
        if gone:  # deleted since: their deletion may have run before the insert landed
            _undo_insert(playlist_id, items, gone)
            _changed(playlist_id)
            raise UnknownTracks(gone)
        stale = [(track_id, int(found[0]), json.loads(found[1])) for track_id, found in zip(distinct, registered)
                 if int(found[0]) > counted[track_id]]
        for track_id, track_version, duration in stale:  # changed since they were counted
            reply = lua.track_reconcile(redis, playlist_id=playlist_id, track_id=track_id, version=track_version,
                                        duration=_duration_ms(duration), updated=now_iso())
            if reply[0] == "ok":
                version = max(version, int(reply[1]))
        if stale:
            _changed(playlist_id)
    finally:
        lua.release_lock(playlist_id=playlist_id, lock_token=token)
    newer = [track_id for track_id in distinct if counted[track_id] > summaries[track_id]["version"]]
    if newer:  # the tracks as counted, not as the cache had them before
        summaries.update(library.track_summaries(newer))
    first = int(written.detail)
    entries = [{"entry": entry_id, "position": first + index, "added": written.meta["updated"],
                "track": summaries[track_id]} for index, (entry_id, track_id) in enumerate(items)]
    return version, entries


def _undo_insert(playlist_id: str, items: list[tuple], gone: list[str]) -> None:
    """Takes out an insert whose tracks `gone` left the library meanwhile: every entry of
    those, then the insert's other entries. Unfenced: they must go whatever happened to the
    lock (a fenced removal refused as "lost_lock" would leave them, under an add that answers
    that nothing was added); they are this insert's own entries, which no other write read."""
    redis = get_redis()
    for track_id in gone:
        lua.track_drop(redis, playlist_id=playlist_id, track_id=track_id, updated=now_iso())
    rest = [item[0] for item in items if item[1] not in gone]
    if rest:
        lua.entries_drop(playlist_id=playlist_id, entries=rest, updated=now_iso())


def entries_remove(*, playlist_id: str, entry_ids: list[str], expected_version: int | None = None) -> dict:
    """Removes all of these entries, or none (UnknownEntry)."""
    written, _ = _locked(lua.entries_remove, playlist_id=playlist_id, expected_version=expected_version,
                         entries=entry_ids)
    return _playlist(written.meta, written.count)


def entries_reorder(*, playlist_id: str, range_start: int, range_length: int, insert_before: int,
                    expected_version: int | None = None) -> dict:
    """Spotify's reorder: moves `range_length` entries from `range_start` to stand before the
    entry that was at `insert_before` (the count: to the end); BadRange when they do not fit."""
    written, _ = _locked(lua.entries_reorder, playlist_id=playlist_id, expected_version=expected_version,
                         start=range_start, length=range_length, before=insert_before)
    return _playlist(written.meta, written.count)


# --- the library's changes -----------------------------------------------------------------
def track_removed(track_ids: list[str]) -> None:
    """Takes every entry of these tracks, which have left the library, out of every playlist."""
    redis = get_redis()
    pipe = redis.pipeline(transaction=False)
    for track_id in track_ids:
        pipe.smembers(keys.track_in_playlists(track_id))
    holders = pipe.execute()
    pipe = redis.pipeline(transaction=False)
    stamp = now_iso()
    dropped_from = []
    for track_id, playlist_ids in zip(track_ids, holders):
        for playlist_id in playlist_ids:
            lua.track_drop(pipe, playlist_id=playlist_id, track_id=track_id, updated=stamp)
            dropped_from.append(playlist_id)
    # no add can register these tracks again while they are gone (registration needs the
    # track); only the members handled here are taken out (a track made again with the same
    # id, from the same audio, may already be in new playlists)
    for track_id, playlist_ids in zip(track_ids, holders):
        if playlist_ids:
            pipe.srem(keys.track_in_playlists(track_id), *playlist_ids)
    replies = pipe.execute()
    _changed(*[playlist_id for playlist_id, reply in zip(dropped_from, replies) if reply[0] == "ok"])


def track_durations_changed(track_ids: list[str]) -> None:
    """Counts the current duration of these library tracks in every playlist that holds them."""
    redis = get_redis()
    pipe = redis.pipeline(transaction=False)
    for track_id in track_ids:
        pipe.smembers(keys.track_in_playlists(track_id))
        pipe.hmget(keys.track(track_id), "version", "duration")
    replies = pipe.execute()
    pipe = redis.pipeline(transaction=False)
    stamp = now_iso()
    queued = []
    for index, track_id in enumerate(track_ids):
        playlist_ids, (version, duration) = replies[2 * index], replies[2 * index + 1]
        if version is None:
            continue
        for playlist_id in playlist_ids:
            lua.track_reconcile(pipe, playlist_id=playlist_id, track_id=track_id, version=int(version),
                                duration=_duration_ms(json.loads(duration)), updated=stamp)
            queued.append(playlist_id)
    if queued:
        _changed(*[playlist_id for playlist_id, reply in zip(queued, pipe.execute()) if reply[0] == "ok"])


# --- backup and restore (tracks/backup.py) ---
def _backup_copy(playlist_id: str, token: str, part: str) -> str:
    """A scratch key of one export under the playlist's hash tag (a copy of its `part`)."""
    return keys.playlist_backup_copy(playlist_id, token, part)


def backup_snapshot(*, playlist_id: str, token: str, ttl_ms: int) -> dict | None:
    """The playlist's backup record but its entries (id, name, description, public, owner,
    owner_id, version, created, updated), read at one moment with a copy of its entries as
    they are then (read them with backup_entries, drop the copy with backup_drop); None when
    there is no such playlist."""
    found = lua.playlist_snapshot(playlist_id=playlist_id, copy_order=_backup_copy(playlist_id, token, "order"),
                                  copy_entries=_backup_copy(playlist_id, token, "entries"), ttl_ms=ttl_ms)
    if found is None:
        return None
    meta, _ = found
    return {"id": meta["id"], "name": meta["name"], "description": meta["description"],
            "public": meta["public"] == "1", "owner": meta["owner"], "owner_id": int(meta["owner_id"]),
            "version": int(meta["version"]), "created": meta["created"], "updated": meta["updated"]}


def backup_entries(*, playlist_id: str, token: str, start: int, stop: int) -> list[tuple[str, str, str]]:
    """(entry, track id, added) of the snapshot's entries at ranks start..stop, in order."""
    redis = get_redis()
    ids = redis.zrange(_backup_copy(playlist_id, token, "order"), start, stop)
    if not ids:
        return []
    values = redis.hmget(_backup_copy(playlist_id, token, "entries"), ids)
    rows = []
    for entry_id, value in zip(ids, values):
        if value is not None:
            track_id, added = value.split(" ", 1)
            rows.append((entry_id, track_id, added))
    return rows


def backup_drop(*, playlist_id: str, token: str) -> None:
    get_redis().unlink(_backup_copy(playlist_id, token, "order"), _backup_copy(playlist_id, token, "entries"))


def _created_ms(created: str) -> float:
    from datetime import datetime, timezone

    return datetime.fromisoformat(created.rstrip("Z")).replace(tzinfo=timezone.utc).timestamp() * 1000


def restore_score(created: str, after: float | None = None) -> float:
    """The place in the lists of a restored playlist: its creation time (ms), or just after
    `after` (the score of the one restored before it) when that is not earlier. Playlists made
    within one millisecond share their `created` time: a backup lists them in the order they
    were made, and a restore keeps that order (equal scores would sort them by id)."""
    import math

    score = _created_ms(created)
    if after is not None and score <= after:
        score = math.nextafter(after, math.inf)
    return score


def playlist_exists(*, playlist_id: str) -> tuple[int, str] | None:
    """(version, updated) of the playlist, None when there is none."""
    version, updated = get_redis().hmget(keys.playlist_meta(playlist_id), "version", "updated")
    return None if version is None else (int(version), updated)


def playlist_restore(*, record: dict, entries: list[tuple[str, str, str]], replace: bool,
                     score: float | None = None) -> tuple[str, int]:
    """Writes a playlist as a backup holds it (`record`: the playlist's fields, owner_id the
    local user's; `entries`: (entry, track id, added) in order) under its lock, in one step:
    where its id is free, or (`replace`) over what is there. The indexes (every playlist,
    public ones, the owner's) and each track's inplaylists set are set as a create and an add
    set them, at `score` (default: its creation time; restore_score). Entries of tracks that
    are not in the library (any more) are left out.
    Returns ("created" | "replaced" | "exists", entries left out)."""
    playlist_id = record["id"]
    redis = get_redis()
    if not replace and playlist_exists(playlist_id=playlist_id) is not None:
        return "exists", 0
    distinct = list(dict.fromkeys(track_id for _, track_id, _ in entries))
    pipe = redis.pipeline(transaction=False)
    for track_id in distinct:
        pipe.hmget(keys.track(track_id), "version", "duration")
    present = {track_id: (int(version), _duration_ms(json.loads(duration)))
               for track_id, (version, duration) in zip(distinct, pipe.execute()) if version is not None}
    kept = [row for row in entries if row[1] in present]
    left_out = len(entries) - len(kept)
    by_track: dict[str, list[str]] = {}
    for entry_id, track_id, _ in kept:
        by_track.setdefault(track_id, []).append(entry_id)
    records, total = [], 0
    for track_id, entry_ids in by_track.items():
        version, duration = present[track_id]
        records += [track_id, f"{version} {duration} {len(entry_ids)} {','.join(entry_ids)}"]
        if duration != "-":
            total += int(duration) * len(entry_ids)
    meta = ["id", playlist_id, "name", record["name"], "description", record["description"],
            "public", "1" if record["public"] else "0", "owner", record["owner"],
            "owner_id", str(record["owner_id"]), "version", str(record["version"]),
            "created", record["created"], "updated", record["updated"], "duration_ms", str(total)]
    flat = [value for row in kept for value in row]
    # the indexes first: a list skips an id whose playlist does not exist (yet); without
    # `replace` they never move a playlist that is there (nx: one made since the check above)
    if score is None:
        score = _created_ms(record["created"])
    pipe = redis.pipeline(transaction=False)
    pipe.zadd(keys.playlists_all(), {playlist_id: score}, nx=not replace)
    pipe.zadd(keys.playlists_of_owner(record["owner_id"]), {playlist_id: score}, nx=not replace)
    if record["public"]:
        pipe.zadd(keys.playlists_public(), {playlist_id: score}, nx=not replace)
    pipe.execute()
    # the tracks name the playlist before it holds them (as an add does): a restore cut off
    # after its write still has every later deletion or new duration of them reach it
    lua.tracks_register(playlist_id=playlist_id, track_ids=list(by_track))
    for _ in range(3):
        token = lock_acquire(keys.playlist_lock(playlist_id), what=playlist_id)
        try:
            reply = lua.playlist_restore(playlist_id=playlist_id, lock_token=token, replace=replace, meta=meta,
                                         entries=flat, records=records)
        except BaseException:
            lua.release_lock(playlist_id=playlist_id, lock_token=token)
            raise
        if reply[0] != "lost_lock":
            break
    else:
        raise LockTimeout(playlist_id)
    if reply[0] == "exists":  # made since the check: the indexes it is not in say so again
        _, _, _, owner_id, public = reply
        pipe = redis.pipeline(transaction=False)
        if owner_id != str(record["owner_id"]):
            pipe.zrem(keys.playlists_of_owner(record["owner_id"]), playlist_id)
        if record["public"] and public != "1":
            pipe.zrem(keys.playlists_public(), playlist_id)
        pipe.execute()
        return "exists", 0
    try:  # under the playlist's lock: a crossing PATCH of `public` cannot interleave
        pipe = redis.pipeline(transaction=False)
        if reply[1] and reply[1] != str(record["owner_id"]):
            pipe.zrem(keys.playlists_of_owner(reply[1]), playlist_id)
        if not record["public"]:
            pipe.zrem(keys.playlists_public(), playlist_id)
        pipe.execute()
    finally:
        lua.release_lock(playlist_id=playlist_id, lock_token=token)
    # registered again after the write, as an add does: a track deleted meanwhile is taken out here
    registered = lua.tracks_register(playlist_id=playlist_id, track_ids=list(by_track))
    stamp = now_iso()
    for track_id, found in zip(by_track, registered):
        if found is None:
            lua.track_drop(redis, playlist_id=playlist_id, track_id=track_id, updated=stamp)
            left_out += len(by_track[track_id])
        elif int(found[0]) > present[track_id][0]:
            lua.track_reconcile(redis, playlist_id=playlist_id, track_id=track_id, version=int(found[0]),
                                duration=_duration_ms(json.loads(found[1])), updated=stamp)
    _changed(playlist_id)
    return ("replaced" if reply[1] else "created"), left_out
