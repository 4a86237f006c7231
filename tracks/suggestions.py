"""Next-track suggestions (API.md, "Export, import, and DJ tools"): the tracks that mix well
after a given one, read from the harmonic index (`{p}:keyindex`, tracks/lua.py), not by a scan.

The index is one sorted set: every track with a key, scored `band * 1000 + bpm` (`band` the
Camelot code's; bpm 0 for a track without one, out of every BPM window). The track scripts of
tracks/lua.py keep it (create, update, delete, a restore's swap-in and its drop of absent
tracks), in the same atomic step as the track's hash. A query reads 5 codes x 3 BPM windows
(normal, half and double time) with ZRANGEBYSCORE in one MULTI/EXEC (a Lua script that scored
them in Redis cost 4x the plain commands there), scores the candidates from the index alone
(code and BPM), and reads the summaries (per-process cache) and positions (one pipeline of
ZRANK) of the `limit` best only. With `playlist`, the playlist's tracks hash (another slot: one
HMGET) keeps its own first.

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

import heapq
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
# Re-indexes these tracks from their hashes (keys: the hashes; args: their ids).
_REINDEX = Script(
    keys=("key_index", "tracks*"),
    args=("track_ids*",),
    source=lua._INDEX + """
for i = 2, #KEYS do index_track(KEYS[1], KEYS[i], ARGV[i - 1]) end
return #KEYS - 1
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


def _read_ranges(ranges: list[tuple[float, float]], *, scores: bool) -> list[list]:
    """Each range of scores of the index (its members, with their scores if `scores`), read at
    one moment (MULTI/EXEC of plain ZRANGEs: in this Redis, cheaper than a script that loops
    over them); builds the index first when it is missing at this version."""
    redis = get_redis()
    for _ in range(2):
        pipe = redis.pipeline(transaction=True)
        pipe.get(keys.track_key_index_version())
        for low, high in ranges:
            pipe.zrange(keys.track_key_index(), repr(low), repr(high), byscore=True, withscores=scores)
        version, *replies = pipe.execute()
        if version == INDEX_VERSION:
            return replies
        key_index_build()
    raise RuntimeError("the harmonic index could not be built")


def tracks_in_keys(codes) -> set[str]:
    """The ids of every track in one of these Camelot codes (one read of the index)."""
    ranges = [(lua.key_band(code) * _WIDTH, (lua.key_band(code) + 1) * _WIDTH - _SLACK) for code in codes]
    found = set()
    for members in _read_ranges(ranges, scores=False) if ranges else ():
        found.update(members)
    return found


def track_suggestions(*, track: dict, bpm_tolerance: float = DEFAULT_TOLERANCE, limit: int = DEFAULT_LIMIT,
                      among=None) -> list[Suggestion]:
    """The best `limit` suggestions after `track` (a summary), best first. `among(ids) ->
    set`: keeps only the candidates it returns (a playlist's tracks)."""
    if track["key"] is None:
        raise NotSuggestible("key")
    if track["bpm"] is None:
        raise NotSuggestible("BPM")
    bpm = float(track["bpm"])
    # Within a window the closest of b, 2b and b/2 is known (the windows never overlap): b in
    # the normal one, 2b in the half-time one, b/2 in the double-time one.
    windows = list(zip(_windows(bpm, bpm_tolerance), (1.0, 2.0, 0.5)))
    ranges, read = [], []
    for relation, code in related_codes(camelot(track["key"])):
        base = lua.key_band(code) * _WIDTH
        for (low, high), factor in windows:
            if low < _WIDTH:
                ranges.append((base + low, base + min(high, _WIDTH - _SLACK)))
                read.append((relation, base, factor))
    most = bpm_tolerance + 1e-9
    own = track["id"]
    found = []
    for (relation, base, factor), members in zip(read, _read_ranges(ranges, scores=True)):
        weight, rank = RELATIONS[relation]
        for track_id, value in members:
            delta = ((value - base) * factor - bpm) / bpm * 100
            if -most <= delta <= most and track_id != own:
                delta = round(delta, 2) + 0.0  # (no "-0.0")
                distance = abs(delta)
                found.append((weight * (distance / 50 - 1), distance, rank, track_id, relation, delta))
    if among is not None and found:
        kept = among([item[3] for item in found])
        found = [item for item in found if item[3] in kept]
    # the score is shown to 4 decimals (rounding keeps the order)
    return [Suggestion(item[3], item[4], item[5], round(-item[0], 4)) for item in heapq.nsmallest(limit, found)]


def suggestions_with_tracks(suggestions: list[Suggestion]) -> list[tuple[Suggestion, dict]]:
    """Each suggestion with its track's summary and position (a track deleted meanwhile is left
    out)."""
    ids = [item.track_id for item in suggestions]
    summaries = store.track_summaries(ids)
    positions = store.track_positions(ids)
    result = []
    for item in suggestions:
        summary = summaries.get(item.track_id)
        position = positions.get(item.track_id)
        if summary is None or position is None:
            continue
        result.append((item, {**summary, "position": position}))
    return result
