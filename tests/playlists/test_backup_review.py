"""A hostile review of the playlists in export_library / import_library (README, "Backup and
restore"): the round trip, bounded reads of hostile files, the API's checks, the indexes."""

import io
import json
import threading

import pytest
from django.core.management import CommandError

from playlists import store
from quantumlive import keys
from quantumlive.redis_conn import get_redis
from tests.playlists.test_playlists_backup import entries_of, make_playlists, make_tracks, playlists_state
from tests.tracks.test_backup import export, other_prefix, run_import, scratch_keys, without_time
from tracks import backup

pytestmark = pytest.mark.django_db

SAME_TIME = "2026-12-01T20:00:00.000Z"


# --- the round trip ---------------------------------------------------------------------------
def test_the_round_trip_keeps_the_order_of_playlists_created_in_the_same_millisecond(tmp_path, user, settings):
    """Playlists are listed (and exported) in the order they were created; several made within
    one millisecond share their `created` time, and an import must not reorder them by id."""
    made = [store.playlist_create(owner_id=user.id, owner=user.username, name=f"p{i}", public=i % 2 == 0,
                                  created=SAME_TIME, updated=SAME_TIME)["id"] for i in range(20)]
    first, _ = export(tmp_path, "first.json")
    assert [record["id"] for record in first["playlists"]] == made
    with other_prefix(settings):
        run_import(tmp_path / "first.json")
        second, _ = export(tmp_path, "second.json")
        assert [record["id"] for record in second["playlists"]] == made
        assert without_time(second) == without_time(first)
        assert [p["id"] for p in store.playlist_list(viewer_id=user.id)[1]] == made
        assert [p["id"] for p in store.playlist_list(viewer_id=None)[1]] == made[::2]


def test_the_round_trip_keeps_names_of_any_script(tmp_path, user, settings):
    made = make_playlists(user)
    names = ["🎵 Nachtschicht — „Süß“ ☃", 'quote " back \\ slash', "line\u2028separator", "日本語のプレイリスト"]
    for name in names:
        store.playlist_create(owner_id=user.id, owner=user.username, name=name, description=name * 3)
    store.playlist_update(playlist_id=made["empty"], values={"name": names[0], "public": True})
    first, _ = export(tmp_path, "first.json")
    state = playlists_state()
    with other_prefix(settings):
        run_import(tmp_path / "first.json")
        assert playlists_state() == state
        second, _ = export(tmp_path, "second.json")
        assert without_time(second) == without_time(first)
        assert (tmp_path / "second.json").read_bytes().replace(second["exported"].encode(), b"") == \
            (tmp_path / "first.json").read_bytes().replace(first["exported"].encode(), b"")


# --- the API's checks -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["   ", "\t \n"])
def test_a_name_of_only_spaces_is_refused_as_the_api_refuses_it(tmp_path, user, name):
    made = make_playlists(user)
    good, _ = export(tmp_path)
    before = playlists_state()
    for record in good["playlists"]:
        if record["id"] == made["mix"]:
            record["name"] = name
    (tmp_path / "bad.json").write_text(json.dumps(good), encoding="utf-8")
    for args in ((), ("--replace",)):
        with pytest.raises(CommandError, match=r"playlists\[0\].*name.*nothing was changed"):
            run_import(tmp_path / "bad.json", *args)
        assert playlists_state() == before


def test_a_name_is_trimmed_as_the_api_trims_it(tmp_path, user, settings):
    made = make_playlists(user)
    good, _ = export(tmp_path)
    good["playlists"][0]["name"] = "  Friday  "
    (tmp_path / "spaced.json").write_text(json.dumps(good), encoding="utf-8")
    with other_prefix(settings):
        run_import(tmp_path / "spaced.json")
        assert store.playlist_get(playlist_id=made["mix"])["name"] == "Friday"


