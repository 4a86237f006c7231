"""The per-process cache: hits cost no round trip under a read lease (one without), and it
never answers with data older than a write that had answered, even when this process has not
yet applied the invalidation: writes wait for the leased caches' acknowledgements."""

import threading
import time

import pytest
from django.conf import settings

from quantumlive import keys
from quantumlive.redis_conn import REDIS_DOWN_ERRORS, get_redis, make_client
from tracks import store
from tracks.cache import Loaded, Stamp, process_cache, reset_process_cache
from tracks.cache import leases, subscriber
from tests.system.servers import wait_until

pytestmark = pytest.mark.django_db
VALUES = {"title": "t", "artist": "a", "bpm": None, "key": None, "duration": None, "genres": [],
          "sources": {}, "notes": None, "cues": []}


def ready_cache():
    cache = process_cache()
    wait_until(lambda: cache.status().subscribed, timeout=5, what="subscriber ready")
    return cache


def leased_cache():
    """This process's cache holding its lease: reads of the (cached) playlist order ask for it."""
    cache = ready_cache()
    wait_until(lambda: store.track_ids() is not None and cache.status().leased, timeout=5, what="lease granted")
    return cache


def generation() -> int:
    return int(get_redis().get(keys.generation()) or 0)


def caught_up(cache) -> None:
    """Waits until the cache has applied every invalidation so far."""
    target = generation()
    wait_until(lambda: cache.status().applied_generation >= target, timeout=5, what="caught up")


def lease_given_up(cache, session: str) -> bool:
    return not cache.status().leased and get_redis().zscore(keys.leases(), session) is None


def test_a_second_read_is_served_from_the_cache(anon):
    anon.get("/api/tracks/00000000-0000-4000-8000-000000000000/")  # the process's first request is slow
    leased_cache()
    track = store.track_create(values=VALUES)
    first = anon.get(f"/api/tracks/{track['id']}/")
    second = anon.get(f"/api/tracks/{track['id']}/")
    # "hit" under the lease; "checked" (memory after one generation check) when a loaded
    # machine let the lease lapse between the two reads: memory either way, never Redis
    assert first["X-Track-Cache"] == "miss" and second["X-Track-Cache"] in ("hit", "checked")
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
    cache = leased_cache()
    track = store.track_create(values=VALUES)
    caught_up(cache)
    assert store.track_entry(track_id=track["id"]).source == "miss"
    assert store.track_entry(track_id=track["id"]).source == "hit"
    cache.stop()
    cache.subscriber.join(5)  # the subscriber has left its loop: nothing is applied any more
    assert not cache.status().running
    # a write by "another worker": straight to Redis through the same Lua path
    store.track_update(track_id=track["id"], values={"notes": "new"})
    entry, _, source = store.track_entry(track_id=track["id"])
    assert source == "miss" and entry.summary["notes"] == "new" and entry.version == 2


def stale_load(stamp: Stamp, entry):
    """A load that answers what Redis held at `stamp`: the late fill of a read that began
    before an invalidation the cache has applied since (the fill-after-evict race)."""
    def load(track_id, *, with_entry):
        return Loaded(stamp, entry if with_entry else None, 0)
    return load


def test_an_entry_read_before_an_applied_invalidation_is_not_stored():
    cache = ready_cache()
    track = store.track_create(values=VALUES)
    caught_up(cache)
    stale_stamp = Stamp(get_redis().get(keys.epoch()), cache.status().applied_generation)
    old_entry = store.track_entry(track_id=track["id"]).entry
    store.track_update(track_id=track["id"], values={"notes": "new"})  # evicts it here
    caught_up(cache)
    assert cache.status().entries == 0
    found = cache.read(track["id"], stale_load(stale_stamp, old_entry))  # the late fill
    assert found.source == "miss" and found.entry is old_entry
    assert cache.status().entries == 0  # not kept
    fresh = store.track_entry(track_id=track["id"])
    assert (fresh.source, fresh.entry.summary["notes"]) == ("miss", "new")


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
    wait_until(lambda: cache.status().entries == 1, timeout=5, what="cached")
    first_session = cache.status().session
    get_redis().execute_command("CLIENT", "KILL", "ID", _subscriber_id())
    wait_until(lambda: cache.status().session not in (None, first_session) and cache.status().subscribed,
               timeout=5, what="resubscribed")
    assert cache.status().entries == 0  # emptied when the subscription dropped
    assert store.track_entry(track_id=track["id"]).source == "miss"


