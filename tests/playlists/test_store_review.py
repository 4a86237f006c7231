"""A review of the playlist store: the gapped scores under hostile insert patterns, reorder
edges, Lua limits (unpack of thousands of values), fencing and the public index under
interleaved writers, and random sequences of every change (entries, track durations, track
deletions) compared with a plain Python model, durations included."""

import random

import pytest
from django.test import override_settings

from playlists import lua, store
from quantumlive import keys
from quantumlive.redis_conn import get_redis
from tests.playlists.test_playlist_store import entry_ids, make_tracks, new_playlist
from tracks import store as library

pytestmark = pytest.mark.django_db


def scores_of(playlist_id: str) -> list[float]:
    return [score for _, score in get_redis().zrange(keys.playlist_order(playlist_id), 0, -1, withscores=True)]


def assert_scores_sound(playlist_id: str) -> None:
    scores = scores_of(playlist_id)
    assert all(a < b for a, b in zip(scores, scores[1:])), "scores strictly increasing"


def all_entries(playlist_id: str) -> list[dict]:
    found = []
    while True:
        _, page = store.entries_page(playlist_id=playlist_id, offset=len(found), limit=500)
        if not page:
            return found
        found += page


# --- scores ------------------------------------------------------------------------------
@pytest.mark.parametrize("pattern", ["front", "end", "middle", "alternate", "second", "before_last"])
def test_hostile_insert_patterns_keep_order_and_distinct_scores(pattern):
    a, b = make_tracks(2)
    playlist = new_playlist()
    pid = playlist["id"]
    model = [e["entry"] for e in store.entries_add(playlist_id=pid, track_ids=[a] * 3)[1]]
    for step in range(60):
        n = len(model)
        where = {"front": 0, "end": n, "middle": n // 2, "second": 1, "before_last": n - 1,
                 "alternate": 0 if step % 2 else n}[pattern]
        k = 1 if step % 3 else 7
        _, added = store.entries_add(playlist_id=pid, track_ids=[b] * k, position=where)
        model[where:where] = [e["entry"] for e in added]
        assert [e["position"] for e in added] == list(range(where, where + k))
    assert entry_ids(pid) == model
    assert_scores_sound(pid)


