"""Decoding costs a bounded amount of CPU and memory per second of audio: a few KB of
silent many-channel Vorbis, or a FLAC/WAV at an absurd sample rate, would otherwise cost
hundreds of MB and tens of seconds of CPU for each minute (a decompression bomb)."""

import numpy as np
import pytest
import soundfile as sf

from analysis import audio, containers
from analysis.audio import AudioError, decode

SR = 22050


def silent(path, *, channels, rate, seconds=1.0, **kwargs):
    sf.write(path, np.zeros((int(rate * seconds), channels), np.float32), rate, **kwargs)
    return path


def test_a_tiny_many_channel_vorbis_is_refused_from_its_header(tmp_path):
    path = silent(tmp_path / "bomb.ogg", channels=255, rate=48000, seconds=2.0, format="OGG", subtype="VORBIS")
    assert path.stat().st_size < 20_000
    with pytest.raises(AudioError, match=r"255 channels, more than the 8 accepted"):
        decode(path, max_seconds=1800)


def test_more_than_eight_channels_of_wav_are_refused(tmp_path):
    with pytest.raises(AudioError, match=r"9 channels, more than the 8 accepted"):
        decode(silent(tmp_path / "nine.wav", channels=9, rate=SR), max_seconds=1800)


def test_a_sample_rate_over_192_khz_is_refused(tmp_path):
    path = silent(tmp_path / "fast.flac", channels=2, rate=384_000, seconds=0.5, format="FLAC")
    with pytest.raises(AudioError, match=r"sample rate of 384000 Hz is over the 192000 Hz accepted"):
        decode(path, max_seconds=1800)


def test_eight_channels_at_192_khz_still_decode(tmp_path):
    rate = 192_000
    t = np.arange(rate) / rate
    y = np.repeat((0.5 * np.sin(2 * np.pi * 440 * t))[:, None], 8, axis=1).astype(np.float32)
    path = tmp_path / "surround.flac"
    sf.write(path, y, rate, format="FLAC")
    mono, out_rate = decode(path)
    assert out_rate == SR and len(mono) == pytest.approx(SR, abs=64)
    assert np.sqrt(np.mean(mono[SR // 4: 3 * SR // 4] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.05)


def test_the_pyav_path_refuses_many_channels_before_demuxing(tmp_path):
    path = silent(tmp_path / "twelve.wav", channels=12, rate=SR, subtype="PCM_16")
    with open(path, "rb") as handle, pytest.raises(AudioError, match=r"12 channels, more than the 8 accepted"):
        audio._decode_pyav(handle, containers.WAV, SR, None)


def test_an_mp4_with_bloated_sample_tables_is_refused_before_ffmpeg_parses_them(tmp_path):
    """10 MB of stz2 (4-bit sizes, 20 M samples) made FFmpeg's mov demuxer take ~820 MB
    (sizes and index entries, ~80x the file) before failing: 200 MB would take ~16 GB."""
    from tests.analysis.mp4_bomb import write_sample_table_bomb

    path = write_sample_table_bomb(tmp_path / "bomb.m4a", samples=20_000_000)
    with pytest.raises(containers.NotAudio, match=r"sample tables"):
        containers.sniff_path(path)
    with pytest.raises(AudioError, match=r"sample tables"):
        decode(path)


def test_an_ordinary_m4a_passes_the_sample_table_check(tmp_path):
    from tests.analysis.mp4_bomb import write_sample_table_bomb

    path = write_sample_table_bomb(tmp_path / "small.m4a", samples=None)
    assert containers.sniff_path(path) is containers.MP4
    y, rate = decode(path)
    assert rate == SR and len(y) > 0


def pad_with_free_boxes(path, count):
    """The same MP4 with ``count`` empty ``free`` boxes between its ftyp and the rest."""
    data = path.read_bytes()
    ftyp = int.from_bytes(data[:4], "big")
    path.write_bytes(data[:ftyp] + b"\x00\x00\x00\x08free" * count + data[ftyp:])
    return path


def test_free_boxes_before_the_moov_do_not_hide_bloated_sample_tables(tmp_path):
    from tests.analysis.mp4_bomb import write_sample_table_bomb

    path = pad_with_free_boxes(write_sample_table_bomb(tmp_path / "bomb.m4a", samples=10_000_000), 600)
    with pytest.raises(containers.NotAudio, match=r"sample tables"):
        containers.sniff_path(path)


def test_an_mp4_of_too_many_boxes_to_check_is_refused(tmp_path):
    from tests.analysis.mp4_bomb import write_sample_table_bomb

    path = pad_with_free_boxes(write_sample_table_bomb(tmp_path / "many.m4a", samples=None), 70_000)
    with pytest.raises(containers.NotAudio, match=r"more than 65536 boxes"):
        containers.sniff_path(path)
    small = pad_with_free_boxes(write_sample_table_bomb(tmp_path / "some.m4a", samples=None), 1000)
    assert containers.sniff_path(small) is containers.MP4