# --- bounded reads --------------------------------------------------------------------------------
class Endless(io.RawIOBase):
    """A file of `head`, then `unit` repeated forever (a file too large to hold): counts what
    was read."""

    def __init__(self, head: bytes, unit: bytes):
        self.head, self.unit, self.read_bytes = head, unit, 0
        self.buffer = b""

    def readable(self):
        return True

    def read(self, size=-1):
        size = 65536 if size is None or size < 0 else size
        while len(self.buffer) < size:
            if self.head:
                self.buffer, self.head = self.buffer + self.head, b""
            else:
                self.buffer += self.unit * (size // len(self.unit) + 1)
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        self.read_bytes += len(data)
        return data


def hostile_head(user_id: int) -> bytes:
    return (b'{"format":"quantumlive-library","version":1,"exported":"2026-12-07T00:00:00.000Z",'
            b'"tracks":[],"youtube":[],"analysis":[],"playlists":[{"id":"9b2f7c1e-4d3a-4e5b-8c6d-7e8f9a0b1c2d",'
            b'"owner":"dj","owner_id":%d,' % user_id)


@pytest.mark.parametrize("field, unit", [
    (b'"name":"', b"x" * 1024),  # a name of unbounded length
    (b'"description":"', "☃".encode() * 512),
    (b'"name":', b"[" * 1024),  # nested without end
    (b'"entries":[{"entry":"', b"0" * 1024),  # an entry id without end
    (b'"name":"x"', b" " * 1024),  # white space without end between fields
    (b'"entries":[', b" " * 1024),  # ... and between entries
])
def test_a_value_without_end_is_refused_after_a_bounded_read(user, field, unit):
    stream = Endless(hostile_head(user.id) + field, unit)
    before = playlists_state()
    with pytest.raises(backup.ImportRefused, match="nothing was changed"):
        backup.import_library(stream)
    assert stream.read_bytes < 2**20
    assert playlists_state() == before and scratch_keys() == []


def test_endless_entries_are_refused_past_the_limit(user, settings):
    settings.QL_PLAYLIST_MAX_ENTRIES = 20_000
    entry = b'{"entry":"%s","track":"6f1c2d4e-8b7a-4c3d-9e2f-0a1b2c3d4e5f","added":"2026-12-07T00:00:00.000Z"},'
    counter = iter(range(10**9))

    class Entries(Endless):
        def read(self, size=-1):  # each entry with an id of its own
            if not self.head and len(self.buffer) < 65536:
                self.buffer += b"".join(entry % b"%08x-0000-4000-8000-000000000000" % next(counter)
                                        for _ in range(1000))
            return super().read(size)

    stream = Entries(hostile_head(user.id) + b'"entries":[', b" ")
    with pytest.raises(backup.ImportRefused, match=r"more than QL_PLAYLIST_MAX_ENTRIES \(20000\)"):
        backup.import_library(stream)
    assert stream.read_bytes < 20_100 * len(entry % (b"0" * 36)) + 2**20
    assert scratch_keys() == []


# --- the indexes ---------------------------------------------------------------------------------
def test_an_import_that_finds_the_playlist_made_meanwhile_leaves_its_indexes_alone(tmp_path, user, monkeypatch,
                                                                                   django_user_model):
    """Without --replace a playlist made between the import's check and its write is left
    alone: so are the lists (the owner filter does not show another owner's playlist, the
    public list no private one, and its place is kept)."""
    made = make_playlists(user)
    document, _ = export(tmp_path)
    record = next(r for r in document["playlists"] if r["id"] == made["private"])
    record.update(owner=user.username, owner_id=user.id, public=True, created="2020-01-01T00:00:00.000Z")
    (tmp_path / "mine.json").write_text(json.dumps(document), encoding="utf-8")
    alice = made["alice"]
    score = get_redis().zscore(keys.playlists_all(), made["private"])
    monkeypatch.setattr(store, "playlist_exists", lambda playlist_id: None)  # as if made just after the check
    run_import(tmp_path / "mine.json")
    assert store.playlist_get(playlist_id=made["private"])["owner"] == "alice"
    assert made["private"] not in [p["id"] for p in store.playlist_list(viewer_id=user.id, owner_id=user.id)[1]]
    assert made["private"] not in get_redis().zrange(keys.playlists_of_owner(user.id), 0, -1)
    assert made["private"] not in get_redis().zrange(keys.playlists_public(), 0, -1)
    assert get_redis().zscore(keys.playlists_all(), made["private"]) == score
    assert [p["id"] for p in store.playlist_list(viewer_id=alice.id, owner_id=alice.id)[1]] == [made["private"]]


def test_imported_entries_leave_with_their_track_after_a_replace(tmp_path, user):
    """--replace over existing playlists registers every restored entry's track, so deleting
    the track afterwards takes the restored entries out."""
    made = make_playlists(user)
    export(tmp_path)
    a, b, c = made["tracks"]
    store.playlist_delete(playlist_id=made["mix"])
    get_redis().delete(keys.track_in_playlists(a))
    run_import(tmp_path / "backup.json", "--replace")
    assert made["mix"] in get_redis().smembers(keys.track_in_playlists(a))
    from tracks import store as library
    library.track_delete(track_id=a)
    assert [e["track"]["id"] for e in entries_of(made["mix"])] == [c, b]
    assert store.playlist_get(playlist_id=made["mix"])["duration"] == 120.0


# --- while the API writes ----------------------------------------------------------------------
def consistent(playlist_id: str) -> None:
    """The playlist's keys agree: entries, order, count, duration, each track's registration."""
    redis = get_redis()
    order = redis.zrange(keys.playlist_order(playlist_id), 0, -1)
    entries = redis.hgetall(keys.playlist_entries(playlist_id))
    assert sorted(order) == sorted(entries)
    playlist = store.playlist_get(playlist_id=playlist_id)
    assert playlist["tracks"] == len(order)
    tracks = [entries[e].split(" ")[0] for e in order]
    assert playlist["duration"] == 60.0 * len(tracks)
    for track_id in set(tracks):
        assert playlist_id in redis.smembers(keys.track_in_playlists(track_id))
    assert [e["position"] for e in entries_of(playlist_id)] == list(range(len(order)))


def test_an_import_while_entries_are_added_leaves_every_playlist_consistent(tmp_path, user):
    """Adds (as the API makes them) run while imports with and without --replace write the
    same playlists: each write lands whole, before or after the restore of its playlist."""
    made = make_playlists(user)
    more = make_tracks(2)  # in the file: --replace keeps them
    export(tmp_path)
    stop = threading.Event()
    added, errors = [], []

    def writer():
        while not stop.is_set():
            for playlist_id in (made["mix"], made["empty"]):
                try:
                    added.append(store.entries_add(playlist_id=playlist_id, track_ids=more)[0])
                except store.LockTimeout:
                    pass
                except Exception as exc:  # noqa: BLE001  (reported below)
                    errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(3):
            run_import(tmp_path / "backup.json", "--replace")
            run_import(tmp_path / "backup.json")
    finally:
        stop.set()
        thread.join()
    assert added and errors == []
    for playlist_id in (made["mix"], made["private"], made["empty"]):
        consistent(playlist_id)
