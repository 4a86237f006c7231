"""The export (API.md, "Export, import, and DJ tools"): `root` + "/" + `location`,
whatever the root."""

import pytest

from tests.exchange.conftest import body_of, make_track, upload

pytestmark = pytest.mark.django_db


def test_the_filesystem_root_as_root_gives_paths_from_it_not_the_servers_folder(api):
    track = make_track(api, location="music/a.mp3", duration=61)

    m3u = body_of(api.get("/api/tracks/export/", {"format": "m3u8", "root": "/"})).decode()
    xml = body_of(api.get("/api/tracks/export/", {"format": "rekordbox", "root": "/"})).decode()

    assert m3u.splitlines()[2] == "/music/a.mp3", m3u
    assert 'Location="file://localhost/music/a.mp3"' in xml, xml
    assert track["location"] == "music/a.mp3"


def test_an_import_with_the_filesystem_root_as_root_reads_paths_under_it(api):
    response = upload(api, "#EXTM3U\n#EXTINF:61,A - B\n/music/a.mp3\n", name="set.m3u8", root="/")

    assert response.status_code == 200, response.content
    assert response.json()["tracks_created"] == 1, response.content
    tracks = api.get("/api/tracks/").json()["results"]
    assert [track["location"] for track in tracks] == ["music/a.mp3"]
