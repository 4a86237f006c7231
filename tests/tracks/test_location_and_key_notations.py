"""A track's `location` (its audio file under QL_AUDIO_ROOT) and the three key notations."""

import os

import pytest

pytestmark = pytest.mark.django_db


def create(api, **fields):
    answer = api.post("/api/tracks/", {"title": "T", "artist": "A", **fields}, format="json")
    return answer


def test_a_location_is_stored_with_forward_slashes_and_shown(api, settings, tmp_path):
    settings.QL_AUDIO_ROOT = str(tmp_path)
    answer = create(api, location="Crate ünï\\Sub folder/Artist - Title #1.mp3")
    assert answer.status_code == 201, answer.content
    track = answer.json()
    assert track["location"] == "Crate ünï/Sub folder/Artist - Title #1.mp3"
    assert api.get(f"/api/tracks/{track['id']}/").json()["location"] == track["location"]
    listed = api.get("/api/tracks/").json()["results"][0]
    assert listed["location"] == track["location"]


def test_a_track_has_no_location_unless_one_is_sent(api):
    assert create(api).json()["location"] is None


@pytest.mark.parametrize("location", [
    "/etc/passwd", "\\\\server\\share\\a.mp3", "C:\\Music\\a.mp3", "c:/a.mp3", "../a.mp3",
    "crate/../../a.mp3", "a\x00b.mp3", "", "x" * 1025, 5, ["a.mp3"],
])
def test_a_location_that_leaves_the_audio_root_is_refused(api, location):
    answer = create(api, location=location)
    assert answer.status_code == 400
    assert "location" in answer.json()
    assert api.get("/api/tracks/").json()["count"] == 0


def test_a_location_through_a_link_out_of_the_audio_root_is_refused(api, settings, tmp_path):
    root = tmp_path / "audio"
    root.mkdir()
    os.symlink(tmp_path, root / "out")
    settings.QL_AUDIO_ROOT = str(root)
    answer = create(api, location="out/secret.mp3")
    assert answer.status_code == 400
    assert "QL_AUDIO_ROOT" in answer.json()["location"][0]


def test_a_location_can_be_patched_and_cleared(api):
    track = create(api, location="a.flac").json()
    patched = api.patch(f"/api/tracks/{track['id']}/", {"location": "b/c.flac"}, format="json").json()
    assert (patched["location"], patched["version"]) == ("b/c.flac", 2)
    cleared = api.patch(f"/api/tracks/{track['id']}/", {"location": None}, format="json").json()
    assert cleared["location"] is None


@pytest.mark.parametrize(("sent", "key", "camelot", "open_key"), [
    ("8A", "A minor", "8A", "1m"), ("1m", "A minor", "8A", "1m"), ("8B", "C major", "8B", "1d"),
    ("2d", "G major", "9B", "2d"), ("F#m", "F# minor", "11A", "4m"),
])
def test_keys_are_accepted_in_camelot_and_open_key_and_shown_in_all_three(api, sent, key, camelot, open_key):
    track = create(api, key=sent).json()
    assert (track["key"], track["camelot"], track["open_key"]) == (key, camelot, open_key)
    shown = api.get(f"/api/tracks/{track['id']}/").json()
    assert (shown["key"], shown["camelot"], shown["open_key"]) == (key, camelot, open_key)


def test_the_key_filter_reads_every_notation(api):
    create(api, title="minor", key="A minor")
    create(api, title="major", key="C major")
    for spelling in ("A minor", "Am", "8A", "1m", "8a"):
        results = api.get("/api/tracks/", {"key": spelling}).json()["results"]
        assert [t["title"] for t in results] == ["minor"], spelling


def test_a_track_without_key_has_no_codes(api):
    track = create(api).json()
    assert (track["camelot"], track["open_key"]) == (None, None)


def test_a_track_stored_before_locations_existed_reads_as_none(api, settings):
    from quantumlive import keys
    from quantumlive.redis_conn import get_redis

    settings.QL_TRACK_CACHE = False  # read what Redis holds
    track = create(api, location="a.mp3").json()
    assert get_redis().hdel(keys.track(track["id"]), "location") == 1
    assert api.get(f"/api/tracks/{track['id']}/").json()["location"] is None
    assert api.get("/api/tracks/").json()["results"][0]["location"] is None
