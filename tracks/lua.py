"""The track store's writes in Redis: every write of a track lands atomically in one of these
scripts, each declared once (quantumlive/scripts.py) and run through one typed function below.

Each write bumps the track's version, the global generation, and publishes an invalidation
(`"<gen> t <id> <ack>"` for field changes, `"<gen> o <id> <ack>"` when the playlist order
changes; `<ack>` names the write's acknowledgement keys, `-` when no lease is alive), and
answers with the read leases alive at that moment (see tracks/cache/): the writer waits
until each of those caches has acknowledged (ACK) before it answers its client.
Fencing: a write lands only while its writer still holds the track's lock, or when the
version it read (`expected_version`) is still current.
"""

from collections.abc import Sequence
from typing import NamedTuple

import redis

from quantumlive import keys
from quantumlive.musical_keys import KEY_NAMES, camelot
from quantumlive.redis_conn import get_redis
from quantumlive.scripts import Script

# Places member ARGV id at 0-based position `pos` (negative or past the end: last) of the
# sorted set `z` by choosing a score between its neighbours; renumbers when floats run out.
_PLACE = r"""
local function fmt(x) return string.format('%.17g', x) end
local function place(z, id, pos)
  local n = redis.call('ZCARD', z)
  local score
  if pos < 0 or pos >= n then
    if n == 0 then score = 0 else
      local last = redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')
      score = math.floor(tonumber(last[2])) + 1
    end
  elseif pos == 0 then
    local first = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
    score = math.floor(tonumber(first[2])) - 1
  else
    local two = redis.call('ZRANGE', z, pos - 1, pos, 'WITHSCORES')
    local a, b = tonumber(two[2]), tonumber(two[4])
    score = (a + b) / 2
    if not (score > a and score < b) then
      local all = redis.call('ZRANGE', z, 0, -1)
      for i, member in ipairs(all) do redis.call('ZADD', z, i - 1, member) end
      score = pos - 0.5
    end
  end
  redis.call('ZADD', z, fmt(score), id)
  return redis.call('ZRANK', z, id)
end
"""

_NOW = r"""
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# bump: the generation and the invalidation, with the leases that have not expired (Redis's
# clock, ms), returned as {now, session, expiry, …} and recorded as the set of sessions whose
# acknowledgement the write waits for (the write's `ack_pending` key). With no lease alive the message names no ack keys
# ("-"): nobody acknowledges, nobody is waited for.
_BUMP = _NOW + r"""
local function live_leases(leases_key, pending_key)
  local now = now_ms()
  local found = redis.call('ZRANGE', leases_key, '(' .. string.format('%d', now), '+inf', 'BYSCORE', 'WITHSCORES')
  local last = now
  for i = 1, #found, 2 do
    redis.call('SADD', pending_key, found[i])
    last = math.max(last, tonumber(found[i + 1]))
  end
  -- kept until 10 s after the last of these leases runs out: the writer may wait that long
  if #found > 0 then redis.call('PEXPIRE', pending_key, string.format('%d', last - now + 10000)) end
  table.insert(found, 1, string.format('%d', now))
  return found
end
local function bump(gen_key, channel, kind, id, leases_key, pending_key, ack)
  local found = live_leases(leases_key, pending_key)
  if #found == 1 then ack = '-' end
  local g = redis.call('INCR', gen_key)
  redis.call('PUBLISH', channel, g .. ' ' .. kind .. ' ' .. id .. ' ' .. ack)
  return found
end
"""

# Checks of an existing track under lock. Returns nil when the write may land, else a reply.
_GUARD = r"""
local function guard(hkey, lkey, expected, token)
  if redis.call('EXISTS', hkey) == 0 then
    if token ~= '' and redis.call('GET', lkey) == token then redis.call('DEL', lkey) end
    return {'missing'}
  end
  local v = tonumber(redis.call('HGET', hkey, 'version'))
  if expected ~= '' and tonumber(expected) ~= v then
    if token ~= '' and redis.call('GET', lkey) == token then redis.call('DEL', lkey) end
    return {'conflict', v}
  end
  if expected == '' and redis.call('GET', lkey) ~= token then
    return {'lost_lock', v}
  end
  return nil