def test_five_hundred_at_a_time_into_one_gap_keeps_order():
    a, = make_tracks(1)
    playlist = new_playlist()
    pid = playlist["id"]
    model = [e["entry"] for e in store.entries_add(playlist_id=pid, track_ids=[a] * 500)[1]]
    rng = random.Random(3)
    for _ in range(20):
        where = rng.choice([1, 2, len(model) // 2, len(model) - 1])
        _, added = store.entries_add(playlist_id=pid, track_ids=[a] * 500, position=where)
        model[where:where] = [e["entry"] for e in added]
    assert entry_ids(pid) == model
    assert_scores_sound(pid)


# --- reorder -----------------------------------------------------------------------------
def spotify(model: list, start: int, length: int, before: int) -> list:
    moved = model[start:start + length]
    if start <= before <= start + length:
        return list(model)
    anchor = model[before] if before < len(model) else None
    rest = model[:start] + model[start + length:]
    at = rest.index(anchor) if anchor is not None else len(rest)
    return rest[:at] + moved + rest[at:]


def test_every_reorder_of_a_small_playlist_follows_spotify():
    tracks = make_tracks(5)
    playlist = new_playlist()
    pid = playlist["id"]
    store.entries_add(playlist_id=pid, track_ids=tracks)
    model = entry_ids(pid)
    n = len(model)
    for start in range(n):
        for length in range(1, n - start + 1):
            for before in range(n + 1):
                store.entries_reorder(playlist_id=pid, range_start=start, range_length=length, insert_before=before)
                model = spotify(model, start, length, before)
                assert entry_ids(pid) == model, (start, length, before)
    assert_scores_sound(pid)


@pytest.mark.parametrize("start, length, before", [(-1, 1, 0), (0, 0, 3), (0, -1, 3), (1, 1, -1), (0, 6, 0),
                                                    (2, 1, 6)])
def test_a_reorder_out_of_range_is_bad_range_and_changes_nothing(start, length, before):
    tracks = make_tracks(5)
    playlist = new_playlist()
    pid = playlist["id"]
    store.entries_add(playlist_id=pid, track_ids=tracks)
    model, version = entry_ids(pid), store.playlist_get(playlist_id=pid)["version"]
    with pytest.raises(store.BadRange):
        store.entries_reorder(playlist_id=pid, range_start=start, range_length=length, insert_before=before)
    assert entry_ids(pid) == model
    assert store.playlist_get(playlist_id=pid)["version"] == version
    assert get_redis().get(keys.playlist_lock(pid)) is None


def fill(pid: str, track: str, count: int) -> None:
    for start in range(0, count, 500):
        store.entries_add(playlist_id=pid, track_ids=[track] * min(500, count - start))


def test_a_reorder_of_ten_thousand_entries_moves_them_all():
    """Lua's unpack() stops at about 8,000 values: a range that long must still move."""
    a, b = make_tracks(2)
    playlist = new_playlist()
    pid = playlist["id"]
    store.entries_add(playlist_id=pid, track_ids=[b])
    fill(pid, a, 10_000)
    store.entries_reorder(playlist_id=pid, range_start=1, range_length=10_000, insert_before=0)
    ids = get_redis().zrange(keys.playlist_order(pid), 0, -1)
    assert len(ids) == 10_001 and get_redis().hget(keys.playlist_entries(pid), ids[-1]).startswith(b)
    assert get_redis().get(keys.playlist_lock(pid)) is None


def test_a_page_of_ten_thousand_entries_is_read_in_one_call():
    a, = make_tracks(1)
    playlist = new_playlist()
    pid = playlist["id"]
    fill(pid, a, 10_000)
    found, entries = store.entries_page(playlist_id=pid, offset=0, limit=10_000)
    assert found["tracks"] == 10_000 and len(entries) == 10_000


def test_removing_ten_thousand_entries_at_once():
    a, = make_tracks(1)
    playlist = new_playlist()
    pid = playlist["id"]
    fill(pid, a, 10_000)
    store.entries_remove(playlist_id=pid, entry_ids=get_redis().zrange(keys.playlist_order(pid), 0, -1))
    got = store.playlist_get(playlist_id=pid)
    assert got["tracks"] == 0 and got["duration"] == 0


def test_removing_an_entry_named_twice_removes_it_once():
    a, b = make_tracks(2, duration=10.0)
    playlist = new_playlist()
    pid = playlist["id"]
    _, added = store.entries_add(playlist_id=pid, track_ids=[a, b, a])
    store.entries_remove(playlist_id=pid, entry_ids=[added[0]["entry"], added[0]["entry"]])
    got = store.playlist_get(playlist_id=pid)
    assert got["tracks"] == 2 and got["duration"] == 20.0
    assert entry_ids(pid) == [added[1]["entry"], added[2]["entry"]]


# --- the public index --------------------------------------------------------------------
@override_settings(QL_LOCK_WAIT=0.05)
def test_a_playlist_made_public_is_listed_even_when_a_crossing_update_made_it_private(monkeypatch):
    """B makes the playlist private; after B's script and before B takes it out of the
    public index, A tries to make it public (and, if it was refused as busy, tries again
    after). Whatever the interleaving, the index must follow the playlist: public, listed."""
    playlist = new_playlist(public=True)
    pid = playlist["id"]
    real = lua.meta_update
    crossed = []

    def b_then_a(**arguments):
        written = real(**arguments)
        if not crossed:
            try:
                store.playlist_update(playlist_id=pid, values={"public": True})  # A, in between
                crossed.append("landed")
            except store.LockTimeout:
                crossed.append("busy")
        return written

    monkeypatch.setattr(lua, "meta_update", b_then_a)
    store.playlist_update(playlist_id=pid, values={"public": False})  # B
    if crossed == ["busy"]:
        store.playlist_update(playlist_id=pid, values={"public": True})  # A, again
    assert store.playlist_get(playlist_id=pid)["public"] is True
    assert [p["id"] for p in store.playlist_list(viewer_id=None)[1]] == [pid]


# --- the add's undo ----------------------------------------------------------------------
def test_an_add_refused_after_its_lock_expired_still_takes_all_its_entries_out(monkeypatch):
    """The insert landed, then its lock expired (a slow worker) and the track went: the add
    answers UnknownTracks, so none of its entries may stay (all or nothing)."""
    kept, doomed = make_tracks(2)
    playlist = new_playlist()
    pid = playlist["id"]
    real = lua.tracks_register

    calls = []

    def slow_register(**arguments):
        calls.append(True)
        if len(calls) == 2:  # the registration after the insert
            get_redis().delete(keys.playlist_lock(pid))  # the lock expired meanwhile
            library.track_delete(track_id=doomed)
        return real(**arguments)

    monkeypatch.setattr(lua, "tracks_register", slow_register)
    with pytest.raises(store.UnknownTracks):
        store.entries_add(playlist_id=pid, track_ids=[kept, doomed])
    got = store.playlist_get(playlist_id=pid)
    assert len(calls) >= 2 and entry_ids(pid) == [] and got["tracks"] == 0 and got["duration"] == 0


# --- random sequences against a model ----------------------------------------------------
def ms(seconds) -> int:
    return 0 if seconds is None else round(seconds * 1000)


DURATIONS = [None, 0.0, 0.0005, 1.5, 59.9995, 183.2345, 86400.0]


@pytest.mark.parametrize("seed", range(4))
def test_random_changes_match_a_model_with_durations(seed):
    rng = random.Random(seed)
    tracks = make_tracks(6, duration=60.0)
    duration = {t: 60.0 for t in tracks}
    playlists = [new_playlist(), new_playlist()]
    model: dict[str, list[tuple[str, str]]] = {p["id"]: [] for p in playlists}  # (entry, track)
    versions = {p["id"]: p["version"] for p in playlists}
    for step in range(250):
        pid = rng.choice(list(model))
        entries = model[pid]
        action = rng.random()
        changed = {pid}
        if action < 0.35 or not entries:
            if not tracks:
                tracks = make_tracks(2, duration=rng.choice(DURATIONS))
                duration.update({t: library.track_get(track_id=t)["duration"] for t in tracks})
            chosen = [rng.choice(tracks) for _ in range(rng.choice([1, 1, 2, 5, 40]))]
            position = rng.choice([0, len(entries), len(entries) + 3, rng.randint(0, len(entries))])
            _, added = store.entries_add(playlist_id=pid, track_ids=chosen,
                                         position=None if rng.random() < 0.1 else position)
            at = added[0]["position"]
            entries[at:at] = [(e["entry"], e["track"]["id"]) for e in added]
        elif action < 0.55:
            start = rng.randrange(len(entries))
            length = rng.randint(1, len(entries) - start)
            before = rng.choice([0, start, start + length, len(entries), rng.randint(0, len(entries))])
            store.entries_reorder(playlist_id=pid, range_start=start, range_length=length, insert_before=before)
            model[pid] = entries = spotify(entries, start, length, before)
        elif action < 0.7:
            gone = [rng.choice(entries)[0] for _ in range(rng.randint(1, 3))]  # repeats possible
            store.entries_remove(playlist_id=pid, entry_ids=gone)
            model[pid] = [e for e in entries if e[0] not in gone]
        elif action < 0.82:
            track = rng.choice(tracks)
            new = rng.choice(DURATIONS)
            if rng.random() < 0.5:
                library.track_update(track_id=track, values={"duration": new})
            else:
                library.track_apply(track_id=track, fill=lambda current: {"duration": new})
            if ms(new) != ms(duration[track]):  # None and 0 (or under half a ms) count alike
                changed = {p for p, es in model.items() if any(t == track for _, t in es)}
            else:
                changed = set()
            duration[track] = new
        elif action < 0.9:
            track = rng.choice(tracks)
            library.track_update(track_id=track, values={"title": f"renamed {step}"})
            changed = set()
        else:
            track = rng.choice(tracks)
            library.track_delete(track_id=track)
            tracks.remove(track)
            changed = {p for p, es in model.items() if any(t == track for _, t in es)}
            for p in model:
                model[p] = [e for e in model[p] if e[1] != track]
        for p, es in model.items():
            got = store.playlist_get(playlist_id=p)
            expected_ms = sum(ms(duration[t]) for _, t in es)
            assert got["tracks"] == len(es), f"step {step}"
            assert got["duration"] == round(expected_ms / 1000, 3), f"step {step}"
            if p in changed:
                assert got["version"] > versions[p], f"step {step}: a change bumps the version"
            versions[p] = got["version"]
        assert [(e["entry"], e["track"]["id"]) for e in all_entries(pid)] == model[pid], f"step {step}"
    for p in model:
        assert_bookkeeping_sound(p)
        records = get_redis().hgetall(keys.playlist_tracks(p))
        counts = {}
        for _, t in model[p]:
            counts[t] = counts.get(t, 0) + 1
        assert {t: int(r.split(" ")[2]) for t, r in records.items()} == counts


@pytest.mark.parametrize("offset, limit", [(10**17, 50), (2**63, 500), (10**30, 1), (0, 10**18), (5, 2**64)])
def test_a_page_far_past_the_end_or_very_long_is_read_not_a_redis_error(offset, limit):
    """Lua writes a number of 1e17 or more as '1e+17', which ZRANGE refuses: the API bounds
    offset only from below."""
    a, = make_tracks(1)
    playlist = new_playlist()
    store.entries_add(playlist_id=playlist["id"], track_ids=[a, a])
    found, entries = store.entries_page(playlist_id=playlist["id"], offset=offset, limit=limit)
    assert found["tracks"] == 2 and len(entries) == (2 if offset == 0 else 0)


def test_huge_positions_append_and_huge_ranges_are_bad_range():
    a, b = make_tracks(2)
    playlist = new_playlist()
    pid = playlist["id"]
    store.entries_add(playlist_id=pid, track_ids=[a])
    _, added = store.entries_add(playlist_id=pid, track_ids=[b], position=10**30)
    assert added[0]["position"] == 1
    for start, length, before in ((10**30, 1, 0), (0, 10**30, 0), (0, 1, 10**30), (2**63, 2**63, 2**63)):
        with pytest.raises(store.BadRange):
            store.entries_reorder(playlist_id=pid, range_start=start, range_length=length, insert_before=before)
    assert [e["track"]["id"] for e in all_entries(pid)] == [a, b]


def assert_bookkeeping_sound(pid: str) -> None:
    """The playlist's keys agree with each other and with the library: order and entries hold
    the same ids, each track's record counts its entries, duration_ms is the sum of the
    entries' current track durations."""
    redis = get_redis()
    order = redis.zrange(keys.playlist_order(pid), 0, -1)
    values = redis.hgetall(keys.playlist_entries(pid))
    assert sorted(order) == sorted(values)
    records = redis.hgetall(keys.playlist_tracks(pid))
    by_track: dict[str, list[str]] = {}
    for entry, value in values.items():
        by_track.setdefault(value.split(" ")[0], []).append(entry)
    assert set(records) == set(by_track)
    total = 0
    for track, record in records.items():
        version, duration, count, entries = record.split(" ")
        assert int(count) == len(by_track[track]) and sorted(entries.split(",")) == sorted(by_track[track])
        current = library.track_get(track_id=track)
        assert current is not None, "an entry of a track not in the library"
        assert int(version) <= current["version"]
        total += len(by_track[track]) * ms(current["duration"])
    assert int(redis.hget(keys.playlist_meta(pid), "duration_ms")) == total
    assert_scores_sound(pid)
    assert redis.get(keys.playlist_lock(pid)) is None


def test_concurrent_writers_keep_every_entry_and_the_duration_exact():
    import threading

    tracks = make_tracks(4, duration=30.0)
    playlist = new_playlist()
    pid = playlist["id"]
    added: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def adder(seed):
        rng = random.Random(seed)
        start.wait()
        for _ in range(15):
            try:
                _, entries = store.entries_add(playlist_id=pid, track_ids=[rng.choice(tracks)] * rng.randint(1, 4),
                                               position=rng.choice([0, 1, 5, None]))
                added.extend(e["entry"] for e in entries)
            except store.LockTimeout:
                pass
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    def mover(seed):
        rng = random.Random(seed)
        start.wait()
        for _ in range(15):
            count = store.playlist_get(playlist_id=pid)["tracks"]
            if count < 2:
                continue
            try:
                store.entries_reorder(playlist_id=pid, range_start=0, range_length=1,
                                      insert_before=rng.randint(0, count))
            except (store.LockTimeout, store.BadRange):
                pass
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    def retimer(seed):
        rng = random.Random(seed)
        start.wait()
        for _ in range(15):
            try:
                library.track_update(track_id=rng.choice(tracks), values={"duration": rng.choice(DURATIONS)})
            except store.LockTimeout:  # (a loaded machine)
                pass
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=adder, args=(i,)) for i in range(3)]
    threads += [threading.Thread(target=mover, args=(10,)), threading.Thread(target=retimer, args=(11,)),
                threading.Thread(target=retimer, args=(12,))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(entry_ids(pid)) == sorted(added)
    assert_bookkeeping_sound(pid)


def test_a_deleted_playlist_is_no_longer_named_by_its_tracks():
    """Else every later change of those tracks' durations (and their deletion) visits every
    playlist that ever held them."""
    a, b = make_tracks(2)
    kept, doomed = new_playlist(), new_playlist()
    store.entries_add(playlist_id=kept["id"], track_ids=[a])
    store.entries_add(playlist_id=doomed["id"], track_ids=[a, b, b])
    store.playlist_delete(playlist_id=doomed["id"])
    assert get_redis().smembers(keys.track_in_playlists(a)) == {kept["id"]}
    assert get_redis().smembers(keys.track_in_playlists(b)) == set()


def test_concurrent_adds_removes_and_track_deletions_leave_exactly_the_survivors():
    import threading

    tracks = make_tracks(6, duration=45.5)
    doomed = set(tracks[:3])
    playlists = [new_playlist()["id"] for _ in range(2)]
    added: dict[str, str] = {}  # entry -> track
    removed: set[str] = set()
    kept: set[str] = set()
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def adder(seed):
        rng = random.Random(seed)
        start.wait()
        for _ in range(12):
            pid = rng.choice(playlists)
            try:
                _, entries = store.entries_add(playlist_id=pid, track_ids=rng.sample(tracks, 3),
                                               position=rng.choice([0, 2, None]))
                added.update({e["entry"]: e["track"]["id"] for e in entries})
            except (store.LockTimeout, store.UnknownTracks):
                pass
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    def remover(seed):
        rng = random.Random(seed)
        start.wait()
        for _ in range(12):
            pid = rng.choice(playlists)
            _, page = store.entries_page(playlist_id=pid, offset=0, limit=5)
            if not page:
                continue
            entry = rng.choice(page)["entry"]
            try:
                store.entries_remove(playlist_id=pid, entry_ids=[entry])
                removed.add(entry)
            except (store.LockTimeout, store.UnknownEntry):
                pass
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    def deleter():
        start.wait()
        for track in sorted(doomed):
            try:
                library.track_delete(track_id=track)
            except store.LockTimeout:  # (a loaded machine): the track stays
                kept.add(track)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=adder, args=(i,)) for i in range(3)]
    threads += [threading.Thread(target=remover, args=(i,)) for i in (7, 8)] + [threading.Thread(target=deleter)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    doomed -= kept
    survivors = {e for e, t in added.items() if e not in removed and t not in doomed}
    found = set()
    for pid in playlists:
        assert_bookkeeping_sound(pid)
        found |= set(entry_ids(pid))
    assert found == survivors
    for track in doomed:
        assert not get_redis().exists(keys.track_in_playlists(track))


def test_an_add_cut_off_after_its_insert_still_follows_its_tracks(monkeypatch):
    """The worker dies (here: Redis goes away) after the insert and before anything else:
    DESIGN.md promises that a crash leaves only what a reader filters. Later changes of the
    track's duration must still reach the playlist, and its deletion must take the entries
    out, not leave them counted in `tracks` and `duration`."""
    a, b = make_tracks(2, duration=10.0)
    playlist = new_playlist()
    pid = playlist["id"]
    real_insert = lua.entries_insert

    def insert_then_die(**arguments):
        real_insert(**arguments)
        raise ConnectionError("the worker died here")

    monkeypatch.setattr(lua, "entries_insert", insert_then_die)
    with pytest.raises(ConnectionError):
        store.entries_add(playlist_id=pid, track_ids=[a, b])
    monkeypatch.undo()
    library.track_update(track_id=a, values={"duration": 20.0})
    assert store.playlist_get(playlist_id=pid)["duration"] == 30.0
    library.track_delete(track_id=b)
    got = store.playlist_get(playlist_id=pid)
    assert got["tracks"] == 1 and got["duration"] == 20.0


def test_a_restore_cut_off_after_its_write_still_follows_its_tracks(monkeypatch):
    """As an add: an import whose worker dies right after a playlist's write (before its
    tracks were registered the second time) leaves a playlist that later deletions and
    durations of its tracks still reach."""
    import uuid

    a, b = make_tracks(2, duration=10.0)
    pid = str(uuid.uuid4())
    record = {"id": pid, "name": "Restored", "description": "", "public": False, "owner": "dj", "owner_id": 1,
              "version": 4, "created": "2026-12-01T00:00:00.000Z", "updated": "2026-12-01T00:00:00.000Z"}
    entries = [(str(uuid.uuid4()), a, "2026-12-01T00:00:00.000Z"), (str(uuid.uuid4()), b, "2026-12-01T00:00:00.000Z")]
    real_restore = lua.playlist_restore

    def restore_then_die(**arguments):
        real_restore(**arguments)
        raise ConnectionError("the worker died here")

    monkeypatch.setattr(lua, "playlist_restore", restore_then_die)
    with pytest.raises(ConnectionError):
        store.playlist_restore(record=record, entries=entries, replace=False)
    monkeypatch.undo()
    assert store.playlist_get(playlist_id=pid)["duration"] == 20.0
    library.track_update(track_id=a, values={"duration": 20.0})
    assert store.playlist_get(playlist_id=pid)["duration"] == 30.0
    library.track_delete(track_id=b)
    got = store.playlist_get(playlist_id=pid)
    assert got["tracks"] == 1 and got["duration"] == 20.0
