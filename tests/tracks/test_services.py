"""tracks/services.py: a track added with an analysis takes its fields; an analysed file becomes a
track once, named from its tags or file name."""

import hashlib
import uuid

import pytest

from tracks import store
from tracks.analysis_values import AnalysisUnusable
from tracks.serializers import TrackCreateSerializer
from tracks.services import ANALYSED_TRACK_NAMESPACE, title_and_artist, track_add, track_add_analysed

RESULT = {"bpm": 124.0, "key": "A minor", "camelot": "8A", "duration": 8.0, "sample_rate": 22050,
          "beats": [0.5, 1.0], "waveform": [0.1, 0.5],
          "cues": [{"name": "cue_0", "start": 0.5, "end": 4.0, "waveform": [0.2, 0.9]}]}


def test_an_analysed_file_is_added_once_under_an_id_from_its_content(tmp_path):
    path = tmp_path / "DJ Test - Night Drive.wav"
    audio_sha = hashlib.sha256(b"the audio").hexdigest()
    assert track_add_analysed(path=path, result=RESULT, audio_sha256=audio_sha) == "added"
    assert track_add_analysed(path=path, result=RESULT, audio_sha256=audio_sha) == "exists"

    track = store.track_get(track_id=str(uuid.uuid5(ANALYSED_TRACK_NAMESPACE, audio_sha)))
    assert (track["title"], track["artist"]) == ("Night Drive", "DJ Test")
    assert (track["bpm"], track["key"], track["duration"]) == (124.0, "A minor", 8.0)
    assert track["cues"] == RESULT["cues"]
    assert store.track_list()[0] == 1


def test_an_analysis_that_does_not_fit_a_track_is_not_added(tmp_path):
    too_many_cues = {**RESULT, "cues": [{"name": f"c{i}", "start": i, "end": i + 1, "waveform": []}
                                        for i in range(513)]}
    with pytest.raises(AnalysisUnusable, match="does not fit a track"):
        track_add_analysed(path=tmp_path / "x.wav", result=too_many_cues, audio_sha256="0" * 64)
    assert store.track_list()[0] == 0


@pytest.mark.parametrize(("name", "expected"), [
    ("Artist - Title.wav", ("Title", "Artist")),
    ("some_file.flac", ("some file", "Unknown artist")),
    ("A - B - C.mp3", ("B - C", "A")),
])
def test_an_untagged_file_is_named_from_its_file_name(tmp_path, name, expected):
    path = tmp_path / name
    path.write_bytes(b"not audio")
    assert title_and_artist(path) == expected


def finished_job(result: dict) -> str:
    """A done analysis job holding `result` (claimed and finished here: no worker)."""
    from analysis import jobs

    job_id, new = jobs.claim(digest=hashlib.sha256(repr(result).encode()).hexdigest(),
                             source={"path": "/nowhere.wav"}, options={})
    assert new and jobs.finish(job_id, result=result)
    return job_id


def test_a_track_added_with_an_analysis_takes_its_fields_and_the_sent_ones_win():
    track = track_add(values={"title": "T", "artist": "A", "duration": 7.0}, position=None,
                      analysis_job_id=finished_job(RESULT))

    assert (track["bpm"], track["key"], track["cues"]) == (124.0, "A minor", RESULT["cues"])
    assert track["duration"] == 7.0
    assert (track["genres"], track["notes"]) == (TrackCreateSerializer.DEFAULTS["genres"],
                                                 TrackCreateSerializer.DEFAULTS["notes"])
    assert store.track_get(track_id=track["id"]) == track


def test_a_track_added_without_an_analysis_takes_the_defaults():
    track = track_add(values={"title": "T", "artist": "A"}, position=None, analysis_job_id=None)

    assert (track["bpm"], track["key"], track["cues"]) == (None, None, [])


def test_a_track_is_not_added_with_an_analysis_that_cannot_fill_it():
    with pytest.raises(AnalysisUnusable, match="Unknown analysis job"):
        track_add(values={"title": "T", "artist": "A"}, position=None,
                  analysis_job_id="6f1c1d2e-0000-4000-8000-000000000000")
    assert store.track_list()[0] == 0
