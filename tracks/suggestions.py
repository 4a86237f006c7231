"""Next-track suggestions (API.md, "Export, import, and DJ tools"): the tracks that mix well
after a given one, read from the harmonic index (`{p}:keyindex`, tracks/lua.py), not by a scan.

The index is one sorted set: every track with a key, scored `band * 1000 + bpm` (`band` the
Camelot code's; bpm 0 for a track without one, out of every BPM window). The track scripts of
tracks/lua.py keep it (create, update, delete, a restore's swap-in and its drop of absent
tracks), in the same atomic step as the track's hash. A query is one read-only script: 5 codes
x 3 BPM windows (normal, half and double time) read with ZRANGEBYSCORE, the candidates scored
from the index alone (code and BPM) and sorted there, the `limit` best answered with their
positions (no candidate list travels); then their summaries come from the per-process cache.
With `playlist` the script answers every candidate in order and the playlist's tracks hash
(another slot: one HMGET) keeps its own.

Relations, from the track's Camelot code `nL`: "same" (`nL`), "+1"/"-1" (`n±1`, same letter,
12 wraps to 1), "relative" (`n`, the other letter), "energy_boost" (`n+2`, same letter).

BPM: a candidate at `b` is compared to the track's `B` as `b`, `2b` (half time) and `b/2`
(double time); the closest of the three counts. `bpm_delta_pct` is that one's signed
difference, `(closest - B) / B * 100`, rounded to 2 decimals (positive: the candidate plays
faster); a candidate is in when its absolute value is at most `bpm_tolerance`.

Score (0-1, 4 decimals): `weight(relation) * (1 - |bpm_delta_pct| / 50)`, weights same 1.0,
±1 0.9, relative 0.8, energy boost 0.7: at equal BPM distance the relation decides (same >
±1 > relative > energy boost); a close BPM may outweigh a better relation (an 8A 5 % off
scores 0.9 like a 9A at the same BPM). Best first; ties: the smaller |bpm_delta_pct|, the
relation's rank, then the track id.

Existing data sets (tracks written before the index existed): the index carries a version
(`{p}:keyindex:version`). The query script answers "not built" while it is missing; then this
process builds it (every track re-indexed from its hash, in batches, each one script: a
concurrent write is never undone, and a second builder does the same work again, harmlessly)
and sets the version. A data set restored from a backup or seeded by the scripts is indexed
as it is written.
"""

from typing import NamedTuple

from quantumlive import keys
from quantumlive.musical_keys import camelot
from quantumlive.redis_conn import get_redis
from quantumlive.scripts import Script
from tracks import lua, store

#: The version of the index's build; a data set whose `keyindex:version` differs is built again.
INDEX_VERSION = "1"
#: Tracks re-indexed per script while the index is built.
BUILD_BATCH = 500

DEFAULT_TOLERANCE = 6.0
MAX_TOLERANCE = 20.0
DEFAULT_LIMIT = 20
MAX_LIMIT = 100

# relation -> (weight, rank); rank breaks ties and orders the OpenAPI enum
RELATIONS = {"same": (1.0, 0), "+1": (0.9, 1), "-1": (0.9, 2), "relative": (0.8, 3), "energy_boost": (0.7, 4)}

_WIDTH = lua.KEY_BAND_WIDTH
# windows are widened by this (relative) before the exact check, so float rounding at a bound
# never drops a track the check would keep
_SLACK = 1e-9


class NotSuggestible(Exception):
    """The track has no key or no BPM."""

    def __init__(self, missing: str):
        super().__init__(f"The track has no {missing}: suggestions need its key and its BPM.")


class Suggestion(NamedTuple):
    track_id: str
    relation: str
    bpm_delta_pct: float
    score: float
    position: int | None = None


def related_codes(code: str) -> list[tuple[str, str]]:
    """(relation, Camelot code) of every code that mixes with `code` ("8A")."""
    number, letter = int(code[:-1]), code[-1]
    other = "B" if letter == "A" else "A"

    def step(n: int) -> int:
        return (number - 1 + n) % 12 + 1

    return [("same", code), ("+1", f"{step(1)}{letter}"), ("-1", f"{step(-1)}{letter}"),
            ("relative", f"{number}{other}"), ("energy_boost", f"{step(2)}{letter}")]


