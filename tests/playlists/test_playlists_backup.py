"""Playlists in manage.py export_library / import_library (API.md, "Backup and restore";
tracks/backup.py): each playlist one record read at one moment, validated strictly, written
under its lock with the library's indexes, and a round trip that gives the same document."""

import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from playlists import store
from quantumlive import keys
from quantumlive.redis_conn import get_redis
from tests.tracks.test_backup import export, other_prefix, run_import, scratch_keys, without_time
from tracks import backup
from tracks import store as library
from tracks.serializers import TrackCreateSerializer

pytestmark = pytest.mark.django_db

ENTRY_FIELDS = ["entry", "track", "added"]
PLAYLIST_FIELDS = ["id", "name", "description", "public", "owner", "owner_id", "version", "created", "updated",
                   "entries"]


def make_tracks(count: int, duration: float | None = 60.0) -> list[str]:
    return [library.track_create(values=dict(TrackCreateSerializer.DEFAULTS, title=f"t{i}", artist="a",
                                             duration=duration))["id"] for i in range(count)]


def make_playlists(user) -> dict:
    """A public playlist with repeats (reordered, one entry removed), a private one owned by
    another user, an empty one. Returns them by name with the track ids."""
    alice = get_user_model().objects.create_user("alice", password="pw-alice-123456")
    a, b, c = make_tracks(3)
    mix = store.playlist_create(owner_id=user.id, owner=user.username, name="Mix ☃", description="warm-up",
                                public=True)
    _, added = store.entries_add(playlist_id=mix["id"], track_ids=[a, b, a, c, b])
    store.entries_reorder(playlist_id=mix["id"], range_start=3, range_length=1, insert_before=0)
    store.entries_remove(playlist_id=mix["id"], entry_ids=[added[1]["entry"]])
    private = store.playlist_create(owner_id=alice.id, owner="alice", name="Secret")
    store.entries_add(playlist_id=private["id"], track_ids=[c, c])
    empty = store.playlist_create(owner_id=user.id, owner=user.username, name="Empty")
    return {"mix": mix["id"], "private": private["id"], "empty": empty["id"], "tracks": [a, b, c],
            "alice": alice}


def entries_of(playlist_id: str) -> list[dict]:
    _, entries = store.entries_page(playlist_id=playlist_id, offset=0, limit=100_000)
    return entries


def playlists_state() -> list:
    """Every playlist with its entries (ids, tracks, times), as the store reads them."""
    return [(store.playlist_get(playlist_id=playlist_id),
             [(e["entry"], e["track"]["id"], e["added"]) for e in entries_of(playlist_id)])
            for playlist_id in store.playlist_ids()]


def playlist_scratch_keys() -> list:
    return list(get_redis().scan_iter(match=keys.playlist_pattern_under("*") + ":backup:*"))


# --- export -----------------------------------------------------------------------------------
def test_export_writes_each_playlist_with_its_entries_in_order(tmp_path, user):
    made = make_playlists(user)
    document, output = export(tmp_path)
    records = {record["id"]: record for record in document["playlists"]}
    assert [r["id"] for r in document["playlists"]] == store.playlist_ids()
    assert set(records) == {made["mix"], made["private"], made["empty"]}
    for playlist_id, record in records.items():
        assert list(record) == PLAYLIST_FIELDS
        shown = store.playlist_get(playlist_id=playlist_id)
        assert {name: record[name] for name in PLAYLIST_FIELDS[:-1]} == {name: shown[name]
                                                                         for name in PLAYLIST_FIELDS[:-1]}
        assert record["entries"] == [{"entry": e["entry"], "track": e["track"]["id"], "added": e["added"]}
                                     for e in entries_of(playlist_id)]
    a, b, c = made["tracks"]
    assert [e["track"] for e in records[made["mix"]]["entries"]] == [c, a, a, b]
    assert records[made["private"]]["public"] is False and records[made["private"]]["owner"] == "alice"
    assert records[made["private"]]["owner_id"] == made["alice"].id
    assert records[made["empty"]]["entries"] == []
    assert "3 playlists with 6 entries" in output
    assert scratch_keys() == [] and playlist_scratch_keys() == []


