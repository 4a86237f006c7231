"""The playlist store against the real Redis: order by gapped scores (no renumbering, windows
spread out when a gap is used up), fencing, all-or-nothing changes, the duration, and the
library's deletions reaching every playlist."""

import random

import pytest
from django.test import override_settings

from playlists import store
from quantumlive import keys
from quantumlive.redis_conn import get_redis
from tracks import store as library
from tracks.serializers import TrackCreateSerializer

pytestmark = pytest.mark.django_db


def make_tracks(count: int, *, duration: float | None = 60.0) -> list[str]:
    ids = []
    for index in range(count):
        values = dict(TrackCreateSerializer.DEFAULTS, title=f"t{index}", artist="a", duration=duration)
        ids.append(library.track_create(values=values)["id"])
    return ids


def new_playlist(**extra) -> dict:
    return store.playlist_create(owner_id=1, owner="dj", name="Friday", **extra)


def order_of(playlist_id: str) -> list[str]:
    """The track ids of the playlist, in order, by reading every page."""
    _, entries = store.entries_page(playlist_id=playlist_id, offset=0, limit=100_000)
    return [entry["track"]["id"] for entry in entries]


def entry_ids(playlist_id: str) -> list[str]:
    _, entries = store.entries_page(playlist_id=playlist_id, offset=0, limit=100_000)
    return [entry["entry"] for entry in entries]


def test_inserts_land_at_their_positions_and_repeats_make_new_entries():
    a, b, c = make_tracks(3)
    playlist = new_playlist()
    version, entries = store.entries_add(playlist_id=playlist["id"], track_ids=[a, b])
    assert version == 2 and [e["position"] for e in entries] == [0, 1]
    store.entries_add(playlist_id=playlist["id"], track_ids=[c, a], position=1)
    assert order_of(playlist["id"]) == [a, c, a, b]
    store.entries_add(playlist_id=playlist["id"], track_ids=[b], position=0)
    store.entries_add(playlist_id=playlist["id"], track_ids=[c], position=99)
    assert order_of(playlist["id"]) == [b, a, c, a, b, c]
    assert len(set(entry_ids(playlist["id"]))) == 6
    got = store.playlist_get(playlist_id=playlist["id"])
    assert got["tracks"] == 6 and got["version"] == 5 and got["duration"] == 360.0


def test_repeated_inserts_at_one_spot_keep_the_order_without_renumbering_everything():
    """Inserting again and again between the same two neighbours uses up the gap (a double
    halves ~40 times); the window around the spot is spread out, not the playlist."""
    tracks = make_tracks(3)
    playlist = new_playlist()
    store.entries_add(playlist_id=playlist["id"], track_ids=[tracks[0]] * 2000)
    expected = [tracks[0]] * 2000
    for _ in range(120):
        store.entries_add(playlist_id=playlist["id"], track_ids=[tracks[1]], position=1000)
        expected.insert(1000, tracks[1])
    assert order_of(playlist["id"]) == expected
    scores = [score for _, score in get_redis().zrange(keys.playlist_order(playlist["id"]), 0, -1,
                                                        withscores=True)]
    assert scores == sorted(scores) and len(set(scores)) == len(scores)
    # entries far from the spot kept the scores appending gave them
    assert scores[0] == 0 and scores[100] == 100 * 1024 and scores[-1] == 1999 * 1024


def test_random_operations_match_a_plain_list():
    rng = random.Random(7)
    tracks = make_tracks(5)
    playlist = new_playlist()
    model: list[str] = []  # entry ids
    track_of: dict[str, str] = {}
    for step in range(300):
        action = rng.random()
        if action < 0.45 or not model:
            chosen = [rng.choice(tracks) for _ in range(rng.randint(1, 5))]
            position = rng.randint(0, len(model) + 2)
            _, entries = store.entries_add(playlist_id=playlist["id"], track_ids=chosen, position=position)
            at = min(position, len(model))
            model[at:at] = [e["entry"] for e in entries]
            track_of.update({e["entry"]: e["track"]["id"] for e in entries})
        elif action < 0.75:
            start = rng.randrange(len(model))
            length = rng.randint(1, len(model) - start)
            before = rng.randint(0, len(model))
            store.entries_reorder(playlist_id=playlist["id"], range_start=start, range_length=length,
                                  insert_before=before)
            moved = model[start:start + length]
            if before < start or before > start + length:
                anchor = model[before] if before < len(model) else None
                rest = model[:start] + model[start + length:]
                at = rest.index(anchor) if anchor is not None else len(rest)
                model = rest[:at] + moved + rest[at:]
        else:
            gone = rng.sample(model, rng.randint(1, min(3, len(model))))
            store.entries_remove(playlist_id=playlist["id"], entry_ids=gone)
            model = [e for e in model if e not in gone]
        assert entry_ids(playlist["id"]) == model, f"step {step}"
    got = store.playlist_get(playlist_id=playlist["id"])
    assert got["tracks"] == len(model) and got["duration"] == 60.0 * len(model)