def compatible_codes(code: str) -> list[str]:
    """The codes of the `compatible_with` filter: same, ±1 and the relative (no energy boost)."""
    return [related for relation, related in related_codes(code) if relation != "energy_boost"]


def _windows(bpm: float, tolerance: float) -> list[tuple[float, float]]:
    """The candidate BPM ranges: normal, half time (the candidate's double is near), double
    time (its half is near). With tolerance <= 20 % they never overlap."""
    low = bpm * (1 - tolerance / 100) * (1 - _SLACK)
    high = bpm * (1 + tolerance / 100) * (1 + _SLACK)
    return [(low, high), (low / 2, high / 2), (low * 2, high * 2)]


# --- Redis -----------------------------------------------------------------------------------
# Reads ranges of the index (ARGV: min, max, … as score bounds) at one moment; {0} while the
# index has not been built at this version.
_QUERY = Script(
    keys=("key_index", "index_version"),
    args=("version", "ranges*"),
    source="""#!lua flags=no-writes
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {0} end
local out = {1}
for i = 2, #ARGV, 2 do
  out[#out + 1] = redis.call('ZRANGE', KEYS[1], ARGV[i], ARGV[i + 1], 'BYSCORE', 'WITHSCORES')
end
return out
""")

# Re-indexes these tracks from their hashes (keys: the hashes; args: their ids).
_REINDEX = Script(
    keys=("key_index", "tracks*"),
    args=("track_ids*",),
    source=lua._INDEX + """
for i = 2, #KEYS do index_track(KEYS[1], KEYS[i], ARGV[i - 1]) end
return #KEYS - 1
""")


# A track's suggestions, scored and sorted in Redis (one read-only script: no candidate list
# travels). ARGV: the version, the track's bpm, the tolerance, its id, how many to answer (0:
# every candidate, without positions: a playlist keeps its own), then per range of the index:
# min, max, its band's base score, the BPM factor of its window (1, 2, 0.5), the relation's
# weight and rank. Sorted by score (from the delta rounded to 2 decimals), |delta|, rank, id.
# Answers {1, {id, rank, delta (text: Lua would truncate a number), position}, ...}, or {0}
# while the index is not built at this version.
_SUGGEST = Script(
    keys=("key_index", "index_version", "library"),
    args=("version", "bpm", "tolerance", "track_id", "limit", "ranges*"),
    source="""#!lua flags=no-writes
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {0} end
local bpm, most, own, limit = tonumber(ARGV[2]), tonumber(ARGV[3]) + 1e-9, ARGV[4], tonumber(ARGV[5])
local found = {}
for i = 6, #ARGV, 6 do
  local base, factor, weight, rank = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]),
    tonumber(ARGV[i + 5])
  local flat = redis.call('ZRANGE', KEYS[1], ARGV[i], ARGV[i + 1], 'BYSCORE', 'WITHSCORES')
  for j = 1, #flat, 2 do
    local delta = ((tonumber(flat[j + 1]) - base) * factor - bpm) / bpm * 100
    if delta >= -most and delta <= most and flat[j] ~= own then
      local text = string.format('%.2f', delta)
      local distance = math.abs(tonumber(text))
      found[#found + 1] = {weight * (distance / 50 - 1), distance, rank, flat[j], text}
    end
  end
end
table.sort(found, function(a, b)
  if a[1] ~= b[1] then return a[1] < b[1] end
  if a[2] ~= b[2] then return a[2] < b[2] end
  if a[3] ~= b[3] then return a[3] < b[3] end
  return a[4] < b[4]
end)
local n = #found
if limit > 0 and limit < n then n = limit end
local out = {1}
for i = 1, n do
  local item = found[i]
  local position = false
  if limit > 0 then position = redis.call('ZRANK', KEYS[3], item[4]) end
  out[#out + 1] = {item[4], item[3], item[5], position}
end
return out
""")


