"""Audio analysis: decode, tempo, beats, key, waveform overview and cues.

Plain functions on numpy arrays; no Django. librosa, scipy, soundfile, soxr and PyAV are
imported on first use, so importing this module for :class:`AudioError` or
:data:`ANALYSER_VERSION` is cheap.

``analyse`` computes one onset envelope (band-weighted log spectral flux, hop ~11.6 ms),
and from the same spectra the flux of five band groups, and uses them for tempo and beats:

1. the autocorrelation of the envelope, summed over four multiples of each period, gives
   the metrical family (tempo up to an octave) to 0.1 BPM (a waltz's bar gives way to its
   beats);
2. each octave of it between 70 BPM (or the range's minimum) and 180 BPM is beat-tracked
   (librosa's dynamic programme, given that tempo) and the beat level is chosen from the
   beat evidence, the onset strength on the beats against half-way between them
   (:func:`_choose_level`): a 174 BPM drum & bass track is not 87, a 72 BPM ballad not
   144; a 12/8 groove is counted in dotted quarters, not at 3/2 of them
   (:func:`_compound_level`);
3. the chosen level's period is refined by a robust linear regression of its beat times
   (sub-frame precision), and the tempo is folded by octaves into ``bpm_range``;
4. the beats' phase: a shuffle's grid on its swung "let" moves a third of a beat
   (:func:`_swing_phase`), a grid on the off-beat half a beat (:func:`_offbeat_phase`, from
   the band groups: open hats, skanks and off-beat bass lines outweigh the kick and snare),
   unless a kick below 250 Hz sits on nearly all its beats (four on the floor: its hats are
   the off-beat);
5. the bars (analysis/bars.py): the grid is checked against bar lines (where the harmony
   changes and the low end hits), moved half a beat when the half-way points make far
   better bars, or halved when a fast grid counts a slow groove's eighths (then the off-beat
   model says which half is the beat); the metre (3 or 4 beats a bar) and the downbeats.

The constants were tuned on the tuning part of bench/eval_corpus.py's evaluation set
(bench/analysis_eval.py) and checked on renders with other seeds and on the synthesized
corpora of bench/analysis_bench.py.

Key: the long-window spectrum, whitened (its running median subtracted: the drums' floor),
folded onto 12 pitch classes and correlated with two sets of major/minor profiles (Albrecht &
Shanahan's, "edma") in all 24 keys; the relative key instead when the first bar of pitched
sound plays its tonic triad (a minor loop's i VI III VII has the notes of the major's I V vi IV).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, BinaryIO, NamedTuple

import numpy as np

from analysis import bars
from analysis.framing import BLOCK, frame_blocks, frame_count, hann
from quantumlive.musical_keys import camelot, key_from_index, open_key

log = logging.getLogger(__name__)

__all__ = ["ANALYSER_VERSION", "AudioError", "ResultTooLarge", "Decoded", "decode", "decode_native", "analyse",
           "job_result", "result_json", "warm_up"]

#: Bump whenever the analysis results change (stored results are keyed by it).
#: 2: results bounded as a whole (at most MAX_CUES cues and max_result_points waveform numbers).
#: 3: jobs' results gain "loudness" (BS.1770-4 at the native rate) and "open_key"; jobs
#:    store a waveform for players (analysis.waveform).
#: 4: key from a whitened spectrum, two sets of profiles and a minor prior;
#:    beat phase, tempo octave and downbeats tuned on the evaluation set
#:    (bench/analysis_eval.py, issue 16).
#: 5: beats on the off-beat moved onto the bar lines, and fast grids on a slow groove's
#:    eighths halved, where the bars' harmony and low end stand out more (bars.bars_and_beats).
#: 6: bars of three (a waltz: beatgrid.beats_per_bar 3), the downbeat phase by the
#:    bar-to-bar harmonic change, a 12/8 beat that must outweigh every octave level and carry
#:    the kick as the straight level does, a bare pulse even in every band (a reggae skank is
#:    no beat), and no off-beat move of a four-on-the-floor grid.
#: 7: the relative key when the music opens on its tonic triad; a grid whose hats come a
#:    sixth of a beat after it (swung eighths seen from the off-beat) or whose bars of
#:    harmony change half a beat away moves half a beat.
#: 8: a strongest periodicity that is a bar of three is a waltz's bar, not a 12/8 groove's
#:    beat; a 12/8 beat alternates like beats and stands out from its eighths. (Same numbers
#:    otherwise: the CPU work of session 12 changed no result.)
ANALYSER_VERSION = "8"

WAVEFORM_POINTS = 2000
SILENCE_RMS = 1e-4

# Bounds of one result (API.md, "Bad input, bounded").
MAX_CUES = 512
MAX_RESULT_POINTS = 262_144  # waveform numbers in one result: QL_MAX_RESULT_POINTS's default
MIN_CUE_POINTS = 128  # the smallest max_cue_samples the API takes
#: The smallest budget that always fits: the overview and MAX_CUES cues of MIN_CUE_POINTS.
MIN_RESULT_POINTS = WAVEFORM_POINTS + MAX_CUES * MIN_CUE_POINTS

# Bounds of the decoded input: the cost of one second of audio is its channels times its
# rate. A few KB of silent 255-channel Vorbis otherwise cost ~800 MB and ~20 s of CPU a
# minute, and PyAV crashes the process on a planar frame of more than 8 channels.
MAX_CHANNELS = 8  # 7.1 surround; FLAC's and ALAC's own limit
MAX_SAMPLE_RATE = 192_000  # Hz: the highest rate of music as it is sold


class AudioError(ValueError):
    """The input cannot be analysed: undecodable, empty, silent or too long."""


class ResultTooLarge(AudioError):
    """The serialized result is larger than the bound it is stored under."""


# --------------------------------------------------------------------------- decoding


def decode(path_or_file: str | os.PathLike | BinaryIO, *, target_sr: int = 22050,
           max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Decode an audio file (path or seekable binary file object) to mono float32 at
    ``target_sr``.

    The container is sniffed from the bytes (:mod:`analysis.containers`), never taken from
    the name: only WAV, AIFF, FLAC, MP3, Ogg (Vorbis/Opus) and MP4/M4A (AAC/ALAC) are
    decoded; anything else (a playlist, a concat list, an image, ...) raises
    :class:`~analysis.containers.NotAudio`, an :class:`AudioError`. WAV, AIFF, FLAC and Ogg
    are read with soundfile; MP3 and MP4, and what libsndfile cannot read of the others,
    with PyAV given the demuxer by name. Decoders get an open file object, never a name,
    and FFmpeg may open no other file, device or URL (no protocol is allowed). Channels are
    averaged and the signal is resampled once (soxr, streaming). Raises
    :class:`AudioError` when the input is not decodable audio, is empty, or is longer than
    ``max_seconds`` (checked from the header before decoding when the container says,
    else while decoding) or is not a file at all. Error messages never contain the
    file's path.
    """
    return _open_and_decode(path_or_file, target_sr, max_seconds, measure=False).y, target_sr


class Decoded(NamedTuple):
    """One decode of a file (:func:`decode_native`): the mono signal the analysis reads and
    what was measured on the audio as it is, at its own rate and channels."""

    y: np.ndarray  # mono float32 at sr
    sr: int
    native_rate: int
    channels: int
    loudness: dict | None  # analysis.loudness.LoudnessMeter.result(); None if not measurable
    waveform: bytes | None  # analysis.waveform's stored form


def decode_native(path_or_file: str | os.PathLike | BinaryIO, *, target_sr: int = 22050,
                  max_seconds: float | None = None) -> Decoded:
    """Decode once, as :func:`decode` (same checks, same bounds, the same mono signal to
    the sample), and while the blocks pass at the audio's own rate and channels measure its
    loudness (:mod:`analysis.loudness`) and build its waveform (:mod:`analysis.waveform`).

    The native-rate audio is never held whole: the meters keep sums, the waveform 2 bytes
    per 64 samples, so memory stays that of the 22,050 Hz mono signal plus blocks of
    :data:`_MEASURE_BLOCK` frames. A file whose channel count changes mid-stream (PyAV)
    gets no loudness (None)."""
    sink = _open_and_decode(path_or_file, target_sr, max_seconds, measure=True)
    return Decoded(y=sink.y, sr=target_sr, native_rate=sink.source_sr, channels=sink.channels,
                   loudness=sink.loudness(), waveform=sink.waveform())


def _open_and_decode(path_or_file, target_sr: int, max_seconds: float | None, *, measure: bool) -> "_Mono":
    if isinstance(path_or_file, (str, os.PathLike)):
        name = os.fspath(path_or_file)
        if not os.path.isfile(name):
            raise AudioError("audio file not found")
        try:
            handle = open(name, "rb")
        except OSError as exc:
            raise AudioError(f"audio file cannot be read: {_reason(exc)}") from None
        with handle:
            return _decode_file(handle, target_sr, max_seconds, measure)
    return _decode_file(path_or_file, target_sr, max_seconds, measure)


def _decode_file(handle: BinaryIO, target_sr: int, max_seconds: float | None, measure: bool = False) -> "_Mono":
    from .containers import sniff

    try:
        start = handle.tell()
        container = sniff(handle)
    except (OSError, ValueError) as exc:
        if isinstance(exc, AudioError):
            raise
        raise AudioError(f"audio file cannot be read: {_reason(exc)}") from None
    if container.soundfile:
        try:
            return _decode_soundfile(handle, target_sr, max_seconds, measure)
        except _NotForSoundfile:
            handle.seek(start)
    return _decode_pyav(handle, container, target_sr, max_seconds, measure)