def test_reorder_follows_spotify_rules():
    tracks = make_tracks(5)
    playlist = new_playlist()
    store.entries_add(playlist_id=playlist["id"], track_ids=tracks)
    store.entries_reorder(playlist_id=playlist["id"], range_start=0, range_length=2, insert_before=5)
    assert order_of(playlist["id"]) == tracks[2:] + tracks[:2]
    store.entries_reorder(playlist_id=playlist["id"], range_start=3, range_length=2, insert_before=0)
    assert order_of(playlist["id"]) == tracks
    for start, length, before in ((5, 1, 0), (4, 2, 0), (0, 1, 6)):
        with pytest.raises(store.BadRange):
            store.entries_reorder(playlist_id=playlist["id"], range_start=start, range_length=length,
                                  insert_before=before)
    assert order_of(playlist["id"]) == tracks


def test_writes_are_fenced_by_version_and_all_or_nothing():
    a, b = make_tracks(2)
    playlist = new_playlist()
    version, entries = store.entries_add(playlist_id=playlist["id"], track_ids=[a, b])
    with pytest.raises(store.VersionMismatch) as failed:
        store.entries_add(playlist_id=playlist["id"], track_ids=[a], expected_version=version - 1)
    assert failed.value.current == version
    with pytest.raises(store.UnknownEntry):
        store.entries_remove(playlist_id=playlist["id"], entry_ids=[entries[0]["entry"], "nope"])
    with pytest.raises(store.UnknownTracks) as unknown:
        store.entries_add(playlist_id=playlist["id"], track_ids=[a, "00000000-0000-4000-8000-000000000000"])
    assert unknown.value.track_ids == ["00000000-0000-4000-8000-000000000000"]
    assert order_of(playlist["id"]) == [a, b]
    assert store.playlist_get(playlist_id=playlist["id"])["version"] == version
    assert get_redis().get(keys.playlist_lock(playlist["id"])) is None


@override_settings(QL_PLAYLIST_MAX_ENTRIES=3)
def test_a_playlist_holds_at_most_the_limit():
    a, = make_tracks(1)
    playlist = new_playlist()
    store.entries_add(playlist_id=playlist["id"], track_ids=[a, a])
    with pytest.raises(store.TooManyEntries):
        store.entries_add(playlist_id=playlist["id"], track_ids=[a, a])
    assert store.playlist_get(playlist_id=playlist["id"])["tracks"] == 2


def test_deleting_a_library_track_takes_its_entries_out_of_every_playlist():
    a, b = make_tracks(2)
    first, second = new_playlist(), new_playlist()
    store.entries_add(playlist_id=first["id"], track_ids=[a, b, a])
    store.entries_add(playlist_id=second["id"], track_ids=[b, a])
    before = store.playlist_get(playlist_id=first["id"])["version"]
    library.track_delete(track_id=a)
    assert order_of(first["id"]) == [b] and order_of(second["id"]) == [b]
    got = store.playlist_get(playlist_id=first["id"])
    assert got["version"] == before + 1 and got["tracks"] == 1 and got["duration"] == 60.0
    assert get_redis().hlen(keys.playlist_entries(first["id"])) == 1
    assert not get_redis().exists(keys.track_in_playlists(a))


def test_a_duration_set_later_is_counted_in_every_playlist():
    a, b = make_tracks(2, duration=None)
    playlist = new_playlist()
    store.entries_add(playlist_id=playlist["id"], track_ids=[a, a, b])
    assert store.playlist_get(playlist_id=playlist["id"])["duration"] == 0
    library.track_update(track_id=a, values={"duration": 100.5})
    library.track_update(track_id=b, values={"title": "renamed"})
    got = store.playlist_get(playlist_id=playlist["id"])
    assert got["duration"] == 201.0
    library.track_update(track_id=a, values={"duration": None})
    store.entries_remove(playlist_id=playlist["id"], entry_ids=entry_ids(playlist["id"])[:1])
    assert store.playlist_get(playlist_id=playlist["id"])["duration"] == 0


def test_an_entry_whose_track_vanished_without_its_cleanup_is_cleaned_on_read():
    """A deletion interrupted after the track went (a crash) leaves entries behind: the next
    read of the playlist takes them out."""
    a, b = make_tracks(2)
    playlist = new_playlist()
    store.entries_add(playlist_id=playlist["id"], track_ids=[a, b])
    get_redis().delete(keys.track(a))  # the track gone, its entries not yet
    library.track_summaries([a])  # (the cache learns of it by the library's own rule)
    from tracks.cache import reset_process_cache

    reset_process_cache()
    assert order_of(playlist["id"]) == [b]
    assert get_redis().hlen(keys.playlist_entries(playlist["id"])) == 1


