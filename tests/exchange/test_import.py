"""API.md, "Export, import, and DJ tools": POST /api/imports/ with rekordbox XML and M3U/M3U8."""

import io
import time
import xml.etree.ElementTree as ET

import pytest
from django.test import override_settings

from tests.exchange.conftest import body_of, counts, make_playlist, make_track, upload

pytestmark = pytest.mark.django_db

REKORDBOX = """<?xml version="1.0" encoding="UTF-8"?>
<DJ_PLAYLISTS Version="1.0.0">
  <PRODUCT Name="rekordbox" Version="6.7.4" Company="AlphaTheta"/>
  <COLLECTION Entries="4">
    <TRACK TrackID="11" Name="Häppy Tüne #1" Artist="DJ A&amp;B" Genre="Deep House" TotalTime="301"
           AverageBpm="124.00" Tonality="Am"
           Location="file://localhost/Users/dj/Music/DJ%20A%26B/H%C3%A4ppy%20T%C3%BCne%20%231.mp3">
      <TEMPO Inizio="0.480" Bpm="124.00" Metro="4/4" Battito="1"/>
      <POSITION_MARK Name="intro" Type="0" Start="0.500" Num="-1"/>
      <POSITION_MARK Name="drop" Type="0" Start="62.250" Num="-1"/>
    </TRACK>
    <TRACK TrackID="12" Name="Night Drive" Artist="Kōji" Genre="" TotalTime="245" AverageBpm="122.46"
           Tonality="C" Location="file://localhost/Users/dj/Music/K%C5%8Dji/Night%20Drive.flac"/>
    <TRACK TrackID="13" Name="Elsewhere" Artist="Out" TotalTime="200" AverageBpm="120.00"
           Location="file://localhost/Volumes/USB/Elsewhere.mp3"/>
    <TRACK TrackID="14" Name="Too fast" Artist="Speed" TotalTime="200" AverageBpm="900.00"
           Location="file://localhost/Users/dj/Music/Speed/Too%20fast.mp3"/>
  </COLLECTION>
  <PLAYLISTS>
    <NODE Type="0" Name="ROOT" Count="2">
      <NODE Type="0" Name="Sets" Count="1">
        <NODE Name="Friday" Type="1" KeyType="0" Entries="4">
          <TRACK Key="12"/><TRACK Key="11"/><TRACK Key="12"/><TRACK Key="99"/>
        </NODE>
      </NODE>
      <NODE Name="Warm-up" Type="1" KeyType="1" Entries="1">
        <TRACK Key="file://localhost/Users/dj/Music/K%C5%8Dji/Night%20Drive.flac"/>
      </NODE>
    </NODE>
  </PLAYLISTS>
</DJ_PLAYLISTS>
"""


def _library(api) -> dict[str, dict]:
    return {track["title"]: track for track in api.get("/api/tracks/?limit=500").json()["results"]}


def _playlists(api) -> dict[str, dict]:
    return {playlist["name"]: playlist for playlist in api.get("/api/playlists/?owner=me&limit=100").json()["results"]}


def _entry_titles(api, playlist_id: str) -> list[str]:
    entries = api.get(f"/api/playlists/{playlist_id}/items/?limit=500").json()["results"]
    return [entry["track"]["title"] for entry in entries]


