"""manage.py write_tags: BPM and key written into the audio files tracks point at."""

import os
from io import StringIO
from pathlib import Path

import av
import mutagen
import numpy as np
import pytest
import soundfile
from django.core.management import CommandError, call_command
from mutagen.id3 import ID3
from mutagen.mp4 import MP4

pytestmark = pytest.mark.django_db

RATE = 44100


def tone(seconds=1.0):
    t = np.arange(int(RATE * seconds)) / RATE
    return (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def write_m4a(path: Path) -> Path:
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=RATE)
        stream.layout = "mono"
        samples = tone()
        frame_size = 1024
        for start in range(0, len(samples), frame_size):
            chunk = samples[start:start + frame_size]
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = RATE
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_audio(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".m4a":
        return write_m4a(path)
    fmt = {".mp3": "MP3", ".flac": "FLAC", ".ogg": "OGG", ".wav": "WAV", ".aiff": "AIFF"}[suffix]
    soundfile.write(path, tone(), RATE, format=fmt)
    return path


@pytest.fixture
def root(settings, tmp_path):
    settings.QL_AUDIO_ROOT = str(tmp_path / "audio")
    (tmp_path / "audio").mkdir()
    return tmp_path / "audio"


def add(api, location, **fields):
    body = {"title": Path(location).stem, "artist": "A", "location": location, **fields}
    answer = api.post("/api/tracks/", body, format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()


def run(*args) -> str:
    out = StringIO()
    call_command("write_tags", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_bpm_and_key_are_written_in_each_formats_own_tags(api, root):
    for name in ("Crate/a.mp3", "Crate/b.flac", "Crate/c.m4a", "Crate/d.ogg"):
        write_audio(root / name)
    add(api, "Crate/a.mp3", bpm=124.0, key="A minor")
    add(api, "Crate/b.flac", bpm=122.5, key="F# major")
    add(api, "Crate/c.m4a", bpm=174.0, key="8B")
    add(api, "Crate/d.ogg", bpm=90.0, key="Eb minor")

    out = run()
    assert "4 files written" in out

    id3 = ID3(root / "Crate/a.mp3")
    assert (id3["TBPM"].text, id3["TKEY"].text) == (["124"], ["Am"])
    flac = mutagen.File(root / "Crate/b.flac")
    assert (flac["BPM"], flac["INITIALKEY"]) == (["122.5"], ["F#"])
    mp4 = MP4(root / "Crate/c.m4a")
    assert mp4["tmpo"] == [174]
    assert bytes(mp4["----:com.apple.iTunes:initialkey"][0]) == b"C"
    ogg = mutagen.File(root / "Crate/d.ogg")
    assert (ogg["BPM"], ogg["INITIALKEY"]) == (["90"], ["Ebm"])


def test_a_second_run_changes_nothing(api, root):
    write_audio(root / "a.mp3")
    write_audio(root / "b.flac")
    add(api, "a.mp3", bpm=124.0, key="A minor")
    add(api, "b.flac", bpm=128.0, key="C major")
    run()
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.iterdir()}
    out = run()
    assert "0 files written, 2 already tagged" in out
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.iterdir()} == before


def test_dry_run_prints_the_diff_and_writes_nothing(api, root):
    path = write_audio(root / "a.mp3")
    tags = ID3()
    tags.add(mutagen.id3.TBPM(encoding=3, text=["120"]))
    tags.save(path)
    add(api, "a.mp3", bpm=124.0, key="A minor")
    before = path.read_bytes()
    out = run("--dry-run")
    assert "a.mp3" in out
    assert "TBPM: '120' -> '124'" in out and "TKEY: (none) -> 'Am'" in out
    assert "1 file would be written" in out
    assert path.read_bytes() == before


def test_key_notation_can_be_camelot_or_open_key(api, root):
    write_audio(root / "a.flac")
    add(api, "a.flac", bpm=124.0, key="A minor")
    run("--key-notation", "camelot")
    assert mutagen.File(root / "a.flac")["INITIALKEY"] == ["8A"]
    run("--key-notation", "open-key")
    assert mutagen.File(root / "a.flac")["INITIALKEY"] == ["1m"]


def test_only_the_playlists_tracks_are_tagged(api, root):
    write_audio(root / "in.flac")
    write_audio(root / "out.flac")
    inside = add(api, "in.flac", bpm=124.0, key="A minor")
    add(api, "out.flac", bpm=124.0, key="A minor")
    playlist = api.post("/api/playlists/", {"name": "Friday"}, format="json").json()
    api.post(f"/api/playlists/{playlist['id']}/items/", {"tracks": [inside["id"]]}, format="json")

    out = run(playlist["id"])
    assert "1 file written" in out
    assert "BPM" in mutagen.File(root / "in.flac")
    assert "BPM" not in mutagen.File(root / "out.flac")
    assert "0 files written, 1 already tagged" in run("Friday")  # by name
    assert "BPM" not in mutagen.File(root / "out.flac")


def test_an_unknown_playlist_is_an_error(api, root):
    with pytest.raises(CommandError, match="no playlist"):
        run("no such playlist")


def test_missing_files_links_out_of_the_root_and_tracks_without_values_are_reported(api, root, tmp_path):
    outside = write_audio(tmp_path / "outside.flac")
    add(api, "gone.flac", bpm=124.0, key="A minor")
    add(api, "nobpm.flac", key=None)
    write_audio(root / "nobpm.flac")
    os.symlink(outside, root / "link.flac")
    # the link is made after the track was accepted: the command must check again
    add(api, "elsewhere.flac", bpm=124.0)
    os.symlink(tmp_path, root / "elsewhere_dir")
    (root / "elsewhere.flac").symlink_to(outside)
    before = outside.read_bytes()
    write_audio(root / "text.mp3").write_bytes(b"not audio at all")
    add(api, "text.mp3", bpm=124.0)

    out = run()
    assert "gone.flac: missing" in out
    assert "nobpm.flac: no BPM or key" in out
    assert "elsewhere.flac: refused" in out and "QL_AUDIO_ROOT" in out
    assert "text.mp3: not a taggable audio file" in out
    assert outside.read_bytes() == before
    assert "0 files written, 0 already tagged, 4 skipped" in out
