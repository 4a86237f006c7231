"""manage.py analyze FOLDER: a library in one command."""

from io import StringIO

import mutagen.flac
import pytest
from django.core.management import CommandError, call_command

from tests.analysis_api.conftest import write_excerpt, write_silence

pytestmark = [pytest.mark.django_db, pytest.mark.slow]  # analyses folders in this process


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("analyze", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_analyses_a_folder_and_adds_tracks_once(tmp_path, anon):
    write_excerpt(tmp_path / "DJ Test - Night Drive.wav", bpm=124, seconds=8)
    (tmp_path / "sub").mkdir()
    tagged = write_excerpt(tmp_path / "sub" / "x.flac", bpm=100, seconds=8, fmt="FLAC")
    tags = mutagen.flac.FLAC(tagged)
    tags["title"], tags["artist"] = "Tagged Title", "Tagged Artist"
    tags.save()
    write_silence(tmp_path / "quiet.wav", seconds=3)
    (tmp_path / "notes.txt").write_text("not audio")

    out, err = run(str(tmp_path), "--jobs", "2", "--add-to-playlist")
    lines = out.splitlines()
    assert lines[0].split() == ["file", "BPM", "key", "duration", "status"]
    night = next(line for line in lines if line.startswith("DJ Test - Night Drive.wav"))
    assert "analysed, added" in night and "8.0s" in night
    assert abs(float(night.split()[5]) - 124) < 2
    assert "failed: audio is silent" in next(line for line in lines if line.startswith("quiet.wav"))
    assert "notes.txt" not in out
    assert "analysing" in err  # the progress bar
    tracks = anon.get("/api/tracks/").json()["results"]
    assert sorted((t["title"], t["artist"]) for t in tracks) == [
        ("Night Drive", "DJ Test"), ("Tagged Title", "Tagged Artist")]
    assert all(t["bpm"] and t["key"] and t["cues"] for t in tracks)

    again, _ = run(str(tmp_path), "--add-to-playlist")
    assert "cached, already in the playlist" in next(l for l in again.splitlines() if l.startswith("DJ Test"))
    assert anon.get("/api/tracks/").json()["count"] == 2


def test_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="not a folder"):
        run(str(tmp_path / "nope"))


def test_it_bounds_results_like_the_api_and_shares_their_cache(tmp_path, api, settings):
    """A non-default QL_MAX_RESULT_POINTS bounds the command's results too, and is part of
    their options: a later API submission of the same file answers from the stored result."""
    settings.QL_MAX_RESULT_POINTS = 67_536
    settings.QL_AUDIO_ROOT = str(tmp_path)
    write_excerpt(tmp_path / "long.wav", bpm=126, seconds=20)

    out, _ = run(str(tmp_path), "--beats-per-cue", "1")
    assert "analysed" in next(line for line in out.splitlines() if line.startswith("long.wav"))

    answer = api.post("/api/analysis/", {"path": "long.wav", "beats_per_cue": 1}, format="json")
    assert answer.status_code == 200, answer.content
    result = answer.json()["result"]
    assert len(result["cues"]) > 32  # 2,048 points each would be over the budget
    assert len(result["waveform"]) + sum(len(cue["waveform"]) for cue in result["cues"]) <= 67_536


def test_a_result_over_ql_max_result_mb_fails_and_is_not_stored(tmp_path, settings):
    settings.QL_MAX_RESULT_MB = 0.01  # 10 KB
    write_excerpt(tmp_path / "big.wav", bpm=118, seconds=10)

    out, _ = run(str(tmp_path), "--beats-per-cue", "2")
    line = next(line for line in out.splitlines() if line.startswith("big.wav"))
    assert "failed: the analysis result is" in line and "(QL_MAX_RESULT_MB)" in line
    again, _ = run(str(tmp_path), "--beats-per-cue", "2")  # the failed job holds no result
    assert "failed: the analysis result is" in next(l for l in again.splitlines() if l.startswith("big.wav"))


def test_added_tracks_get_their_location_under_the_audio_root(tmp_path, anon, settings):
    root = tmp_path / "audio"
    (root / "Crate ünï").mkdir(parents=True)
    settings.QL_AUDIO_ROOT = str(root)
    write_excerpt(root / "Crate ünï" / "DJ Test - Dawn #1.wav", bpm=120, seconds=6)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    write_excerpt(outside / "DJ Test - Outside.wav", bpm=128, seconds=6)

    run(str(root), "--add-to-playlist")
    out, _ = run(str(outside), "--add-to-playlist")
    tracks = {t["title"]: t for t in anon.get("/api/tracks/").json()["results"]}
    assert tracks["Dawn #1"]["location"] == "Crate ünï/DJ Test - Dawn #1.wav"
    assert tracks["Outside"]["location"] is None
    assert "no location: not under QL_AUDIO_ROOT" in out


def test_adding_again_fills_the_location_a_track_lacked(tmp_path, anon, settings):
    write_excerpt(tmp_path / "DJ Test - Late.wav", bpm=122, seconds=6)
    run(str(tmp_path), "--add-to-playlist")  # QL_AUDIO_ROOT elsewhere: no location
    (track,) = anon.get("/api/tracks/").json()["results"]
    assert track["location"] is None
    settings.QL_AUDIO_ROOT = str(tmp_path)
    out, _ = run(str(tmp_path), "--add-to-playlist")
    assert "location set" in out
    (track,) = anon.get("/api/tracks/").json()["results"]
    assert track["location"] == "DJ Test - Late.wav" and track["version"] == 2