def test_a_playlist_is_exported_as_it_was_at_one_moment(tmp_path, user, monkeypatch):
    """Entries read in pages: a write between two pages is not in the record, whose version
    is that of its entries."""
    tracks = make_tracks(2)
    playlist = store.playlist_create(owner_id=user.id, owner=user.username, name="Live")
    store.entries_add(playlist_id=playlist["id"], track_ids=tracks * 5)
    before = [e["entry"] for e in entries_of(playlist["id"])]
    version = store.playlist_get(playlist_id=playlist["id"])["version"]
    monkeypatch.setattr(backup, "ENTRY_PAGE", 3)
    read = store.backup_entries
    pages = []

    def write_between_pages(**kwargs):
        pages.append(kwargs["start"])
        if kwargs["start"] == 3:
            store.entries_add(playlist_id=playlist["id"], track_ids=[tracks[0]], position=0)
            store.entries_remove(playlist_id=playlist["id"], entry_ids=[before[-1]])
        return read(**kwargs)

    monkeypatch.setattr(store, "backup_entries", write_between_pages)
    document, _ = export(tmp_path)
    (record,) = document["playlists"]
    assert pages[:4] == [0, 3, 6, 9]
    assert record["version"] == version and [e["entry"] for e in record["entries"]] == before
    assert store.playlist_get(playlist_id=playlist["id"])["version"] == version + 2
    assert playlist_scratch_keys() == []


def test_entries_of_tracks_the_file_does_not_hold_are_left_out(tmp_path, user, monkeypatch):
    """A track created after the export's snapshot of the library and added to a playlist
    before the playlist is read: the entry is left out, so the file loads."""
    (kept,) = make_tracks(1)
    playlist = store.playlist_create(owner_id=user.id, owner=user.username, name="Live")
    store.entries_add(playlist_id=playlist["id"], track_ids=[kept])
    snapshot = store.backup_snapshot

    def add_a_new_track_first(**kwargs):
        (late,) = make_tracks(1)
        store.entries_add(playlist_id=kwargs["playlist_id"], track_ids=[late, kept])
        return snapshot(**kwargs)

    monkeypatch.setattr(store, "backup_snapshot", add_a_new_track_first)
    document, output = export(tmp_path)
    assert [e["track"] for e in document["playlists"][0]["entries"]] == [kept, kept]
    assert "(1 of tracks not in the backup left out)" in output
    monkeypatch.setattr(store, "backup_snapshot", snapshot)
    run_import(tmp_path / "backup.json", "--replace")  # loads


# --- round trip -------------------------------------------------------------------------------
def test_export_import_into_an_empty_prefix_export_gives_the_same_document(tmp_path, user, settings):
    made = make_playlists(user)
    first, _ = export(tmp_path, "first.json")
    state = playlists_state()
    with other_prefix(settings):
        assert store.playlist_ids() == []
        output = run_import(tmp_path / "first.json")
        assert "playlists 3 created, 0 replaced, 0 unchanged, 0 conflicts, 0 removed" in output
        second, _ = export(tmp_path, "second.json")
        assert without_time(second) == without_time(first)
        assert playlists_state() == state  # counts, durations, versions, times, entries
        assert store.playlist_get(playlist_id=made["mix"])["duration"] == 240.0
        assert scratch_keys() == [] and playlist_scratch_keys() == []


def test_a_playlist_longer_than_a_record_list_pages_through(tmp_path, user, settings, monkeypatch):
    """Entries are streamed both ways: a playlist longer than any list a record may hold
    (MAX_ITEMS) and than a page of the export round-trips."""
    monkeypatch.setattr(backup, "ENTRY_PAGE", 5000)
    monkeypatch.setattr(backup, "ENTRY_BATCH", 3000)
    tracks = make_tracks(7)
    playlist = store.playlist_create(owner_id=user.id, owner=user.username, name="Long")
    count = backup.MAX_ITEMS + 100
    for start in range(0, count, 500):
        chunk = [tracks[i % 7] for i in range(start, min(count, start + 500))]
        store.entries_add(playlist_id=playlist["id"], track_ids=chunk)
    first, _ = export(tmp_path, "first.json")
    assert len(first["playlists"][0]["entries"]) == count
    with other_prefix(settings):
        run_import(tmp_path / "first.json")
        second, _ = export(tmp_path, "second.json")
        assert without_time(second) == without_time(first)
        assert store.playlist_get(playlist_id=playlist["id"])["tracks"] == count