def test_a_subscription_connection_that_closes_is_not_silently_opened_again():
    """redis-py opens a closed Connection again on its next use, without SUBSCRIBE: the
    subscription must end (a new session, subscribed again), not go on deaf to every write."""
    cache = ready_cache()
    wait_until(lambda: cache.subscriber.subscription is not None, timeout=5, what="listening")
    session = cache.status().session
    cache.subscriber.subscription.connection.disconnect()  # as redis-py does after a socket error
    wait_until(lambda: cache.status().session not in (None, session) and cache.status().subscribed,
               timeout=5, what="subscribed again")
    named = [c for c in get_redis().client_list() if c.get("name") == cache.name]
    assert [c.get("sub") for c in named] == ["1"], named  # one connection: the subscribed one


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
    cache = leased_cache()
    track = store.track_create(values={**VALUES, "cues": [{"name": "c", "start": 0, "end": 1, "waveform": [0.5]}]})
    assert anon.get("/api/tracks/").json()["results"][0]["cues"] == [{"name": "c", "start": 0.0, "end": 1.0}]
    wait_until(lambda: cache.status().entries == 1, timeout=5, what="summary cached")
    # the summary is kept, without the waveforms: a full read loads the track
    full = anon.get(f"/api/tracks/{track['id']}/")
    assert full["X-Track-Cache"] == "miss" and full.json()["cues"][0]["waveform"] == [0.5]
    assert anon.get(f"/api/tracks/{track['id']}/")["X-Track-Cache"] == "hit"
    store.track_update(track_id=track["id"], values={"title": "renamed"})
    assert anon.get("/api/tracks/").json()["results"][0]["title"] == "renamed"


# --- read leases: reads without a round trip, writes that wait for them ------------------------
def grant_lease(session: str, ttl_ms: int, *, applied: int | None = None, epoch: str | None = None) -> int:
    """Asks for a lease as a subscriber named `session` would (the real script)."""
    redis = get_redis()
    if applied is None:
        applied = int(redis.get(keys.generation()) or 0)
    if epoch is None:
        epoch = redis.get(keys.epoch())
    try:
        return int(leases.lease_request(redis, session=session, applied_generation=applied,
                                        seconds=ttl_ms / 1000, epoch=epoch))
    except leases.DataSetChanged:
        return -1


def listen_for_invalidations():
    pubsub = make_client(settings.REDIS_URL).pubsub()
    pubsub.subscribe(keys.invalidation_channel())
    wait_until(lambda: (pubsub.get_message(timeout=0.1) or {}).get("type") == "subscribe", timeout=5,
               what="subscribed")
    return pubsub


def next_ack_token(pubsub) -> str:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        if message and message["type"] == "message":
            return message["data"].split(" ")[3]
    raise AssertionError("no invalidation published")


def write_in_thread(track_id: str) -> tuple[threading.Thread, dict]:
    outcome = {}

    def write():
        started = time.monotonic()
        outcome["track"] = store.track_update(track_id=track_id, values={"notes": "waited"})
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=write)
    thread.start()
    return thread, outcome


def test_a_read_under_the_lease_asks_redis_nothing(settings):
    leased_cache()
    track = store.track_create(values=VALUES)
    other = store.track_create(values=VALUES)
    assert store.track_entry(track_id=track["id"]).source == "miss"
    # From here on this process's request path has no Redis at all (nothing listens on port 1);
    # the subscriber keeps its own connection, so the lease stays.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    entry, position, source = store.track_entry(track_id=track["id"])
    assert (source, entry.version, position) == ("hit", 1, 0)
    with pytest.raises(REDIS_DOWN_ERRORS):
        store.track_entry(track_id=other["id"])  # not cached: this one needs Redis


def test_without_leases_a_cached_read_checks_the_generation(settings):
    settings.QL_TRACK_LEASE = 0
    cache = ready_cache()
    track = store.track_create(values=VALUES)
    # no lease: the write did not wait for this cache, so let it apply the invalidation first
    caught_up(cache)
    assert store.track_entry(track_id=track["id"]).source == "miss"
    assert store.track_entry(track_id=track["id"]).source == "checked"
    assert not cache.status().leased and get_redis().zcard(keys.leases()) == 0


