"""A playlist's writes in Redis: each change lands atomically in one of these scripts, every
key of which is under the playlist's own hash tag (quantumlive/keys.py), declared once
(quantumlive/scripts.py) and run through one typed function below.

Order: the sorted set `order` holds entry ids under gapped scores (GAP apart when appended);
an insert takes scores between its neighbours', so nothing is renumbered. When two neighbours
are too close for the new entries, a window around the spot is spread out again, doubling
until it has room (the whole playlist only when every window is full): the amortized cost of
an insert is a small window, not the playlist's length.

Writes are fenced: a guarded write lands only while its writer holds the playlist's lock (the
token it was given), and, with `expected_version` (If-Match), while that version is current.
Each bumps the playlist's `version`. The caches' pages of the playlist are dropped by the
invalidation playlists/store.py publishes after the script (another slot: a second step).

Duration: `meta.duration_ms` is the sum, over the entries, of their track's duration as the
`tracks` record counts it (`"<track version> <duration ms or -> <count> <entry ids>"`). A record is
updated only by a newer track version (RECONCILE), so reconciliations that cross land right.
"""

from typing import NamedTuple

from quantumlive import keys
from quantumlive.locks import lock_release
from quantumlive.redis_conn import get_redis
from quantumlive.scripts import Script

# Scores of appended entries are GAP apart; inside a window spread out again they are at least
# ROOM apart; a gap under MIN_STEP is too small to split (far above a double's resolution at
# the scores a playlist reaches).
GAP = 1024
_HELPERS = r"""
local GAP, MIN_STEP, ROOM = 1024, 1e-3, 0.5
local function fmt(x) return string.format('%.17g', x) end
local function zadd_all(z, zs)  -- zs: {score, member, score, member, ...}
  for i = 1, #zs, 2000 do
    redis.call('ZADD', z, unpack(zs, i, math.min(i + 1999, #zs)))
  end
end
-- Scores for k new members to stand before the member at rank `pos` of z (pos >= ZCARD: at
-- the end), respacing a window of neighbours when their gap is too small to split.
local function scores_at(z, pos, k)
  local n = redis.call('ZCARD', z)
  local out = {}
  if pos >= n then
    local base = 0
    if n > 0 then base = tonumber(redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')[2]) + GAP end
    for i = 1, k do out[i] = base + (i - 1) * GAP end
    return out
  end
  if pos <= 0 then
    local first = tonumber(redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')[2])
    for i = 1, k do out[i] = first - (k - i + 1) * GAP end
    return out
  end
  local two = redis.call('ZRANGE', z, pos - 1, pos, 'WITHSCORES')
  local a, b = tonumber(two[2]), tonumber(two[4])
  local step = (b - a) / (k + 1)
  if step >= MIN_STEP then
    for i = 1, k do out[i] = a + i * step end
    return out
  end
  local w = math.max(k, 16)
  while true do
    local lo, hi = math.max(pos - w, 0), math.min(pos + w, n)  -- the window: ranks lo .. hi - 1
    local members = redis.call('ZRANGE', z, lo, hi - 1)
    local zs = {}
    if lo == 0 and hi == n then  -- the whole playlist: renumber it, GAP apart
      for i, member in ipairs(members) do
        local index = i - 1
        if index >= pos then index = index + k end
        zs[#zs + 1] = fmt(index * GAP)
        zs[#zs + 1] = member
      end
      zadd_all(z, zs)
      for j = 1, k do out[j] = (pos + j - 1) * GAP end
      return out
    end
    local m = hi - lo + k
    local left, right
    if lo > 0 then left = tonumber(redis.call('ZRANGE', z, lo - 1, lo - 1, 'WITHSCORES')[2]) end
    if hi < n then right = tonumber(redis.call('ZRANGE', z, hi, hi, 'WITHSCORES')[2]) end
    if left == nil then left = right - (m + 1) * GAP end
    if right == nil then right = left + (m + 1) * GAP end
    step = (right - left) / (m + 1)
    if step >= ROOM then
      local index = 0
      for i, member in ipairs(members) do
        if lo + i - 1 == pos then index = index + k end
        index = index + 1
        zs[#zs + 1] = fmt(left + index * step)
        zs[#zs + 1] = member
      end
      zadd_all(z, zs)
      for j = 1, k do out[j] = left + (pos - lo + j) * step end
      return out
    end
    w = w * 2
  end
end
-- A track's record in `tracks`: "<version> <duration ms or -> <count> <entry>,<entry>…"
local function parse(record)
  local v, d, c, es = string.match(record, '^(%S+) (%S+) (%S+) (%S*)$')
  return tonumber(v), d, tonumber(c), es
end
local function ms(d) if d == '-' then return 0 end return tonumber(d) end
local function bump(meta, updated)
  redis.call('HSET', meta, 'updated', updated)
  return redis.call('HINCRBY', meta, 'version', 1)
end
-- nil when a fenced write may land, else the reply that says why not
local function guard(meta, lock, expected, token)
  if redis.call('EXISTS', meta) == 0 then return {'missing'} end
  local v = tonumber(redis.call('HGET', meta, 'version'))
  if redis.call('GET', lock) ~= token then return {'lost_lock', v} end
  if expected ~= '' and tonumber(expected) ~= v then return {'conflict', v} end
  return nil
end
local function release(lock, token, wanted)
  if wanted == '1' and redis.call('GET', lock) == token then redis.call('DEL', lock) end
end
local function answer(meta, order, extra)
  local out = {'ok', redis.call('HGETALL', meta), redis.call('ZCARD', order)}
  if extra then out[4] = extra end
  return out
end
-- Removes the entries `gone` (entry id -> track id) from the playlist's keys: their scores,
-- their records, their share of the duration. One pass over each track's record.
local function drop_entries(meta, order, entries, tracks, gone)
  local by_track = {}
  for e, t in pairs(gone) do
    redis.call('ZREM', order, e)
    redis.call('HDEL', entries, e)
    by_track[t] = true
  end
  local delta = 0
  for t in pairs(by_track) do
    local record = redis.call('HGET', tracks, t)
    if record then
      local v, d, c, es = parse(record)
      local kept = {}
      for e in string.gmatch(es, '[^,]+') do
        if gone[e] then delta = delta - ms(d) else kept[#kept + 1] = e end
      end
      if #kept == 0 then redis.call('HDEL', tracks, t)
      else redis.call('HSET', tracks, t, v .. ' ' .. d .. ' ' .. #kept .. ' ' .. table.concat(kept, ',')) end
    end
  end
  if delta ~= 0 then redis.call('HINCRBY', meta, 'duration_ms', delta) end
end
"""