# --- the indexes after an import ----------------------------------------------------------------
def test_imported_playlists_are_listed_and_follow_the_library(tmp_path, user, settings):
    made = make_playlists(user)
    export(tmp_path)
    a, b, c = made["tracks"]
    with other_prefix(settings):
        run_import(tmp_path / "backup.json")
        assert not list(get_redis().scan_iter(match=keys.playlist_lock("*"), count=1000))  # all released
        assert [p["id"] for p in store.playlist_list(viewer_id=user.id)[1]] == [made["mix"], made["empty"]]
        assert [p["id"] for p in store.playlist_list(viewer_id=None)[1]] == [made["mix"]]
        assert [p["id"] for p in store.playlist_list(viewer_id=made["alice"].id)[1]] == [made["mix"],
                                                                                       made["private"]]
        assert store.playlist_list(viewer_id=user.id, q="mix")[0] == 1
        for track_id, holders in ((a, {made["mix"]}), (c, {made["mix"], made["private"]})):
            assert get_redis().smembers(keys.track_in_playlists(track_id)) == holders
        version = store.playlist_get(playlist_id=made["private"])["version"]
        library.track_delete(track_id=c)
        assert [e["track"]["id"] for e in entries_of(made["mix"])] == [a, a, b]
        assert entries_of(made["private"]) == []
        assert store.playlist_get(playlist_id=made["private"])["version"] == version + 1
        assert store.playlist_get(playlist_id=made["mix"])["duration"] == 180.0


def test_owners_are_the_local_users_of_their_usernames(tmp_path, user, settings):
    made = make_playlists(user)
    document, _ = export(tmp_path)
    for record in document["playlists"]:
        record["owner_id"] += 1000
    assert [r["id"] for r in document["playlists"]] == [made["mix"], made["private"], made["empty"]]
    document["playlists"][0]["owner"] = "nobody-here"
    document["playlists"][2].update(owner="ghost", owner_id=made["alice"].id)
    (tmp_path / "moved.json").write_text(json.dumps(document), encoding="utf-8")
    with other_prefix(settings):
        output = run_import(tmp_path / "moved.json")
        owners = {p["id"]: (p["owner"], p["owner_id"]) for p in map(
            lambda i: store.playlist_get(playlist_id=i), store.playlist_ids())}
        assert owners[made["private"]] == ("alice", made["alice"].id)
        assert owners[made["mix"]] == ("nobody-here", user.id + 1000)
        assert owners[made["empty"]] == ("ghost", made["alice"].id)
        assert "2 owned by usernames with no user here (owner id kept)" in output
        assert (f"owner: playlist {made['empty']} belongs to 'ghost' (user id {made['alice'].id} in the file); "
                f"there is no user 'ghost' here and id {made['alice'].id} is 'alice''s") in output
        assert "nobody-here" not in output.split("imported:")[0]
        assert store.playlist_list(viewer_id=made["alice"].id, owner_id=made["alice"].id)[0] == 2


# --- add and replace --------------------------------------------------------------------------
def test_without_replace_existing_playlists_are_left_alone_and_conflicts_reported(tmp_path, user):
    made = make_playlists(user)
    export(tmp_path)
    a, b, c = made["tracks"]
    store.entries_add(playlist_id=made["mix"], track_ids=[c])  # newer here: a conflict
    store.playlist_delete(playlist_id=made["empty"])  # gone here: created again
    here = store.playlist_get(playlist_id=made["mix"])
    mix_entries = entries_of(made["mix"])
    output = run_import(tmp_path / "backup.json")
    assert "playlists 1 created, 0 replaced, 1 unchanged, 1 conflicts, 0 removed" in output
    assert (f"conflict: playlist {made['mix']} is at version {here['version']} here, "
            f"{here['version'] - 1} in the file: left as it is") in output
    assert store.playlist_get(playlist_id=made["mix"]) == here and entries_of(made["mix"]) == mix_entries
    assert store.playlist_get(playlist_id=made["empty"])["tracks"] == 0
    assert made["empty"] in [p["id"] for p in store.playlist_list(viewer_id=user.id)[1]]