def test_a_lease_is_granted_only_to_a_subscriber_that_has_applied_everything():
    leased_cache()
    store.track_create(values=VALUES)
    gen = int(get_redis().get(keys.generation()))
    assert grant_lease("behind", 5000, applied=gen - 1) == 0
    assert get_redis().zscore(keys.leases(), "behind") is None
    assert grant_lease("other-data-set", 5000, epoch="not-this-one") == -1
    assert grant_lease("caught-up", 5000, applied=gen) == 1
    assert get_redis().zscore(keys.leases(), "caught-up") is not None


def write_beside_a_lease(session: str, ttl_ms: int):
    """A write while `session` (no real cache) holds a lease: (thread, outcome, ack token)."""
    leased_cache()
    track = store.track_create(values=VALUES)
    pubsub = listen_for_invalidations()
    assert grant_lease(session, ttl_ms) == 1
    thread, outcome = write_in_thread(track["id"])
    return thread, outcome, next_ack_token(pubsub)


def test_a_write_answers_only_after_every_leased_cache_applied_it():
    thread, outcome, token = write_beside_a_lease("slow-worker", 20000)
    time.sleep(0.5)
    assert thread.is_alive(), "the write answered before the leased cache acknowledged it"
    # what that cache's subscriber does once it has applied the invalidation
    connection = get_redis().connection_pool.get_connection()
    try:
        leases.writes_acknowledge(connection, session="slow-worker", tokens={token})
        connection.read_response()
    finally:
        get_redis().connection_pool.release(connection)
    thread.join(timeout=10)
    assert not thread.is_alive() and outcome["track"]["notes"] == "waited"
    assert outcome["seconds"] < 10  # answered on the acknowledgement, not when the lease ran out


def test_a_write_waits_out_a_lease_that_never_acknowledges():
    leased_cache()
    track = store.track_create(values=VALUES)
    assert grant_lease("stalled-worker", 1500) == 1
    granted = time.monotonic()
    thread, outcome = write_in_thread(track["id"])
    thread.join(timeout=10)
    assert outcome["track"]["version"] == 2
    assert time.monotonic() - granted >= 1.4  # not before that cache's lease had run out
    assert store.track_get(track_id=track["id"])["notes"] == "waited"


def test_a_write_stops_waiting_for_a_lease_that_was_retired():
    leased_cache()
    track = store.track_create(values=VALUES)
    assert grant_lease("leaving-worker", 30000) == 1
    thread, outcome = write_in_thread(track["id"])
    time.sleep(0.3)
    assert thread.is_alive()
    get_redis().zrem(keys.leases(), "leaving-worker")  # what a stopping cache does (_retire)
    thread.join(timeout=10)
    assert not thread.is_alive() and outcome["seconds"] < 10


def test_a_stopped_subscriber_gives_up_its_lease_at_once():
    cache = leased_cache()
    session = cache.status().session
    assert get_redis().zscore(keys.leases(), session) is not None
    cache.stop()
    assert not cache.status().leased
    assert get_redis().zscore(keys.leases(), session) is None


def test_a_lost_invalidation_ends_the_lease_and_the_subscriber_starts_over():
    """A generation this process never hears about (its message lost): the lease is not
    renewed, reads stop trusting memory, and the subscriber reconnects from a new baseline."""
    cache = leased_cache()
    track = store.track_create(values=VALUES)
    store.track_entry(track_id=track["id"])
    first_session = cache.status().session
    get_redis().incr(keys.generation())  # a write whose invalidation never arrives
    wait_until(lambda: not cache.status().leased, timeout=5, what="lease ran out")
    assert store.track_entry(track_id=track["id"]).source == "miss"  # behind: Redis answers
    wait_until(lambda: store.track_ids() is not None and cache.status().session not in (None, first_session)
               and cache.status().leased, timeout=15, what="new subscription with a lease")