_KEYS = ("meta", "order", "entries", "tracks", "lock")
_FENCE = ("expected_version", "lock_token", "release", "updated")

_UPDATE = Script(keys=_KEYS, args=(*_FENCE, "fields*"), source=_HELPERS + r"""
local refused = guard(KEYS[1], KEYS[5], ARGV[1], ARGV[2])
if refused then return refused end
if #ARGV > 4 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
bump(KEYS[1], ARGV[4])
release(KEYS[5], ARGV[2], ARGV[3])
return answer(KEYS[1], KEYS[2])
""")

_DELETE = Script(keys=_KEYS, args=_FENCE, source=_HELPERS + r"""
local refused = guard(KEYS[1], KEYS[5], ARGV[1], ARGV[2])
if refused then return refused end
local meta = redis.call('HGETALL', KEYS[1])
local tracks = redis.call('HKEYS', KEYS[4])
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
release(KEYS[5], ARGV[2], ARGV[3])
return {'ok', meta, 0, tracks}
""")

# `items`: entry id, track id, track version, duration ms (or -) per entry, in order.
_INSERT = Script(keys=_KEYS, args=(*_FENCE, "position", "max_entries", "items*"), source=_HELPERS + r"""
local refused = guard(KEYS[1], KEYS[5], ARGV[1], ARGV[2])
if refused then return refused end
local k = (#ARGV - 6) / 4
local n = redis.call('ZCARD', KEYS[2])
if n + k > tonumber(ARGV[6]) then return {'too_many', n} end
local pos = tonumber(ARGV[5])
if pos < 0 or pos > n then pos = n end
local scores = scores_at(KEYS[2], pos, k)
local zs, added, records, delta = {}, ARGV[4], {}, 0
for i = 1, k do
  local at = 6 + 4 * (i - 1)
  local e, t, v, d = ARGV[at + 1], ARGV[at + 2], tonumber(ARGV[at + 3]), ARGV[at + 4]
  zs[#zs + 1] = fmt(scores[i])
  zs[#zs + 1] = e
  redis.call('HSET', KEYS[3], e, t .. ' ' .. added)
  local r = records[t]
  if not r then
    local record = redis.call('HGET', KEYS[4], t)
    if record then
      local pv, pd, pc, pes = parse(record)
      r = {v = pv, d = pd, c = pc, parts = {pes}}
    else
      r = {v = v, d = d, c = 0, parts = {}}
    end
    records[t] = r
  end
  if v > r.v then  -- a newer version of the track than the one counted: count its duration
    delta = delta + r.c * (ms(d) - ms(r.d))
    r.v, r.d = v, d
  end
  delta = delta + ms(r.d)
  r.c = r.c + 1
  r.parts[#r.parts + 1] = e
end
for t, r in pairs(records) do
  redis.call('HSET', KEYS[4], t, r.v .. ' ' .. r.d .. ' ' .. r.c .. ' ' .. table.concat(r.parts, ','))
end
if delta ~= 0 then redis.call('HINCRBY', KEYS[1], 'duration_ms', delta) end
zadd_all(KEYS[2], zs)
bump(KEYS[1], ARGV[4])
release(KEYS[5], ARGV[2], ARGV[3])
return answer(KEYS[1], KEYS[2], pos)
""")