end
"""

# --- the harmonic index ({p}:keyindex, tracks/suggestions.py) -------------------------------
# One sorted set: track id -> band * KEY_BAND_WIDTH + bpm, where the band is the Camelot code's
# (1A -> 2, 1B -> 3, ..., 12B -> 25). Each code's tracks are one range of scores ordered by
# BPM (a BPM is at most 400, the width leaves room for double time): ZRANGEBYSCORE reads the
# tracks of one code within a BPM window, or all of them (the `camelot` and `compatible_with`
# filters). One key, so a write takes a track out (ZREM) without knowing the code it had. Every
# track with a key is in it; one without a BPM at its band's bottom (bpm 0, which no BPM window
# of a suggestion reaches).
KEY_BAND_WIDTH = 1000


def key_band(code: str) -> int:
    """The band of a Camelot code ("8A" -> 16, "8B" -> 17)."""
    return int(code[:-1]) * 2 + (code[-1] == "B")


def _lua_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# The track hash keeps `key` as JSON text ('"A minor"') and `bpm` as a JSON number or null.
_INDEX = "local KEY_BAND = {%s}\n" % ", ".join(
    "[%s] = %d" % (_lua_string('"%s"' % name), key_band(camelot(name))) for name in KEY_NAMES) + r"""
local function index_track(index_key, hkey, id)
  local v = redis.call('HMGET', hkey, 'bpm', 'key')
  local bpm = v[1] and tonumber(v[1])
  local band = v[2] and KEY_BAND[v[2]]
  if band and not (bpm and bpm > 0 and bpm < """ + str(KEY_BAND_WIDTH) + r""") then bpm = 0 end
  if band then
    redis.call('ZADD', index_key, string.format('%.17g', band * """ + str(KEY_BAND_WIDTH) + r""" + bpm), id)
  else
    redis.call('ZREM', index_key, id)
  end
