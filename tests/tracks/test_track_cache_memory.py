"""The track cache's memory (issue 12, finding 6): what it holds, measured with tracemalloc,
is what it counts, and stays within QL_TRACK_CACHE_MB however large the tracks; the
bookkeeping of per-track invalidations stays bounded however many tracks are written, without
letting an entry read before a forgotten invalidation back in.

"Retained by the cache" is measured as what emptying it frees: traced memory with the cache
full, minus traced memory once its entries, order and bookkeeping are dropped (garbage
collected both times; the tests keep no reference to what the cache holds)."""

import contextlib
import gc
import tracemalloc

import pytest

from quantumlive import keys
from quantumlive.redis_conn import get_redis
from quantumlive.scripts import Script
from tests.system.servers import wait_until
from tracks import store
from tracks.cache import Loaded, Stamp, process_cache

# Each test fills a cache of thousands of tracks under tracemalloc: seconds each.
pytestmark = [pytest.mark.django_db, pytest.mark.slow]

MB = 2**20
# What the measurement itself may add (the subscriber's buffers, Django's and DRF's own
# per-request caches, allocator rounding): small and fixed, whatever the number of tracks.
SLACK = 256 * 1024


def maximal_values(number: int, *, waveform: int = 0, notes: str | None = None) -> dict:
    """A track with every field at its largest (API.md limits): 300-char title and artist,
    32 genres of 64, 16 sources of 2,048-char URLs, 10,000-char notes, 512 cues with 64-char
    names (`waveform` points each)."""
    return {
        "title": f"maximal {number:05d} ".ljust(300, "t"),
        "artist": f"artist {number:05d} ".ljust(300, "a"),
        "bpm": 174.0, "key": "A minor", "duration": 3599.5,
        "genres": [f"genre {n:02d} ".ljust(64, "g") for n in range(32)],
        "sources": {f"s{n:02d}".ljust(32, "x"): f"https://example.com/{number}/{n}/".ljust(2048, "u")
                    for n in range(16)},
        "notes": notes if notes is not None else f"notes {number} ".ljust(10000, "n"),
        "cues": [{"name": f"cue {n:03d} ".ljust(64, "c"), "start": n * 7.03125, "end": n * 7.03125 + 7.03125,
                  "waveform": [round((n * 7 + p) % 100 / 100, 2) for p in range(waveform)]}
                 for n in range(512)],
    }


def typical_values(number: int) -> dict:
    """An analysed track as a DJ library holds them: short fields, 16 cues with waveforms."""
    return {
        "title": f"Typical tune {number}", "artist": "Some Artist", "bpm": 128.0, "key": "F minor",
        "duration": 372.4, "genres": ["house", "deep house"],
        "sources": {"youtube": f"https://www.youtube.com/watch?v=abc{number:08d}"},
        "notes": "warm-up opener", "cues": [
            {"name": f"cue_{n}", "start": n * 23.25, "end": n * 23.25 + 23.25,
             "waveform": [round((n + p) % 50 / 50, 2) for p in range(100)]}
            for n in range(16)],
    }


def minimal_values(number: int) -> dict:
    return {"title": "t", "artist": "a", "bpm": None, "key": None, "duration": None, "genres": [],
            "sources": {}, "notes": None, "cues": []}


def analysed_values(number: int) -> dict:
    """A short track an analysis was applied to: its beat grid, mix points, loudness and id."""
    return {**minimal_values(number),
            "beatgrid": {"bpm": 124.5, "first_beat": 0.48, "first_downbeat": 2.42, "beats_per_bar": 4},
            "mix_in": 15.96, "mix_out": 280.1,
            "loudness": {"integrated_lufs": -8.9, "range_lu": 5.1, "true_peak_dbtp": -0.3, "replay_gain_db": -9.1},
            "analysis": f"366d0f1b-7f8d-4545-a96a-{number:012d}"}


def create_tracks(values, count: int) -> list[str]:
    return [store.track_create(values=values(n))["id"] for n in range(count)]


def caught_up_cache():
    """This process's cache, subscribed after the tracks were created (so it has applied
    every invalidation so far)."""
    cache = process_cache()
    target = int(get_redis().get(keys.generation()) or 0)
    wait_until(lambda: cache.status().subscribed and cache.status().applied_generation >= target,
               timeout=5, what="subscriber ready")
    return cache


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def retained_by(cache) -> int:
    """Memory that emptying the cache frees (tracemalloc must have been tracing while it filled)."""
    held = traced()
    cache.clear()
    assert cache.status().entries == 0 and cache.status().invalidation_stamps == 0
    return held - traced()