# All of `entries` or, if one is not in the playlist, none ({'unknown', entry}).
_REMOVE = Script(keys=_KEYS, args=(*_FENCE, "entry_ids*"), source=_HELPERS + r"""
local refused = guard(KEYS[1], KEYS[5], ARGV[1], ARGV[2])
if refused then return refused end
local gone = {}
for i = 5, #ARGV do
  local value = redis.call('HGET', KEYS[3], ARGV[i])
  if not value then
    release(KEYS[5], ARGV[2], ARGV[3])
    return {'unknown', ARGV[i]}
  end
  gone[ARGV[i]] = string.match(value, '^(%S+)')
end
drop_entries(KEYS[1], KEYS[2], KEYS[3], KEYS[4], gone)
bump(KEYS[1], ARGV[4])
release(KEYS[5], ARGV[2], ARGV[3])
return answer(KEYS[1], KEYS[2])
""")

# Spotify's reorder: the `length` entries from rank `start` go before the entry at rank
# `before` (the count: to the end). {'bad_range', count} when they do not fit.
_REORDER = Script(keys=_KEYS, args=(*_FENCE, "start", "length", "before"), source=_HELPERS + r"""
local refused = guard(KEYS[1], KEYS[5], ARGV[1], ARGV[2])
if refused then return refused end
local n = redis.call('ZCARD', KEYS[2])
local start, length, before = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
if start < 0 or length < 1 or before < 0 or start >= n or start + length > n or before > n then
  release(KEYS[5], ARGV[2], ARGV[3])
  return {'bad_range', n}
end
if before < start or before > start + length then
  local moved = redis.call('ZRANGE', KEYS[2], start, start + length - 1)
  local anchor = nil
  if before < n then anchor = redis.call('ZRANGE', KEYS[2], before, before)[1] end
  for i = 1, #moved, 1000 do  -- unpack() refuses ~8,000 values
    redis.call('ZREM', KEYS[2], unpack(moved, i, math.min(i + 999, #moved)))
  end
  local pos = n - length
  if anchor then pos = redis.call('ZRANK', KEYS[2], anchor) end
  local scores = scores_at(KEYS[2], pos, length)
  local zs = {}
  for i = 1, length do
    zs[#zs + 1] = fmt(scores[i])
    zs[#zs + 1] = moved[i]
  end
  zadd_all(KEYS[2], zs)
end
bump(KEYS[1], ARGV[4])
release(KEYS[5], ARGV[2], ARGV[3])
return answer(KEYS[1], KEYS[2])
""")

