"""Waveforms for players (analysis/waveform.py): 8-bit min/max pairs at 64 samples a pixel,
any coarser resolution derived from them, audiowaveform's JSON version 2."""

import json
import math

import numpy as np
import pytest
import soundfile

from analysis import audio, waveform
from analysis.waveform import WaveformBuilder, WaveformError, parse, pixels, waveform_json


def build(y: np.ndarray, rate: int = 44100, block: int | None = None) -> bytes:
    builder = WaveformBuilder(rate)
    step = block or max(1, len(y))
    for i in range(0, len(y), step):
        builder.add(y[i:i + step])
    return builder.result()


def test_each_pixel_of_64_samples_holds_its_min_and_max_in_8_bits():
    y = np.zeros(64 * 3 + 10, np.float32)
    y[5], y[40] = 0.5, -0.25  # pixel 0
    y[64 + 1] = 1.0  # pixel 1: full scale is 127
    y[128 + 2] = -1.0  # pixel 2: -128
    y[192 + 3] = 0.999  # the last, partial pixel
    rate, data = pixels(build(y), 64)
    assert rate == 44100
    assert data.tolist() == [-32, 64, 0, 127, -128, 0, 0, 127]


def test_quantisation_is_audiowaveforms_16_to_8_bit_shift():
    values = np.array([-1.0, -0.5, -1 / 256, 0.0, 1 / 256, 0.5, 0.99, 2.0], np.float32)
    y = np.repeat(values, 64)
    _, data = pixels(build(y), 64)
    int16 = np.clip(np.round(values * 32768), -32768, 32767).astype(np.int16)
    assert data[0::2].tolist() == (int16 >> 8).tolist() == data[1::2].tolist()


def test_coarser_pixels_are_the_min_of_mins_and_max_of_maxes():
    y = np.random.default_rng(1).uniform(-1, 1, 64 * 1000 + 17).astype(np.float32)
    blob = build(y)
    _, base = pixels(blob, 64)
    _, coarse = pixels(blob, 512)
    assert len(coarse) == 2 * math.ceil(len(y) / 512)
    for p in range(len(coarse) // 2):
        assert coarse[2 * p] == base[0::2][8 * p: 8 * p + 8].min()
        assert coarse[2 * p + 1] == base[1::2][8 * p: 8 * p + 8].max()


def test_a_resolution_not_a_multiple_of_64_takes_every_base_pixel_it_overlaps():
    y = np.zeros(64 * 4, np.float32)
    y[64 + 10] = 0.5  # base pixel 1: samples 64..127
    _, data = pixels(build(y), 100)  # pixel 0: samples 0..99 (base 0, 1); pixel 1: 100..199 (base 1, 2, 3)
    assert data.tolist() == [0, 64, 0, 64, 0, 0]


def test_the_blocks_it_is_fed_in_do_not_change_the_waveform():
    y = np.random.default_rng(2).uniform(-1, 1, 100_000).astype(np.float32)
    assert build(y, block=1000) == build(y, block=63) == build(y)


def test_a_long_track_is_stored_coarser_so_that_it_stays_bounded(monkeypatch):
    monkeypatch.setattr(waveform, "MAX_PIXELS", 100)
    y = np.random.default_rng(3).uniform(-1, 1, 64 * 350).astype(np.float32)
    blob = build(y)
    rate, base, samples, mins, _ = parse(blob)
    assert (base, samples, len(mins)) == (256, len(y), math.ceil(len(y) / 256)) and len(mins) <= 100
    _, fine = pixels(blob, 64)  # finer than stored: each stored pixel repeated
    _, stored = pixels(blob, 256)
    assert len(fine) == 2 * 350 and fine[0:8:2].tolist() == [stored[0]] * 4


def test_the_bound_holds_for_the_longest_track_at_the_highest_rate():
    # QL_MAX_AUDIO_SECONDS (1,800) at 192 kHz: 5.4 million pixels of 64 samples
    pixels_at_64 = 1800 * 192_000 / 64
    base = 64 * 2 ** math.ceil(math.log2(pixels_at_64 / waveform.MAX_PIXELS))
    assert 1800 * 192_000 / base <= waveform.MAX_PIXELS and 2 * waveform.MAX_PIXELS <= 2 * 2**20


def test_the_json_is_audiowaveform_version_2():
    y = np.sin(np.arange(48000) / 10).astype(np.float32) * 0.5
    answer = json.loads(waveform_json(build(y, rate=48000), 1000))
    assert list(answer) == ["version", "channels", "sample_rate", "samples_per_pixel", "bits", "length", "data"]
    assert answer["version"] == 2 and answer["channels"] == 1 and answer["bits"] == 8
    assert answer["sample_rate"] == 48000 and answer["samples_per_pixel"] == 1000
    assert answer["length"] == 48 and len(answer["data"]) == 96
    assert all(-128 <= v <= 127 for v in answer["data"]) and answer["data"][:2] == [-64, 63]


def test_anything_else_is_not_a_waveform():
    blob = build(np.zeros(1000, np.float32))
    for bad in (b"", b"nope", blob[:-1], b"XXXX" + blob[4:]):
        with pytest.raises(WaveformError):
            parse(bad)


def test_silence_and_nan_give_flat_pixels():
    y = np.zeros(640, np.float32)
    y[3] = np.nan
    _, data = pixels(build(y), 64)
    assert data.tolist() == [0, 0] * 10


def test_a_decoded_stereo_file_gives_the_waveform_of_its_channels_mean_at_its_own_rate(tmp_path):
    rate = 48000
    t = np.arange(rate * 2) / rate
    left = (0.8 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    path = tmp_path / "left.wav"
    soundfile.write(path, stereo, rate, subtype="FLOAT")
    decoded = audio.decode_native(path, max_seconds=60)
    answer = json.loads(waveform_json(decoded.waveform, 48000))
    assert answer["sample_rate"] == rate and answer["length"] == 2
    assert answer["data"] == [-52, 51, -52, 51]  # the mean: 0.4 of full scale


def test_a_long_answer_is_written_in_parts_with_memory_bounded_by_a_part():
    """A waveform answer at fine resolution of a long, high-rate file is tens of MB of JSON:
    it is produced part by part (the pixels and their text, PART_PIXELS at a time), never as one
    text, and the parts joined are exactly the whole answer."""
    import tracemalloc

    from analysis import waveform

    samples = 1800 * 96_000  # 30 minutes at 96 kHz, stored at 256 samples per pixel
    base = 256
    count = -(-samples // base)
    pairs = np.random.default_rng(1).integers(-128, 128, size=2 * count).astype(np.int8)
    blob = waveform._HEADER.pack(waveform._MAGIC, 96_000, base, samples) + pairs.tobytes()

    whole = waveform.waveform_json(blob, 64)
    tracemalloc.start()
    try:
        size = 0
        for part in waveform.waveform_json_parts(blob, 64):
            size += len(part)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert size == len(whole) and len(whole) > 16 * 2**20
    assert peak < 8 * 2**20, peak  # about 6 MB: one part's pixels, indices and text
    assert b"".join(waveform.waveform_json_parts(blob, 64)) == whole