def test_rekordbox_xml_becomes_tracks_and_the_callers_playlists(api):
    response = upload(api, REKORDBOX, root="/Users/dj/Music")

    assert response.status_code == 200, response.content
    report = response.json()
    assert (report["tracks_created"], report["tracks_matched"]) == (2, 0)
    assert [(p["name"], p["entries"], p["status"]) for p in report["playlists"]] == \
        [("Sets / Friday", 3, "created"), ("Warm-up", 1, "created")]
    reasons = {item.get("track"): item["reason"] for item in report["skipped"]}
    assert set(reasons) == {"13", "14", "99"}
    assert "root" in reasons["13"] and "bpm" in reasons["14"] and "COLLECTION" in reasons["99"]
    tracks = _library(api)
    happy = tracks["Häppy Tüne #1"]
    assert (happy["artist"], happy["bpm"], happy["key"], happy["duration"], happy["genres"], happy["location"]) == \
        ("DJ A&B", 124.0, "A minor", 301.0, ["Deep House"], "DJ A&B/Häppy Tüne #1.mp3")
    cues = api.get(f"/api/tracks/{happy['id']}/").json()["cues"]
    assert [(c["name"], c["start"], c["end"]) for c in cues] == [("intro", 0.5, 62.25), ("drop", 62.25, 301.0)]
    assert tracks["Night Drive"]["key"] == "C major" and tracks["Night Drive"]["location"] == "Kōji/Night Drive.flac"
    playlists = _playlists(api)
    assert _entry_titles(api, playlists["Sets / Friday"]["id"]) == ["Night Drive", "Häppy Tüne #1", "Night Drive"]
    assert _entry_titles(api, playlists["Warm-up"]["id"]) == ["Night Drive"]


def test_importing_the_same_file_twice_changes_nothing(api):
    assert upload(api, REKORDBOX, root="/Users/dj/Music").status_code == 200
    tracks, playlists = _library(api), _playlists(api)

    second = upload(api, REKORDBOX, root="/Users/dj/Music").json()

    assert (second["tracks_created"], second["tracks_matched"]) == (0, 2)
    assert [p["status"] for p in second["playlists"]] == ["unchanged", "unchanged"]
    assert _library(api) == tracks
    assert _playlists(api) == playlists


def test_a_playlist_of_the_same_name_has_its_entries_replaced(api, other):
    old = make_track(api, title="Old one", artist="Someone")
    mine = make_playlist(api, "Warm-up", [old["id"], old["id"]])
    theirs = make_playlist(other, "Warm-up", [old["id"]])

    report = upload(api, REKORDBOX, root="/Users/dj/Music").json()

    assert {p["name"]: (p["id"], p["status"]) for p in report["playlists"]}["Warm-up"] == (mine["id"], "replaced")
    assert _entry_titles(api, mine["id"]) == ["Night Drive"]
    assert _entry_titles(other, theirs["id"]) == ["Old one"]  # another user's is not touched


def test_tracks_match_by_location_else_by_artist_title_and_duration(api):
    by_location = make_track(api, title="Other title", artist="Other", location="Kōji/Night Drive.flac")
    by_name = make_track(api, title="häppy tüne #1", artist="dj a&b", duration=300.0)
    make_track(api, title="Häppy Tüne #1", artist="DJ A&B", duration=297.0)  # 4 s off: not this one

    report = upload(api, REKORDBOX, root="/Users/dj/Music").json()

    assert (report["tracks_created"], report["tracks_matched"]) == (0, 2)
    playlist = _playlists(api)["Sets / Friday"]
    entries = api.get(f"/api/playlists/{playlist['id']}/items/").json()["results"]
    assert [entry["track"]["id"] for entry in entries] == [by_location["id"], by_name["id"], by_location["id"]]


def test_xml_import_then_export_gives_the_same_content(api):
    upload(api, REKORDBOX, root="/Users/dj/Music")
    playlist = _playlists(api)["Sets / Friday"]

    exported = body_of(api.get(f"/api/playlists/{playlist['id']}/export/?format=rekordbox&root=/Users/dj/Music"))

    def content(text: bytes, keep: set[str]) -> tuple:
        root = ET.fromstring(text)
        tracks = {}
        for track in root.find("COLLECTION"):
            if track.get("TrackID") not in keep:
                continue
            attributes = {name: track.get(name) for name in ("Name", "Artist", "Genre", "TotalTime", "AverageBpm",
                                                             "Tonality", "Location")}
            marks = [(mark.get("Name"), float(mark.get("Start"))) for mark in track.findall("POSITION_MARK")]
            tracks[track.get("TrackID")] = (tuple(sorted(attributes.items())), tuple(marks))
        node = next(node for node in root.iter("NODE") if node.get("Type") == "1")
        order = [tracks[key.get("Key")] for key in node.findall("TRACK") if key.get("Key") in tracks]
        return sorted(tracks.values()), order

    original = content(REKORDBOX.encode(), keep={"11", "12"})
    assert content(exported, keep={"1", "2"}) == original