def test_with_replace_the_playlists_become_the_files(tmp_path, user):
    made = make_playlists(user)
    document, _ = export(tmp_path)
    state = playlists_state()
    a, b, c = made["tracks"]
    store.entries_add(playlist_id=made["mix"], track_ids=[c, c])
    store.playlist_update(playlist_id=made["mix"], values={"public": False, "name": "renamed"})
    extra = store.playlist_create(owner_id=user.id, owner=user.username, name="Not in the file")
    store.entries_add(playlist_id=extra["id"], track_ids=[a])
    store.playlist_delete(playlist_id=made["private"])
    output = run_import(tmp_path / "backup.json", "--replace")
    assert "playlists 1 created, 2 replaced, 0 unchanged, 0 conflicts, 1 removed" in output
    assert playlists_state() == state
    assert store.playlist_get(playlist_id=extra["id"]) is None
    assert [p["id"] for p in store.playlist_list(viewer_id=None)[1]] == [made["mix"]]
    assert extra["id"] not in get_redis().zrange(keys.playlists_of_owner(user.id), 0, -1)
    again, _ = export(tmp_path, "again.json")
    assert without_time(again) == without_time(document)


def test_a_replaced_playlist_of_another_owner_leaves_the_old_owners_index(tmp_path, user):
    made = make_playlists(user)
    document, _ = export(tmp_path)
    mine = next(r for r in document["playlists"] if r["id"] == made["mix"])
    mine.update(owner="alice", owner_id=made["alice"].id)
    (tmp_path / "given.json").write_text(json.dumps(document), encoding="utf-8")
    run_import(tmp_path / "given.json", "--replace")
    assert made["mix"] not in get_redis().zrange(keys.playlists_of_owner(user.id), 0, -1)
    assert store.playlist_list(viewer_id=made["alice"].id, owner_id=made["alice"].id)[0] == 2


def test_entries_may_name_library_tracks_without_replace_but_not_with_it(tmp_path, user):
    made = make_playlists(user)
    document, _ = export(tmp_path)
    a, b, c = made["tracks"]
    document["tracks"] = [t for t in document["tracks"] if t["id"] != c]
    store.playlist_delete(playlist_id=made["private"])
    (tmp_path / "part.json").write_text(json.dumps(document), encoding="utf-8")
    before = playlists_state()
    with pytest.raises(CommandError, match=f"entries name tracks that are not in the file .*{c}.*nothing was changed"):
        run_import(tmp_path / "part.json", "--replace")
    assert playlists_state() == before and library.track_get(track_id=c) is not None
    run_import(tmp_path / "part.json")
    assert [e["track"]["id"] for e in entries_of(made["private"])] == [c, c]


# --- malformed files --------------------------------------------------------------------------
def malformed(good: dict, settings) -> dict[str, str]:
    mix = next(r for r in good["playlists"] if r["entries"])
    rest = [r for r in good["playlists"] if r is not mix]
    entry = mix["entries"][0]

    def with_playlist(**changes):
        return json.dumps(dict(good, playlists=[dict(mix, **changes), *rest]))

    def with_entry(**changes):
        return with_playlist(entries=[dict(entry, **changes), *mix["entries"][1:]])

    missing_track = "0" * 8 + "-0000-4000-8000-" + "0" * 12
    return {
        "unknown field": with_playlist(colour="red"),
        "missing field": json.dumps(dict(good, playlists=[{k: v for k, v in mix.items() if k != "owner"}])),
        "missing entries": json.dumps(dict(good, playlists=[{k: v for k, v in mix.items() if k != "entries"}])),
        "not an object": json.dumps(dict(good, playlists=[[mix["id"]]])),
        "bad id": with_playlist(id="not-a-uuid"),
        "upper-case id": with_playlist(id=mix["id"].upper()),
        "empty name": with_playlist(name=""),
        "name too long": with_playlist(name="x" * 201),
        "name not a string": with_playlist(name=7),
        "description too long": with_playlist(description="x" * 2001),
        "public not a boolean": with_playlist(public="yes"),
        "owner_id a string": with_playlist(owner_id=str(mix["owner_id"])),
        "owner_id a boolean": with_playlist(owner_id=True),
        "owner empty": with_playlist(owner=""),
        "version zero": with_playlist(version=0),
        "version a float": with_playlist(version=2.5),
        "bad time": with_playlist(updated="yesterday"),
        "entries not a list": with_playlist(entries={"a": 1}),
        "entry unknown field": with_entry(position=0),
        "entry missing field": with_playlist(entries=[{"entry": entry["entry"], "track": entry["track"]}]),
        "entry bad id": with_entry(entry="x"),
        "entry bad time": with_entry(added="2026-13-01T00:00:00Z"),
        "entry id twice": with_playlist(entries=[entry, dict(entry)]),
        "entry of a missing track": with_entry(track=missing_track),
        "playlist id twice": json.dumps(dict(good, playlists=[mix, dict(mix)])),
        "field twice": json.dumps(dict(good, playlists=[mix])).replace('"name":', '"name": "x", "name":', 1),
        "too many entries": with_playlist(entries=[dict(entry, entry=f"{i:08d}-0000-4000-8000-000000000000")
                                                   for i in range(settings.QL_PLAYLIST_MAX_ENTRIES + 1)]),
        "truncated": json.dumps(dict(good, playlists=[mix]))[:-40],
    }