end
"""

# Keys and arguments common to the writes of one track; the Lua reads them in this order.
_TRACK_KEYS = ("track", "playlist", "generation", "lock", "leases", "ack_pending", "key_index", "waveform")
_TRACK_ARGS = ("track_id", "channel", "ack", "expected_version", "lock_token")

_UPDATE = Script(keys=_TRACK_KEYS, args=(*_TRACK_ARGS, "updated", "fields*"), source=_BUMP + _GUARD + _INDEX + r"""
local refused = guard(KEYS[1], KEYS[4], ARGV[4], ARGV[5])
if refused then return refused end
if #ARGV > 6 then redis.call('HSET', KEYS[1], unpack(ARGV, 7)) end
index_track(KEYS[7], KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], 'updated', ARGV[6])
redis.call('HINCRBY', KEYS[1], 'version', 1)
local waits = bump(KEYS[3], ARGV[2], 't', ARGV[1], KEYS[5], KEYS[6], ARGV[3])
if redis.call('GET', KEYS[4]) == ARGV[5] then redis.call('DEL', KEYS[4]) end
return {'ok', redis.call('HGETALL', KEYS[1]), redis.call('ZRANK', KEYS[2], ARGV[1]), waits}
""")

_MOVE = Script(keys=_TRACK_KEYS, args=(*_TRACK_ARGS, "updated", "position"), source=_PLACE + _BUMP + _GUARD + r"""
local refused = guard(KEYS[1], KEYS[4], ARGV[4], ARGV[5])
if refused then return refused end
redis.call('ZREM', KEYS[2], ARGV[1])
local rank = place(KEYS[2], ARGV[1], tonumber(ARGV[7]))
redis.call('HSET', KEYS[1], 'updated', ARGV[6])
redis.call('HINCRBY', KEYS[1], 'version', 1)
local waits = bump(KEYS[3], ARGV[2], 'o', ARGV[1], KEYS[5], KEYS[6], ARGV[3])
if redis.call('GET', KEYS[4]) == ARGV[5] then redis.call('DEL', KEYS[4]) end
return {'ok', redis.call('HGETALL', KEYS[1]), rank, waits}
""")

_DELETE = Script(keys=_TRACK_KEYS, args=_TRACK_ARGS, source=_BUMP + _GUARD + r"""
local refused = guard(KEYS[1], KEYS[4], ARGV[4], ARGV[5])
if refused then return refused end
redis.call('DEL', KEYS[1], KEYS[8])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[7], ARGV[1])
local waits = bump(KEYS[3], ARGV[2], 'o', ARGV[1], KEYS[5], KEYS[6], ARGV[3])
if redis.call('GET', KEYS[4]) == ARGV[5] then redis.call('DEL', KEYS[4]) end
return {'ok', waits}
""")

# An existing id is left alone ('exists'): imports are idempotent. `fields`: every field.
_CREATE = Script(
    keys=("track", "playlist", "generation", "leases", "ack_pending", "key_index"),
    args=("track_id", "channel", "ack", "position", "fields*"),
    source=_PLACE + _BUMP + _INDEX + r"""
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
index_track(KEYS[6], KEYS[1], ARGV[1])
local rank = place(KEYS[2], ARGV[1], tonumber(ARGV[4]))
local waits = bump(KEYS[3], ARGV[2], 'o', ARGV[1], KEYS[4], KEYS[5], ARGV[3])
return {'ok', redis.call('HGETALL', KEYS[1]), rank, waits}
""")


class Written(NamedTuple):
    """What a write of one track answers."""

    status: str  # "ok", or why nothing changed: "missing", "conflict", "lost_lock", "exists"
    current_version: int | None = None  # "conflict" and "lost_lock": the track's version
    track_hash: dict | None = None  # "ok" of a create, update or move: the hash as written
    position: int | None = None  # with `track_hash`
    # "ok": Redis's time (ms), then session, expiry, … of each lease alive then: the caches
    # whose acknowledgement the write waits for
    live_leases: Sequence = ()

    @classmethod
    def of(cls, reply: list) -> "Written":
        status = reply[0]
        if status in ("conflict", "lost_lock"):
            return cls(status, current_version=int(reply[1]))
        if status != "ok":
            return cls(status)
        if len(reply) == 2:  # a delete
            return cls(status, live_leases=reply[1])
        flat = reply[1]
        return cls(status, track_hash=dict(zip(flat[::2], flat[1::2])), position=int(reply[2]),
                   live_leases=reply[3])


def _track_keys(track_id: str, ack: str) -> dict:
    return dict(track=keys.track(track_id), playlist=keys.playlist(), generation=keys.generation(),
                lock=keys.track_lock(track_id), leases=keys.leases(), ack_pending=keys.ack_pending(ack),
                key_index=keys.track_key_index(), waveform=keys.track_waveform(track_id))


def _track_args(track_id: str, ack: str, expected_version: int | None, lock_token: str) -> dict:
    return dict(track_id=track_id, channel=keys.invalidation_channel(), ack=ack,
                expected_version="" if expected_version is None else str(expected_version),
                lock_token=lock_token)


def update_fields(*, track_id: str, ack: str, expected_version: int | None, lock_token: str, updated: str,
                  fields: list[str]) -> Written:
    """Sets `fields` (flat [name, value, …]) and `updated`, bumping the version; lands while
    `lock_token` holds the track's lock, or, with `expected_version`, while it is current."""
    return Written.of(_UPDATE(get_redis(), **_track_keys(track_id, ack),
                              **_track_args(track_id, ack, expected_version, lock_token),
                              updated=updated, fields=fields))


