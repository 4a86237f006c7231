"""Loudness (analysis/loudness.py) against BS.1770-4's own numbers and pyloudnorm, and its
measurement while a file is decoded once at its own rate (audio.decode_native)."""

import math

import numpy as np
import pyloudnorm
import pytest
import soundfile
from scipy import signal

from analysis import audio
from analysis.loudness import LoudnessMeter, channel_weights, k_weighting, measure

RNG = np.random.default_rng(16)


def sine(rate: int, seconds: float, *, hz: float = 1000.0, dbfs: float = -20.0, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (10 ** (dbfs / 20) * np.sin(2 * np.pi * hz * t + phase)).astype(np.float32)


def pink(rate: int, seconds: float, *, rms_dbfs: float = -20.0, seed: int = 1) -> np.ndarray:
    white = np.random.default_rng(seed).standard_normal(int(rate * seconds))
    spectrum = np.fft.rfft(white)
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
    spectrum[0] = 0
    noise = np.fft.irfft(spectrum, len(white))
    return (noise * 10 ** (rms_dbfs / 20) / np.sqrt(np.mean(noise ** 2))).astype(np.float32)


def reference(x: np.ndarray, rate: int) -> float:
    return pyloudnorm.Meter(rate).integrated_loudness(np.asarray(x, dtype=np.float64))


def test_k_weighting_at_48_khz_is_the_standards_table():
    # ITU-R BS.1770-4, tables 1 and 2
    shelf, high_pass = k_weighting(48000)
    assert shelf == pytest.approx([1.53512485958697, -2.69169618940638, 1.19839281085285,
                                   1.0, -1.69065929318241, 0.73248077421585], abs=1e-9)
    assert high_pass == pytest.approx([1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621], abs=1e-9)


@pytest.mark.parametrize("rate", [44100, 48000])
def test_a_1_khz_sine_at_minus_20_dbfs_reads_as_pyloudnorm(rate):
    x = sine(rate, 10)
    got = measure(x, rate)
    assert got["integrated_lufs"] == pytest.approx(reference(x, rate), abs=0.1)
    assert got["integrated_lufs"] == pytest.approx(-23.0, abs=0.1)  # -20 dBFS peak, -3.01 dB rms, K ~ +0.0
    assert got["true_peak_dbtp"] == pytest.approx(-20.0, abs=0.05)
    assert got["range_lu"] == pytest.approx(0.0, abs=0.05)


@pytest.mark.parametrize("rate", [44100, 48000])
def test_the_same_sine_in_two_channels_reads_3_lu_louder_than_in_one(rate):
    x = sine(rate, 10)
    mono, stereo = measure(x, rate), measure(np.stack([x, x], axis=1), rate)
    assert stereo["integrated_lufs"] - mono["integrated_lufs"] == pytest.approx(10 * math.log10(2), abs=0.02)
    assert stereo["integrated_lufs"] == pytest.approx(reference(np.stack([x, x], axis=1), rate), abs=0.1)


@pytest.mark.parametrize("rate", [44100, 48000, 96000])
def test_pink_noise_reads_as_pyloudnorm_in_mono_and_stereo(rate):
    left, right = pink(rate, 12, seed=1), pink(rate, 12, rms_dbfs=-26, seed=2)
    assert measure(left, rate)["integrated_lufs"] == pytest.approx(reference(left, rate), abs=0.1)
    both = np.stack([left, right], axis=1)
    assert measure(both, rate)["integrated_lufs"] == pytest.approx(reference(both, rate), abs=0.1)


def test_the_blocks_it_is_fed_in_do_not_change_the_measurement():
    x = np.stack([pink(44100, 8, seed=3), pink(44100, 8, seed=4)], axis=1)
    whole = measure(x, 44100, block=len(x))
    assert measure(x, 44100, block=1000) == whole
    assert measure(x, 44100, block=4409) == whole


def test_silence_is_gated_out_absolutely_and_quiet_parts_relatively():
    rate = 48000
    tone = sine(rate, 10)
    with_silence = np.concatenate([tone, np.zeros(rate * 10, np.float32), tone])
    # (the blocks that straddle an edge count, a little quieter: as in pyloudnorm)
    got = measure(with_silence, rate)["integrated_lufs"]
    assert got == pytest.approx(measure(tone, rate)["integrated_lufs"], abs=0.1)
    assert got == pytest.approx(reference(with_silence, rate), abs=0.1)
    assert measure(np.concatenate([tone, np.zeros(rate * 100, np.float32)]), rate)["integrated_lufs"] == \
        pytest.approx(got, abs=0.1)  # however long the silence
    # 10 s 30 dB quieter: above -70 LUFS, but more than 10 LU under the loud part's level
    with_quiet = np.concatenate([tone, sine(rate, 10, dbfs=-50), tone])
    got = measure(with_quiet, rate)["integrated_lufs"]
    assert got == pytest.approx(measure(tone, rate)["integrated_lufs"], abs=0.1)
    assert got == pytest.approx(reference(with_quiet, rate), abs=0.1)


def test_what_the_audio_does_not_define_is_none():
    assert measure(np.zeros(48000 * 5, np.float32), 48000) == {
        "integrated_lufs": None, "range_lu": None, "true_peak_dbtp": None, "replay_gain_db": None}
    short = measure(sine(48000, 2), 48000)  # blocks of 400 ms, but no 3 s window
    assert short["integrated_lufs"] == pytest.approx(-23.0, abs=0.1) and short["range_lu"] is None
    assert measure(sine(48000, 0.3), 48000)["integrated_lufs"] is None  # not one 400 ms block


def test_replay_gain_2_brings_the_track_to_minus_18_lufs():
    got = measure(pink(44100, 10, rms_dbfs=-12), 44100)
    assert got["replay_gain_db"] == pytest.approx(-18 - got["integrated_lufs"], abs=0.011)
    assert got["replay_gain_db"] < 0  # louder than -18 LUFS: turned down


def test_the_loudness_range_is_the_spread_between_loud_and_quiet_passages():
    rate = 44100
    parts = [pink(rate, 15, rms_dbfs=level, seed=i) for i, level in enumerate([-20, -30, -20, -30])]
    got = measure(np.concatenate(parts), rate)
    assert got["range_lu"] == pytest.approx(10.0, abs=0.5)
    steady = measure(pink(rate, 30), rate)
    assert steady["range_lu"] < 1.0


def test_the_true_peak_finds_the_peak_between_samples():
    rate = 44100
    # A sine at fs/4 with a 45 degree phase: every sample is at 0.707 of the peak between them.
    x = sine(rate, 2, hz=rate / 4, dbfs=0.0, phase=math.pi / 4)
    ramp = np.minimum(1.0, np.minimum(np.arange(len(x)), np.arange(len(x))[::-1]) / 4410)
    x *= ramp.astype(np.float32)  # faded in and out: no overshoot at the edges
    got = measure(x, rate)
    sample_peak = 20 * math.log10(np.abs(x).max())
    assert sample_peak == pytest.approx(-3.01, abs=0.01)
    assert got["true_peak_dbtp"] == pytest.approx(0.0, abs=0.1)
    assert got["true_peak_dbtp"] > sample_peak + 2.9


def test_the_true_peak_is_that_of_the_signal_oversampled_four_times():
    x = np.stack([pink(44100, 5, rms_dbfs=-10, seed=7), pink(44100, 5, rms_dbfs=-14, seed=8)], axis=1)
    oversampled = signal.resample_poly(x.astype(np.float64), 4, 1, axis=0)
    assert measure(x, 44100)["true_peak_dbtp"] == pytest.approx(20 * math.log10(np.abs(oversampled).max()), abs=0.05)


def test_surround_channels_weigh_1_41_and_the_lfe_nothing():
    rate = 48000
    x = pink(rate, 8)

    def in_channel(index: int) -> dict:
        six = np.zeros((len(x), 6), np.float32)
        six[:, index] = x
        return measure(six, rate)

    front = in_channel(0)["integrated_lufs"]
    assert in_channel(2)["integrated_lufs"] == pytest.approx(front, abs=0.01)  # centre
    assert in_channel(4)["integrated_lufs"] - front == pytest.approx(10 * math.log10(1.41), abs=0.01)
    assert in_channel(3)["integrated_lufs"] is None  # LFE
    assert list(channel_weights(8)) == [1, 1, 1, 0, 1.41, 1.41, 1.41, 1.41]
    with pytest.raises(ValueError):
        LoudnessMeter(48000, 9)


def test_a_file_is_decoded_once_at_its_own_rate_for_loudness_and_as_before_for_the_analysis(tmp_path):
    rate = 44100
    stereo = np.stack([pink(rate, 6, seed=9), 0.5 * pink(rate, 6, seed=10)], axis=1)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, stereo, rate, subtype="FLOAT")
    decoded = audio.decode_native(path, max_seconds=60)
    y, sr = audio.decode(path, max_seconds=60)
    assert sr == decoded.sr == 22050 and np.array_equal(decoded.y, y)  # the analysis reads the same signal
    assert (decoded.native_rate, decoded.channels) == (rate, 2)
    assert decoded.loudness == measure(stereo, rate)
    assert decoded.loudness["integrated_lufs"] == pytest.approx(reference(stereo, rate), abs=0.1)