def test_a_lease_no_read_uses_is_given_up_and_a_read_gets_it_back():
    cache = leased_cache()
    session = cache.status().session
    # no reads from here: within a renewal interval or two the lease is given up, and
    # writers no longer wait for us
    wait_until(lambda: lease_given_up(cache, session), timeout=5, what="lease given up")
    track = store.track_create(values=VALUES)
    assert store.track_entry(track_id=track["id"]).source == "miss"
    wait_until(lambda: store.track_entry(track_id=track["id"]).source == "hit", timeout=5,
               what="reads under a lease again")


def test_a_writes_acknowledgement_set_outlives_the_leases_it_waits_for():
    """A lease longer than the keys' usual 10 s: the set must not vanish (and end the wait)
    while that lease can still answer reads."""
    thread, _, token = write_beside_a_lease("long-lease-worker", 30000)
    time.sleep(0.3)
    assert get_redis().pttl(keys.ack_pending(token)) > 30000
    get_redis().zrem(keys.leases(), "long-lease-worker")
    thread.join(timeout=10)
    assert not thread.is_alive()


# --- the cache's cost follows its reads ------------------------------------------------------
def test_a_write_with_no_lease_alive_asks_nobody_to_acknowledge():
    ready_cache()  # subscribed, but no read asked for a lease
    track = store.track_create(values=VALUES)
    pubsub = listen_for_invalidations()
    assert get_redis().zcard(keys.leases()) == 0
    store.track_update(track_id=track["id"], values={"notes": "x"})
    assert next_ack_token(pubsub) == "-"  # no cache is waited for: none needs to acknowledge
    assert grant_lease("some-worker", 300) == 1  # (never acknowledges: the write waits it out)
    store.track_update(track_id=track["id"], values={"notes": "y"})
    assert next_ack_token(pubsub) != "-"


def test_a_cache_no_read_uses_does_not_wake_for_every_write():
    cache = ready_cache()
    track = store.track_create(values=VALUES)
    assert store.track_entry(track_id=track["id"]).source == "miss"
    wait_until(lambda: store.track_entry(track_id=track["id"]).source == "hit", timeout=5, what="a lease")
    session = cache.status().session
    # no reads from here: the lease is given up, and the subscriber stops waking per message
    wait_until(lambda: lease_given_up(cache, session), timeout=5, what="lease given up")
    before = cache.status().wakeups
    for n in range(200):
        store.track_update(track_id=track["id"], values={"notes": str(n)})
    woken = cache.status().wakeups - before
    assert woken < 50, woken
    # the messages are applied in batches all the same (no read needed)
    target = generation()
    wait_until(lambda: cache.status().applied_generation >= target, timeout=2, what="batch applied")
    entry, _, source = store.track_entry(track_id=track["id"])
    assert entry.version == 201 and entry.summary["notes"] == "199"


def test_a_cache_read_less_often_than_written_holds_no_lease_and_stays_consistent():
    """Writes far outnumber this process's reads: holding a lease would make every write wait
    for it, so it holds none; its reads still see every acknowledged write."""
    cache = ready_cache()
    tracks = [store.track_create(values=VALUES) for _ in range(3)]
    unwritten = store.track_create(values=VALUES)["id"]
    stop = threading.Event()
    acknowledged = {track["id"]: 1 for track in tracks}

    def write():
        n = 0
        while not stop.is_set():
            track_id = tracks[n % 3]["id"]
            acknowledged[track_id] = store.track_update(track_id=track_id, values={"notes": str(n)})["version"]
            n += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(1.0)
        sources, leased = [], []
        wakeups, started = cache.status().wakeups, time.monotonic()
        for n in range(20):
            track_id = tracks[n % 3]["id"]
            floor = acknowledged[track_id]
            entry, _, source = store.track_entry(track_id=track_id)
            assert entry.version >= floor, (entry.version, floor)
            leased.append(get_redis().zscore(keys.leases(), cache.status().session) is not None)
            sources.append(store.track_entry(track_id=unwritten).source)
            time.sleep(0.05)
        # the subscriber wakes for its batches (every 0.1 s), not for every read or write
        wakeups, elapsed = cache.status().wakeups - wakeups, time.monotonic() - started
    finally:
        stop.set()
        writer.join(timeout=10)
    assert "hit" not in sources and sum(leased) <= 2, (sources, leased)
    # (a batch every 0.1 s of however long the 20 reads took on this machine, with room for
    # the reads that wake it to catch up; waking per write would be hundreds)
    assert wakeups <= 2 * elapsed / 0.1 + 5, (wakeups, elapsed)
    # the cache still answers for what the writes do not touch, after catching up on them (a
    # read that finds the subscriber draining reads Redis instead: a few on a loaded machine)
    assert sources.count("checked") >= 10, sources
    # the writes stop, the reads go on: the lease comes back
    wait_until(lambda: store.track_entry(track_id=tracks[0]["id"]).source == "hit", timeout=5,
               what="reads under a lease again")