def move_track(*, track_id: str, ack: str, expected_version: int | None, lock_token: str, updated: str,
               position: int) -> Written:
    """Places the track at `position` (negative or past the end: last); fenced as update_fields."""
    return Written.of(_MOVE(get_redis(), **_track_keys(track_id, ack),
                            **_track_args(track_id, ack, expected_version, lock_token),
                            updated=updated, position=position))


def delete_track(*, track_id: str, ack: str, expected_version: int | None, lock_token: str) -> Written:
    """Deletes the track, its waveform copy and its place in the playlist; fenced as
    update_fields."""
    return Written.of(_DELETE(get_redis(), **_track_keys(track_id, ack),
                              **_track_args(track_id, ack, expected_version, lock_token)))


def create_track(client: redis.Redis, *, track_id: str, ack: str, position: int | None,
                 fields: list[str]) -> Written | None:
    """Writes a new track's hash (`fields`: all of them, flat) at `position` (None: last).
    Queued on a pipeline (a seed of many tracks) it answers None: the reply comes with the
    pipeline's."""
    reply = _CREATE(client, track=keys.track(track_id), playlist=keys.playlist(), generation=keys.generation(),
                    leases=keys.leases(), ack_pending=keys.ack_pending(ack), key_index=keys.track_key_index(),
                    track_id=track_id, channel=keys.invalidation_channel(), ack=ack,
                    position=-1 if position is None else position,
                    fields=fields)
    return None if isinstance(client, redis.client.Pipeline) else Written.of(reply)


# --- backup and restore (tracks/backup.py) -------------------------------------------------
# bump_many: one invalidation per written track (each its own generation, as single writes
# do), published in order; only the last names the ack keys, so a cache acknowledges once it
# has applied all of them. No track written: no lease is waited for.
_BUMP_MANY = _BUMP + r"""
local function bump_many(gen_key, channel, kind, ids, leases_key, pending_key, ack)
  if #ids == 0 then return {string.format('%d', now_ms())} end
  local found = live_leases(leases_key, pending_key)
  if #found == 1 then ack = '-' end
  for i, id in ipairs(ids) do
    local g = redis.call('INCR', gen_key)
    local a = '-'
    if i == #ids then a = ack end
    redis.call('PUBLISH', channel, g .. ' ' .. kind .. ' ' .. id .. ' ' .. a)
  end
  return found
end
"""

