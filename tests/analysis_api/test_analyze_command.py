"""manage.py analyze FOLDER: a library in one command."""

from io import StringIO

import mutagen.flac
import pytest
from django.core.management import CommandError, call_command

from tests.analysis_api.conftest import write_excerpt, write_silence

pytestmark = pytest.mark.django_db


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