# Unfenced, for a library track that is gone: removes every entry of `track_id`; no entry of
# it: nothing changes ({'none'}).
_DROP_TRACK = Script(keys=_KEYS, args=("track_id", "updated"), source=_HELPERS + r"""
local record = redis.call('HGET', KEYS[4], ARGV[1])
if not record or redis.call('EXISTS', KEYS[1]) == 0 then return {'none'} end
local gone = {}
for e in string.gmatch(string.match(record, '(%S*)$'), '[^,]+') do gone[e] = ARGV[1] end
drop_entries(KEYS[1], KEYS[2], KEYS[3], KEYS[4], gone)
return {'ok', bump(KEYS[1], ARGV[2])}
""")

# Unfenced, for an add taking its own new entries out again (whatever happened to its lock):
# removes those of `entry_ids` still there; none there: nothing changes ({'none'}).
_DROP_ENTRIES = Script(keys=_KEYS, args=("updated", "entry_ids*"), source=_HELPERS + r"""
if redis.call('EXISTS', KEYS[1]) == 0 then return {'none'} end
local gone, any = {}, false
for i = 2, #ARGV do
  local value = redis.call('HGET', KEYS[3], ARGV[i])
  if value then
    gone[ARGV[i]] = string.match(value, '^(%S+)')
    any = true
  end
end
if not any then return {'none'} end
drop_entries(KEYS[1], KEYS[2], KEYS[3], KEYS[4], gone)
return {'ok', bump(KEYS[1], ARGV[1])}
""")

# Unfenced: counts `track_id`'s duration at its `version` (ms or -) if that is newer than the
# version counted; {'none'} when nothing changes.
_RECONCILE = Script(keys=_KEYS, args=("track_id", "version", "duration", "updated"), source=_HELPERS + r"""
local record = redis.call('HGET', KEYS[4], ARGV[1])
if not record or redis.call('EXISTS', KEYS[1]) == 0 then return {'none'} end
local v, d, c, es = parse(record)
if tonumber(ARGV[2]) <= v then return {'none'} end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. c .. ' ' .. es)
local delta = c * (ms(ARGV[3]) - ms(d))
if delta == 0 then return {'none'} end
redis.call('HINCRBY', KEYS[1], 'duration_ms', delta)
return {'ok', bump(KEYS[1], ARGV[4])}
""")

# Library side (the `{p}` tag): records that `playlist_id` holds entries of these tracks, each
# only while it exists; answers per track its version and duration field, or false if gone.
# track_keys: per track its hash and its inplaylists set.
_REGISTER = Script(keys=("track_keys*",), args=("playlist_id",), source=r"""
local out = {}
for i = 1, #KEYS, 2 do
  local found = redis.call('HMGET', KEYS[i], 'version', 'duration')
  if found[1] then
    redis.call('SADD', KEYS[i + 1], ARGV[1])
    out[#out + 1] = found
  else
    out[#out + 1] = false
  end
end
return out
""")


class Written(NamedTuple):
    """What a fenced write answers."""

    status: str  # "ok", or why nothing changed: "missing", "conflict", "lost_lock", "unknown", "bad_range", "too_many"
    meta: dict | None = None  # "ok": the playlist's hash after the write
    count: int | None = None  # "ok": its number of entries; "bad_range", "too_many": the count
    current_version: int | None = None  # "conflict", "lost_lock"
    detail: object = None  # "ok": an insert's first rank, a deletion's track ids; "unknown": the entry id

    @classmethod
    def of(cls, reply: list) -> "Written":
        status = reply[0]
        if status == "ok":
            flat = reply[1]
            return cls(status, meta=dict(zip(flat[::2], flat[1::2])), count=int(reply[2]),
                       detail=reply[3] if len(reply) > 3 else None)
        if status in ("conflict", "lost_lock"):
            return cls(status, current_version=int(reply[1]))
        if status in ("bad_range", "too_many"):
            return cls(status, count=int(reply[1]))
        if status == "unknown":
            return cls(status, detail=reply[1])
        return cls(status)


def _fence(expected_version: int | None, lock_token: str, release: bool, updated: str) -> dict:
    return dict(expected_version="" if expected_version is None else str(expected_version),
                lock_token=lock_token, release="1" if release else "0", updated=updated)