# Moves staged track hashes into the library (RENAME: no copy), keeping their version and times.
# Add (replace '0'): only where the id is free, placed last; an existing track is left alone
# and reported 'unchanged' (same version and updated time) or 'conflict:<its version>:<staged>'.
# Replace ('1'): written over what is there, under the track's lock (our token, or
# 'lost_lock' and nothing happens to that track), at the score given (its file position).
# A track's waveform copy follows it in the same step: a track written takes its staged copy
# (RENAME), or loses its copy when none is staged (the file has none for it); a track left
# alone keeps its own and its staged copy is deleted ('lost_lock': kept for the retry).
# track_keys: per track its hash, staged hash, lock, waveform copy, staged waveform copy;
# track_args: per track its id, score.
_SWAP_IN = Script(
    keys=("playlist", "generation", "leases", "ack_pending", "key_index", "track_keys*"),
    args=("channel", "ack", "replace", "lock_token", "track_args*"),
    source=_PLACE + _BUMP_MANY + _INDEX + r"""
local out, written = {}, {}
local n = (#KEYS - 5) / 5
local function take_waveform(copy, staged_copy)
  if redis.call('EXISTS', staged_copy) == 1 then
    redis.call('RENAME', staged_copy, copy)
    redis.call('PERSIST', copy)
  else
    redis.call('DEL', copy)
  end
end
-- Redis keeps a script's writes made before an error: refuse the batch before any write if a
-- key it would write is not a hash (a corrupted key), so nothing lands without its invalidation.
local t
for _, name in ipairs({KEYS[1], KEYS[5]}) do
  t = redis.call('TYPE', name).ok
  if t ~= 'zset' and t ~= 'none' then return redis.error_reply('WRONGTYPE ' .. name .. ' is a ' .. t) end
end
for i = 1, n do
  for _, name in ipairs({KEYS[5 * i + 1], KEYS[5 * i + 2]}) do
    t = redis.call('TYPE', name).ok
    if t ~= 'hash' and t ~= 'none' then return redis.error_reply('WRONGTYPE ' .. name .. ' is a ' .. t) end
  end
end
for i = 1, n do
  local live, staged, lock = KEYS[5 * i + 1], KEYS[5 * i + 2], KEYS[5 * i + 3]
  local copy, staged_copy = KEYS[5 * i + 4], KEYS[5 * i + 5]
  local id, score = ARGV[2 * i + 3], ARGV[2 * i + 4]
  local was = redis.call('HMGET', live, 'version', 'updated')
  local new = redis.call('HMGET', staged, 'version', 'updated')
  if not new[1] then
    out[i] = 'gone'
    redis.call('DEL', staged_copy)
    if ARGV[3] == '1' and redis.call('GET', lock) == ARGV[4] then redis.call('DEL', lock) end
  elseif ARGV[3] == '1' then
    if redis.call('GET', lock) ~= ARGV[4] then
      out[i] = 'lost_lock'
    else
      redis.call('RENAME', staged, live)
      redis.call('PERSIST', live)
      take_waveform(copy, staged_copy)
      index_track(KEYS[5], live, id)
      redis.call('ZADD', KEYS[1], score, id)
      redis.call('DEL', lock)
      if not was[1] then out[i] = 'created'
      elseif was[1] == new[1] and was[2] == new[2] then out[i] = 'unchanged'
      else out[i] = 'replaced' end
      written[#written + 1] = id
    end
  elseif was[1] then
    redis.call('DEL', staged, staged_copy)
    if was[1] == new[1] and was[2] == new[2] then out[i] = 'unchanged'
    else out[i] = 'conflict:' .. was[1] .. ':' .. new[1] end
  else
    redis.call('RENAME', staged, live)
    redis.call('PERSIST', live)
    take_waveform(copy, staged_copy)
    index_track(KEYS[5], live, id)
    place(KEYS[1], id, -1)
    out[i] = 'created'
    written[#written + 1] = id
  end
end
local waits = bump_many(KEYS[2], ARGV[1], 'o', written, KEYS[3], KEYS[4], ARGV[2])
return {out, waits}
""")


def swap_in_staged(*, staged: list[tuple[str, str, str, int]], replace: bool, lock_token: str,
                   ack: str) -> tuple[list[str], list]:
    """Moves the staged hashes (`(track_id, staged key, staged waveform copy's key, position)`)
    and their waveform copies into the library in one script (see _SWAP_IN). Returns each
    track's outcome and the leases alive (Written)."""
    track_keys, track_args = [], []
    for track_id, staged_key, staged_copy, position in staged:
        track_keys += [keys.track(track_id), staged_key, keys.track_lock(track_id), keys.track_waveform(track_id),
                       staged_copy]
        track_args += [track_id, position]
    outcomes, live_leases = _SWAP_IN(
        get_redis(), playlist=keys.playlist(), generation=keys.generation(), leases=keys.leases(),
        ack_pending=keys.ack_pending(ack), key_index=keys.track_key_index(), track_keys=track_keys,
        channel=keys.invalidation_channel(), ack=ack, replace="1" if replace else "0", lock_token=lock_token,
        track_args=track_args,
    )
    return outcomes, live_leases


# Invalidates cache keys that are not tracks (a playlist's pages: tracks/cache read_grouped),
# one generation each, as a track write does, after the write they follow has landed.
_INVALIDATE = Script(
    keys=("generation", "leases", "ack_pending"),
    args=("channel", "ack", "items*"),
    source=_BUMP_MANY + r"""
local items = {}
for i = 3, #ARGV do items[#items + 1] = ARGV[i] end
return bump_many(KEYS[1], ARGV[1], 't', items, KEYS[2], KEYS[3], ARGV[2])
""")


