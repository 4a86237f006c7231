"""API.md, "Export, import, and DJ tools": GET /api/playlists/{id}/export/ and
GET /api/tracks/export/ as M3U8 and rekordbox XML."""

import tracemalloc
import xml.etree.ElementTree as ET

import pytest
from pyrekordbox.rbxml import RekordboxXml

from exchange import export
from tests.exchange.conftest import body_of, make_playlist, make_track

pytestmark = pytest.mark.django_db

ROOT = "/Users/dj/Music"


def _tracks(api) -> list[dict]:
    return [
        make_track(api, title="Häppy Tüne #1", artist="DJ A&B", bpm=124, key="Am", duration=301.4,
                   location="DJ A&B/Häppy Tüne #1.mp3", genres=["Deep House", "House"],
                   cues=[{"name": "intro", "start": 0.5, "end": 16.0},
                         {"name": "drop <1>", "start": 62.25, "end": 90}]),
        make_track(api, title="Night Drive", artist="Kōji", bpm=122.456, key="8B", duration=245,
                   location="Kōji/Night Drive.flac"),
        make_track(api, title="F sharp", artist="Sharp", bpm=128, key="F# minor", duration=200,
                   location="Sharp/F sharp.wav", cues=[{"start": 3.0, "end": 4.0}]),
    ]


def _parsed(tmp_path, content: bytes) -> RekordboxXml:
    path = tmp_path / "export.xml"
    path.write_bytes(content)
    return RekordboxXml(path)


def test_playlist_as_rekordbox_xml_reads_back_with_pyrekordbox(api, tmp_path):
    first, second, third = _tracks(api)
    playlist = make_playlist(api, "Friday / peak", [second["id"], first["id"], third["id"], first["id"]])

    response = api.get(f"/api/playlists/{playlist['id']}/export/?format=rekordbox&root={ROOT}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/xml")
    assert response["Content-Disposition"].startswith("attachment;")
    content = body_of(response)
    assert int(response["Content-Length"]) == len(content)
    xml = _parsed(tmp_path, content)
    assert (xml.frmt_version, xml.product_name) == ("1.0.0", "QuantumLive")
    assert xml.num_tracks == 3
    by_name = {track["Name"]: track for track in xml.get_tracks()}
    for sent in (first, second, third):
        track = by_name[sent["title"]]
        assert track["Artist"] == sent["artist"]
        assert track["AverageBpm"] == pytest.approx(sent["bpm"], abs=0.005)
        assert track["TotalTime"] == round(sent["duration"])
        # (pyrekordbox decodes file://localhost/Users/... to "Users/...": its Windows reading)
        assert "/" + track["Location"] == f"{ROOT}/{sent['location']}"
        assert [(mark["Name"], mark["Start"], mark["Num"]) for mark in track.marks] == \
            [(cue["name"], pytest.approx(cue["start"], abs=0.0005), -1) for cue in sent["cues"]]
        assert all(mark["Type"] == "cue" and mark.get("End") is None for mark in track.marks)
        assert track.tempos == []  # no beat grid yet: no TEMPO
    assert [by_name[name]["Tonality"] for name in ("Häppy Tüne #1", "Night Drive", "F sharp")] == ["Am", "C", "F#m"]
    assert by_name["Häppy Tüne #1"]["Genre"] == "Deep House"
    node = xml.get_playlist("Friday / peak")
    assert node.is_playlist and node.key_type == "TrackID"
    ids = {track["Name"]: track["TrackID"] for track in xml.get_tracks()}
    assert node.get_tracks() == [ids["Night Drive"], ids["Häppy Tüne #1"], ids["F sharp"], ids["Häppy Tüne #1"]]
    assert node.entries == 4
    assert xml.root_playlist_folder.name == "ROOT" and xml.root_playlist_folder.count == 1


def test_location_is_percent_encoded_file_localhost_url(api):
    first, _, _ = _tracks(api)
    playlist = make_playlist(api, "One", [first["id"]])

    content = body_of(api.get(f"/api/playlists/{playlist['id']}/export/?format=rekordbox&root=/Users/dj/My Music/"))

    track = ET.fromstring(content).find("COLLECTION/TRACK")
    assert track.get("Location") == \
        "file://localhost/Users/dj/My%20Music/DJ%20A%26B/H%C3%A4ppy%20T%C3%BCne%20%231.mp3"


