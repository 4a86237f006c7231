"""A worker's cache starts warm (tracks.store.track_cache_warm): it is filled in bulk, within
its budget, and an entry loaded in bulk is kept under the same rule as one loaded on a miss.
Track reads are one read-only script: they are answered while Redis refuses writes for memory."""

import time

import pytest

from quantumlive import keys
from quantumlive.redis_conn import get_redis
from tests.system.servers import wait_until
from tests.test_ops import fill_past_the_limit, small_redis  # noqa: F401 (a fixture)
from tests.tracks.test_track_cache_memory import typical_values
from tracks import store
from tracks.cache import Stamp, process_cache, reset_process_cache

pytestmark = pytest.mark.django_db
VALUES = {"title": "t", "artist": "a", "bpm": None, "key": None, "duration": None, "genres": [],
          "sources": {}, "notes": None, "cues": []}


def warmed_cache(count: int):
    store.track_cache_warm()
    cache = process_cache()
    wait_until(lambda: cache.status().subscribed and not cache.status().warming, timeout=20, what="warm")
    return cache


def test_a_warm_start_loads_the_library_before_any_read():
    tracks = [store.track_create(values={**VALUES, "title": f"t{n}"}) for n in range(250)]
    cache = warmed_cache(250)
    assert cache.status().entries == 250
    for position, track in enumerate(tracks[:40]):
        found = store.track_entry(track_id=track["id"])
        assert found.source in ("hit", "checked"), found.source  # memory, never Redis
        assert (found.position, found.entry.summary["title"]) == (position, track["title"])


def test_a_warm_start_waits_for_the_invalidations_in_flight(monkeypatch):
    """Invalidations published before the warm start's first read but not yet delivered (a
    loaded machine) would evict what it loads when they arrive: it applies them first."""
    import threading

    from tracks.cache import subscriber

    tracks = [store.track_create(values={**VALUES, "title": f"t{n}"}) for n in range(60)]
    cache = process_cache()
    target = int(get_redis().get(keys.generation()))
    wait_until(lambda: cache.status().subscribed and cache.status().applied_generation >= target,
               timeout=10, what="caught up")
    session = cache.status().session
    held = threading.Event()
    real_read_messages = subscriber.Subscription.read_messages

    real_caught_up = subscriber.Subscriber._caught_up

    def in_flight(self, limit=None):  # what Redis sent stays in the socket while held
        return [] if held.is_set() else real_read_messages(self, limit)

    def checked_before_the_writes(self, commands):  # (its last check, up to a second old)
        return True if held.is_set() else real_caught_up(self, commands)

    monkeypatch.setattr(subscriber.Subscription, "read_messages", in_flight)
    monkeypatch.setattr(subscriber.Subscriber, "_caught_up", checked_before_the_writes)
    held.set()
    for track in tracks[:10]:
        store.track_update(track_id=track["id"], values={"notes": "new"})
    store.track_cache_warm()
    time.sleep(0.5)  # (the subscriber starts over after 2 s without progress)
    held.clear()
    target = int(get_redis().get(keys.generation()))
    wait_until(lambda: not cache.status().warming and cache.status().applied_generation >= target,
               timeout=20, what="warm and caught up")
    status = cache.status()
    assert (status.session, status.entries) == (session, 60), status
    found = store.track_entry(track_id=tracks[0]["id"])
    assert (found.source, found.entry.summary["notes"]) in (("hit", "new"), ("checked", "new"))


def test_a_warm_start_stays_within_the_budget(settings):
    settings.QL_TRACK_CACHE_MB = 1
    for n in range(120):  # ~40 KB each as counted: far more than 1 MB
        store.track_create(values=typical_values(n))
    cache = warmed_cache(120)
    status = cache.status()
    assert 0 < status.entries < 120 and status.bytes <= status.budget


def test_a_bulk_loaded_entry_older_than_an_applied_invalidation_is_not_kept():
    """The fill-after-evict race, in bulk: a batch read before a write whose invalidation the
    cache has applied since must not be stored."""
    track = store.track_create(values=VALUES)
    cache = process_cache()
    wait_until(lambda: cache.status().subscribed, timeout=5, what="subscribed")
    epoch = get_redis().get(keys.epoch())
    stale = Stamp(epoch, cache.status().applied_generation)
    old_entry = store.track_entry(track_id=track["id"]).entry
    cache.clear()
    store.track_update(track_id=track["id"], values={"notes": "new"})
    target = int(get_redis().get(keys.generation()))
    wait_until(lambda: cache.status().applied_generation >= target, timeout=5, what="caught up")
    cache.warm(load_order=lambda client: (stale, [track["id"]]),
               load_batch=lambda client, ids: (stale, {track["id"]: old_entry}))
    wait_until(lambda: not cache.status().warming, timeout=5, what="warm")
    assert cache.status().entries == 0
    found = store.track_entry(track_id=track["id"])
    assert (found.source, found.entry.summary["notes"], found.entry.version) == ("miss", "new", 2)


def test_a_track_read_is_answered_while_redis_refuses_writes_for_memory(api, anon, small_redis, settings):  # noqa: F811
    import redis as redis_py

    created = api.post("/api/tracks/", {"title": "kept", "artist": "b"}, format="json").json()
    admin = redis_py.Redis(port=small_redis.port, decode_responses=True)
    admin.config_set("maxmemory", int(admin.info("memory")["used_memory"]) + 2 * 2**20)
    fill_past_the_limit(admin, settings.QL_REDIS_PREFIX)
    process_cache().clear()  # the read below goes to Redis
    read = api.get(f"/api/tracks/{created['id']}/")
    assert read.status_code == 200, read.content
    assert read.json()["title"] == "kept" and read["X-Track-Cache"] in ("miss", "off")
    settings.QL_TRACK_CACHE = False
    assert api.get(f"/api/tracks/{created['id']}/").status_code == 200
    assert api.get("/api/tracks/").json()["count"] == 1
    assert api.patch(f"/api/tracks/{created['id']}/", {"notes": "x"}, format="json").status_code == 503


def test_a_track_that_does_not_decode_ends_its_batch_not_the_cache():
    """A hash that does not decode fails its own reads, as it does without a warm start; the
    warm start leaves its batch out and goes on, and the subscriber keeps its session (it
    does not start over, and fail again on the same track, for ever)."""
    tracks = [store.track_create(values={**VALUES, "title": f"t{n}"}) for n in range(60)]
    broken = tracks[0]["id"]
    get_redis().hset(keys.track(broken), "notes", "not JSON")
    cache = process_cache()
    wait_until(lambda: cache.status().subscribed, timeout=5, what="subscribed")
    session = cache.status().session
    store.track_cache_warm()
    wait_until(lambda: not cache.status().warming, timeout=5, what="warm")
    status = cache.status()
    assert (status.session, status.subscribed) == (session, True)
    assert status.entries == 60 - 20  # every batch but the broken track's
    found = store.track_entry(track_id=tracks[-1]["id"])
    assert found.source in ("hit", "checked"), found.source
    with pytest.raises(ValueError):
        store.track_entry(track_id=broken)


def test_a_warm_start_with_redis_down_gives_up_in_seconds(settings, anon):
    """A worker that starts while Redis is down waits about 2 s, not its whole warm wait, and
    then answers 503 as without a cache."""
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    reset_process_cache()
    try:
        started = time.monotonic()
        assert store.track_cache_warm(wait=30) is False
        assert time.monotonic() - started < 5
        assert anon.get("/api/tracks/").status_code == 503
    finally:
        reset_process_cache()  # before REDIS_URL is the shared Redis again
