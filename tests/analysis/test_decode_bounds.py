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