@contextlib.contextmanager
def tracing():
    """Traces allocations from here (the tracks are created before: tracing slows it ~5x)."""
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def list_all(client, q: str = "a") -> int:
    """GET /api/tracks/?q=… (every summary is read: list reads fill the cache)."""
    answer = client.get(f"/api/tracks/?q={q}&limit=1")
    assert answer.status_code == 200, answer.content[:200]
    return answer.json()["count"]


def read_each(client, track_ids: list[str]) -> None:
    for track_id in track_ids:
        answer = client.get(f"/api/tracks/{track_id}/")
        assert answer.status_code == 200


# --- the budget holds whatever the tracks ------------------------------------------------------
def test_maximal_tracks_listed_and_read_stay_within_a_small_budget(settings, anon):
    settings.QL_TRACK_CACHE_MB = 2
    track_ids = create_tracks(lambda n: maximal_values(n, waveform=32), 120)
    cache = caught_up_cache()
    with tracing():
        assert list_all(anon) == 120
        read_each(anon, track_ids[:30])  # full entries (~0.6 MB each), with their rendered bodies
        read_each(anon, track_ids[-10:])
        assert list_all(anon) == 120  # summaries (~0.25 MB each)
        counted, entries = cache.status().bytes, cache.status().entries
        retained = retained_by(cache)
    print(f"\n2 MB cache, 120 maximal tracks: {entries} entries, {retained / MB:.2f} MB retained")
    assert counted <= 2 * MB
    assert retained <= 2 * MB + SLACK, (retained / MB, entries)
    assert entries >= 4  # it still caches what fits


def test_a_full_track_larger_than_the_budget_is_not_cached_and_evicts_nothing(settings, anon):
    settings.QL_TRACK_CACHE_MB = 1
    small = create_tracks(typical_values, 3)
    huge = store.track_create(values=maximal_values(0, waveform=400))["id"]  # cues: ~1.5 MB of JSON
    cache = caught_up_cache()
    read_each(anon, small)
    read_each(anon, [huge])
    assert cache.status().entries == 3
    assert anon.get(f"/api/tracks/{huge}/")["X-Track-Cache"] == "miss"  # still served, from Redis
    assert all(anon.get(f"/api/tracks/{track_id}/")["X-Track-Cache"] in ("hit", "checked") for track_id in small)


# --- what an entry is counted for is what it costs ------------------------------------------
def astral_notes(number: int) -> dict:
    # one character outside the BMP makes Python store the whole string at 4 bytes a character
    return maximal_values(number, notes="\U0001f3a7" + "n" * 9999)


@pytest.mark.parametrize("values, count, fill", [
    (maximal_values, 40, "list"),
    (lambda n: maximal_values(n, waveform=64), 20, "read"),
    (typical_values, 400, "list"),
    (typical_values, 200, "read"),
    (astral_notes, 30, "list"),
    (minimal_values, 800, "list"),
    (minimal_values, 800, "read"),
    (analysed_values, 800, "list"),
    (analysed_values, 800, "read"),
], ids=["maximal-listed", "maximal-read", "typical-listed", "typical-read", "astral-notes-listed",
        "minimal-listed", "minimal-read", "analysed-listed", "analysed-read"])
def test_what_the_cache_counts_is_what_it_holds(anon, values, count, fill):
    track_ids = create_tracks(values, count)
    cache = caught_up_cache()
    with tracing():
        if fill == "list":
            assert list_all(anon) == count
        else:
            read_each(anon, track_ids)
        assert cache.status().entries == count
        counted = cache.status().bytes
        retained = retained_by(cache)
    print(f"\n{count} entries: retained {retained / count:,.0f} B an entry, counted {counted / count:,.0f} B "
          f"(retained/counted {retained / counted:.3f})")
    # never less than it holds (the budget is real), and not much more (the budget is used)
    assert retained <= counted * 1.05 + 16 * 1024, (retained, counted)
    assert counted <= retained * 1.25 + 16 * 1024, (retained, counted)