def test_library_export_imported_by_another_user_matches_every_track(api, other):
    make_track(api, title="A", artist="X", duration=100, location="x/a.mp3")
    make_track(api, title="B", artist="X", location="x/b.mp3")
    make_track(api, title="C", artist="Y", sources={"youtube": "https://youtu.be/c"})
    before = counts()
    for kind in ("rekordbox", "m3u8"):
        exported = body_of(api.get(f"/api/tracks/export/?format={kind}&root=D:\\Music"))

        report = upload(other, exported, name=f"library.{kind}", root="d:/music").json()

        assert report["tracks_created"] == 0, report
        assert report["tracks_matched"] == 3
    assert counts()[0] == before[0]


M3U8 = """#EXTM3U
#EXTINF:301,DJ A&B - Häppy Tüne #1
/Users/dj/Music/DJ A&B/Häppy Tüne #1.mp3
#EXTINF:245,Kōji - Night Drive
file:///Users/dj/Music/K%C5%8Dji/Night%20Drive.flac
Relative/Artist - Plain #2.mp3
#EXTINF:-1,Web - Stream
https://example.com/stream.mp3
../escape.mp3
/Volumes/Other/x.mp3
"""


def test_m3u8_with_and_without_extinf_absolute_relative_and_url(api):
    report = upload(api, M3U8, name="My Set: Friday.m3u8", root="/Users/dj/Music").json()

    assert report["tracks_created"] == 4
    assert [(item["line"], "'..'" in item["reason"] or "root" in item["reason"]) for item in report["skipped"]] == \
        [(9, True), (10, True)]
    assert [(p["name"], p["entries"]) for p in report["playlists"]] == [("My Set: Friday", 4)]
    tracks = _library(api)
    assert tracks["Häppy Tüne #1"]["location"] == "DJ A&B/Häppy Tüne #1.mp3"
    assert tracks["Häppy Tüne #1"]["duration"] == 301
    assert tracks["Night Drive"]["location"] == "Kōji/Night Drive.flac"
    plain = tracks["Plain #2"]
    assert (plain["artist"], plain["location"], plain["duration"]) == ("Artist", "Relative/Artist - Plain #2.mp3", None)
    assert tracks["Stream"]["sources"] == {"url": "https://example.com/stream.mp3"}
    assert tracks["Stream"]["location"] is None
    playlist = _playlists(api)["My Set: Friday"]
    assert _entry_titles(api, playlist["id"]) == ["Häppy Tüne #1", "Night Drive", "Plain #2", "Stream"]
    assert upload(api, M3U8, name="My Set: Friday.m3u8", root="/Users/dj/Music").json()["tracks_created"] == 0


def test_windows_paths_and_file_urls_under_the_root(api):
    content = ("#EXTM3U\r\n#EXTINF:200,A - One\r\nC:\\Users\\DJ\\Music\\Folder\\One.mp3\r\n"
               "#EXTINF:200,A - Two\r\nfile://localhost/C:/Users/dj/Music/Folder/Two%20%232.mp3\r\n"
               "#EXTINF:200,A - Three\r\nFolder\\Sub\\Three.mp3\r\n"
               "#EXTINF:200,A - Four\r\nE:\\Elsewhere\\Four.mp3\r\n")

    report = upload(api, content, name="C:\\Users\\dj\\Desk top\\win list.m3u", root="C:\\Users\\dj\\Music").json()

    assert report["tracks_created"] == 3
    assert [item["line"] for item in report["skipped"]] == [9]
    tracks = _library(api)
    assert [tracks[title]["location"] for title in ("One", "Two", "Three")] == \
        ["Folder/One.mp3", "Folder/Two #2.mp3", "Folder/Sub/Three.mp3"]
    assert [p["name"] for p in report["playlists"]] == ["win list"]