def test_malformed_playlist_records_change_nothing(tmp_path, user, settings):
    settings.QL_PLAYLIST_MAX_ENTRIES = 6
    made = make_playlists(user)
    good, _ = export(tmp_path, "good.json")
    # the playlists now differ from the file (an import would change them)
    store.entries_add(playlist_id=made["mix"], track_ids=made["tracks"][:1])
    store.playlist_delete(playlist_id=made["empty"])
    before = playlists_state()
    generation = get_redis().get(keys.generation())
    for case, text in malformed(good, settings).items():
        path = tmp_path / "bad.json"
        path.write_text(text, encoding="utf-8")
        for args in ((), ("--replace",)):
            with pytest.raises(CommandError, match="nothing was changed") as refused:
                run_import(path, *args)
            assert "playlists" in str(refused.value) or case == "truncated", (case, str(refused.value))
            assert playlists_state() == before, case
            assert get_redis().get(keys.generation()) == generation, case
            assert scratch_keys() == [], case


def test_the_refusal_names_the_playlist_and_the_problem(tmp_path, user):
    made = make_playlists(user)
    good, _ = export(tmp_path)
    index = next(i for i, r in enumerate(good["playlists"]) if r["id"] == made["mix"])
    good["playlists"][index]["entries"][2]["added"] = "soon"
    (tmp_path / "bad.json").write_text(json.dumps(good), encoding="utf-8")
    with pytest.raises(CommandError) as refused:
        run_import(tmp_path / "bad.json")
    message = str(refused.value)
    assert f"playlists[{index}] (id {made['mix']}): entries[2]: added:" in message


def test_a_backup_without_playlists_still_loads(tmp_path, user):
    """Files written before playlists were exported hold "playlists": []."""
    make_tracks(2)
    document, _ = export(tmp_path)
    assert document["playlists"] == []
    out = io.StringIO()
    call_command("import_library", str(tmp_path / "backup.json"), stdout=out)
    assert "playlists 0 created" in out.getvalue()


def test_replace_waits_for_a_playlists_lock_and_names_it_when_it_stays_held(tmp_path, user, settings):
    made = make_playlists(user)
    export(tmp_path)
    store.entries_add(playlist_id=made["private"], track_ids=made["tracks"][:1])
    settings.QL_LOCK_WAIT = 0.2
    get_redis().set(keys.playlist_lock(made["private"]), "a-stuck-writer", px=60_000)
    with pytest.raises(CommandError, match=f"playlist {made['private']} stayed locked by writers"):
        run_import(tmp_path / "backup.json", "--replace")
    assert store.playlist_get(playlist_id=made["private"])["tracks"] == 3  # the fence held
    get_redis().delete(keys.playlist_lock(made["private"]))
    run_import(tmp_path / "backup.json", "--replace")
    assert store.playlist_get(playlist_id=made["private"])["tracks"] == 2