def test_an_mp3_decoded_by_pyav_is_measured_too(tmp_path):
    import av

    from tests.analysis.synth import write_pyav

    rate = 48000
    path = tmp_path / "tone.mp3"
    write_pyav(path, sine(rate, 5, dbfs=-12), rate, codec="libmp3lame", channels=2)
    decoded = audio.decode_native(path, max_seconds=60)
    y, _ = audio.decode(path, max_seconds=60)
    assert np.array_equal(decoded.y, y)
    assert decoded.native_rate == rate and decoded.channels == 2
    with av.open(str(path)) as media:  # the codec's own output (LAME changes the level a little)
        planes = np.concatenate([frame.to_ndarray() for frame in media.decode(audio=0)], axis=1)
    assert decoded.loudness == measure(planes.T, rate)
    assert decoded.loudness["integrated_lufs"] == pytest.approx(-12.0, abs=0.6)


def test_the_jobs_result_adds_loudness_and_open_key_to_the_analysis(tmp_path):
    from tests.analysis.synth import make_excerpt

    excerpt = make_excerpt("house", 124.0, key="A minor", seconds=10.0, sr=44100, seed=3)
    path = tmp_path / "house.wav"
    soundfile.write(path, np.stack([excerpt.y, excerpt.y], axis=1), excerpt.sr)
    decoded = audio.decode_native(path, max_seconds=60)
    result = audio.job_result(decoded, beats_per_cue=8)
    assert result == {**audio.analyse(decoded.y, decoded.sr, beats_per_cue=8),
                      "open_key": "1m", "loudness": decoded.loudness}
    assert result["key"] == "A minor" and list(result)[:4] == ["bpm", "key", "camelot", "open_key"]
    assert set(result["loudness"]) == {"integrated_lufs", "range_lu", "true_peak_dbtp", "replay_gain_db"}
    assert audio.ANALYSER_VERSION == "8"
