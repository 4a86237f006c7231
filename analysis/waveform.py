"""Waveforms for players: 8-bit min/max pairs, built while the audio is decoded, served in
audiowaveform's JSON format (version 2) at any resolution from 64 to 65,536 samples per pixel.

:class:`WaveformBuilder` takes the audio's mono mix (the mean of its channels) at its own
sample rate, in blocks, and keeps the minimum and maximum of every ``BASE_SAMPLES_PER_PIXEL``
(64) samples, quantised as audiowaveform quantises 16-bit audio to 8 bits (``floor(x × 128)``,
clipped to −128..127; full scale is ±1.0). A track whose pixels at 64 would be more than
:data:`MAX_PIXELS` (2^20: a 30-minute track at 44.1 kHz has 1.24 million) is stored at the
smallest power-of-two multiple of 64 that fits, so one waveform is at most 2 MiB + 20 bytes.

The stored form (:func:`WaveformBuilder.result`) is bytes: a header (``b"QLW1"``, sample
rate, base samples per pixel, total samples; little-endian u32, u32, u32, u64) and the pairs
as signed bytes, min then max. :func:`waveform_json` derives any resolution from it: pixel
``p`` of ``N`` samples per pixel covers samples ``[p·N, (p+1)·N)`` and takes the min of the
mins and the max of the maxes of every stored pixel that overlaps that span (so when ``N`` is
not a multiple of the base, a stored pixel on the border counts for both neighbours, and
below the stored base a pixel repeats the stored one that covers it).
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np

BASE_SAMPLES_PER_PIXEL = 64
MAX_PIXELS = 1 << 20
MIN_SAMPLES_PER_PIXEL = 64
MAX_SAMPLES_PER_PIXEL = 65_536
DEFAULT_SAMPLES_PER_PIXEL = 512
_HEADER = struct.Struct("<4sIIQ")
_MAGIC = b"QLW1"


class WaveformError(ValueError):
    """Stored bytes that are not a waveform of this format."""


def _quantise(values: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(values * 128.0), -128, 127).astype(np.int8)


class WaveformBuilder:
    """Feed mono blocks at ``rate`` with :meth:`add`; :meth:`result` gives the stored bytes."""

    def __init__(self, rate: int):
        self.rate = int(rate)
        self.samples = 0
        self._carry = np.zeros(0, np.float32)
        self._mins: list[np.ndarray] = []
        self._maxs: list[np.ndarray] = []

    def add(self, mono: np.ndarray) -> None:
        mono = np.asarray(mono, dtype=np.float32)
        if len(mono) == 0:
            return
        if not np.isfinite(mono).all():
            mono = np.nan_to_num(mono, nan=0.0, posinf=0.0, neginf=0.0)
        self.samples += len(mono)
        joined = np.concatenate((self._carry, mono)) if len(self._carry) else mono
        whole = len(joined) // BASE_SAMPLES_PER_PIXEL * BASE_SAMPLES_PER_PIXEL
        if whole:
            bins = joined[:whole].reshape(-1, BASE_SAMPLES_PER_PIXEL)
            self._mins.append(_quantise(bins.min(axis=1)))
            self._maxs.append(_quantise(bins.max(axis=1)))
        self._carry = joined[whole:].copy()

    def result(self) -> bytes:
        mins, maxs = list(self._mins), list(self._maxs)
        if len(self._carry):
            mins.append(_quantise(self._carry.min(keepdims=True)))
            maxs.append(_quantise(self._carry.max(keepdims=True)))
        low = np.concatenate(mins) if mins else np.zeros(0, np.int8)
        high = np.concatenate(maxs) if maxs else np.zeros(0, np.int8)
        return _stored(self.rate, BASE_SAMPLES_PER_PIXEL, self.samples, low, high, MAX_PIXELS)


def _stored(rate: int, base: int, samples: int, low: np.ndarray, high: np.ndarray, max_pixels: int) -> bytes:
    """The stored bytes of these pixels, coarser by two until there are at most `max_pixels`."""
    while len(low) > max_pixels:
        if len(low) % 2:
            low, high = np.append(low, low[-1]), np.append(high, high[-1])
        low, high = low.reshape(-1, 2).min(axis=1), high.reshape(-1, 2).max(axis=1)
        base *= 2
    pairs = np.empty(2 * len(low), np.int8)
    pairs[0::2], pairs[1::2] = low, high
    return _HEADER.pack(_MAGIC, rate, base, samples) + pairs.tobytes()


def coarsened(blob: bytes, max_pixels: int) -> bytes:
    """Stored bytes with at most `max_pixels` pixels: `blob` itself when it has no more, else
    its pixels merged by twos (min of mins, max of maxes) as often as it takes."""
    rate, base, samples, mins, maxs = parse(blob)
    if len(mins) <= max_pixels:
        return blob
    return _stored(rate, base, samples, mins, maxs, max_pixels)


def parse(blob: bytes) -> tuple[int, int, int, np.ndarray, np.ndarray]:
    """(sample rate, base samples per pixel, total samples, mins, maxs) of stored bytes."""
    if len(blob) < _HEADER.size:
        raise WaveformError("not a stored waveform")
    magic, rate, base, samples = _HEADER.unpack_from(blob)
    pairs = np.frombuffer(blob, np.int8, offset=_HEADER.size)
    if magic != _MAGIC or base < 1 or len(pairs) % 2 or len(pairs) // 2 != math.ceil(samples / base):
        raise WaveformError("not a stored waveform")
    return rate, base, samples, pairs[0::2], pairs[1::2]


def pixels(blob: bytes, samples_per_pixel: int) -> tuple[int, np.ndarray]:
    """(sample rate, the interleaved min/max pairs as int8) at ``samples_per_pixel``."""
    rate, base, samples, mins, maxs = parse(blob)
    length = math.ceil(samples / int(samples_per_pixel))
    return rate, _pairs(mins, maxs, base, int(samples_per_pixel), 0, length)


def _pairs(mins: np.ndarray, maxs: np.ndarray, base: int, n: int, first: int, stop: int) -> np.ndarray:
    """The interleaved min/max pairs of output pixels ``first`` to ``stop`` (exclusive) at
    ``n`` samples per pixel, from stored pixels of ``base`` samples."""
    count = stop - first
    out = np.empty(2 * count, np.int8)
    if count <= 0:
        return out
    if n % base == 0:  # whole stored pixels: a reshape
        k = n // base
        low, high = mins[first * k:stop * k], maxs[first * k:stop * k]
        padded = count * k - len(low)
        out[0::2] = np.pad(low, (0, padded), constant_values=127).reshape(count, k).min(axis=1)
        out[1::2] = np.pad(high, (0, padded), constant_values=-128).reshape(count, k).max(axis=1)
    else:
        p = np.arange(first, stop, dtype=np.int64)
        starts = p * n // base
        ends = np.minimum(-(-(p + 1) * n // base), len(mins))  # exclusive; >= starts + 1
        # reduceat over the span these pixels cover: its last pixel ends at ends[-1]
        low, high = mins[starts[0]:ends[-1]], maxs[starts[0]:ends[-1]]
        out[0::2] = np.minimum(np.minimum.reduceat(low, starts - starts[0]), mins[ends - 1])
        out[1::2] = np.maximum(np.maximum.reduceat(high, starts - starts[0]), maxs[ends - 1])
    return out


def _number_table() -> np.ndarray:
    """(256, 5) bytes: row v + 128 is ``f"{v},"`` padded with NULs."""
    table = np.zeros((256, 5), np.uint8)
    for value in range(-128, 128):
        text = f"{value},".encode()
        table[value + 128, : len(text)] = np.frombuffer(text, np.uint8)
    return table


_NUMBERS = _number_table()


#: Pixels' worth of text written at a time by :func:`waveform_json_parts` (about 1.3 MB).
PART_PIXELS = 1 << 17


def _numbers(data: np.ndarray) -> bytes:
    """The int8 values as comma-separated decimal text (no trailing comma)."""
    text = _NUMBERS[data.view(np.uint8) ^ np.uint8(0x80)].ravel()  # row v + 128
    return text[text != 0].tobytes()[:-1]  # without the last comma


def waveform_json_parts(blob: bytes, samples_per_pixel: int):
    """audiowaveform's JSON (version 2, one channel, 8 bits) at ``samples_per_pixel``, as an
    iterator of UTF-8 parts of :data:`PART_PIXELS` pixels each (WaveformError is raised here,
    before any part), so a long answer (tens of MB at 64 samples per pixel) is never held
    whole: memory stays that of one part. The numbers are written by table lookup (numpy),
    not by ``json.dumps`` of a list: millions of them take milliseconds."""
    rate, base, samples, mins, maxs = parse(blob)
    n = int(samples_per_pixel)
    length = math.ceil(samples / n)
    head = json.dumps({"version": 2, "channels": 1, "sample_rate": rate, "samples_per_pixel": n, "bits": 8,
                       "length": length}, separators=(",", ":"))

    def parts():
        yield head[:-1].encode() + b',"data":['
        for first in range(0, length, PART_PIXELS):
            data = _pairs(mins, maxs, base, n, first, min(first + PART_PIXELS, length))
            yield (b"," if first else b"") + _numbers(data)
        yield b"]}"

    return parts()


def waveform_json(blob: bytes, samples_per_pixel: int) -> bytes:
    """:func:`waveform_json_parts` joined."""
    return b"".join(waveform_json_parts(blob, samples_per_pixel))