def invalidate(*, items: list[str], ack: str) -> list:
    """Publishes an invalidation of each of `items` (cache keys of read_grouped's groups);
    returns the leases alive (Written)."""
    return _INVALIDATE(get_redis(), generation=keys.generation(), leases=keys.leases(),
                       ack_pending=keys.ack_pending(ack), channel=keys.invalidation_channel(), ack=ack,
                       items=items)


# Deletes, under their locks (our token), the tracks whose id is not a field of `kept` (the
# ids of the file an import --replace loads): 'deleted', 'kept', 'absent' or 'lost_lock'.
# track_keys: per track its hash, lock, waveform copy.
_DROP_ABSENT = Script(
    keys=("playlist", "generation", "leases", "ack_pending", "kept", "key_index", "track_keys*"),
    args=("channel", "ack", "lock_token", "track_ids*"),
    source=_BUMP_MANY + r"""
local out, written = {}, {}
local n = (#KEYS - 6) / 3
for i = 1, n do
  local live, lock, id = KEYS[3 * i + 4], KEYS[3 * i + 5], ARGV[i + 3]
  if redis.call('GET', lock) ~= ARGV[3] then
    out[i] = 'lost_lock'
  else
    if redis.call('HEXISTS', KEYS[5], id) == 1 then
      out[i] = 'kept'
    elseif redis.call('EXISTS', live) == 0 then
      out[i] = 'absent'
    else
      redis.call('DEL', live, KEYS[3 * i + 6])
      redis.call('ZREM', KEYS[1], id)
      redis.call('ZREM', KEYS[6], id)
      out[i] = 'deleted'
      written[#written + 1] = id
    end
    redis.call('DEL', lock)
  end
end
local waits = bump_many(KEYS[2], ARGV[1], 'o', written, KEYS[3], KEYS[4], ARGV[2])
return {out, waits}
""")


def drop_absent(*, track_ids: list[str], kept: str, lock_token: str, ack: str) -> tuple[list[str], list]:
    """Deletes those of these tracks whose id is not a field of the hash `kept` (see
    _DROP_ABSENT). Returns each track's outcome and the leases alive (Written)."""
    track_keys = []
    for track_id in track_ids:
        track_keys += [keys.track(track_id), keys.track_lock(track_id), keys.track_waveform(track_id)]
    outcomes, live_leases = _DROP_ABSENT(
        get_redis(), playlist=keys.playlist(), generation=keys.generation(), leases=keys.leases(),
        ack_pending=keys.ack_pending(ack), kept=kept, key_index=keys.track_key_index(), track_keys=track_keys,
        channel=keys.invalidation_channel(),
        ack=ack, lock_token=lock_token, track_ids=track_ids,
    )
    return outcomes, live_leases


# Sets the track's waveform copy (`data`; '' removes it) when the analysis the track names is
# still `analysis` (JSON, as the track hash keeps it): a copy for an analysis applied before
# another one never lands over the later one's.
_WAVEFORM_PUT = Script(
    keys=("track", "waveform"),
    args=("analysis_json", "analysis", "data"),
    source=r"""
if redis.call('HGET', KEYS[1], 'analysis') ~= ARGV[1] then return 0 end
if ARGV[3] == '' then redis.call('DEL', KEYS[2])
else redis.call('HSET', KEYS[2], 'analysis', ARGV[2], 'data', ARGV[3]) end
return 1
""")


def waveform_put(*, track_id: str, analysis_json: str, analysis: str, data: bytes) -> bool:
    """See _WAVEFORM_PUT: whether it landed."""
    return _WAVEFORM_PUT(get_redis(), track=keys.track(track_id), waveform=keys.track_waveform(track_id),
                         analysis_json=analysis_json, analysis=analysis, data=data) == 1