def meta_update(*, playlist_id: str, expected_version: int | None, lock_token: str, updated: str,
                fields: list[str], release: bool = True) -> Written:
    """Sets `fields` (flat [name, value, …]) of the playlist's hash; releases the lock unless
    `release` is false (the caller has more to do under it)."""
    return Written.of(_UPDATE(get_redis(), **keys.playlist_keys(playlist_id),
                              **_fence(expected_version, lock_token, release, updated), fields=fields))


def playlist_remove(*, playlist_id: str, expected_version: int | None, lock_token: str, updated: str) -> Written:
    """Deletes every key of the playlist; `meta` is its hash as it was, `detail` the ids of
    the tracks it held. Releases the lock."""
    return Written.of(_DELETE(get_redis(), **keys.playlist_keys(playlist_id),
                              **_fence(expected_version, lock_token, True, updated)))


def entries_insert(*, playlist_id: str, expected_version: int | None, lock_token: str, updated: str,
                   position: int, max_entries: int, items: list[tuple[str, str, int, str]]) -> Written:
    """Inserts entries (entry id, track id, track version, duration ms or "-") at `position`
    (past the end: appended); `detail` is the first one's rank. Keeps the lock (the caller's
    next step may undo the insert)."""
    flat = [value for item in items for value in item]
    return Written.of(_INSERT(get_redis(), **keys.playlist_keys(playlist_id),
                              **_fence(expected_version, lock_token, False, updated), position=position,
                              max_entries=max_entries, items=flat))


def entries_remove(*, playlist_id: str, expected_version: int | None, lock_token: str, updated: str,
                   entries: list[str]) -> Written:
    """Removes all of `entries` or none ("unknown", naming the first not there). Releases the lock."""
    return Written.of(_REMOVE(get_redis(), **keys.playlist_keys(playlist_id),
                              **_fence(expected_version, lock_token, True, updated), entry_ids=entries))


def entries_reorder(*, playlist_id: str, expected_version: int | None, lock_token: str, updated: str,
                    start: int, length: int, before: int) -> Written:
    """Spotify's range reorder (see _REORDER). Releases the lock."""
    return Written.of(_REORDER(get_redis(), **keys.playlist_keys(playlist_id),
                               **_fence(expected_version, lock_token, True, updated), start=start,
                               length=length, before=before))


def track_drop(client, *, playlist_id: str, track_id: str, updated: str):
    """Removes every entry of a track that left the library (unfenced: one atomic step that
    no writer's state depends on). On a pipeline: queued."""
    return _DROP_TRACK(client, **keys.playlist_keys(playlist_id), track_id=track_id, updated=updated)


def entries_drop(*, playlist_id: str, entries: list[str], updated: str) -> list:
    """Removes those of `entries` still in the playlist (unfenced: an add undoing its own
    insert, which must go whatever happened to its lock)."""
    return _DROP_ENTRIES(get_redis(), **keys.playlist_keys(playlist_id), updated=updated, entry_ids=entries)


def track_reconcile(client, *, playlist_id: str, track_id: str, version: int, duration: str, updated: str):
    """Counts the track's duration at `version` where an older version was counted. On a
    pipeline: queued."""
    return _RECONCILE(client, **keys.playlist_keys(playlist_id), track_id=track_id, version=version,
                      duration=duration, updated=updated)


def release_lock(*, playlist_id: str, lock_token: str) -> None:
    lock_release(get_redis(), keys.playlist_lock(playlist_id), token=lock_token)


def tracks_register(*, playlist_id: str, track_ids: list[str]) -> list:
    """Adds the playlist to each track's inplaylists set while the track exists; per track its
    [version, duration JSON] or None when it is gone."""
    track_keys = []
    for track_id in track_ids:
        track_keys += [keys.track(track_id), keys.track_in_playlists(track_id)]
    return [found or None for found in _REGISTER(get_redis(), track_keys=track_keys, playlist_id=playlist_id)]


