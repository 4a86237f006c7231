"""Only audio is decoded (issue 12, finding 3): the container is sniffed from the bytes, and
neither a playlist nor a concat list, whatever its name, makes the decoder open another file.

Before the fix, ``decode`` handed anything soundfile could not read to FFmpeg's probing: an
uploaded HLS playlist naming a server file, or an FFmpeg concat list, decoded that file.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from analysis import audio, containers
from analysis.audio import AudioError, decode
from analysis.containers import NotAudio, sniff
from tests.analysis.synth import write_pyav

SR = 22050


def tone(seconds=3.0, sr=SR, hz=440.0):
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def rms_of_middle(y):
    middle = y[len(y) // 4: 3 * len(y) // 4].astype(np.float64)
    return float(np.sqrt(np.mean(middle ** 2)))


@pytest.fixture
def server_files(tmp_path):
    """Real audio files "on the server" that a playlist may name: a WAV and an MP3."""
    folder = tmp_path / "server"
    folder.mkdir()
    sf.write(folder / "secret.wav", tone(), SR)
    write_pyav(folder / "secret.mp3", tone(), SR, codec="libmp3lame")
    return folder


def hls(target: str) -> bytes:
    return f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{target}\n#EXT-X-ENDLIST\n".encode()


def ffconcat(target: str) -> bytes:
    return f"ffconcat version 1.0\nfile '{target}'\n".encode()


def referencing_lists(server):
    """(label, content) of lists naming the server's files: absolute, file: URL, relative."""
    return [
        ("hls-abs-mp3", hls(str(server / "secret.mp3"))),
        ("hls-abs-wav", hls(str(server / "secret.wav"))),
        ("hls-file-url", hls(f"file://{server / 'secret.mp3'}")),
        ("hls-relative", hls("secret.mp3")),
        ("concat-abs-wav", ffconcat(str(server / "secret.wav"))),
        ("concat-relative", ffconcat("secret.wav")),
    ]


@pytest.mark.parametrize("suffix", [".m3u8", ".txt", ".wav", ".mp3", ".m4a"])
def test_a_playlist_or_concat_list_is_refused_whatever_its_name(server_files, suffix):
    """Written beside the files it names (so relative names resolve), under the list's usual
    name and under audio names: never decoded, as a path or as a file object."""
    for label, content in referencing_lists(server_files):
        path = server_files / f"list-{label}{suffix}"
        path.write_bytes(content)
        with pytest.raises(NotAudio, match="not audio") as excinfo:
            decode(path)
        assert str(server_files) not in str(excinfo.value), label
        with pytest.raises(NotAudio):
            decode(io.BytesIO(content))


def test_the_refusal_says_what_the_file_is(server_files):
    assert "HLS" in str(pytest.raises(NotAudio, sniff, io.BytesIO(hls("/x.mp3"))).value)
    assert "concat" in str(pytest.raises(NotAudio, sniff, io.BytesIO(ffconcat("/x.wav"))).value)


@pytest.mark.parametrize("demuxer, make", [("hls", lambda s: hls(str(s / "secret.mp3"))),
                                           ("concat", lambda s: ffconcat("secret.wav"))])
def test_the_pyav_options_stop_a_demuxer_opening_other_files(server_files, demuxer, make):
    """Second wall: were a list ever given to FFmpeg with the hls or concat demuxer, the
    options decode() uses let it open no other file (no protocol is allowed)."""
    import av

    path = server_files / f"list.{demuxer}"
    path.write_bytes(make(server_files))
    with open(path, "rb") as handle, av.open(handle, format=demuxer) as media:  # FFmpeg's defaults: it reads
        assert next(media.decode(audio=0)).samples > 0
    unsafe = containers.Container(demuxer, False, demuxer, None)
    with open(path, "rb") as handle, pytest.raises(AudioError):
        audio._decode_pyav(handle, unsafe, SR, None)


# --------------------------------------------------------------------------- what is refused