class _NotForSoundfile(Exception):
    pass


def _too_long(seconds: float, max_seconds: float) -> AudioError:
    return AudioError(f"audio is {seconds:.1f} s long, longer than the {max_seconds:g} s limit")


def _check_format(channels: int, rate: int) -> None:
    """AudioError for a channel count or sample rate over what is decoded (see MAX_CHANNELS)."""
    if channels > MAX_CHANNELS:
        raise AudioError(f"audio has {channels} channels, more than the {MAX_CHANNELS} accepted")
    if rate > MAX_SAMPLE_RATE:
        raise AudioError(f"audio's sample rate of {rate} Hz is over the {MAX_SAMPLE_RATE} Hz accepted")


def _check_decoded(y: np.ndarray) -> np.ndarray:
    if y.size == 0:
        raise AudioError("audio is empty: no samples decoded")
    if not np.all(np.isfinite(y)):
        y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    return y


#: Native-rate frames gathered before they go to the loudness meter and the waveform (fewer,
#: larger numpy calls than an MP3's 1,152-sample frames; bounded memory).
_MEASURE_BLOCK = 1 << 16


class _Mono:
    """Collects mono blocks at their source rate and resamples them once, streaming; with
    ``measure``, also passes the blocks as they are (rate and channels) to a loudness meter
    and a waveform builder."""

    def __init__(self, source_sr: int, target_sr: int, max_seconds: float | None, *,
                 measure: bool = False, channels: int = 1):
        self.source_sr, self.target_sr, self.max_seconds = source_sr, target_sr, max_seconds
        self.stream = None
        if source_sr != target_sr:
            import soxr

            self.stream = soxr.ResampleStream(source_sr, target_sr, 1, dtype="float32", quality="HQ")
        self.parts: list[np.ndarray] = []
        self.n_in = 0
        self.channels = int(channels)
        self.meter = self.builder = None
        self.pending: list[np.ndarray] = []  # native (samples, channels) blocks for the meter
        self.mono_pending: list[np.ndarray] = []  # their mono mixes, for the waveform
        self.n_pending = 0
        if measure:
            from .loudness import LoudnessMeter
            from .waveform import WaveformBuilder

            self.meter = LoudnessMeter(source_sr, self.channels)
            self.builder = WaveformBuilder(source_sr)

    def add(self, block: np.ndarray, last: bool = False) -> None:
        """``block`` is (samples,) or (samples, channels), any float/int dtype."""
        native = block
        if block.ndim == 2:
            block = _mean_of_channels(block) if block.shape[1] > 1 else block[:, 0]
        block = np.ascontiguousarray(block, dtype=np.float32)
        if self.builder is not None and len(block):
            self._measure(native, block)
        self.n_in += len(block)
        if self.max_seconds is not None and self.n_in > self.max_seconds * self.source_sr:
            raise _too_long(self.n_in / self.source_sr, self.max_seconds)
        if self.stream is not None:
            block = self.stream.resample_chunk(block, last=last)
        if len(block):
            self.parts.append(block)

    def _measure(self, block: np.ndarray, mono: np.ndarray) -> None:
        """Gathers the native block and its mono mix for the meter and the waveform."""
        block = block if block.ndim == 2 else block[:, None]
        if self.meter is not None and block.shape[1] != self.channels:
            self.meter = None  # the layout changed mid-stream: no loudness for this file
        if self.meter is not None:
            self.pending.append(block)  # soundfile and PyAV give a new array each time
        self.mono_pending.append(mono)
        self.n_pending += len(block)
        if self.n_pending >= _MEASURE_BLOCK:
            self._flush()

    def _flush(self) -> None:
        if self.meter is not None and self.pending:
            self.meter.add(np.concatenate(self.pending) if len(self.pending) > 1 else self.pending[0])
        for mono in self.mono_pending:
            self.builder.add(mono)
        self.pending, self.mono_pending, self.n_pending = [], [], 0

    def finish(self) -> "_Mono":
        """Ends the streams; ``self.y`` is then the mono signal (:func:`_check_decoded`)."""
        if self.stream is not None:
            self.add(np.zeros(0, np.float32), last=True)
        if self.builder is not None:
            self._flush()
        self.y = _check_decoded(np.concatenate(self.parts) if self.parts else np.zeros(0, np.float32))
        return self

    def loudness(self) -> dict | None:
        return self.meter.result() if self.meter is not None else None

    def waveform(self) -> bytes | None:
        return self.builder.result() if self.builder is not None else None


def _mean_of_channels(block: np.ndarray) -> np.ndarray:
    """``block.mean(axis=1, dtype=float32)``, to the bit, faster for stereo: numpy sums a
    row of two as a + b in float32, then divides by 2 (exact, a power of two)."""
    if block.shape[1] == 2 and block.dtype == np.float32:
        mono = block[:, 0] + block[:, 1]
        mono *= np.float32(0.5)
        return mono
    return block.mean(axis=1, dtype=np.float32)


#: Frames soundfile reads at a time (256 KB of mono float32): small blocks stay in cache.
_READ_BLOCK = 1 << 16


def _decode_soundfile(src, target_sr: int, max_seconds: float | None, measure: bool = False) -> _Mono:
    import soundfile as sf

    try:
        f = sf.SoundFile(src)
    except Exception as exc:  # libsndfile's "format not recognised" and friends
        raise _NotForSoundfile(str(exc)) from exc
    with f:
        if f.samplerate <= 0:
            raise AudioError("audio header has no valid sample rate")
        _check_format(f.channels, f.samplerate)
        if max_seconds is not None and f.frames > 0 and f.frames / f.samplerate > max_seconds:
            raise _too_long(f.frames / f.samplerate, max_seconds)
        mono = _Mono(f.samplerate, target_sr, max_seconds, measure=measure, channels=f.channels)
        try:
            for block in f.blocks(blocksize=_READ_BLOCK, dtype="float32", always_2d=True):
                mono.add(block)
        except AudioError:
            raise
        except Exception as exc:
            raise AudioError(f"could not decode audio: {_reason(exc)}") from exc
        return mono.finish()


def _pyav_options(container) -> dict[str, str]:
    """Demuxer options that keep FFmpeg inside the one file it is given: no protocol may be
    opened (the file itself comes through Python), only the named demuxer may read it, and
    MP4 data references to other files stay off."""
    options = {"protocol_whitelist": "none", "format_whitelist": container.demuxer}
    if container.name == "mp4":
        options.update(enable_drefs="0", use_absolute_path="0")
    return options


def _audio_stream(media, container):
    """The first audio stream of an allowed codec; AudioError naming what is there otherwise."""
    streams = media.streams.audio
    if not streams:
        what = " (a video-only file)" if media.streams.video else ""
        raise AudioError(f"could not decode audio: the file has no audio stream{what}")
    for stream in streams:
        if container.codecs is None or _codec_name(stream) in container.codecs:
            return stream
    codec = _codec_name(streams[0])
    raise AudioError(f"could not decode audio: {codec} audio in {container.name.upper()} is not accepted "
                     f"(allowed: {', '.join(sorted(container.codecs))})")


def _codec_name(stream) -> str:
    """FFmpeg's canonical name of the stream's codec ("mp3" for the mp3float decoder)."""
    try:
        return str(stream.codec_context.codec.canonical_name)
    except Exception:  # no decoder for it in this FFmpeg
        return "unknown"


def _decode_pyav(src: BinaryIO, container, target_sr: int, max_seconds: float | None,
                 measure: bool = False) -> _Mono:
    import av

    try:
        media = av.open(src, mode="r", format=container.demuxer, options=_pyav_options(container))
    except Exception as exc:
        raise AudioError(f"could not decode audio: not a readable {container.name.upper()} file "
                         f"({_reason(exc)})") from exc
    with media:
        stream = _audio_stream(media, container)
        _check_format(stream.codec_context.channels, stream.codec_context.sample_rate or 0)
        if max_seconds is not None:
            seconds = None
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            elif media.duration is not None:
                seconds = media.duration / 1_000_000
            if seconds is not None and seconds > max_seconds:
                raise _too_long(seconds, max_seconds)
        resampler = av.AudioResampler(format="fltp")  # sample format only; rate and layout kept
        mono = None
        try:
            for packet in media.demux(stream):
                for frame in packet.decode():
                    _check_format(frame.layout.nb_channels, frame.sample_rate)  # before to_ndarray
                    for out in resampler.resample(frame):
                        planes = out.to_ndarray()  # (channels, samples) float32
                        if mono is None:
                            mono = _Mono(out.sample_rate, target_sr, max_seconds, measure=measure,
                                         channels=planes.shape[0])
                        mono.add(planes.T)
        except AudioError:
            raise
        except Exception as exc:
            raise AudioError(f"could not decode audio: {_reason(exc)}") from exc
    if mono is None:
        raise AudioError("audio is empty: no samples decoded")
    return mono.finish()


def _reason(exc: Exception) -> str:
    """A decoder error's own words, without the file name that FFmpeg and libsndfile add."""
    text = getattr(exc, "strerror", None) or getattr(exc, "error_string", None) or type(exc).__name__
    return str(text).strip()[:200]


# --------------------------------------------------------------------------- features

def _hop_for(sr: int) -> int:
    """Hop length of ~11.6 ms (256 at 22.05 kHz), a power of two."""
    return int(2 ** round(math.log2(sr * 256 / 22050)))