# --- backup and restore (tracks/backup.py) ---
# A consistent copy of one playlist's entries for an export: its order and entries copied, in
# one step, to scratch keys under its own hash tag (they expire; the export deletes them when
# the playlist is written); answers its hash and count, or {} when there is no such playlist.
_SNAPSHOT = Script(keys=("meta", "order", "entries", "copy_order", "copy_entries"), args=("ttl_ms",), source=r"""
local meta = redis.call('HGETALL', KEYS[1])
if #meta == 0 then return {} end
redis.call('COPY', KEYS[2], KEYS[4], 'REPLACE')
redis.call('COPY', KEYS[3], KEYS[5], 'REPLACE')
redis.call('PEXPIRE', KEYS[4], ARGV[1])
redis.call('PEXPIRE', KEYS[5], ARGV[1])
return {meta, redis.call('ZCARD', KEYS[2])}
""")

# A restore (import_library): writes a whole playlist (meta, order, entries, tracks records) in
# one step under its lock, over what is there with mode "replace", else only where the id is
# free ({'exists', version, updated, owner_id, public}). Entries are given in order (entry, track id, added) and
# scored GAP apart; `records` are the `tracks` hash's fields (track id, record). Releases the
# lock. {'ok', owner_id of the playlist it replaced or ''}.
_RESTORE = Script(keys=_KEYS, args=("lock_token", "mode", "meta_count", "entry_count", "values*"),
                  source=_HELPERS + r"""
if redis.call('GET', KEYS[5]) ~= ARGV[1] then return {'lost_lock'} end
local old = redis.call('HMGET', KEYS[1], 'version', 'updated', 'owner_id', 'public')
if old[1] and ARGV[2] ~= 'replace' then
  redis.call('DEL', KEYS[5])
  return {'exists', old[1], old[2], old[3], old[4]}
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
local nm, ne = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('HSET', KEYS[1], unpack(ARGV, 5, 4 + nm))
local first = 5 + nm
local zs, hs = {}, {}
for i = 0, ne - 1 do
  local at = first + 3 * i
  zs[#zs + 1] = fmt(i * GAP)
  zs[#zs + 1] = ARGV[at]
  hs[#hs + 1] = ARGV[at]
  hs[#hs + 1] = ARGV[at + 1] .. ' ' .. ARGV[at + 2]
  if #zs >= 2000 then
    redis.call('ZADD', KEYS[2], unpack(zs))
    redis.call('HSET', KEYS[3], unpack(hs))
    zs, hs = {}, {}
  end
end
if #zs > 0 then
  redis.call('ZADD', KEYS[2], unpack(zs))
  redis.call('HSET', KEYS[3], unpack(hs))
end
for i = first + 3 * ne, #ARGV, 2000 do
  redis.call('HSET', KEYS[4], unpack(ARGV, i, math.min(i + 1999, #ARGV)))
end
return {'ok', old[3] or ''}  -- the lock kept: the caller sets the indexes under it, then releases it
""")


def playlist_snapshot(*, playlist_id: str, copy_order: str, copy_entries: str, ttl_ms: int):
    """(meta, count) of the playlist, its order and entries copied at that moment into
    `copy_order` / `copy_entries` (under its hash tag); None when it does not exist."""
    reply = _SNAPSHOT(get_redis(), meta=keys.playlist_meta(playlist_id), order=keys.playlist_order(playlist_id),
                      entries=keys.playlist_entries(playlist_id), copy_order=copy_order,
                      copy_entries=copy_entries, ttl_ms=ttl_ms)
    if not reply:
        return None
    flat, count = reply
    return dict(zip(flat[::2], flat[1::2])), int(count)


def playlist_restore(*, playlist_id: str, lock_token: str, replace: bool, meta: list[str],
                     entries: list[str], records: list[str]) -> list:
    """Writes the whole playlist (see _RESTORE): `meta` flat [name, value, …], `entries` flat
    [entry, track, added, …], `records` flat [track id, record, …]. Releases the lock unless
    it answers "ok" (the caller then sets the indexes under it and releases it)."""
    return _RESTORE(get_redis(), **keys.playlist_keys(playlist_id), lock_token=lock_token,
                    mode="replace" if replace else "add", meta_count=len(meta), entry_count=len(entries) // 3,
                    values=[*meta, *entries, *records])