def test_a_burst_of_writes_ends_a_lease_before_its_period_does(settings):
    settings.QL_TRACK_LEASE = 20  # renewal period 5 s
    cache = leased_cache()
    session = cache.status().session
    track = store.track_create(values=VALUES)
    started = time.monotonic()
    for n in range(200):
        store.track_update(track_id=track["id"], values={"notes": str(n)})
    wait_until(lambda: get_redis().zscore(keys.leases(), session) is None, timeout=10, what="lease given up")
    assert time.monotonic() - started < 4, time.monotonic() - started


def test_after_a_quiet_spell_a_read_gets_the_lease_at_once(settings):
    settings.QL_TRACK_LEASE = 20  # the subscriber's own decisions come every 5 s
    cache = ready_cache()
    track = store.track_create(values=VALUES)
    caught_up(cache)
    wait_until(lambda: cache.status().invalidations_this_period == 0, timeout=10, what="a period without writes")
    assert store.track_entry(track_id=track["id"]).source == "miss"
    # the next read asks, and does not wait for the period to end
    wait_until(lambda: store.track_entry(track_id=track["id"]).source == "hit", timeout=2, what="a lease")


def test_a_read_that_finds_the_subscription_closed_reads_redis_and_the_subscriber_comes_back():
    cache = ready_cache()
    track = store.track_create(values=VALUES)
    assert store.track_entry(track_id=track["id"]).source == "miss"
    first_session = cache.status().session
    redis = get_redis()
    subscription = [c for c in redis.client_list() if c["name"] == cache.name]
    assert len(subscription) == 1
    redis.client_kill_filter(_id=subscription[0]["id"])
    store.track_update(track_id=track["id"], values={"notes": "after the kill"})
    entry, _, source = store.track_entry(track_id=track["id"])
    assert (source, entry.summary["notes"]) == ("miss", "after the kill")
    wait_until(lambda: cache.status().subscribed and cache.status().session not in (None, first_session),
               timeout=10, what="subscribed again")
    assert store.track_entry(track_id=track["id"]).entry.summary["notes"] == "after the kill"


def test_a_cache_that_stops_does_not_take_its_lease_back(settings):
    """The subscriber may be renewing while stop() retires the lease; a lease granted after
    the retirement must not stay in Redis (writers would wait for it until it ran out)."""
    for _ in range(5):
        cache = leased_cache()
        session = cache.status().session
        for _ in range(20):
            store.track_ids()  # reads pending: the subscriber wants to renew
        cache.stop()
        cache.subscriber.join(5)  # a renewal in flight has come back
        assert not cache.status().running
        assert get_redis().zscore(keys.leases(), session) is None
        reset_process_cache()


def test_a_write_applied_by_a_read_while_the_lease_is_being_granted_is_acknowledged(monkeypatch):
    """The lease's reply is slow; a write lands meanwhile and waits for this cache, and a
    read applies its invalidation (catch_up) before the subscriber knows it holds the lease:
    the read must acknowledge it, or the write waits until the lease runs out."""
    cache = ready_cache()
    track = store.track_create(values=VALUES)
    caught_up(cache)
    store.track_ids()  # the order is cached: the next list read asks for the lease
    granted = threading.Event()
    real_lease_request = subscriber.lease_request

    def slow_lease(*args, **kwargs):
        reply = real_lease_request(*args, **kwargs)
        if reply and not granted.is_set():
            granted.set()
            time.sleep(1.0)
        return reply

    monkeypatch.setattr(subscriber, "lease_request", slow_lease)
    store.track_ids()  # after a quiet spell: the subscriber asks for the lease now
    assert granted.wait(5)
    thread, outcome = write_in_thread(track["id"])
    time.sleep(0.1)  # its invalidation waits in our socket
    store.track_list()  # no lease yet here: checks the generation, behind, applies the message
    thread.join(timeout=10)
    assert outcome["seconds"] < 1.0, outcome["seconds"]