def key_index_build() -> int:
    """Indexes every track of the library from its hash (idempotent; writes landing meanwhile
    index themselves), then records the index's version. Returns how many tracks were read."""
    redis = get_redis()
    order = redis.zrange(keys.playlist(), 0, -1)
    for start in range(0, len(order), BUILD_BATCH):
        batch = order[start:start + BUILD_BATCH]
        _REINDEX(redis, key_index=keys.track_key_index(), tracks=[keys.track(track_id) for track_id in batch],
                 track_ids=batch)
    redis.set(keys.track_key_index_version(), INDEX_VERSION)
    return len(order)


def _read_ranges(ranges: list[tuple[float, float]]) -> list[list]:
    bounds = []
    for low, high in ranges:
        bounds += [repr(low), repr(high)]
    for _ in range(2):
        reply = _QUERY(get_redis(), key_index=keys.track_key_index(),
                       index_version=keys.track_key_index_version(), version=INDEX_VERSION, ranges=bounds)
        if reply[0] == 1:
            return reply[1:]
        key_index_build()
    raise RuntimeError("the harmonic index could not be built")


def tracks_in_keys(codes) -> set[str]:
    """The ids of every track in one of these Camelot codes (one read of the index)."""
    ranges = [(lua.key_band(code) * _WIDTH, (lua.key_band(code) + 1) * _WIDTH - _SLACK) for code in codes]
    found = set()
    for flat in _read_ranges(ranges) if ranges else ():
        found.update(flat[::2])
    return found


_RELATION_OF_RANK = {rank: name for name, (_, rank) in RELATIONS.items()}


def track_suggestions(*, track: dict, bpm_tolerance: float = DEFAULT_TOLERANCE, limit: int = DEFAULT_LIMIT,
                      among=None) -> list[Suggestion]:
    """The best `limit` suggestions after `track` (a summary), best first, each with its
    position in the library (None with `among`). `among(ids) -> set`: keeps only the
    candidates it returns (a playlist's tracks)."""
    if track["key"] is None:
        raise NotSuggestible("key")
    if track["bpm"] is None:
        raise NotSuggestible("BPM")
    bpm = float(track["bpm"])
    # Within a window the closest of b, 2b and b/2 is known (the windows never overlap): b in
    # the normal one, 2b in the half-time one, b/2 in the double-time one.
    windows = list(zip(_windows(bpm, bpm_tolerance), ("1", "2", "0.5")))
    ranges = []
    for relation, code in related_codes(camelot(track["key"])):
        weight, rank = RELATIONS[relation]
        base = lua.key_band(code) * _WIDTH
        for (low, high), factor in windows:
            if low < _WIDTH:
                ranges += [repr(base + low), repr(base + min(high, _WIDTH - _SLACK)), str(base), factor, repr(weight),
                           str(rank)]
    for _ in range(2):
        reply = _SUGGEST(get_redis(), key_index=keys.track_key_index(), index_version=keys.track_key_index_version(),
                         library=keys.playlist(), version=INDEX_VERSION, bpm=repr(bpm), tolerance=repr(bpm_tolerance),
                         track_id=track["id"], limit=0 if among is not None else limit, ranges=ranges)
        if reply[0] == 1:
            break
        key_index_build()
    else:
        raise RuntimeError("the harmonic index could not be built")
    found = reply[1:]
    if among is not None and found:
        kept = among([item[0] for item in found])
        found = [item for item in found if item[0] in kept][:limit]
    result = []
    for track_id, rank, delta, position in found:
        relation, delta = _RELATION_OF_RANK[rank], float(delta) + 0.0  # (no "-0.0")
        result.append(Suggestion(track_id, relation, delta, round(RELATIONS[relation][0] * (1 - abs(delta) / 50), 4),
                                 position))
    return result


def suggestions_with_tracks(suggestions: list[Suggestion]) -> list[tuple[Suggestion, dict]]:
    """Each suggestion with its track's summary and position (a track deleted meanwhile is left
    out)."""
    ids = [item.track_id for item in suggestions]
    summaries = store.track_summaries(ids)
    missing = [item.track_id for item in suggestions if item.position is None]
    positions = store.track_positions(missing) if missing else {}
    result = []
    for item in suggestions:
        summary = summaries.get(item.track_id)
        position = item.position if item.position is not None else positions.get(item.track_id)
        if summary is None or position is None:
            continue
        result.append((item, {**summary, "position": position}))
    return result