def test_lists_show_own_and_public_playlists_oldest_first():
    mine = store.playlist_create(owner_id=1, owner="dj", name="Mine")
    theirs_public = store.playlist_create(owner_id=2, owner="mc", name="Open air", public=True)
    store.playlist_create(owner_id=2, owner="mc", name="Secret")
    count, page = store.playlist_list(viewer_id=1)
    assert count == 2 and [p["id"] for p in page] == [mine["id"], theirs_public["id"]]
    assert store.playlist_list(viewer_id=None)[0] == 1
    assert store.playlist_list(viewer_id=1, q="OPEN")[1][0]["id"] == theirs_public["id"]
    assert store.playlist_list(viewer_id=1, owner_id=2)[0] == 1
    store.playlist_update(playlist_id=theirs_public["id"], values={"public": False})
    assert store.playlist_list(viewer_id=None)[0] == 0
    store.playlist_delete(playlist_id=mine["id"])
    assert store.playlist_list(viewer_id=1)[0] == 0
    assert store.playlist_get(playlist_id=mine["id"]) is None


def test_a_track_deleted_while_it_is_being_added_leaves_no_entry_behind():
    """Adds race with the deletion of their track: each add either lands before it (and the
    deletion takes its entries out) or answers UnknownTracks with nothing left; the other
    track's entries of a refused add go too (all or nothing)."""
    import threading

    for _ in range(5):
        doomed, kept = make_tracks(2)
        playlists = [new_playlist() for _ in range(3)]
        outcomes = []
        start = threading.Barrier(7)

        def add(playlist_id):
            start.wait()
            for _ in range(10):
                try:
                    store.entries_add(playlist_id=playlist_id, track_ids=[kept, doomed])
                    outcomes.append("added")
                except store.UnknownTracks as exc:
                    assert exc.track_ids == [doomed]
                    outcomes.append("refused")

        def delete():
            start.wait()
            library.track_delete(track_id=doomed)

        threads = [threading.Thread(target=add, args=(p["id"],)) for p in playlists for _ in range(2)]
        threads.append(threading.Thread(target=delete))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(outcomes) == 60
        for playlist in playlists:
            order = order_of(playlist["id"])
            assert doomed not in order
            assert get_redis().hlen(keys.playlist_entries(playlist["id"])) == len(order)
            assert not get_redis().hexists(keys.playlist_tracks(playlist["id"]), doomed)
        added = outcomes.count("added")
        assert sum(order_of(p["id"]).count(kept) for p in playlists) == added
        got = [store.playlist_get(playlist_id=p["id"]) for p in playlists]
        assert sum(p["duration"] for p in got) == 60.0 * added


def test_a_list_leaves_out_and_repairs_what_an_index_says_wrongly():
    """A writer that died between a playlist's script and its index step leaves an index
    naming a private playlist as public, or one that is gone: lists leave it out and take it
    out of the index."""
    shown = store.playlist_create(owner_id=2, owner="mc", name="Shown", public=True)
    hidden = store.playlist_create(owner_id=2, owner="mc", name="Hidden", public=True)
    gone = store.playlist_create(owner_id=2, owner="mc", name="Gone", public=True)
    get_redis().hset(keys.playlist_meta(hidden["id"]), "public", "0")
    get_redis().delete(keys.playlist_meta(gone["id"]))
    count, page = store.playlist_list(viewer_id=None)
    assert [p["id"] for p in page] == [shown["id"]]
    assert get_redis().zrange(keys.playlists_public(), 0, -1) == [shown["id"]]
    assert store.playlist_list(viewer_id=None) == (1, page)
    assert store.playlist_list(viewer_id=2)[0] == 2  # the owner still sees the private one


def test_a_list_page_of_many_playlists_is_the_indexes_order_and_count():
    ids = [store.playlist_create(owner_id=1 + index % 3, owner="u", name=f"p{index}", public=index % 2 == 0)["id"]
           for index in range(30)]
    visible_to_1 = [pid for index, pid in enumerate(ids) if index % 2 == 0 or index % 3 == 0]
    count, page = store.playlist_list(viewer_id=1, offset=5, limit=7)
    assert count == len(visible_to_1) and [p["id"] for p in page] == visible_to_1[5:12]
    public_of_2 = [pid for index, pid in enumerate(ids) if index % 2 == 0 and index % 3 == 1]
    count, page = store.playlist_list(viewer_id=1, owner_id=2, offset=0, limit=50)
    assert count == len(public_of_2) and [p["id"] for p in page] == public_of_2
    for offset in range(0, 24):  # every window of the merge of one's own private ones and the public ones
        count, page = store.playlist_list(viewer_id=1, offset=offset, limit=3)
        assert count == len(visible_to_1) and [p["id"] for p in page] == visible_to_1[offset:offset + 3]
