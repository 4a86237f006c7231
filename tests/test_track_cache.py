"""The per-process cache: hits cost one round trip, and it never answers with data older than
a write that had answered, even when this process has not yet applied the invalidation."""

import time

import pytest

from quantumlive import keys
from quantumlive.redis_conn import get_redis
from tracks import store
from tracks.cache import process_cache
from tests.system.servers import wait_until

pytestmark = pytest.mark.django_db
VALUES = {"title": "t", "artist": "a", "bpm": None, "key": None, "duration": None, "genres": [],
          "sources": {}, "notes": None, "cues": []}


def ready_cache():
    cache = process_cache()
    wait_until(lambda: cache.healthy, timeout=5, what="subscriber ready")
    return cache


def test_a_second_read_is_served_from_the_cache(anon):
    ready_cache()
    track = store.track_create(values=VALUES)
    first = anon.get(f"/api/tracks/{track['id']}/")
    second = anon.get(f"/api/tracks/{track['id']}/")
    assert first["X-Track-Cache"] == "miss" and second["X-Track-Cache"] == "hit"
    assert first.content == second.content


def test_a_write_evicts_the_entry_in_this_process(anon, api):
    ready_cache()
    track = store.track_create(values=VALUES)
    anon.get(f"/api/tracks/{track['id']}/")
    api.patch(f"/api/tracks/{track['id']}/", {"bpm": 99}, format="json")
    answer = anon.get(f"/api/tracks/{track['id']}/")
    assert answer.json()["bpm"] == 99.0 and answer.json()["version"] == 2


def test_an_invalidation_not_yet_applied_makes_reads_go_to_redis():
    """Stop this process's subscriber (as if its messages were in flight), write from
    elsewhere: the cache must not answer, because its generation is behind."""
    cache = ready_cache()
    track = store.track_create(values=VALUES)
    wait_until(lambda: cache.seen_gen >= int(get_redis().get(keys.generation())), timeout=5, what="caught up")
    assert store.track_entry(track_id=track["id"])[2] == "miss"
    assert store.track_entry(track_id=track["id"])[2] == "hit"
    cache.stop()
    time.sleep(1.2)  # the subscriber has left its loop: nothing is applied any more
    # a write by "another worker": straight to Redis through the same Lua path
    store.track_update(track_id=track["id"], values={"notes": "new"})
    entry, _, source = store.track_entry(track_id=track["id"])
    assert source == "miss" and entry.summary["notes"] == "new" and entry.version == 2


def test_an_entry_read_before_an_applied_invalidation_is_not_stored():
    cache = ready_cache()
    track = store.track_create(values=VALUES)
    wait_until(lambda: cache.seen_gen >= int(get_redis().get(keys.generation())), timeout=5, what="caught up")
    stale_stamp = cache.seen_gen
    old_entry = store.track_entry(track_id=track["id"])[0]
    cache.entries.clear()
    store.track_update(track_id=track["id"], values={"notes": "new"})
    wait_until(lambda: cache.last_inval.get(track["id"], 0) > stale_stamp, timeout=5, what="invalidation")
    cache.put(track["id"], old_entry, epoch=cache.epoch, stamp=stale_stamp)  # the fill-after-evict race
    assert track["id"] not in cache.entries


def test_an_order_change_invalidates_cached_positions(anon, api):
    ready_cache()
    a = store.track_create(values=VALUES)
    b = store.track_create(values=VALUES)
    assert anon.get(f"/api/tracks/{b['id']}/").json()["position"] == 1
    anon.get("/api/tracks/")  # fills the order cache
    api.post(f"/api/tracks/{b['id']}/move/", {"position": 0}, format="json")
    assert anon.get(f"/api/tracks/{a['id']}/").json()["position"] == 1
    assert anon.get(f"/api/tracks/{b['id']}/").json()["position"] == 0


def test_a_lost_subscription_empties_the_cache_and_it_comes_back():
    cache = ready_cache()
    track = store.track_create(values=VALUES)
    store.track_entry(track_id=track["id"])
    wait_until(lambda: track["id"] in cache.entries, timeout=5, what="cached")
    get_redis().execute_command("CLIENT", "KILL", "ID", _subscriber_id())
    wait_until(lambda: track["id"] not in cache.entries, timeout=5, what="emptied")
    wait_until(lambda: cache.healthy, timeout=5, what="resubscribed")


def _subscriber_id() -> str:
    """This process's subscriber connection (named so), never another run's."""
    name = process_cache().name
    mine = [c["id"] for c in get_redis().client_list(_type="pubsub") if c.get("name") == name]
    assert len(mine) == 1, mine
    return mine[0]


def test_the_cache_switch_turns_it_off(settings, anon):
    settings.QL_TRACK_CACHE = False
    track = store.track_create(values=VALUES)
    assert anon.get(f"/api/tracks/{track['id']}/")["X-Track-Cache"] == "off"
    assert anon.get(f"/api/tracks/{track['id']}/")["X-Track-Cache"] == "off"


def test_lists_fill_summaries_that_a_full_read_then_completes(anon):
    cache = ready_cache()
    track = store.track_create(values={**VALUES, "cues": [{"name": "c", "start": 0, "end": 1, "waveform": [0.5]}]})
    assert anon.get("/api/tracks/").json()["results"][0]["cues"] == [{"name": "c", "start": 0.0, "end": 1.0}]
    wait_until(lambda: track["id"] in cache.entries, timeout=5, what="summary cached")
    assert cache.entries[track["id"]].cues_json is None
    full = anon.get(f"/api/tracks/{track['id']}/")
    assert full["X-Track-Cache"] == "miss" and full.json()["cues"][0]["waveform"] == [0.5]
    assert anon.get(f"/api/tracks/{track['id']}/")["X-Track-Cache"] == "hit"
    store.track_update(track_id=track["id"], values={"title": "renamed"})
    assert anon.get("/api/tracks/").json()["results"][0]["title"] == "renamed"