# Another process's order changes, as fast as Redis takes them (INCR + PUBLISH, as the write
# scripts do; "-": nobody waits for acknowledgements).
_ORDER_CHANGES = r"""
import sys, time, redis
url, gen, channel, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
r = redis.Redis.from_url(url)
sha = r.script_load("local g = redis.call('INCR', KEYS[1]) redis.call('PUBLISH', KEYS[2], g .. ' o x -') return g")
end = time.monotonic() + seconds
while time.monotonic() < end:
    r.evalsha(sha, 2, gen, channel)
    time.sleep(0.0005)
"""


def test_reads_that_catch_up_while_the_subscriber_waits_leave_it_healthy():
    """Order changes send leased reads through the generation check, and so into catch_up,
    while the subscriber is waiting on the same socket: neither may break the other."""
    import subprocess
    import sys

    cache = leased_cache()
    track = store.track_create(values=VALUES)
    wait_until(lambda: store.track_entry(track_id=track["id"]).source == "hit", timeout=5, what="a lease")
    session = cache.status().session
    changes = subprocess.Popen([sys.executable, "-c", _ORDER_CHANGES, settings.REDIS_URL, keys.generation(),
                                keys.invalidation_channel(), "3"])
    try:
        while changes.poll() is None:
            entry, _, _ = store.track_entry(track_id=track["id"])
            assert entry.version == 1
            status = cache.status()
            assert status.session == session and status.subscribed
    finally:
        changes.kill()
        changes.wait()


def test_a_read_whose_catch_up_fails_ends_the_lease_at_once(monkeypatch):
    """A request thread's catch_up fails (its acknowledgement send times out, say): the cache
    stops trusting memory at once, not when the subscriber gets round to it (its renewal
    would then be refused locally and removed from Redis while memory was still trusted)."""
    import redis

    cache = leased_cache()
    track = store.track_create(values=VALUES)
    store.track_entry(track_id=track["id"])
    wait_until(lambda: store.track_entry(track_id=track["id"]).source == "hit", timeout=5, what="a lease")
    session = cache.status().session
    failures = []
    real_read_messages = subscriber.Subscription.read_messages

    def failing(self, limit=None):
        if threading.current_thread() is not cache.subscriber.thread:
            failures.append(1)
            raise redis.exceptions.TimeoutError("Timeout writing to socket")
        return real_read_messages(self, limit)

    monkeypatch.setattr(subscriber.Subscription, "read_messages", failing)
    # what a read that finds itself behind does; it skips the catch-up while the subscriber
    # holds the connection (a leased subscriber waits on it 0.1 s at a time), so wait longer
    # than that for it, and try until the failure happened
    monkeypatch.setattr(subscriber, "CATCH_UP_WAIT", 0.3)
    deadline = time.monotonic() + 20
    while not failures and time.monotonic() < deadline:
        cache.subscriber.catch_up(10**9)
    assert failures, "the catch-up never ran"
    assert not cache.status().leased  # at once
    monkeypatch.undo()
    store.track_update(track_id=track["id"], values={"notes": "new"})
    entry, _, source = store.track_entry(track_id=track["id"])
    assert (entry.version, source) == (2, "miss")
    wait_until(lambda: cache.status().session not in (None, session) and cache.status().subscribed,
               timeout=10, what="subscribed again")


def test_a_reset_cache_writes_nothing_after_it_returns(prefix_of_its_own):
    """reset_process_cache() waits for the subscriber to end: a subscriber still starting
    (connecting, then setting the epoch) wrote `{prefix}:epoch` after the test's cleanup had
    deleted its keys, and the key outlived the test run."""
    for _ in range(5):
        cache = process_cache()
        reset_process_cache()  # at once: the subscriber may still be connecting
        assert not cache.status().running
        get_redis().delete(keys.epoch())
        time.sleep(0.05)
        assert get_redis().exists(keys.epoch()) == 0