def test_paths_under_the_servers_own_audio_root_need_no_root(api):
    from django.conf import settings

    root = settings.QL_AUDIO_ROOT.resolve()
    report = upload(api, f"#EXTM3U\n#EXTINF:10,A - B\n{root}/x/B.mp3\n", name="own.m3u8").json()

    assert report["tracks_created"] == 1 and report["skipped"] == []
    assert _library(api)["B"]["location"] == "x/B.mp3"


def test_the_playlist_name_of_an_m3u_is_made_safe(api):
    report = upload(api, "#EXTM3U\n#EXTINF:10,A - B\nx/B.mp3\n", name="  Süß\u2028set\u0085 .m3u8").json()

    assert [p["name"] for p in report["playlists"]] == ["Süßset"]  # (Django drops the separators)
    from exchange.parse import playlist_name

    assert playlist_name("C:\\lists\\  a\tb\u2028c\x00 .m3u") == "a b c"
    assert playlist_name("/x/y/" + "n" * 300 + ".m3u8") == "n" * 200
    assert playlist_name(" .m3u") == "Imported playlist"


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<DJ_PLAYLISTS Version="1.0.0"><COLLECTION><TRACK Name="&lol9;" Artist="a"/></COLLECTION></DJ_PLAYLISTS>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<DJ_PLAYLISTS Version="1.0.0"><COLLECTION><TRACK Name="&xxe;" Artist="a"/></COLLECTION></DJ_PLAYLISTS>
"""
DEEP = ('<?xml version="1.0"?><DJ_PLAYLISTS Version="1.0.0"><COLLECTION><TRACK Name="a" Artist="b" '
        'Location="x.mp3"/></COLLECTION><PLAYLISTS>' + "<NODE>" * 100_000 + "</NODE>" * 100_000 +
        "</PLAYLISTS></DJ_PLAYLISTS>")


@pytest.mark.parametrize("content", [BILLION_LAUGHS, EXTERNAL_ENTITY, DEEP, "<html><body>hi</body></html>",
                                     "<DJ_PLAYLISTS><COLLECTION>", "\x89PNG\r\n\x1a\n\x00\x00binary",
                                     "just some words\nand more words\n", ""],
                         ids=["billion-laughs", "external-entity", "100k-deep", "html", "truncated", "binary",
                              "prose", "empty"])
def test_hostile_or_foreign_files_are_400_fast_and_change_nothing(api, content):
    make_playlist(api, "Warm-up", [make_track(api)["id"]])
    before = counts()
    started = time.perf_counter()

    response = upload(api, content, name="evil.xml")

    assert time.perf_counter() - started < 1.5
    assert response.status_code == 400, response.content
    assert "file" in response.json()
    assert counts() == before


def test_import_needs_a_token(anon):
    assert upload(anon, REKORDBOX).status_code == 401
    assert anon.get("/api/imports/6f1c2d4e-8b7a-4c3d-9e2f-0a1b2c3d4e5f/").status_code == 401


def test_a_bad_root_or_no_file_is_400(api):
    assert upload(api, REKORDBOX, root="relative/folder").status_code == 400
    assert api.post("/api/imports/", {}, format="multipart").status_code == 400


@override_settings(QL_MAX_UPLOAD_MB=1)
def test_a_file_over_the_upload_limit_is_413_and_changes_nothing(api):
    before = counts()
    big = REKORDBOX.replace("<PLAYLISTS>", "<PLAYLISTS>" + "<!-- padding -->" * 80_000)

    response = upload(api, big)

    assert response.status_code == 413
    assert counts() == before


@override_settings(QL_IMPORT_MAX_TRACKS=1)
def test_a_file_with_more_tracks_than_allowed_is_400(api):
    response = upload(api, REKORDBOX, root="/Users/dj/Music")

    assert response.status_code == 400
    assert "QL_IMPORT_MAX_TRACKS" in response.json()["file"][0]
    assert counts() == (0, 0)


def test_an_m3u8_with_a_byte_order_mark_and_a_cp1252_m3u_are_read(api):
    with_bom = "\ufeff#EXTM3U\n#EXTINF:10,Bjørk - Jóga\nB/Jóga.mp3\n".encode()
    windows = "#EXTM3U\r\n#EXTINF:10,Café Del Mar - Séance\r\nC\\Séance.mp3\r\n".encode("cp1252")

    first = upload(api, with_bom, name="bom.m3u8").json()
    second = upload(api, windows, name="old.m3u").json()

    assert (first["tracks_created"], second["tracks_created"]) == (1, 1)
    tracks = _library(api)
    assert (tracks["Jóga"]["artist"], tracks["Jóga"]["location"]) == ("Bjørk", "B/Jóga.mp3")
    assert (tracks["Séance"]["artist"], tracks["Séance"]["location"]) == ("Café Del Mar", "C/Séance.mp3")


@override_settings(QL_LOCK_WAIT=0.1)
def test_a_playlist_locked_by_another_writer_is_skipped_not_a_500(api):
    from quantumlive import keys
    from quantumlive.redis_conn import get_redis

    old = make_track(api, title="Old one", artist="Someone")
    mine = make_playlist(api, "Warm-up", [old["id"]])
    get_redis().set(keys.playlist_lock(mine["id"]), "another-writer", px=30_000)

    response = upload(api, REKORDBOX, root="/Users/dj/Music")

    assert response.status_code == 200
    report = response.json()
    assert [p["name"] for p in report["playlists"]] == ["Sets / Friday"]
    assert {"playlist": "Warm-up", "reason": "The playlist stayed busy (other writers); import again."} in \
        report["skipped"]
    assert _entry_titles(api, mine["id"]) == ["Old one"]


def test_two_imports_of_one_file_at_once_create_each_track_once(api, user):
    """Two imports (two workers) both check the file before either writes: each finds the
    tracks missing, and both create them. The library must still hold each track once."""
    from exchange.parse import read
    from exchange.services import import_apply, import_check

    content = REKORDBOX.encode()
    first = import_check(read(io.BytesIO(content), file_name="a.xml"), root="/Users/dj/Music")
    second = import_check(read(io.BytesIO(content), file_name="a.xml"), root="/Users/dj/Music")

    one = import_apply(first, owner_id=user.pk, owner=user.username)
    two = import_apply(second, owner_id=user.pk, owner=user.username)

    assert (one["tracks_created"], one["tracks_matched"]) == (2, 0)
    assert (two["tracks_created"], two["tracks_matched"]) == (0, 2)
    assert sorted(_library(api)) == ["Häppy Tüne #1", "Night Drive"]
    friday = _playlists(api)["Sets / Friday"]
    assert _entry_titles(api, friday["id"]) == ["Night Drive", "Häppy Tüne #1", "Night Drive"]


def test_tracks_of_the_same_name_but_another_length_imported_at_once_stay_two(api, user):
    """Matching by name needs the durations within 2 s: a radio edit and an extended mix of
    one title, in two imports checked at once, are two tracks, each created once."""
    from exchange.parse import read
    from exchange.services import import_apply, import_check

    radio = "#EXTM3U\n#EXTINF:180,Same Artist - Same Title\nhttp://example.com/radio.mp3\n"
    extended = "#EXTM3U\n#EXTINF:420,Same Artist - Same Title\nhttp://example.com/extended.mp3\n"
    checked = [import_check(read(io.BytesIO(text.encode()), file_name="set.m3u8"), root=None)
               for text in (radio, extended, radio, extended)]

    reports = [import_apply(c, owner_id=user.pk, owner=user.username) for c in checked]

    assert [(r["tracks_created"], r["tracks_matched"]) for r in reports] == [(1, 0), (1, 0), (0, 1), (0, 1)]
    assert sorted(t["duration"] for t in api.get("/api/tracks/").json()["results"]) == [180.0, 420.0]