def test_windows_root_gives_a_drive_url_and_a_windows_path(api):
    first, _, _ = _tracks(api)
    playlist = make_playlist(api, "One", [first["id"]])
    url = f"/api/playlists/{playlist['id']}/export/"

    xml = ET.fromstring(body_of(api.get(url, {"format": "rekordbox", "root": "C:\\Users\\dj\\Music"})))
    m3u = body_of(api.get(url, {"format": "m3u8", "root": "C:\\Users\\dj\\Music\\"})).decode()

    assert xml.find("COLLECTION/TRACK").get("Location") == \
        "file://localhost/C:/Users/dj/Music/DJ%20A%26B/H%C3%A4ppy%20T%C3%BCne%20%231.mp3"
    assert m3u.splitlines()[2] == "C:\\Users\\dj\\Music/DJ A&B/Häppy Tüne #1.mp3"


def test_m3u8_is_extended_m3u_in_utf8_without_bom(api, anon):
    first, second, _ = _tracks(api)
    web = make_track(api, title="Stream\nme", artist="Web\r\nCrew", sources={"youtube": "https://youtu.be/abc"})
    lost = make_track(api, title="Nowhere", artist="Nobody", duration=100)
    playlist = make_playlist(api, "Mix", [first["id"], web["id"], lost["id"], second["id"]], public=True)

    response = anon.get(f"/api/playlists/{playlist['id']}/export/?format=m3u8&root={ROOT}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("audio/x-mpegurl")
    content = body_of(response)
    assert not content.startswith(b"\xef\xbb\xbf")
    assert content.decode("utf-8").split("\n") == [
        "#EXTM3U",
        "#EXTINF:301,DJ A&B - Häppy Tüne #1",
        f"{ROOT}/DJ A&B/Häppy Tüne #1.mp3",
        "#EXTINF:-1,Web  Crew - Stream me",
        "https://youtu.be/abc",
        "# Nobody - Nowhere (no file or URL)",
        "#EXTINF:245,Kōji - Night Drive",
        f"{ROOT}/Kōji/Night Drive.flac",
        "",
    ]


def test_library_export_is_every_track_in_library_order(api, anon, tmp_path):
    first, second, third = _tracks(api)
    api.post(f"/api/tracks/{third['id']}/move/", {"position": 0}, format="json")

    response = anon.get("/api/tracks/export/?format=rekordbox")

    assert response.status_code == 200
    assert 'filename="QuantumLive library.xml"' in response["Content-Disposition"]
    xml = _parsed(tmp_path, body_of(response))
    assert [track["Name"] for track in xml.get_tracks()] == [third["title"], first["title"], second["title"]]
    assert [track["TrackID"] for track in xml.get_tracks()] == [1, 2, 3]
    assert xml.root_playlist_folder.count == 0  # the library's file has no playlist node
    from django.conf import settings

    root = str(settings.QL_AUDIO_ROOT.resolve())
    assert "/" + xml.get_tracks()[0]["Location"] == f"{root}/{third['location']}"  # default root

    m3u = body_of(anon.get("/api/tracks/export/?format=m3u8")).decode().splitlines()
    assert m3u[0] == "#EXTM3U" and m3u[2] == f"{root}/{third['location']}"


@pytest.mark.parametrize("query", ["", "?format=json", "?format=M3U8", "?format=rekordbox&root=Music",
                                   "?format=m3u8&root=" + "/x" * 513, "?format=m3u8&root=/a/../b",
                                   "?format=m3u8&root=/a%0Ab"])
def test_bad_format_or_root_is_400(anon, query):
    response = anon.get("/api/tracks/export/" + query)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"


def test_private_playlist_export_is_404_to_others(api, anon, other):
    first, _, _ = _tracks(api)
    playlist = make_playlist(api, "Secret", [first["id"]])
    url = f"/api/playlists/{playlist['id']}/export/?format=m3u8"

    assert api.get(url).status_code == 200
    assert anon.get(url).status_code == 404
    assert other.get(url).status_code == 404
    assert anon.get("/api/playlists/not-a-uuid/export/?format=m3u8").status_code == 404
    assert anon.get("/api/playlists/6f1c2d4e-8b7a-4c3d-9e2f-0a1b2c3d4e5f/export/?format=m3u8").status_code == 404


def test_file_name_is_safe_with_rfc6266_name_for_non_ascii(api):
    playlist = make_playlist(api, 'Süß "night"/../set')

    response = api.get(f"/api/playlists/{playlist['id']}/export/?format=m3u8")

    assert response["Content-Disposition"] == (
        'attachment; filename="Su _night_.._set.m3u8"; '
        "filename*=UTF-8''S%C3%BC%C3%9F%20%22night%22%2F..%2Fset.m3u8")


def test_every_text_is_escaped_and_forbidden_characters_dropped():
    track = {"id": "t1", "title": 'A <b> & "c"\x01\x0b\ud800', "artist": "Tab\there\nnew", "bpm": None,
             "key": None, "duration": None, "genres": ["R&B"], "location": "a/b.mp3", "sources": {},
             "cues": [{"name": "<&>", "start": 1, "end": 2}]}

    written = export.rekordbox([track], root="/m", playlist_name='P & "Q" <x>\x02')
    content = b"".join(written.stream())

    root = ET.fromstring(content)
    element = root.find("COLLECTION/TRACK")
    assert element.get("Name") == 'A <b> & "c"'
    assert element.get("Artist") == "Tab\there\nnew"
    assert element.get("Genre") == "R&B"
    assert element.find("POSITION_MARK").get("Name") == "<&>"
    assert root.find("PLAYLISTS/NODE/NODE").get("Name") == 'P & "Q" <x>'


def test_tempo_at_the_first_downbeat_when_the_track_has_a_beat_grid():
    track = {"id": "t1", "title": "T", "artist": "A", "bpm": 124.0, "key": "A minor", "duration": 300,
             "genres": [], "location": "t.mp3", "sources": {}, "cues": [],
             "beatgrid": {"bpm": 124.0, "first_beat": 0.12, "first_downbeat": 0.48, "beats_per_bar": 4}}

    content = b"".join(export.rekordbox([track], root="/m", playlist_name=None).stream())

    tempo = ET.fromstring(content).find("COLLECTION/TRACK/TEMPO")
    assert tempo.attrib == {"Inizio": "0.480", "Bpm": "124.00", "Metro": "4/4", "Battito": "1"}


def test_a_waltz_grid_is_written_with_its_own_metre():
    """A grid of three beats to the bar (the analyser's waltz) is a 3/4 TEMPO, as rekordbox
    writes one; every other grid is 4/4."""
    track = {"id": "t1", "title": "T", "artist": "A", "bpm": 96.0, "key": None, "duration": 300,
             "genres": [], "location": "t.mp3", "sources": {}, "cues": [],
             "beatgrid": {"bpm": 96.0, "first_beat": 0.3, "first_downbeat": 0.3, "beats_per_bar": 3}}

    tempo = ET.fromstring(b"".join(export.rekordbox([track], root="/m", playlist_name=None).stream()))

    assert tempo.find("COLLECTION/TRACK/TEMPO").get("Metro") == "3/4"


def test_the_tempo_follows_a_bpm_the_dj_corrected_after_the_analysis():
    """`AverageBpm` and the grid's `Bpm` must agree: a track whose BPM was set by hand (a
    halved tempo doubled) keeps the analysed grid's first downbeat at the BPM it shows."""
    track = {"id": "t1", "title": "T", "artist": "A", "bpm": 174.0, "key": None, "duration": 300,
             "genres": [], "location": "t.mp3", "sources": {}, "cues": [],
             "beatgrid": {"bpm": 87.0, "first_beat": 0.2, "first_downbeat": 0.2, "beats_per_bar": 4}}

    element = ET.fromstring(b"".join(export.rekordbox([track], root="/m", playlist_name=None).stream()))

    assert element.find("COLLECTION/TRACK").get("AverageBpm") == "174.00"
    assert element.find("COLLECTION/TRACK/TEMPO").get("Bpm") == "174.00"


@pytest.mark.slow
def test_a_large_export_is_written_with_bounded_memory():
    def tracks():
        for index in range(6_000):
            yield {"id": f"id-{index}", "title": f"Track {index} " + "x" * 100, "artist": "Artist " * 10,
                   "bpm": 120 + index % 10, "key": "A minor", "duration": 300, "genres": ["House"],
                   "location": f"folder/track {index}.mp3", "sources": {},
                   "cues": [{"name": f"cue_{n}", "start": n * 10.0, "end": n * 10.0 + 5} for n in range(8)]}

    tracemalloc.start()
    try:
        written = export.rekordbox(tracks(), root="/m", playlist_name="All")
        size = 0
        for chunk in written.stream():
            size += len(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert size > 5 * 2**20  # the file: over 5 MB
    assert peak < 3 * 2**20  # what it took: the spools' memory part (1 MB each), a page, the ids


def test_exports_read_the_store_in_pages_and_keep_the_order(api, monkeypatch):
    monkeypatch.setattr(export, "PAGE", 2)
    tracks = [make_track(api, title=f"T{index}", artist="A", location=f"a/{index}.mp3") for index in range(5)]
    order = [tracks[index]["id"] for index in (4, 0, 4, 2, 1, 3, 0)]
    playlist = make_playlist(api, "Paged", order)

    library_m3u = body_of(api.get("/api/tracks/export/?format=m3u8&root=/m")).decode().splitlines()
    xml = ET.fromstring(body_of(api.get(f"/api/playlists/{playlist['id']}/export/?format=rekordbox&root=/m")))

    assert library_m3u[2::2] == [f"/m/a/{index}.mp3" for index in range(5)]
    names = {track.get("TrackID"): track.get("Name") for track in xml.find("COLLECTION")}
    assert xml.find("COLLECTION").get("Entries") == "5" == str(len(names))
    assert [names[key.get("Key")] for key in xml.iter("TRACK") if key.get("Key")] == \
        ["T4", "T0", "T4", "T2", "T1", "T3", "T0"]
    from django.conf import settings

    from quantumlive import keys
    from quantumlive.redis_conn import get_redis

    # the snapshot of the entries is dropped once read
    assert [key for key in keys.keys_of_prefix(get_redis(), settings.QL_REDIS_PREFIX) if ":backup:" in key] == []


def test_a_track_deleted_while_the_export_reads_is_in_neither_the_collection_nor_the_playlist(api, monkeypatch):
    monkeypatch.setattr(export, "PAGE", 1)
    first, second, third = (make_track(api, title=title, artist="A") for title in ("One", "Two", "Three"))
    playlist = make_playlist(api, "P", [first["id"], second["id"], third["id"], second["id"]])
    read = export.playlist_tracks(playlist["id"])  # the entries' snapshot is taken at the first read

    def tracks():
        yield next(read)
        assert api.delete(f"/api/tracks/{second['id']}/").status_code == 204  # gone before its page is read
        yield from read

    xml = ET.fromstring(b"".join(export.rekordbox(tracks(), root="/m", playlist_name="P").stream()))

    collection = xml.find("COLLECTION")
    assert collection.get("Entries") == "2" and [track.get("Name") for track in collection] == ["One", "Three"]
    node = xml.find("PLAYLISTS/NODE/NODE")
    assert node.get("Entries") == "2" and [key.get("Key") for key in node] == ["1", "2"]


def test_the_library_export_is_not_read_as_a_track_id_with_a_known_token(api):
    make_track(api, title="One", artist="A", location="a/1.mp3")
    assert api.get("/api/tracks/?limit=1").status_code == 200  # the token is now one verified lately

    for _ in range(2):
        response = api.get("/api/tracks/export/?format=m3u8&root=/m")
        assert response.status_code == 200
        assert body_of(response).decode().splitlines()[2] == "/m/a/1.mp3"


def test_the_spooled_files_are_closed_when_the_answer_is_closed_unread(api):
    from django.http import StreamingHttpResponse

    written = export.m3u8([], root="/m")
    response = StreamingHttpResponse(written)

    response.close()

    assert all(part.closed for part in written.parts if not isinstance(part, bytes))
