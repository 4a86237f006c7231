"""The import (API.md, "Export, import, and DJ tools"; "Bad input, bounded"): what
one import request may cost, and what it may leave behind."""

import time

import pytest

from exchange.parse import FileTrack
from exchange.services import track_fields
from tests.exchange.conftest import counts, upload

pytestmark = pytest.mark.django_db


def _marks_at_one_start(count: int) -> list[dict]:
    return [{"Name": "", "Start": "1.0", "End": None} for _ in range(count)]


def _seconds_for_fields(marks: list[dict], repeats: int) -> float:
    track = FileTrack(ref="1", title="t", artist="a", duration="300", marks=marks)
    started = time.perf_counter()
    for _ in range(repeats):
        track_fields(track, root=None)
    return time.perf_counter() - started


def test_position_marks_cost_linear_time_not_quadratic():
    # 1,024 marks at one start (no End): each mark's end is the next later start. 16 times the
    # marks must cost about 16 times the time (here at most 48x), not 256x. Both sides time
    # 65,536 marks in all, best of 7 (one preempted run on a busy machine must not decide).
    small = min(_seconds_for_fields(_marks_at_one_start(64), 64) for _ in range(7))
    large = min(_seconds_for_fields(_marks_at_one_start(1024), 4) for _ in range(7))
    assert large < small * 3, (small, large)


def test_an_import_of_many_tracks_full_of_marks_skips_each_with_the_reason(api, settings):
    settings.QL_IMPORT_SYNC_MAX_BYTES = 8 * 2**20  # read in the request (5.3 MB): not a job
    tracks = "".join(
        f'<TRACK TrackID="{i}" Name="t{i}" Artist="a" TotalTime="300">' + '<POSITION_MARK Start="1"/>' * 1024
        + "</TRACK>" for i in range(200))
    content = f'<DJ_PLAYLISTS Version="1.0.0"><COLLECTION>{tracks}</COLLECTION></DJ_PLAYLISTS>'
    response = upload(api, content)

    assert response.status_code == 200, response.content
    # 1,024 cues each: more than a track holds (512), every track skipped with the reason
    report = response.json()
    assert report["tracks_created"] == 0 and len(report["skipped"]) == 200
    assert "512" in report["skipped"][0]["reason"]
    assert counts()[0] == 0


@pytest.mark.parametrize("encoding", ["x-foo", "utf-7", "rot13", "base64", "idna", "shift_jis", "punycode",
                                      "undefined"])
def test_xml_declaring_an_encoding_that_cannot_be_read_is_400_and_changes_nothing(api, encoding):
    content = (f'<?xml version="1.0" encoding="{encoding}"?><DJ_PLAYLISTS Version="1.0.0"><COLLECTION>'
               '<TRACK TrackID="1" Name="a" Artist="b"/></COLLECTION></DJ_PLAYLISTS>')

    response = upload(api, content)

    assert response.status_code == 400, response.content
    assert "encoding" in response.json()["file"][0]
    assert counts() == (0, 0)


@pytest.mark.parametrize("inner", ["<X/>", '<TRACK TrackID="1"/>'], ids=["unknown-elements", "tracks"])
def test_reading_xml_holds_memory_for_what_it_keeps_not_for_its_markup(inner):
    import tracemalloc

    from exchange.parse import read_bytes

    count = 200_000 if inner == "<X/>" else 20_000
    data = ('<DJ_PLAYLISTS Version="1.0.0"><COLLECTION>' + inner * count + "</COLLECTION></DJ_PLAYLISTS>").encode()
    tracemalloc.start()
    try:
        dj_file = read_bytes(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    kept = 0 if inner == "<X/>" else count
    assert len(dj_file.tracks) == kept
    # what is kept: a FileTrack per track (~1 KB with its texts); the markup read is let go of
    assert peak < 2 * 2**20 + kept * 1024, peak / 2**20


@pytest.mark.parametrize("body", ["\n", "#\n", "\r\n"], ids=["blank-lines", "comments", "crlf"])
def test_reading_an_m3u_holds_no_list_of_all_its_lines(body):
    import tracemalloc

    from exchange.parse import read_bytes

    data = ("#EXTM3U\n" + body * 1_000_000 + "#EXTINF:61,A - B\r\n/music/a.mp3\n").encode()
    tracemalloc.start()
    try:
        dj_file = read_bytes(data, file_name="set.m3u8")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert [(track.path, track.artist, track.title, track.duration) for track in dj_file.tracks] == [
        ("/music/a.mp3", "A", "B", "61")]
    assert dj_file.tracks[0].line == 1_000_003
    # the text once (the bytes were there before), not 8 bytes a line more
    assert peak < len(data) + 2**20, (peak / 2**20, len(data) / 2**20)