@pytest.mark.parametrize("content, what", [
    (b"", "empty"),
    (b"#EXTM3U\n#EXTINF:-1,radio\nhttp://127.0.0.1:9/stream\n", "HLS"),
    (b"[playlist]\nFile1=/etc/passwd\n", "PLS"),
    (b'<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011"></MPD>', "XML"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "PNG"),
    (b"\xff\xd8\xff\xe0" + bytes(100), "JPEG"),
    (b"\x1a\x45\xdf\xa3" + bytes(100), "Matroska"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(100), "WebP"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(100), "image"),
    (b"OggS\x00\x02" + bytes(20) + b"\x01\x13\x7fFLAC\x01\x00" + bytes(60), "Ogg FLAC"),
    (b"OggS\x00\x02" + bytes(20) + b"\x01\x2a\x80theora" + bytes(60), "video"),
    (b"file '/etc/passwd'\n", "text"),
    (b"ID3\x03\x00\x00\x00\x00\x00\x10" + b"\x00" * 16 + b"no frames here" * 100, "ID3"),
    (bytes(range(256)) * 20, "unrecognised"),
])
def test_what_is_not_an_accepted_container_is_refused_by_its_bytes(content, what):
    with pytest.raises(NotAudio, match=what):
        sniff(io.BytesIO(content))


def test_sniff_restores_the_position_and_reads_little():
    class Counting(io.BytesIO):
        read_bytes = 0

        def read(self, n=-1):
            data = super().read(n)
            self.read_bytes += len(data)
            return data

    handle = Counting(b"#EXTM3U\n" + b"x" * 10_000_000)
    with pytest.raises(NotAudio):
        sniff(handle)
    assert handle.tell() == 0 and handle.read_bytes <= containers.HEAD


# --------------------------------------------------------------------------- what still decodes


@pytest.fixture(scope="module")
def clip():
    return tone(seconds=4.0, sr=44100)


@pytest.mark.parametrize("fmt, subtype, sr, name, kind", [
    ("WAV", "PCM_16", 44100, "a.wav", "wav"),
    ("WAV", "FLOAT", 44100, "a.bin", "wav"),
    ("AIFF", "PCM_16", 44100, "a.aiff", "aiff"),
    ("FLAC", "PCM_16", 44100, "a.flac", "flac"),
    ("OGG", "VORBIS", 44100, "a.ogg", "ogg"),
    ("OGG", "OPUS", 48000, "a.opus", "ogg"),
])
def test_soundfile_formats_are_sniffed_and_decoded(tmp_path, fmt, subtype, sr, name, kind):
    y0 = tone(seconds=4.0, sr=sr)
    path = tmp_path / name
    sf.write(path, np.stack([y0, y0], axis=1), sr, format=fmt, subtype=subtype)
    assert containers.sniff_path(path).name == kind
    y, rate = decode(path)
    assert rate == SR and len(y) / SR == pytest.approx(4.0, abs=0.05)
    assert rms_of_middle(y) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)  # the 0.5 sine, mixed to mono


@pytest.mark.parametrize("codec, name, kind", [("libmp3lame", "a.mp3", "mp3"), ("aac", "a.m4a", "mp4"),
                                              ("libmp3lame", "named.wav", "mp3"), ("aac", "named.mp3", "mp4")])
def test_mp3_and_m4a_are_sniffed_and_decoded_whatever_their_name(tmp_path, clip, codec, name, kind):
    real = tmp_path / ("real.mp3" if codec == "libmp3lame" else "real.m4a")
    write_pyav(real, clip, 44100, codec=codec)
    path = tmp_path / name
    path.write_bytes(real.read_bytes())
    assert containers.sniff_path(path).name == kind
    y, rate = decode(path)
    assert len(y) / rate == pytest.approx(4.0, abs=0.1)
    assert rms_of_middle(y) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)  # the 0.5 sine, mixed to mono