@functools.lru_cache(maxsize=8)
def _band_basis(sr: int, n_fft: int, n_bands: int = 40, fmin: float = 30.0, fmax: float = 11025.0,
                corner: float = 100.0) -> np.ndarray:
    """Triangular filters equally spaced on log(1 + f / corner): nearly logarithmic above
    ``corner`` (so the kick and bass region gets its share of bands, unlike mel's linear
    low end), shape (n_bands, n_fft // 2 + 1)."""
    fmax = min(fmax, sr / 2)
    scale = np.log1p(np.fft.rfftfreq(n_fft, 1.0 / sr) / corner)
    edges = np.linspace(math.log1p(fmin / corner), math.log1p(fmax / corner), n_bands + 2)
    step = edges[1] - edges[0]
    basis = np.empty((n_bands, len(scale)), np.float32)
    for b in range(n_bands):
        basis[b] = np.maximum(0.0, 1.0 - np.abs(scale - edges[b + 1]) / step)
    # Bands narrower than a bin: make sure each covers at least its nearest bin.
    for b in np.flatnonzero(basis.sum(axis=1) == 0):
        basis[b, np.argmin(np.abs(scale - edges[b + 1]))] = 1.0
    basis.setflags(write=False)  # cached: shared by every call
    return basis


@functools.lru_cache(maxsize=8)
def _band_weights(sr: int, n_fft: int) -> np.ndarray:
    """Per-band weights giving the lows (< 200 Hz: kick, bass), mids (< 2 kHz: snare body,
    chords) and highs (hats) about equal shares of the onset envelope."""
    basis = _band_basis(sr, n_fft)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    centre = (basis * freqs).sum(axis=1) / basis.sum(axis=1)
    weights = np.zeros(len(basis), np.float32)
    for lo, hi, share in ((0, 200, 0.35), (200, 2000, 0.35), (2000, np.inf, 0.30)):
        group = (centre >= lo) & (centre < hi)
        if group.any():
            weights[group] = share / group.sum()
    weights /= weights.sum()
    weights.setflags(write=False)  # cached: shared by every call
    return weights


#: Band groups (Hz, by band centre) of the envelopes that choose the beat's phase (_offbeat_phase).
_PHASE_GROUPS = (0.0, 100.0, 250.0, 900.0, 3400.0, math.inf)


@functools.lru_cache(maxsize=8)
def _group_matrix(sr: int, n_fft: int) -> np.ndarray:
    """(bands, groups): the mean of the flux of the bands whose centre lies in each of
    :data:`_PHASE_GROUPS`' ranges (a group without a band stays zero)."""
    basis = _band_basis(sr, n_fft)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    centre = (basis * freqs).sum(axis=1) / basis.sum(axis=1)
    m = np.zeros((len(basis), len(_PHASE_GROUPS) - 1), np.float32)
    for g, (lo, hi) in enumerate(zip(_PHASE_GROUPS[:-1], _PHASE_GROUPS[1:])):
        group = (centre >= lo) & (centre < hi)
        if group.any():
            m[group, g] = 1.0 / group.sum()
    m.setflags(write=False)  # cached: shared by every call
    return m


