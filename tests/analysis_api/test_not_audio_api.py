"""Issue 12, finding 3 through the API: a playlist or concat list naming a server file, uploaded
or under QL_AUDIO_ROOT, whatever its name, is 400 at submit; nothing is decoded, nothing
stays in QL_UPLOAD_DIR. Before the fix the worker decoded the named file and the job's result
(its duration, tempo, waveform) came back to the client."""

import io
import os
import uuid

import numpy as np
import pytest
import soundfile as sf

from analysis import jobs
from quantumlive import keys
from quantumlive.redis_conn import get_redis
from tests.analysis.synth import write_pyav
from tests.analysis_api.conftest import write_excerpt

pytestmark = pytest.mark.django_db
URL = "/api/analysis/"


def hls(target: str) -> bytes:
    return f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{target}\n#EXT-X-ENDLIST\n".encode()


def ffconcat(target: str) -> bytes:
    return f"ffconcat version 1.0\nfile '{target}'\n".encode()


@pytest.fixture
def server_audio(tmp_path):
    """Real audio files outside QL_AUDIO_ROOT (3.5 s of a 440 Hz tone)."""
    t = np.arange(int(3.5 * 22050)) / 22050
    y = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(tmp_path / "secret.wav", y, 22050)
    write_pyav(tmp_path / "secret.mp3", y, 22050, codec="libmp3lame")
    return tmp_path


def upload(api, content: bytes, name: str, **fields):
    handle = io.BytesIO(content)
    handle.name = name
    return api.post(URL, {"file": handle, "wait": "30", **fields}, format="multipart")


def no_jobs_created():
    return not list(get_redis().scan_iter(match=keys.analysis_job("*"), count=1000))


def assert_refused_as_not_audio(response, field):
    assert response.status_code == 400, (response.status_code, response.content[:400])
    message = " ".join(response.json()[field])
    assert "not audio" in message and "WAV" in message
    assert no_jobs_created()


@pytest.mark.parametrize("name", ["list.m3u8", "list.wav", "list.mp3"])
def test_an_uploaded_hls_playlist_naming_a_server_file_is_400(api, audio_settings, server_audio, name):
    for target in (server_audio / "secret.mp3", server_audio / "secret.wav", f"file://{server_audio}/secret.mp3"):
        response = upload(api, hls(str(target)), name)
        assert_refused_as_not_audio(response, "file")
    assert os.listdir(audio_settings["uploads"]) == []


@pytest.mark.parametrize("name", ["list.txt", "list.ffconcat", "list.wav"])
def test_an_uploaded_concat_list_is_400(api, audio_settings, server_audio, name):
    """An absolute name (FFmpeg's safe mode refused it already), and a relative one: that one
    named another upload waiting in QL_UPLOAD_DIR, and the old code decoded it."""
    uploads = audio_settings["uploads"]
    other = uploads / f"upload-{uuid.uuid4()}.wav"  # someone else's upload, waiting for its job
    other.write_bytes((server_audio / "secret.wav").read_bytes())
    try:
        for target in (str(server_audio / "secret.wav"), other.name):
            assert_refused_as_not_audio(upload(api, ffconcat(target), name), "file")
        assert os.listdir(uploads) == [other.name]
    finally:
        other.unlink()


@pytest.mark.parametrize("name", ["list.m3u8", "list.wav", "list.txt"])
def test_a_list_under_the_audio_root_is_400_as_a_path(api, audio_settings, server_audio, name):
    root = audio_settings["root"]
    write_excerpt(root / "inside.wav", seconds=2)
    write_pyav(root / "inside.mp3", np.zeros(22050, np.float32) + 0.1, 22050, codec="libmp3lame")
    contents = [hls(str(server_audio / "secret.mp3")), hls("inside.mp3"), ffconcat("inside.wav")]
    for content in contents:
        (root / name).write_bytes(content)
        response = api.post(URL, {"path": name, "wait": 30}, format="json")
        assert_refused_as_not_audio(response, "path")


@pytest.mark.parametrize("content, what", [
    (b"\x89PNG\r\n\x1a\n" + bytes(200), "PNG"),
    (b'<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011"/>', "XML"),
    (b"just some text\n" * 10, "text"),
])
def test_other_plain_non_audio_uploads_are_400_naming_what_they_are(api, audio_settings, content, what):
    response = upload(api, content, "track.wav")
    assert_refused_as_not_audio(response, "file")
    assert what in response.json()["file"][0]
    assert os.listdir(audio_settings["uploads"]) == []


@pytest.mark.usefixtures("analysis_worker")
def test_audio_with_a_wrong_name_is_still_analysed(api, audio_settings, tmp_path):
    """The bytes decide, not the name: an MP3 uploaded as .wav is decoded as MP3."""
    excerpt = write_excerpt(tmp_path / "x.wav", seconds=6)
    y, sr = sf.read(excerpt, dtype="float32")
    write_pyav(tmp_path / "x.mp3", y, sr, codec="libmp3lame")
    response = upload(api, (tmp_path / "x.mp3").read_bytes(), "named.wav")
    assert response.status_code == 200, response.content[:400]
    record = response.json()
    assert record["status"] == "done", record["error"]
    assert abs(record["result"]["duration"] - 6.0) < 0.1
    assert os.listdir(audio_settings["uploads"]) == []


@pytest.mark.usefixtures("analysis_worker")
def test_a_video_only_mp4_ends_failed(api, audio_settings, tmp_path):
    """Plain to the bytes it is an MP4: its lack of audio shows on opening, in the worker."""
    import av

    path = tmp_path / "video.mp4"
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 40, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    response = upload(api, path.read_bytes(), "video.m4a")
    assert response.status_code == 200
    record = response.json()
    assert record["status"] == "failed" and "video-only" in record["error"]
    assert os.listdir(audio_settings["uploads"]) == []
    assert jobs.job_record(record["id"])["result"] is None


def test_an_uploaded_mp4_with_bloated_sample_tables_is_400_and_not_stored(api, audio_settings, tmp_path):
    from tests.analysis.mp4_bomb import write_sample_table_bomb

    bomb = write_sample_table_bomb(tmp_path / "bomb.m4a", samples=10_000_000)
    response = upload(api, bomb.read_bytes(), "song.m4a")
    assert_refused_as_not_audio(response, "file")
    assert "sample tables" in " ".join(response.json()["file"])
    assert os.listdir(audio_settings["uploads"]) == []