def test_an_mp3_behind_a_large_id3_tag_is_mp3(tmp_path, clip):
    write_pyav(tmp_path / "a.mp3", clip, 44100, codec="libmp3lame")
    frames = tmp_path.joinpath("a.mp3").read_bytes()
    while frames[:3] == b"ID3":  # keep only the MPEG frames, then add a 300 KB tag of our own
        frames = frames[containers._id3_size(frames[:10]):]
    size = 300_000
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    tagged = b"ID3\x04\x00\x00" + syncsafe + b"APIC" + bytes(size - 4) + frames
    assert sniff(io.BytesIO(tagged)) is containers.MP3
    y, rate = decode(io.BytesIO(tagged))
    assert len(y) / rate == pytest.approx(4.0, abs=0.1)


def test_a_video_only_mp4_is_refused(tmp_path):
    import av

    path = tmp_path / "video.mp4"
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    assert containers.sniff_path(path) is containers.MP4  # plain to the bytes: an MP4
    with pytest.raises(AudioError, match="no audio stream.*video-only"):
        decode(path)
    renamed = tmp_path / "video.m4a"
    renamed.write_bytes(path.read_bytes())
    with pytest.raises(AudioError, match="video-only"):
        decode(renamed)


def test_an_mp4_holding_another_audio_codec_is_refused(tmp_path, clip):
    path = tmp_path / "mp3-in.mp4"
    write_pyav(path, clip, 44100, codec="libmp3lame", container="mp4")
    with pytest.raises(AudioError, match="mp3 audio in MP4 is not accepted"):
        decode(path)


def test_an_alac_m4a_is_decoded(tmp_path):
    import av

    samples = (tone(seconds=2.0, sr=44100) * 32767).astype(np.int16)
    path = tmp_path / "lossless.m4a"
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("alac", rate=44100)
        stream.layout, stream.format = "mono", "s16p"
        for start in range(0, len(samples), 4096):
            frame = av.AudioFrame.from_ndarray(samples[None, start:start + 4096].copy(), format="s16p", layout="mono")
            frame.sample_rate, frame.pts = 44100, start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    assert containers.sniff_path(path) is containers.MP4
    y, rate = decode(path)
    assert len(y) / rate == pytest.approx(2.0, abs=0.01)
    assert rms_of_middle(y) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


@pytest.fixture
def http_audio(server_files):
    """A local HTTP server (127.0.0.1) serving the MP3; counts the requests it gets."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    requests = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(server_files)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/secret.mp3", requests
    server.shutdown()
    server.server_close()


def test_a_playlist_naming_a_url_is_refused_and_nothing_is_fetched(server_files, http_audio):
    """An HLS playlist naming an http:// URL made FFmpeg fetch it (a request from the server:
    SSRF). Refused from its bytes; and the second wall alone also keeps FFmpeg from it."""
    url, requests = http_audio
    path = server_files / "remote.m3u8"
    path.write_bytes(hls(url))
    with pytest.raises(NotAudio, match="HLS"):
        decode(path)
    with open(path, "rb") as handle, pytest.raises(AudioError):
        audio._decode_pyav(handle, containers.Container("hls", False, "hls", None), SR, None)
    assert requests == []


def test_a_wav_libsndfile_cannot_read_goes_to_ffmpegs_wav_demuxer_by_name(tmp_path):
    """Yamaha ADPCM in WAV: libsndfile refuses it, PyAV reads it with format="wav"."""
    import av

    samples = (tone(seconds=2.0) * 32767).astype(np.int16)
    path = tmp_path / "adpcm.bin"
    with av.open(str(path), mode="w", format="wav") as out:
        stream = out.add_stream("adpcm_yamaha", rate=SR)
        stream.layout = "mono"
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[None, start:start + 1024].copy(), format="s16", layout="mono")
            frame.sample_rate, frame.pts = SR, start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with pytest.raises(Exception):
        sf.SoundFile(path)
    assert containers.sniff_path(path) is containers.WAV
    y, rate = decode(path)
    assert len(y) / rate == pytest.approx(2.0, abs=0.1)
    assert rms_of_middle(y) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)