def onset_envelope(y: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """Band-weighted log spectral flux, one value per hop (~11.6 ms).

    Returns (envelope, frames per second); value ``i`` belongs to time ``i / fps``.
    """
    env, _, fps = onset_envelopes(y, sr)
    return env, fps


def onset_envelopes(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray, float]:
    """:func:`onset_envelope` and, from the same spectra, the flux of five band groups
    (below 100 Hz, 100-250, 250-900, 900-3400, above 3400: frames x 5) for
    :func:`_offbeat_phase`. Returns (envelope, group envelopes, frames per second)."""
    import scipy.fft

    hop = _hop_for(sr)
    n_fft = 4 * hop
    window = hann(n_fft)
    # The band matrix with each row doubled, to apply to the interleaved (re, im) squares.
    basis = np.repeat(_band_basis(sr, n_fft).T, 2, axis=0)
    weights = _band_weights(sr, n_fft)
    groups = _group_matrix(sr, n_fft)
    n_frames = frame_count(len(y), n_fft, hop)
    env = np.empty(n_frames, np.float32)
    grouped = np.empty((n_frames, groups.shape[1]), np.float32)
    prev = None
    for i, frames in frame_blocks(y, n_fft, hop, BLOCK):
        spec = scipy.fft.rfft(frames * window, axis=1, overwrite_x=True)
        parts = spec.view(np.float32)
        np.square(parts, out=parts)
        bands = parts @ basis  # band powers
        np.log10(np.maximum(bands, 1e-10, out=bands), out=bands)
        if prev is None:
            prev = bands[:1]
        flux = np.diff(np.concatenate([prev, bands]), axis=0)
        prev = bands[-1:]
        np.maximum(flux, 0, out=flux)
        env[i:i + len(flux)] = flux @ weights
        grouped[i:i + len(flux)] = flux @ groups
    return env, grouped, sr / hop


# --------------------------------------------------------------------------- tempo & beats

_TIGHTNESS = 700.0  # librosa's DP default is 100; DJ music keeps a steadier tempo
_TRIPLE = 0.55  # a family 3x as fast this salient: the peak was a three-beat period (a waltz's bar)
# (0.7 until version 3: a waltz at 146 whose bar peaked was read at 97; a 12/8 groove whose
# triplet eighths now win is brought back by _compound_level)
_BAR_BELOW = 55.0  # a strongest periodicity slower than this may be a bar of three
# (_bar_of_three): a waltz at 90-150 has its bar at 30-50 BPM (one at 138 peaks at 46). A 12/8
# ballad's dotted quarter (58-80 in the evaluation renders: one at 59.9 peaks there) and a
# shuffle's beat divide in three too, and are left to _TRIPLE and _compound_level (a 12/8
# ballad slower than this whose dotted quarter peaks would be counted in its eighths)
_BEAT_BAND = (70.0, 180.0)  # where the beat level is looked for, before folding into the range
_EDGE = 0.01  # a tempo this close outside the range is clamped to it, not folded
# Beat evidence (onset strength half-way between beats relative to on them), see _choose_level:
_SUBDIVISION = 0.2  # mean half-way onsets this strong: the level has a subdivision...
_REGULAR = 0.09  # ... if the median half-way onset is at least this strong too
_EVEN = 0.85  # this strong: the level is too slow (its off-beats are beats)...
_EVEN_BANDS = 2.0  # ... if in every band group its half-way onsets are within this factor of those
# on its beats (a reggae skank as strong as the beats, but in the chords' bands, is an off-beat)
_STRONG_SUBDIVISION = 0.58  # this strong: the off-beats are real eighth notes (drum & bass)...
_BACKBEAT = 0.45  # ... or this strong, with the level below's half-way (the snare) this strong too
_HALF_TIME_BELOW = 81.0  # a subdivided groove slower than this is counted double (dubstep)...
_BALLAD_SUBDIVISION = 0.3  # ... when its double's half-way onsets are this strong (not a ballad's 16ths)
# Compound metre (12/8): the level a third of the strongest family's tempo (or an octave of
# it), whose beats are this much stronger than the chosen level's, is the dotted-quarter beat.
_COMPOUND_ON = 1.1
_COMPOUND_THIRDS = 0.15  # ... and whose triplet eighths (a third, two thirds of a beat) sound this strong
# (their mean; each of them until analyser 5, and a 12/8 ballad at 74 with a faint first one was 111)
_COMPOUND_EVEN = 0.35  # ... and whose every other beat is at least this strong against the others
# (their means): a 12/8 groove's kick and snare alternate (0.47-0.80 in the renders); a waltz at
# 2/3 of its tempo alternates its bar's one with the "and" of two, an eighth note (0.16-0.20)
_COMPOUND_ACCENT = 0.7  # ... and its triplet eighths at most this strong (their mean): dotted
# quarters stand out from their eighths (a 12/8 ballad's at 0.24-0.47); an even pulse of eighths
# counted in threes (a straight rock groove's at 2/3 of its tempo: 0.9-1.0) is no compound beat
_COMPOUND_BAND = (60.0, 180.0)
_COMPOUND_BUSY = 0.5  # looked for only when the chosen level's half-way onsets are this regular
# The half-beat phase (see _offbeat_phase): per band group (below 100 Hz, 100-250, 250-900,
# 900-3400, above 3400), weights of three measures of the onsets half-way between the beats
# against those on them (medians, means, how often half-way is the stronger), and a bias.
# Fitted (logistic regression, C=10) on the evaluation set's tuning part and the synthesized
# corpora of bench/analysis_bench.py (seed 1234 and its harder variants: house, techno and
# dembow, with off-beat hats and snares over a kick on every beat, must stay put); checked
# on excerpts rendered with other seeds: 8 of 14 off-beat grids moved (UK garage, one-drop,
# some GM reggae and bossa), none of the 184 right ones.
_PHASE_WEIGHTS = np.array([[0.35, 1.49, 3.99],
                           [1.13, -3.65, 3.02],
                           [-3.56, -1.47, 0.49],
                           [2.63, 0.71, 2.75],
                           [0.18, 1.49, 2.52]])
_PHASE_BIAS = -0.04
_FLOOR_KICK = 0.9  # a kick (below 250 Hz) on this share of the beats, louder than half-way...
_FLOOR_RATIO = 2.0  # ... by this much (medians): four on the floor, the grid is on the beat
# Swung eighths (see _swung_offbeat): the swung "and" comes two thirds of a beat after its beat,
# so on a grid half a beat off it comes a sixth of a beat after the grid's points.
_SWUNG_SIXTH = 0.25  # high-band onsets a sixth of a beat after the points at least this strong...
_SWUNG_ALONE = 0.35  # ... and, relative to those, at most this strong a third and two thirds after
# Swing (see _swing_phase): beats on the short note of a long-short pair are a third early.
_SWING_SHORT = 0.3  # onsets a third of a beat after the beats at least this strong...
_SWING_LONG = 0.35  # ... and, relative to those, at most this strong at two thirds and half-way


def _autocorrelation(env: np.ndarray) -> np.ndarray:
    x = env - env.mean()
    n = len(x)
    spec = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(spec.real ** 2 + spec.imag ** 2)[:n]
    return acf / acf[0] if acf[0] > 0 else acf


def _interp(a: np.ndarray, lags: np.ndarray) -> np.ndarray:
    i = np.floor(lags).astype(int)
    frac = lags - i
    ok = (i >= 0) & (i + 1 < len(a))
    out = np.zeros(lags.shape)
    out[ok] = a[i[ok]] * (1 - frac[ok]) + a[i[ok] + 1] * frac[ok]
    return out


def _harmonic_salience(acf: np.ndarray, fps: float, bpms: np.ndarray) -> np.ndarray:
    """Autocorrelation summed over the first four multiples of each tempo's period."""
    lags = fps * 60.0 / np.asarray(bpms, dtype=float)
    return sum(_interp(acf, k * lags) for k in (1, 2, 3, 4)) / 4


def _tempo_family(env: np.ndarray, fps: float) -> tuple[float, bool] | None:
    """(tempo, bar of three): the tempo (BPM, 40-250, 0.1 steps) of the strongest
    periodicity, right up to an octave (x2, /2: decided later). The harmonic sum cannot tell
    a period from its multiples, so when the family three times as fast (every third beat
    of which is this one's) is nearly as salient, the peak was a three-beat period and the
    finer family is taken. So it is when the peak is a bar of three beats
    (:func:`_bar_of_three`), however salient the finer family: then ``bar of three`` is
    True, and a third of the family is the bar, not a 12/8 groove's dotted quarter
    (:func:`_compound_level` is not asked). None when the envelope has no periodicity at
    all (silence, a constant tone)."""
    acf = _autocorrelation(env)
    bpms = np.arange(40.0, 250.0, 0.1)
    salience = _harmonic_salience(acf, fps, bpms)
    if not np.any(salience > 0):
        return None
    best = int(np.argmax(salience))
    finer = np.array(_octaves_within(3 * bpms[best], 40.0, 250.0))
    if not len(finer):
        return float(bpms[best]), False
    finer_salience = _harmonic_salience(acf, fps, finer)
    bar = _bar_of_three(acf, fps, float(bpms[best]))
    if bar or finer_salience.max() >= _TRIPLE * salience[best]:
        return float(finer[int(np.argmax(finer_salience))]), bar
    return float(bpms[best]), False


def _bar_of_three(acf: np.ndarray, fps: float, bpm: float) -> bool:
    """Whether a periodicity slower than :data:`_BAR_BELOW` is a bar of three beats: the
    envelope correlates with itself a third and two thirds of its period later (the beats
    two and three of a waltz, its "pahs"), positively and more than half of it later (the
    eighth note between beats two and three, which a bar of two beats would have as its
    second beat). Counted in halves of that bar, a waltz at 138 is read at 92, its beats
    every one and a half true beats. A 4/4 bar (or half bar) divides in two: drum & bass,
    funk, a one drop and UK garage peak at theirs, and correlate most half-way."""
    if bpm >= _BAR_BELOW:
        return False
    lag = fps * 60.0 / bpm
    third, half, two_thirds = _interp(acf, lag * np.array([1 / 3, 1 / 2, 2 / 3]))
    return min(third, two_thirds) > max(half, 0.0)


def _track(env: np.ndarray, fps: float, bpm: float) -> np.ndarray:
    """Beat frames (float, sub-frame peak position) for a given tempo.

    librosa's dynamic programme ends on the last strong onset and bends the beats before
    it towards that one, so the envelope is extended by a copy of its last eight beat
    periods and beats past the real end are dropped. librosa's own trimming is off (in
    0.11 it can drop seconds of good beats): see :func:`_trim_weak_ends`.
    """
    import librosa

    n = len(env)
    period = fps * 60.0 / bpm
    tail = int(round(min(8, (n // 2) // period) * period))
    extended = np.concatenate([env, env[-tail:]]) if tail > 0 else env
    _, frames = librosa.beat.beat_track(onset_envelope=extended, sr=fps, hop_length=1, bpm=bpm,
                                        tightness=_TIGHTNESS, trim=False)
    frames = np.asarray(frames, dtype=int)
    frames = frames[frames < n]
    if len(frames) == 0 or n < 3:
        return frames.astype(float)
    # Parabolic peak interpolation of the envelope around each beat frame.
    f = np.clip(frames, 1, n - 2)
    a, b, c = env[f - 1], env[f], env[f + 1]
    denom = a - 2 * b + c
    peak = (b >= a) & (b >= c) & (denom < 0)
    shift = np.where(peak, 0.5 * (a - c) / np.where(peak, denom, -1.0), 0.0)
    return f + np.clip(shift, -0.5, 0.5)


def _strengths(env: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The envelope's local maximum (+-2 frames) at each frame position."""
    idx = np.round(positions).astype(int)
    last = len(env) - 1
    return np.maximum.reduce([env[np.clip(idx + d, 0, last)] for d in range(-2, 3)])


class _Level(NamedTuple):
    """A candidate beat level: its tempo, tracked beats and beat evidence."""

    bpm: float
    beats: np.ndarray
    on: float  # mean onset strength on the (inner) beats
    half: float  # ... half-way between consecutive beats
    regular: float  # median half-way strength / median on-beat strength

    @classmethod
    def track(cls, env: np.ndarray, fps: float, bpm: float) -> _Level:
        beats = _track(env, fps, bpm)
        if len(beats) < 4:
            return cls(bpm, beats, 0.0, 0.0, 0.0)
        on = _strengths(env, beats[1:-1])
        half = _strengths(env, (beats[:-1] + beats[1:]) / 2)
        regular = np.median(half) / max(float(np.median(on)), 1e-12)
        return cls(bpm, beats, float(on.mean()), float(half.mean()), float(regular))

    def subdivided(self, share: float) -> bool:
        """Onsets half-way between the beats are at least ``share`` of those on them, and
        most half-way points have one (a few loud syncopations, as dembow's snares between
        its eighth notes, are no subdivision)."""
        return self.on > 0 and self.half >= share * self.on and self.regular >= _REGULAR


def _trim_weak_ends(env: np.ndarray, beats: np.ndarray, run: int = 8) -> np.ndarray:
    """Drop leading and trailing beats that sit in onset-less stretches: a beatless intro or
    outro. The kept beats start and end with a run of ``run`` beats (two bars) whose
    median onset strength is at least 0.4 of the upper quartile over all beats, and with a
    beat at least half that strong."""
    if len(beats) < 2 * run:
        return beats
    s = _strengths(env, beats)
    typical = np.percentile(s, 75)
    windows = np.lib.stride_tricks.sliding_window_view(s, run)
    ok = np.flatnonzero(np.median(windows, axis=1) >= 0.4 * typical)
    if len(ok) == 0:
        return beats
    first, last = ok[0], ok[-1] + run - 1
    while first < last and s[first] < 0.5 * typical:
        first += 1
    while last > first and s[last] < 0.5 * typical:
        last -= 1
    return beats[first: last + 1]


def _fit_period(beats: np.ndarray, period: float) -> float | None:
    """Mean beat period (frames) by a linear regression of beat times on beat numbers,
    ignoring beats far off the line (robust to a few misplaced beats). None when there are
    too few beats or the fit strays more than 5 % from ``period``."""
    if len(beats) < 8:
        return None
    steps = np.maximum(1, np.round(np.diff(beats) / period))
    k = np.concatenate([[0.0], np.cumsum(steps)])
    keep = np.ones(len(beats), bool)
    for _ in range(3):
        slope, icpt = np.polyfit(k[keep], beats[keep], 1)
        resid = np.abs(beats - (icpt + slope * k))
        spread = 5 * 1.4826 * np.median(resid[keep])
        keep = resid <= min(0.25 * period, max(0.05 * period, spread))
        if keep.sum() < 8:
            return None
    slope, _ = np.polyfit(k[keep], beats[keep], 1)
    return float(slope) if abs(slope / period - 1) < 0.05 else None


def _even_in_bands(level: _Level, groups: np.ndarray | None) -> bool:
    """The onsets half-way between ``level``'s beats are as strong as on them in every band
    group (:func:`onset_envelopes`), within a factor :data:`_EVEN_BANDS`: a pulse of like
    beats (a waltz's quarter notes heard at half their tempo), not an off-beat of another
    sound (reggae's skank chords between the kick and bass on its beats). True without
    ``groups``."""
    if groups is None or len(level.beats) < 4:
        return True
    on_beat, half_way = level.beats[1:-1], (level.beats[:-1] + level.beats[1:]) / 2
    for g in range(groups.shape[1]):
        on = float(_strengths(groups[:, g], on_beat).mean())
        half = float(_strengths(groups[:, g], half_way).mean())
        if not on / _EVEN_BANDS <= half <= on * _EVEN_BANDS:
            return False
    return True


def _choose_level(levels: list[_Level], groups: np.ndarray | None = None) -> _Level:
    """Pick the beat level among octave-related candidates (ascending tempo).

    A level qualifies when its beats carry a subdivision (onsets half-way between them, as
    the eighth-note hats of drum & bass or dubstep) or form a bare pulse (the level below
    hears them as equally strong on- and off-beats); a level with nothing between its
    beats (a 70 BPM ballad read at 140) is too fast. A bare pulse with nothing between its
    beats must be even in every band (:func:`_even_in_bands`, with ``groups``: reggae's
    skank is no beat), not so one with a subdivision (drum & bass's snare, half-way between
    the kicks at 87, is another sound, and its hats subdivide the beats at 174). The
    fastest qualifying level wins, except that a subdivided groove of 81 BPM or more keeps
    its own tempo when its double has only a weak subdivision (hip-hop with sixteenth-note
    hats is 90, not 180; drum & bass, with kicks and hats between its beats, is 174, and
    so it is when its eighths are weaker but the level below hears its snare half-way
    between its beats; a half-time dubstep groove at 70 is counted 140). A ballad at 70-80
    whose double has only weak sixteenths between its beats keeps its tempo. Failing all,
    the level with the strongest onsets on its beats.
    """
    for i in range(len(levels) - 1, -1, -1):
        level = levels[i]
        below = levels[i - 1] if i > 0 else None
        subdivided = level.subdivided(_SUBDIVISION)
        bare_pulse = (below is not None and below.subdivided(_EVEN)
                      and (subdivided or _even_in_bands(below, groups)))
        if not (subdivided or bare_pulse):
            continue
        if (not bare_pulse and below is not None and below.bpm < _HALF_TIME_BELOW
                and below.subdivided(_SUBDIVISION) and not level.subdivided(_BALLAD_SUBDIVISION)):
            continue  # a ballad at 72 with sixteenth notes between its hats is not 144
        eighths = level.subdivided(_STRONG_SUBDIVISION) or (
            below is not None and level.subdivided(_BACKBEAT) and below.subdivided(_BACKBEAT))
        if (subdivided and not bare_pulse and not eighths
                and below is not None and below.bpm >= _HALF_TIME_BELOW
                and below.subdivided(_SUBDIVISION)):
            return below
        return level
    return max(levels, key=lambda level: level.on)


def _compound_level(env: np.ndarray, fps: float, base: float, chosen: _Level,
                    levels: Sequence[_Level] = (), low: np.ndarray | None = None) -> _Level:
    """The dotted-quarter beat of a 12/8 groove, when that is what the beats are, else
    ``chosen``. In 12/8 the strongest periodicity is often the triplet eighths (or two of
    them), whose octaves in the beat band are 1.5 times the beat (a 76 BPM ballad read at
    114). The candidates are the octaves of a third of the family's tempo; one is taken when
    the onsets on its beats are :data:`_COMPOUND_ON` times as strong as on the chosen
    level's and on every octave level's in ``levels`` (a half-time groove at 150 has weak
    beats between its kick and snare, so its beats at 100 can outweigh them, but not its
    kick and snare at 75), and the triplet eighths between its beats sound
    (:data:`_COMPOUND_THIRDS`, their mean: a ballad may barely touch the first of them), and
    every other of its beats is at least :data:`_COMPOUND_EVEN` as strong as the others
    (:func:`_alike_in_pairs`: a 12/8 groove's kick and snare; a waltz counted two to the
    bar, 2/3 of its tempo, has the bar's one and the eighth note on the "and" of two, and its
    soft beats two and three can make those outweigh its own beats), and its triplet eighths
    are weaker than its beats
    (:data:`_COMPOUND_ACCENT`): a straight groove's even eighths, kick, hats and bass on each,
    are as strong on every third of them as between, and at 2/3 of its tempo they can pass
    for a 12/8 beat by their onsets alone.
    With ``low`` (the onsets below 250 Hz), the kick must sit on its beats at least as
    strongly as on the chosen level's: a straight groove's eighths (kick, hat, kick...) are
    also a third of 1.5 of its beats, but its kicks fall on every other of those beats."""
    if chosen.regular < _COMPOUND_BUSY:
        return chosen  # read at 3/2 of a compound beat, half-way between beats is a triplet eighth
    best = chosen
    straight = max([chosen.on, *(level.on for level in levels)])  # the strongest octave level's beats
    chosen_kick = _strengths(low, chosen.beats[1:-1]).mean() if low is not None else None
    for bpm in _octaves_within(base / 3, *_COMPOUND_BAND):
        beats = _track(env, fps, bpm)
        if len(beats) < 4:
            continue
        on = _strengths(env, beats[1:-1])
        step = np.diff(beats)
        thirds = (_strengths(env, beats[:-1] + step / 3).mean() + _strengths(env, beats[:-1] + 2 * step / 3).mean()) / 2
        if chosen_kick is not None and _strengths(low, beats[1:-1]).mean() < chosen_kick:
            continue
        if (on.mean() >= _COMPOUND_ON * max(best.on, straight, 1e-12)
                and _COMPOUND_THIRDS * on.mean() <= thirds <= _COMPOUND_ACCENT * on.mean()
                and _alike_in_pairs(on)):
            half = _strengths(env, beats[:-1] + step / 2)
            best = _Level(bpm, beats, float(on.mean()), float(half.mean()),
                          float(np.median(half) / max(float(np.median(on)), 1e-12)))
    return best


def _alike_in_pairs(on: np.ndarray) -> bool:
    """Whether every other beat (onset strengths ``on``) is at least :data:`_COMPOUND_EVEN`
    as strong as the beats between them (their means): beats, not a bar's halves."""
    if len(on) < 4:
        return True
    a, b = float(on[0::2].mean()), float(on[1::2].mean())
    return min(a, b) >= _COMPOUND_EVEN * max(a, b, 1e-12)


def tempo_and_beats(env: np.ndarray, fps: float, *, bpm_range: tuple[float, float] = (70, 180),
                    groups: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Tempo (BPM within ``bpm_range``) and beat times (seconds) from an onset envelope.

    The beat level is chosen (:func:`_choose_level`) among the octaves (x2, /2) of the
    strongest periodicity that lie between 70 BPM, or the range's minimum if lower, and
    180 BPM (above it, sixteenth notes would pass for beats). Its period is refined by
    regression on its beats, then the tempo is folded by octaves into ``bpm_range`` (the
    range it is reported in) and the beats re-tracked at that tempo. A tempo within 1 %
    outside the range, or a range too narrow to hold any of its octaves, gets the
    nearest edge.
    """
    lo, hi = float(bpm_range[0]), float(bpm_range[1])
    family = _tempo_family(env, fps)
    if family is None:
        return round(math.sqrt(lo * hi), 2), np.zeros(0)
    base, bar_of_three = family
    band_lo = min(lo, _BEAT_BAND[0]) * (1 - _EDGE)
    levels = [_Level.track(env, fps, bpm)
              for bpm in _octaves_within(base, band_lo, _BEAT_BAND[1] * (1 + _EDGE))]
    chosen = _choose_level(levels, groups)
    if not bar_of_three:
        chosen = _compound_level(env, fps, base, chosen, levels, None if groups is None else _kick(groups))
    bpm, beats = chosen.bpm, chosen.beats
    beats = _trim_weak_ends(env, beats)
    period = _fit_period(beats, fps * 60.0 / bpm)
    if period is not None:
        bpm = fps * 60.0 / period
    if lo * (1 - _EDGE) <= bpm < lo or hi < bpm <= hi * (1 + _EDGE):
        bpm = min(max(bpm, lo), hi)  # a hair outside the range is the range's edge
    elif not lo <= bpm <= hi:
        inside = _octaves_within(bpm, lo, hi)
        if inside:
            bpm = min(inside, key=lambda t: abs(math.log2(t / bpm)))
            beats = _trim_weak_ends(env, _track(env, fps, bpm))
        else:
            bpm = min(max(bpm, lo), hi)
    beats = _swing_phase(env, beats)
    if groups is not None:
        beats = _offbeat_phase(groups, beats)
    return bpm, _beat_seconds(beats, fps)


def _beat_seconds(frames: np.ndarray, fps: float) -> np.ndarray:
    """Beat times of envelope frames: onsets lie about one hop after their flux frame."""
    return frames / fps + 1.0 / fps


def _beat_frames(seconds: np.ndarray, fps: float) -> np.ndarray:
    """The envelope frames of beat times (:func:`_beat_seconds` undone)."""
    return (seconds - 1.0 / fps) * fps


def _phase_held(groups: np.ndarray, beats: np.ndarray) -> bool:
    """Whether the grid's own onsets hold it on the beat, whatever the bars' harmony says:
    a kick on nearly every beat (:func:`_four_on_the_floor`), or hats swung on it (the grid
    half a beat away is the one off a swung groove, :func:`_swung_offbeat`: a one drop's
    chords change on its skank)."""
    return len(beats) >= 9 and (_swung_offbeat(groups[:, -1], (beats[:-1] + beats[1:]) / 2)
                                or _four_on_the_floor(groups, beats))


def _offbeat_phase(groups: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """Beats moved half a beat when they sit on the off-beat.

    The tracker follows the strongest onsets, and in UK garage, reggae or funk those are
    the off-beat: open hats, skanks, a bass line between the beats. For each band group
    (:func:`onset_envelopes`), the onsets half-way between the beats are compared with
    those on them by their medians and their means, (half - on) / (half + on), and by how
    often half-way is the stronger (less one half); the weighted sum of the fifteen
    (:data:`_PHASE_WEIGHTS`, :data:`_PHASE_BIAS`) above zero takes the half-way points.
    A grid with a kick on nearly every beat (:data:`_FLOOR_KICK`, :data:`_FLOOR_RATIO`: four
    on the floor) stays: however loud its off-beat hats, bass or chords, its kicks are the beat.
    Before both, swung hats a sixth of a beat after the grid's points (:func:`_swung_offbeat`)
    move it: the skank and a bass line on every off-beat can pass for four on the floor."""
    if len(beats) < 8:
        return beats
    on_beat, half_way = beats[1:-1], (beats[:-1] + beats[1:]) / 2
    if _swung_offbeat(groups[:, -1], beats):
        return _half_way(beats, half_way, len(groups))
    if _four_on_the_floor(groups, beats):
        return beats
    evidence = np.zeros(_PHASE_WEIGHTS.shape)
    for g in range(groups.shape[1]):
        on = _strengths(groups[:, g], on_beat)
        half = _strengths(groups[:, g], half_way)
        for k, (h, o) in enumerate(((np.median(half), np.median(on)), (half.mean(), on.mean()))):
            evidence[g, k] = (h - o) / (h + o) if h + o > 0 else 0.0
        evidence[g, 2] = float(np.mean(half[:len(on)] > on)) - 0.5
    if float(np.sum(evidence * _PHASE_WEIGHTS)) + _PHASE_BIAS <= 0:
        return beats
    return _half_way(beats, half_way, len(groups))


def _four_on_the_floor(groups: np.ndarray, beats: np.ndarray) -> bool:
    """A kick (below 250 Hz) on :data:`_FLOOR_KICK` of the beats, louder than half-way, by
    :data:`_FLOOR_RATIO` (medians)."""
    on_beat, half_way = beats[1:-1], (beats[:-1] + beats[1:]) / 2
    kick = _kick(groups)
    kick_on, kick_half = _strengths(kick, on_beat), _strengths(kick, half_way)
    return bool(np.mean(kick_on > kick_half[:len(kick_on)]) >= _FLOOR_KICK
                and np.median(kick_on) >= _FLOOR_RATIO * np.median(kick_half))


def _kick(groups: np.ndarray) -> np.ndarray:
    """The onset strength below 250 Hz (the first two band groups): a kick's thump and body."""
    return groups[:, 0] + groups[:, 1]


def _half_way(beats: np.ndarray, half_way: np.ndarray, frames: int) -> np.ndarray:
    """The grid moved half a beat: the half-way points and one after the last beat if it fits."""
    after = beats[-1] + (beats[-1] - beats[-2]) / 2
    return np.concatenate([half_way, [after]]) if after < frames else half_way


def _swung_offbeat(high: np.ndarray, beats: np.ndarray) -> bool:
    """Whether the grid sits half a beat off a swung groove, by its hats (``high``: the band
    group above 3400 Hz).

    Swing plays a beat's eighths long-short: the off-beat hat comes two thirds of a beat after
    the beat's, never a sixth. On a grid half a beat off (a reggae grid on its skank and bass,
    whose hats keep the beat), the swung hats come a sixth of a beat after the grid's points,
    at least :data:`_SWUNG_SIXTH` as strong as the stronger of the points and the half-way
    points, and as a note of their own: hardly anything a third or
    two thirds of a beat after the points (:data:`_SWUNG_ALONE` of them; a straight groove's
    kick leaves a faint tail there). A swing of sixteenths (UK garage) looks the same from
    both phases and says nothing."""
    if len(beats) < 3:
        return False
    inner = beats[1:-1]
    step = np.diff(beats)[1:]
    at = [float(_strengths(high, inner + f * step).mean()) for f in (0.0, 1 / 6, 1 / 3, 1 / 2, 2 / 3)]
    on, sixth, third, half, two_thirds = at
    return (sixth > 0 and sixth >= _SWUNG_SIXTH * max(on, half)
            and max(third, two_thirds) <= _SWUNG_ALONE * sixth)


def _swing_phase(env: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """Beats moved a third of a beat later when they sit on the swung "let" of a shuffle.

    Swing divides a beat long-short (two thirds, one third), so from a beat the next
    onset comes two thirds of a beat later. A grid on the short note (a shuffle's bass and
    chord stabs can outweigh its kick and snare) hears the pattern short-long instead:
    strong onsets a third of a beat after its beats (:data:`_SWING_SHORT` of those on
    them), and little at two thirds or half-way (:data:`_SWING_LONG` of that)."""
    if len(beats) < 8:
        return beats
    period = float(np.median(np.diff(beats)))
    inner = beats[1:-1]
    on = float(_strengths(env, inner).mean())
    third, half, two_thirds = (float(_strengths(env, inner + f * period).mean()) for f in (1 / 3, 1 / 2, 2 / 3))
    if on > 0 and third >= _SWING_SHORT * on and max(half, two_thirds) <= _SWING_LONG * third:
        moved = beats + period / 3
        return moved[moved < len(env)]
    return beats


def _octaves_within(bpm: float, lo: float, hi: float) -> list[float]:
    """``bpm * 2**k`` for every integer k that lands in [lo, hi], ascending."""
    t = bpm
    while t > lo:
        t /= 2
    out = []
    while t <= hi:
        if t >= lo:
            out.append(t)
        t *= 2
    return out


# --------------------------------------------------------------------------- key

# Key profiles, tonic first: pitch-class distributions in a corpus of tonal music (Albrecht &
# Shanahan 2013) and the "edma" profiles for electronic dance music (Faraldo, Jorda & Herrera
# 2016). A key's score is its mean correlation with the two: on the evaluation set's tuning
# part as good as Albrecht & Shanahan's alone (0.832), on renders with other seeds and on
# bench/analysis_bench.py's corpus better (less often the relative major), once the drums are
# whitened out of the spectrum (:func:`chroma_vector`).
_PROFILES = (
    (np.array([0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081]),
     np.array([0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052])),
    (np.array([1.0, 0.2875, 0.5020, 0.4048, 0.6050, 0.5614, 0.3205, 0.7966, 0.3159, 0.4506, 0.4202, 0.3889]),
     np.array([1.0, 0.3096, 0.4415, 0.5827, 0.3262, 0.4948, 0.2889, 0.7804, 0.4328, 0.2903, 0.5331, 0.3217])),
)
#: Added to the minor keys' correlations: a minor key and its relative major share their
#: notes, and most of the music a DJ plays is minor.
_MINOR_PRIOR = 0.03
_WHITEN_BINS = 31  # ~84 Hz of the 8192-point spectrum at 22.05 kHz: the drums' smooth floor
#: The relative key's tonic triad must hold this much more of the opening bar's pitch-class
#: energy than the key's own to win (:func:`estimate_key`).
_OPENING_MARGIN = 0.1
#: The first frame with this share of the median frame's (whitened) energy starts the music;
#: the median is taken over this many frames spread over the track.
_OPENING_LEVEL = 0.25
_OPENING_SAMPLES = 16


@functools.lru_cache(maxsize=8)
def _chroma_map(sr: int, n_fft: int, fmin: float = 55.0, fmax: float = 2000.0) -> np.ndarray:
    """(bins, 12) weights folding a power spectrum onto pitch classes (C = 0), each bin
    weighted by its closeness to the nearest equal-tempered semitone."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    m = np.zeros((len(freqs), 12), np.float32)
    ok = (freqs >= fmin) & (freqs <= fmax)
    pitch = 12 * np.log2(freqs[ok] / 440.0) + 69
    nearest = np.round(pitch)
    weight = np.maximum(0.0, 1.0 - 2.0 * np.abs(pitch - nearest))
    m[np.flatnonzero(ok), (nearest.astype(int) % 12)] = weight
    m.setflags(write=False)  # cached: shared by every call
    return m


def chroma_vector(y: np.ndarray, sr: int) -> np.ndarray:
    """Average pitch-class energy (12 values, C first) from a long-window spectrum."""
    return key_chromas(y, sr)[0]


def key_chromas(y: np.ndarray, sr: int, bar: float | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The track's pitch-class energy (:func:`chroma_vector`) and, given ``bar`` (seconds),
    that of its opening: the first ``bar`` seconds of pitched sound, from the first frame
    whose whitened chroma holds :data:`_OPENING_LEVEL` of a typical frame's (the median of
    :data:`_OPENING_SAMPLES` frames spread over the track; a drums-only intro has little
    once whitened, where pitched music fills most of the track: where silence or drums fill
    more, the opening may be None or drums, which :func:`estimate_key`'s triad checks
    ignore). The opening is None without ``bar`` or without pitched frames. Only the
    sampled and opening frames are transformed again: memory stays one block of frames."""
    import scipy.fft
    from scipy.ndimage import median_filter

    n_fft = int(2 ** round(math.log2(sr * 0.37)))  # 8192 at 22.05 kHz: ~2.7 Hz bins
    n = len(y) // n_fft
    if n == 0:
        frames = np.pad(y, (0, n_fft - len(y)))[None, :]
    else:
        frames = y[: n * n_fft].reshape(n, n_fft)
    window = hann(n_fft)
    chroma_map = _chroma_map(sr, n_fft)
    top = int(np.flatnonzero(chroma_map.any(axis=1))[-1]) + _WHITEN_BINS  # the notes' bins and a margin
    power = np.zeros(n_fft // 2 + 1)
    for i in range(0, len(frames), 64):
        spec = scipy.fft.rfft(frames[i:i + 64] * window, axis=1)
        power += (spec.real ** 2 + spec.imag ** 2).sum(axis=0)
    magnitude = np.sqrt(power)
    # Whitening: what rises above the spectrum's running median is a partial of a note;
    # the broadband floor under it (drums, noise) would otherwise fold onto every pitch class.
    floor = median_filter(magnitude, size=_WHITEN_BINS, mode="nearest")
    chroma = np.maximum(magnitude - floor, 0.0) @ chroma_map
    if bar is None:
        return chroma, None

    def whitened(rows) -> np.ndarray:  # as above, for these frames alone (transformed again)
        spec = scipy.fft.rfft(frames[rows] * window, axis=1)[:, :top]
        low = np.sqrt(spec.real ** 2 + spec.imag ** 2)
        half = _WHITEN_BINS // 2  # the running median by partition: ndimage's is 5x slower here
        padded = np.pad(low, ((0, 0), (half, _WHITEN_BINS - 1 - half)), mode="edge")
        floor = np.partition(np.lib.stride_tricks.sliding_window_view(padded, _WHITEN_BINS, axis=1),
                             half, axis=-1)[..., half]
        return np.maximum(low - floor, 0.0) @ chroma_map[:top]

    hop = n_fft / sr
    typical = float(np.median(whitened(np.linspace(0, len(frames) - 1, min(len(frames), _OPENING_SAMPLES))
                                       .astype(int)).sum(axis=1)))
    if typical <= 0:
        return chroma, None
    span = max(1, math.ceil(bar / hop - 1e-9))
    for i in range(0, len(frames), 8):  # scan from the start, a few frames at a time
        pitched = np.flatnonzero(whitened(slice(i, i + 8)).sum(axis=1) > _OPENING_LEVEL * typical)
        if len(pitched):
            first = i + int(pitched[0])
            return chroma, whitened(slice(first, first + span)).sum(axis=0)
    return chroma, None


@functools.lru_cache(maxsize=1)
def _profile_rotations() -> np.ndarray:
    """(24, 12): the major then minor keys, each the mean of :data:`_PROFILES` rotated to its
    tonic, centred and of unit norm: a product with a centred unit chroma vector is the
    mean of the correlations."""
    stacks = []
    for major, minor in _PROFILES:
        rows = np.stack([np.roll(p, tonic) for p in (major, minor) for tonic in range(12)])
        rows = rows - rows.mean(axis=1, keepdims=True)
        stacks.append(rows / np.linalg.norm(rows, axis=1, keepdims=True))
    rows = np.mean(stacks, axis=0)
    rows.setflags(write=False)  # cached: shared by every call
    return rows


def estimate_key(chroma: np.ndarray, opening: np.ndarray | None = None) -> str | None:
    """Best of the 24 major/minor keys by correlation of the chroma vector with the key
    profiles rotated to each tonic; None for a flat (toneless) chroma.

    A key and its relative (A minor, C major) share their notes, and a loop such as
    i VI III VII has the chords of the relative major's I V vi IV: the whole track's chroma
    hardly tells them apart. With ``opening``, the chroma of the track's first bar
    (:func:`key_chromas`, four beats), the relative key wins when the opening chord is its
    tonic triad: no major or minor triad holds more of the opening's energy, and it holds
    :data:`_OPENING_MARGIN` more than the key's own tonic triad. Music most often opens on
    its tonic chord; one opening on ii (ii V I vi) or on another chord keeps the profiles'
    key."""
    chroma = np.asarray(chroma, dtype=float)
    if np.ptp(chroma) <= 1e-9 * max(1e-30, float(np.abs(chroma).max())):
        return None
    scores = _profile_rotations() @ ((chroma - chroma.mean()) / np.linalg.norm(chroma - chroma.mean()))
    scores[12:] += _MINOR_PRIOR
    minor, tonic = np.unravel_index(int(np.nanargmax(scores)), (2, 12))
    minor, tonic = bool(minor), int(tonic)
    if opening is not None and np.sum(opening) > 0:
        share = np.asarray(opening, dtype=float) / np.sum(opening)
        rel_minor, rel_tonic = (not minor), (tonic + (3 if minor else 9)) % 12

        def triad(t: int, m: bool) -> float:
            return float(share[[t, (t + (3 if m else 4)) % 12, (t + 7) % 12]].sum())

        best = max(triad(t, m) for m in (False, True) for t in range(12))
        rel = triad(rel_tonic, rel_minor)
        if rel >= best and rel - triad(tonic, minor) > _OPENING_MARGIN:
            minor, tonic = rel_minor, rel_tonic
    return key_from_index(tonic=tonic, minor=minor)


# --------------------------------------------------------------------------- overview


def _abs_peak(y: np.ndarray) -> float:
    """max |y| (0.0 for silence, never -0.0), without a copy of |y|."""
    return max(0.0, float(y.max()), -float(y.min()))


def _peaks(y: np.ndarray, points: int) -> list[float]:
    """Peak of |y| per block, at most ``points`` blocks (y is already scaled to 0..1)."""
    if len(y) == 0 or points <= 0:
        return []
    block = math.ceil(len(y) / points)
    n = math.ceil(len(y) / block)
    whole = len(y) // block
    peaks = np.zeros(n, np.float32)
    if whole:  # max |x| as max(max x, -min x): no copy of |y|
        rows = y[:whole * block].reshape(whole, block)
        np.maximum(rows.max(axis=1), -rows.min(axis=1), out=peaks[:whole])
    if whole < n:
        rest = y[whole * block:]
        peaks[whole] = _abs_peak(rest)
    peaks = np.clip(peaks, 0.0, 1.0) + np.float32(0.0)  # (+ 0: no -0.0 from a block of -0.0)
    return np.round(peaks.astype(np.float64), 4).tolist()


def _parse_intervals(intervals: Iterable[Any]) -> list[tuple[float, float]]:
    """``[{"start", "end"}]`` or ``[(start, end)]`` as floats; ValueError when not 0 <= start < end."""
    spans = []
    for item in intervals:
        try:
            start, end = (float(item["start"]), float(item["end"])) if isinstance(item, Mapping) \
                else (float(v) for v in item)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"invalid interval {item!r}: need start and end in seconds") from exc
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
            raise ValueError(f"invalid interval {start!r}..{end!r}: need 0 <= start < end")
        spans.append((start, end))
    return spans


def _cue_spans(*, beats: Sequence[float], duration: float, beats_per_cue: int,
               intervals: list[tuple[float, float]] | None, auto_cues: bool,
               first_downbeat: int = 0) -> tuple[list[tuple[float, float]], list[str]]:
    """Cue (start, end) pairs and their names: the given intervals clipped to the audio (those
    starting at or past its end dropped), else one cue every ``beats_per_cue`` beats from the
    first downbeat (``beats[first_downbeat]``), each ending where the next starts and the last
    at the end of the audio, with a cue "intro" first over the beats before that downbeat."""
    if intervals is not None:
        spans = [(start, min(end, duration)) for start, end in intervals if round(start, 3) < duration]
        return spans, [f"cue_{i}" for i in range(len(spans))]
    if not auto_cues or len(beats) == 0:
        return [], []
    first_downbeat = min(max(0, int(first_downbeat)), len(beats) - 1)
    intro = first_downbeat > 0
    step = auto_cue_step(len(beats) - first_downbeat, beats_per_cue, MAX_CUES - intro)
    starts = [t for t in beats[first_downbeat::step] if t < duration]
    spans = list(zip(starts, starts[1:] + [duration]))
    names = [f"cue_{i}" for i in range(len(spans))]
    if intro:
        spans.insert(0, (beats[0], beats[first_downbeat]))
        names.insert(0, "intro")
    return spans, names


def auto_cue_step(n_beats: int, beats_per_cue: int, max_cues: int = MAX_CUES) -> int:
    """Beats between automatic cues: ``beats_per_cue``, or when that would give more than
    ``max_cues`` cues, its smallest multiple that gives at most ``max_cues`` (cues then
    merge whole groups of ``beats_per_cue`` beats and still span the whole track)."""
    return beats_per_cue * max(1, math.ceil(n_beats / (beats_per_cue * max_cues)))


def cue_points(n_cues: int, max_cue_samples: int, *, overview_points: int,
               max_result_points: int = MAX_RESULT_POINTS) -> int:
    """Waveform points per cue: ``max_cue_samples``, or fewer so that the cues' waveforms
    and the overview together hold at most ``max_result_points`` numbers."""
    if n_cues == 0:
        return max_cue_samples
    share = (max_result_points - overview_points) // n_cues
    if share < 1:
        raise ValueError(f"{n_cues} cues cannot fit in {max_result_points} waveform points")
    return min(max_cue_samples, share)


def build_cues(y: np.ndarray, sr: int, spans: Sequence[tuple[float, float]], *, max_cue_samples: int,
               overview_points: int, max_result_points: int = MAX_RESULT_POINTS,
               names: Sequence[str] | None = None) -> list[dict]:
    """The cues of ``spans`` (named ``names``, else ``cue_<i>``) with their waveforms, within
    the result's budget of points."""
    points = cue_points(len(spans), max_cue_samples, overview_points=overview_points,
                        max_result_points=max_result_points)
    cues = []
    for i, (start, end) in enumerate(spans):
        first = min(int(start * sr), len(y) - 1)
        segment = y[first: max(first + 1, int(round(end * sr)))]
        cues.append({"name": names[i] if names is not None else f"cue_{i}", "start": round(start, 3),
                     "end": round(end, 3),
                     "waveform": _peaks(segment, points)})
    return cues


# --------------------------------------------------------------------------- analyse

#: BLAS threads while analysing. Its matrix products are small (a few thousand frames by
#: ~1,000 bins by 40 bands: a few ms on one core), and OpenBLAS's threads, one per core by
#: default, busy-wait ~0.1 s after each product before they sleep: two threads on two cores
#: cost 85-130 ms of CPU (the spin after the analysis included) for a 30 s file whose
#: analysis takes ~25 ms on one, and were no faster in wall time (bench/analysis_bench.py's
#: CPU is process time, all threads). Analyses run one per process (an RQ worker's runner,
#: analysis/batch.py's pool: more workers are more processes), so one thread each is also
#: what keeps the cores for the other jobs.
_BLAS_THREADS = 1


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """threadpoolctl's view of the BLAS libraries (numpy's and scipy's OpenBLAS; librosa
    loads scipy.linalg lazily), or None when it cannot be had (analyses then run on the
    libraries' own threads). Taken once, with both loaded."""
    try:
        import scipy.linalg  # noqa: F401  (loads scipy's BLAS)
        from threadpoolctl import ThreadpoolController

        return ThreadpoolController()
    except Exception:  # noqa: BLE001 - a missing or broken threadpoolctl costs CPU, not results
        log.warning("BLAS threads cannot be limited (threadpoolctl unavailable); analysing on the "
                    "libraries' own threads", exc_info=True)
        return None


def _blas_single_threaded(fn):
    """``fn`` run with :data:`_BLAS_THREADS` BLAS threads, the libraries' own setting restored
    when it returns or raises, by the thread that set it. OpenBLAS (pthreads) takes the
    setting from one controlling thread only, so an analysis on another thread of a process
    whose first limit came from elsewhere runs on the libraries' threads: analyses run on
    their process's main thread (an analysis worker's runner, analysis/batch.py's pool)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        controller = _blas_controller()
        if controller is None:
            return fn(*args, **kwargs)
        with controller.limit(limits=_BLAS_THREADS, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper


@_blas_single_threaded
def analyse(y: np.ndarray, sr: int, *, auto_cues: bool = True, beats_per_cue: int = 16,
            intervals: Iterable[Mapping[str, float] | Sequence[float]] | None = None,
            max_cue_samples: int = 2048, bpm_range: tuple[float, float] = (70, 180),
            max_result_points: int = MAX_RESULT_POINTS) -> dict:
    """Analyse mono audio: tempo, beats, key, waveform overview and cues.

    Returns the API's result: ``{"bpm", "key", "camelot", "duration", "sample_rate",
    "beats", "downbeats", "beatgrid", "mix_in", "mix_out", "waveform", "cues": [{"name",
    "start", "end", "waveform"}]}`` (``key`` and ``camelot`` are None for audio without
    pitch; a job's result adds ``open_key`` and ``loudness``, :func:`job_result`). Raises
    :class:`AudioError` for empty or silent audio and ``ValueError`` for bad options.

    The result is bounded by construction: at most :data:`MAX_CUES` cues (automatic cues
    every ``beats_per_cue`` beats that would be more are merged by whole groups,
    :func:`auto_cue_step`; more intervals are refused) and at most ``max_result_points``
    waveform numbers (each cue's waveform gets fewer than ``max_cue_samples`` points when
    needed, :func:`cue_points`).
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError("analyse() needs mono audio (a 1-D array)")
    lo, hi = float(bpm_range[0]), float(bpm_range[1])
    if not (0 < lo < hi and math.isfinite(hi)):
        raise ValueError("bpm_range must be (min, max) with 0 < min < max")
    if int(beats_per_cue) < 1 or int(max_cue_samples) < 1:
        raise ValueError("beats_per_cue and max_cue_samples must be at least 1")
    if int(max_result_points) < MIN_RESULT_POINTS:
        raise ValueError(f"max_result_points must be at least {MIN_RESULT_POINTS}")
    spans_given = _parse_intervals(intervals) if intervals is not None else None
    if spans_given is not None and len(spans_given) > MAX_CUES:
        raise ValueError(f"at most {MAX_CUES} intervals")
    if len(y) == 0:
        raise AudioError("audio is empty: no samples")
    if not np.all(np.isfinite(y)):
        y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    duration = len(y) / sr
    y = y - np.float32(y.mean())  # a DC offset is not sound
    peak = _abs_peak(y)
    if peak < SILENCE_RMS or _max_rms(y, sr) < SILENCE_RMS:
        raise AudioError("audio is silent")
    y /= np.float32(peak)

    env, groups, fps = onset_envelopes(y, sr)
    bpm, beats = tempo_and_beats(env, fps, bpm_range=(lo, hi), groups=groups)
    beats = np.round(beats[(beats >= 0) & (beats < duration)].astype(np.float64), 3)
    beats, down, halved, beats_per_bar = bars.bars_and_beats(
        y, sr, beats, min_bpm=lo, keep_phase=_phase_held(groups, _beat_frames(beats, fps)))
    if halved:  # a slow groove's eighths: which half is the beat, the off-beat model says
        bpm /= 2
        frames = _beat_frames(beats, fps)
        moved = _offbeat_phase(groups, frames)
        if moved is not frames:
            beats = np.round(_beat_seconds(moved, fps), 3)
            beats = beats[beats < duration]
            down = bars.downbeat_indices(y, sr, beats, beats_per_bar)
    beats = np.round(beats, 3).tolist()
    beat = float(np.median(np.diff(beats))) if len(beats) >= 2 else 0.5
    key = estimate_key(*key_chromas(y, sr, bar=4 * beat))
    bpm = round(float(bpm), 2)
    mix_in, mix_out = bars.mix_points(env, fps, beats, down, beats_per_cue=int(beats_per_cue),
                                      beats_per_bar=beats_per_bar)

    spans, names = _cue_spans(beats=beats, duration=round(duration, 3), beats_per_cue=int(beats_per_cue),
                              intervals=spans_given, auto_cues=auto_cues,
                              first_downbeat=int(down[0]) if len(down) else 0)
    overview = _peaks(y, WAVEFORM_POINTS)
    cues = build_cues(y, sr, spans, max_cue_samples=int(max_cue_samples), overview_points=len(overview),
                      max_result_points=int(max_result_points), names=names)
    return {
        "bpm": bpm,
        "key": key,
        "camelot": camelot(key) if key else None,
        "duration": round(duration, 3),
        "sample_rate": int(sr),
        "beats": beats,
        "downbeats": [beats[i] for i in down],
        "beatgrid": bars.beatgrid(bpm=bpm, beats=beats, downbeat_indices=down, beats_per_bar=beats_per_bar),
        "mix_in": mix_in,
        "mix_out": mix_out,
        "waveform": overview,
        "cues": cues,
    }


def job_result(decoded: Decoded, **options: Any) -> dict:
    """The result an analysis job stores: :func:`analyse` of the decoded mono signal, with
    ``"open_key"`` (the key's Open Key code beside ``camelot``; None without a key) and
    ``"loudness"`` measured at the audio's own rate and channels (``{"integrated_lufs",
    "range_lu", "true_peak_dbtp", "replay_gain_db"}``, :mod:`analysis.loudness`; None when
    it could not be measured)."""
    result = analyse(decoded.y, decoded.sr, **options)
    out: dict = {}
    for name, value in result.items():
        out[name] = value
        if name == "camelot":
            out["open_key"] = open_key(result["key"]) if result["key"] else None
    out["loudness"] = dict(decoded.loudness) if decoded.loudness is not None else None
    return out


def result_json(result: Mapping[str, Any], *, max_bytes: int) -> str:
    """``result`` as the compact JSON it is stored as; :class:`ResultTooLarge` when that is
    over ``max_bytes`` (the last guard of QL_MAX_RESULT_MB, whatever built the result)."""
    text = json.dumps(result, separators=(",", ":"), allow_nan=False)
    if len(text) > max_bytes:  # ASCII (json.dumps escapes the rest): characters are bytes
        raise ResultTooLarge(f"the analysis result is {len(text) / 2**20:.1f} MB, larger than the "
                             f"{max_bytes / 2**20:g} MB limit (QL_MAX_RESULT_MB)")
    return text


def _max_rms(y: np.ndarray, sr: int) -> float:
    block = max(1, int(0.05 * sr))
    n = len(y) // block
    if n == 0:
        return float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
    frames = y[: n * block].reshape(n, block)
    return float(np.sqrt(np.einsum("ij,ij->i", frames, frames).max() / block))


def warm_up() -> None:
    """Run a tiny analysis so librosa's and the loudness meter's numba kernels are compiled
    (~7 s the first time).

    Call once per worker process before taking jobs.
    """
    sr = 22050
    t = np.arange(4 * sr) / sr
    clicks = (np.sin(2 * np.pi * 880 * t) * np.exp(-(t % 0.5) * 40)).astype(np.float32)
    analyse(clicks, sr)
    from .loudness import measure

    measure(np.stack([clicks, clicks], axis=1), sr)  # its numba kernels