# --- per-track invalidation bookkeeping is bounded -----------------------------------------------
# Other processes' writes of `count` distinct tracks, as the write scripts announce them
# (INCR the generation, PUBLISH "<gen> t <id> -"; "-": nobody waits for acknowledgements).
_WRITES = Script(keys=("generation", "channel"), args=("first", "count"), source="""
for i = 1, tonumber(ARGV[2]) do
  local g = redis.call('INCR', KEYS[1])
  redis.call('PUBLISH', KEYS[2], g .. ' t ' .. string.format('00000000-0000-4000-8000-%012d', ARGV[1] + i) .. ' -')
end
return redis.call('GET', KEYS[1])
""")


def publish_writes(cache, count: int, *, first: int = 0) -> None:
    redis = get_redis()
    for start in range(first, first + count, 5000):
        gen = int(_WRITES(redis, generation=keys.generation(), channel=keys.invalidation_channel(), first=start,
                          count=min(5000, first + count - start)))
        wait_until(lambda: cache.status().applied_generation >= gen, timeout=10, what="invalidations applied")


def test_the_invalidation_bookkeeping_stays_bounded_after_many_writes(settings):
    settings.QL_TRACK_CACHE_MB = 2
    cache = caught_up_cache()
    with tracing():
        held = traced()
        publish_writes(cache, 50_000)
        assert cache.status().invalidation_stamps <= 5_000
        grown = traced() - held
    assert grown <= 2 * MB + SLACK, grown


def test_an_entry_read_before_a_forgotten_invalidation_is_still_not_stored(settings):
    """The fill-after-evict race of test_track_cache.py, with the track's invalidation long
    gone from the bookkeeping: the stale entry must not be stored all the same."""
    settings.QL_TRACK_CACHE_MB = 2
    values = typical_values(0)
    cache = caught_up_cache()
    track_id = store.track_create(values=values)["id"]
    cache = caught_up_cache()
    stale_stamp = Stamp(get_redis().get(keys.epoch()), cache.status().applied_generation)
    old_entry = store.track_entry(track_id=track_id).entry  # read at stale_stamp...
    store.track_update(track_id=track_id, values={"notes": "new"})  # ...then written and evicted
    publish_writes(cache, 50_000)
    # forgotten: the stamps kept are the latest writes' (far fewer than 50,000), not this one's
    assert cache.status().invalidation_stamps < 50_000
    late = cache.read(track_id, lambda track_id, with_entry: Loaded(stale_stamp, old_entry, 0))  # the late fill
    assert late.entry is old_entry and cache.status().entries == 0
    # reads fill the cache as before
    entry, _, source = store.track_entry(track_id=track_id)
    assert (source, entry.summary["notes"]) == ("miss", "new")
    assert cache.status().entries == 1
    assert store.track_entry(track_id=track_id).entry.version == 2


# --- a filtered list holds its page, not every summary it reads ---------------------------------
def list_peak(client, q: str) -> int:
    """Peak traced memory of one filtered list request (limit 1) above what was traced before."""
    with tracing():
        before = traced()
        tracemalloc.reset_peak()
        assert client.get(f"/api/tracks/?q={q}&limit=1").status_code == 200
        return tracemalloc.get_traced_memory()[1] - before


def notes_track(number: int) -> dict:
    """A track whose summary is mostly its 10,000-character notes (quick to write)."""
    return {**minimal_values(number), "title": f"noted {number}", "notes": f"{number} ".ljust(10000, "n")}


def test_a_filtered_list_reads_the_library_in_bounded_memory(settings, anon):
    """`?q=` reads every summary; a request must not hold them all at once (20,000 maximal
    tracks would be ~4.6 GB decoded). Its peak with 1,200 tracks is close to its peak with
    300 (one batch and the page), not 4 times it."""
    settings.QL_TRACK_CACHE_MB = 1  # the cache holds ~80 of them: it is not what is measured
    create_tracks(notes_track, 300)
    caught_up_cache()
    list_peak(anon, "noted")  # the process's first list (imports, caches) is not measured
    few = list_peak(anon, "noted")
    for number in range(300, 1200):
        store.track_create(values=notes_track(number))
    many = list_peak(anon, "noted")
    print(f"\nlist peak: 300 tracks {few / MB:.2f} MB, 1,200 tracks {many / MB:.2f} MB")
    assert many <= 1.5 * few, (few / MB, many / MB)
