"""Bars on top of the beats: downbeats, the beat grid, and where a DJ mixes in and out.

Plain functions on arrays, like analysis/audio.py (which calls them after tracking beats).

**Downbeats** (4/4, or 3/4). Two things mark the first beat of a bar in the music a DJ plays:
the low end hits hardest there (the kick and bass of the bar's "one"), and the harmony changes
there (chords change on bar lines: measured above 300 Hz, since a walking or reggae bass line
moves on every beat; it counts twice the low end). For each beat we measure the low band's
energy just after it and how much the pitch-class profile changes across it, each standardised
over the track (:func:`_beat_features`, once per grid); the bar's phase is the one of the
three or four whose beats score highest on both, and on the change of the harmony from a whole
bar before each beat to a whole bar after it (swing comps off the one and walks into the next
bar on beat four: the change across one beat is largest elsewhere, the change from bar to bar
is not; :func:`_downbeat_phase`). One phase for the whole track: a 4/4 track does not skip
beats. The first two alone check the beats' phase (:func:`bars_and_beats`): a grid on the
off-beat splits every bar line between two beats, so its bars stand out much less than those
of the grid half a beat away. A waltz's bars are three beats: its bars of three then stand out
far more than bars of four (:func:`_metre`), and its grid says ``beats_per_bar`` 3. Everything
else, 12/8 counted in dotted quarters and 2/4 included, is told in bars of four.

**Mix points.** A beat "plays rhythm" by the onset strength on it; a bar plays rhythm when
its beats reach half the median bar's. `mix_in` is the first downbeat of a playing bar that
is followed by another (a beatless intro is skipped); `mix_out` is the downbeat
`beats_per_cue` beats before the last beat of the last playing bar, so that a cue's length of
rhythm is left to mix over.
"""

from __future__ import annotations

import math

import numpy as np

from analysis.framing import BLOCK, frame_blocks, frame_count, hann

BEATS_PER_BAR = 4
_LOW_BAND = (30.0, 160.0)  # Hz: kick and bass
_CHROMA_BAND = (300.0, 3000.0)  # Hz: chords above the bass and its partials (a walking or reggae
# bass moves on every beat)
_LOW_WEIGHT = 0.5  # the low end's share against the harmonic change (syncopated kicks mislead it)
_OFFBEAT_GAIN = 0.5  # a half-way grid whose bars stand out this much more...
_OFFBEAT_RATIO = 1.3  # ... and this many times as much: the beats were on the off-beat...
_OFFBEAT_PART = 0.25  # ... if the harmony and the low end, each alone, agree by this much
_BAR_CHANGE_RATIO = 1.1  # the harmony's bar-to-bar change this many times as large half a beat away...
_BAR_CHANGE_MIN = 0.1  # ... and at least this (1 - cosine): the grid was on the off-beat
_OFFBEAT_MAX_BPM = 145.0  # faster grids may count a slow groove's eighths: four of them are no bar
_HALVE_GAIN = 0.7  # ... and are halved when every other beat's bars stand out this much more
_BAR_WEIGHT = 2.0  # the harmonic change from bar to bar (four beats of profile each side, the
# steadier measure) against the change across one beat
_PLAYING = 0.5  # a bar plays rhythm at this fraction of the median bar's onset strength
_TRIPLE_GAIN = 0.8  # bars of three stand out this much more than bars of four (standardised)...
_TRIPLE_RATIO = 2.0  # ... and this many times as much, the harmony and the low end each more: 3/4


def _power_blocks(y: np.ndarray, n_fft: int, hop: int, bins: int):
    """Power spectra of bins ``[0, bins)``, frame i centred on sample i * hop, in blocks of
    ``framing.BLOCK`` frames: yields (first frame, (frames, bins) float32)."""
    import scipy.fft

    window = hann(n_fft)
    for i, frames in frame_blocks(np.asarray(y, np.float32), n_fft, hop, BLOCK):
        spec = scipy.fft.rfft(frames * window, axis=1)[:, :bins]
        yield i, spec.real ** 2 + spec.imag ** 2


def _standardised(x: np.ndarray) -> np.ndarray:
    spread = float(np.std(x))
    return (x - float(np.mean(x))) / spread if spread > 1e-12 else np.zeros_like(x)


def _bar_signals(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(low-band energy per frame, pitch-class profile per frame (frames, 12), frames per second)."""
    hop = int(2 ** round(math.log2(sr * 1024 / 22050)))
    n_fft = 2 * hop  # ~93 ms windows, half overlapping
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    low_bins = np.flatnonzero((freqs >= _LOW_BAND[0]) & (freqs < _LOW_BAND[1]))
    ok = np.flatnonzero((freqs >= _CHROMA_BAND[0]) & (freqs <= _CHROMA_BAND[1]))
    pitch = np.round(12 * np.log2(freqs[ok] / 440.0) + 69).astype(int) % 12
    by_class = [ok[pitch == pc] - ok[0] for pc in range(12)]  # into the band's columns
    bins = int(max(ok[-1] if len(ok) else 0, low_bins[-1] if len(low_bins) else 0)) + 1
    n_frames = frame_count(len(y), n_fft, hop)
    low = np.empty(n_frames, np.float32)
    chroma = np.zeros((n_frames, 12), np.float32)
    for i, power in _power_blocks(y, n_fft, hop, bins):
        rows = slice(i, i + len(power))
        low[rows] = power[:, low_bins].sum(axis=1)
        if len(ok):
            magnitude = np.sqrt(power[:, ok[0]:ok[-1] + 1])
            for pc in range(12):
                chroma[rows, pc] = magnitude[:, by_class[pc]].sum(axis=1)
    return low, chroma, sr / hop


def _beat_features(signals, beats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(low-band energy in the first quarter beat after each beat, pitch-class change across
    each beat (1 - cosine of the profiles of the beat before and the beat after)), each
    standardised over the track: what marks a bar's first beat (:func:`_phase_table`)."""
    low, chroma, fps = signals
    n = len(low)
    edges = np.clip(np.round(beats * fps).astype(int), 0, n - 1)
    period = float(np.median(np.diff(beats))) if len(beats) > 1 else 0.5
    quarter = max(1, int(round(period * fps / 4)))
    low_cum = np.concatenate([[0.0], np.cumsum(low, dtype=np.float64)])
    energy = (low_cum[np.minimum(edges + quarter, n)] - low_cum[edges]) / quarter
    low_feature = np.log10(np.maximum(energy, 1e-12))

    chroma_cum = np.concatenate([np.zeros((1, 12)), np.cumsum(chroma, axis=0, dtype=np.float64)])
    bounds = np.concatenate([[max(0, edges[0] - (edges[1] - edges[0] if len(edges) > 1 else quarter))],
                             edges, [min(n, edges[-1] + (edges[-1] - edges[-2] if len(edges) > 1 else quarter))]])
    sums = chroma_cum[bounds[1:]] - chroma_cum[bounds[:-1]]  # the beat intervals around each beat
    norms = np.linalg.norm(sums, axis=1)
    unit = sums / np.maximum(norms, 1e-12)[:, None]
    change = 1.0 - np.sum(unit[:-1] * unit[1:], axis=1)  # across beat i: interval before vs after
    return _standardised(low_feature), _standardised(change)


def _bar_start_score(features: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Per beat: how much it looks like a bar's first beat (the harmony changing, the low end
    hitting, :data:`_LOW_WEIGHT` of it)."""
    low, change = features
    return _LOW_WEIGHT * low + change


def _phase_table(features: tuple[np.ndarray, np.ndarray], beats_per_bar: int) -> np.ndarray:
    """(3, beats_per_bar): the mean bar-start score of the beats of each phase, then the same
    of the harmonic change alone and of the low end alone."""
    low, change = features
    return np.array([[float(np.mean(x[p::beats_per_bar])) for p in range(beats_per_bar)]
                     for x in (_bar_start_score(features), change, low)])


def _bar_change(chroma: np.ndarray, fps: float, beats: np.ndarray, beats_per_bar: int) -> np.ndarray:
    """Pitch-class change across each beat between the bar before it and the bar after it
    (1 - cosine of the profiles of the ``beats_per_bar`` beats on either side); NaN where
    either side runs past the beats."""
    n = len(chroma)
    edges = np.clip(np.round(beats * fps).astype(int), 0, n)
    period = float(np.median(np.diff(beats)))
    bounds = np.append(edges, min(n, edges[-1] + int(round(period * fps))))
    frames = np.concatenate([np.zeros((1, 12)), np.cumsum(chroma, axis=0, dtype=np.float64)])
    per_beat = frames[bounds[1:]] - frames[bounds[:-1]]  # the beat after each beat
    cum = np.concatenate([np.zeros((1, 12)), np.cumsum(per_beat, axis=0)])
    out = np.full(len(beats), np.nan)
    at = np.arange(beats_per_bar, len(beats) - beats_per_bar + 1)
    before, after = cum[at] - cum[at - beats_per_bar], cum[at + beats_per_bar] - cum[at]
    norms = np.linalg.norm(before, axis=1) * np.linalg.norm(after, axis=1)
    out[at] = 1.0 - np.sum(before * after, axis=1) / np.maximum(norms, 1e-12)
    return out


def _downbeat_phase(signals, beats, features, beats_per_bar) -> int:
    """The phase of the bar lines among the ``beats_per_bar`` phases of the beats: the
    bar-start score (:func:`_bar_start_score`) plus the harmonic change from a whole bar
    before each beat to a whole bar after it (:func:`_bar_change`), standardised alike and
    counted :data:`_BAR_WEIGHT` times.

    The change across one beat is misled where the chords do not arrive on the one: swing's
    piano comps on the "and" of two or of four, and its walking bass leads into the next
    bar by a half step on beat four. Bars of the harmony as a
    whole still change most from bar line to bar line: a bar's window one beat early holds
    one beat of the bar before. The checks on the grid (:func:`bars_and_beats`,
    :func:`_metre`) keep the bar-start score alone."""
    score = _bar_start_score(features)
    bar = _bar_change(signals[1], signals[2], beats, beats_per_bar)
    ok = ~np.isnan(bar)
    score[ok] += _BAR_WEIGHT * _standardised(bar[ok])
    return int(np.argmax([float(np.mean(score[p::beats_per_bar])) for p in range(beats_per_bar)]))


def downbeat_indices(y: np.ndarray, sr: int, beats, beats_per_bar: int = BEATS_PER_BAR) -> np.ndarray:
    """Indices into `beats` (seconds, increasing) of the first beats of the bars."""
    beats = np.asarray(beats, dtype=float)
    if len(beats) == 0:
        return np.zeros(0, dtype=int)
    if len(beats) < 2 * beats_per_bar:
        return np.arange(0, len(beats), beats_per_bar)
    signals = _bar_signals(y, sr)
    phase = _downbeat_phase(signals, beats, _beat_features(signals, beats), beats_per_bar)
    return np.arange(phase, len(beats), beats_per_bar)


def _contrast(phases: np.ndarray) -> float:
    best = int(np.argmax(phases))
    return float(phases[best] - np.mean(np.delete(phases, best)))


def bars_and_beats(y: np.ndarray, sr: int, beats, *, min_bpm: float = 0.0,
                   keep_phase: bool = False) -> tuple[np.ndarray, np.ndarray, bool, int]:
    """(beats, downbeat indices, halved, beats per bar): the beats checked against bars of
    four, then the metre (:func:`_metre`: 3 or 4 beats a bar) and the downbeats on them;
    ``halved`` when every other beat was kept.

    Bars start where the harmony changes and the kick and bass hit: on a beat. A grid on the
    off-beat (funk or bossa, whose syncopated bass, chords and hats outweigh the beats)
    splits each bar line between two of its beats, so one phase of four stands out less
    than on the half-way points between its beats. Those are taken when their best phase
    stands out :data:`_OFFBEAT_GAIN` more (standardised units) and
    :data:`_OFFBEAT_RATIO` times as much as the grid's own, and the harmonic change and the
    low end each alone :data:`_OFFBEAT_PART` more (a one drop's chords change on the
    skank, half a beat after its bar line, while its low end marks the beats).

    Above :data:`_OFFBEAT_MAX_BPM` the grid may count a slow groove's eighth notes (a one
    drop at 77 read at 155: its skank is as strong as its beats), and four of its beats
    are half a bar. Every other beat is kept when those bars stand out
    :data:`_HALVE_GAIN` more than the grid's (drum & bass, whose bars are four of its fast
    beats, stands out less at half its tempo), if half the tempo is at least ``min_bpm``:
    the half whose bars stand out more, which the caller may still move half a beat (its
    off-beat model knows a slow groove's beat from its skank better). A fast grid is not
    checked for the off-beat (its half-way points may be sixteenths).

    The half-way points are also taken when whole bars of harmony change more from bar to
    bar on them (:func:`_bars_change_half_way`): a bossa's syncopated chords and bass
    outweigh its beats, but its bars still change at the bar line. Not with ``keep_phase``,
    the caller's evidence that the grid is on the beat (a kick on every beat, or swung hats
    two thirds of a beat after its beats: a one drop's chords change on the skank)."""
    beats = np.asarray(beats, dtype=float)
    if len(beats) < 4 * BEATS_PER_BAR:
        return beats, downbeat_indices(y, sr, beats), False, BEATS_PER_BAR
    signals = _bar_signals(y, sr)
    features = _beat_features(signals, beats)
    table = _phase_table(features, BEATS_PER_BAR)
    here = _contrast(table[0])
    bpm = 60.0 / float(np.median(np.diff(beats)))
    if bpm > _OFFBEAT_MAX_BPM:
        if bpm / 2 >= min_bpm and len(beats) >= 8 * BEATS_PER_BAR:
            halves = [beats[p::2] for p in (0, 1)]
            kept = [_beat_features(signals, h) for h in halves]
            tables = [_phase_table(f, BEATS_PER_BAR) for f in kept]
            best = int(np.argmax([_contrast(t[0]) for t in tables]))
            if _contrast(tables[best][0]) >= here + _HALVE_GAIN:
                return _in_metre(signals, halves[best], kept[best], tables[best], halved=True)
        return _in_metre(signals, beats, features, table, halved=False)
    half = (beats[:-1] + beats[1:]) / 2
    after = beats[-1] + (beats[-1] - beats[-2]) / 2
    if after < len(y) / sr:
        half = np.append(half, after)
    half_features = _beat_features(signals, half)
    moved = _phase_table(half_features, BEATS_PER_BAR)
    there = _contrast(moved[0])
    agree = all(_contrast(moved[k]) >= _contrast(table[k]) + _OFFBEAT_PART for k in (1, 2))
    if (there >= here + _OFFBEAT_GAIN and there >= _OFFBEAT_RATIO * here and agree) or (
            not keep_phase and _bars_change_half_way(signals, beats, half)):
        return _in_metre(signals, half, half_features, moved, halved=False)
    return _in_metre(signals, beats, features, table, halved=False)


def _bars_change_half_way(signals, beats: np.ndarray, half: np.ndarray) -> bool:
    """Whether the harmony changes from bar to bar on the half-way points rather than on the
    beats: the best phase's mean :func:`_bar_change` on the half-way grid at least
    :data:`_BAR_CHANGE_RATIO` times the beats' (and at least :data:`_BAR_CHANGE_MIN`).

    A bar's window on a grid half a beat off holds half a beat of the bar before or after,
    so its harmony changes less across the grid's bar lines."""
    chroma, fps = signals[1], signals[2]
    if len(half) < 4 * BEATS_PER_BAR:  # (the beats are at least that many: bars_and_beats)
        return False

    def best(points):
        change = _bar_change(chroma, fps, points, BEATS_PER_BAR)
        return max((float(np.nanmean(change[p::BEATS_PER_BAR])) for p in range(BEATS_PER_BAR)
                    if np.any(~np.isnan(change[p::BEATS_PER_BAR]))), default=0.0)

    on, off = best(beats), best(half)
    return off >= _BAR_CHANGE_MIN and off >= _BAR_CHANGE_RATIO * on


def _metre(features, four: np.ndarray) -> int:
    """Beats per bar: 3 where the music is clearly in 3, else 4 (``four`` is the
    :func:`_phase_table` of bars of four).

    Three and four share no beats but the twelfth: in 4/4 (and 12/8 at the dotted quarter,
    and swing) the bar-start score hardly differs between the three phases of bars of three,
    and in 3/4 between the four phases of bars of four. A waltz is taken when its bars of
    three stand out :data:`_TRIPLE_GAIN` more and :data:`_TRIPLE_RATIO` times as much as
    bars of four, and the harmonic change and the low end, each alone, stand out more in
    three too (a chord change every third beat, or a kick on it, is not yet a waltz).
    Bars of two (2/4) are not told from 4/4: the marches' bars of four, whose beats 1 and 3
    are both bar lines, look like those of a 4/4 whose chords or kick go every two beats.
    """
    if len(features[0]) < 8 * BEATS_PER_BAR:
        return BEATS_PER_BAR
    table = _phase_table(features, 3)
    three, here = _contrast(table[0]), _contrast(four[0])
    parts = all(_contrast(table[k]) > _contrast(four[k]) for k in (1, 2))
    if three >= here + _TRIPLE_GAIN and three >= _TRIPLE_RATIO * here and parts:
        return 3
    return BEATS_PER_BAR


def _in_metre(signals, beats, features, four, *, halved: bool):
    """:func:`bars_and_beats`'s answer for the checked ``beats``: the metre chosen
    (:func:`_metre`), the downbeats on the phase of its bars :func:`_downbeat_phase` picks."""
    beats_per_bar = _metre(features, four)
    phase = _downbeat_phase(signals, beats, features, beats_per_bar)
    return beats, np.arange(phase, len(beats), beats_per_bar), halved, beats_per_bar


def beatgrid(*, bpm: float, beats, downbeat_indices, beats_per_bar: int = BEATS_PER_BAR) -> dict | None:
    """The grid a DJ program needs: tempo, first beat, first downbeat, beats per bar."""
    beats = list(beats)
    if not beats:
        return None
    first_downbeat = beats[int(downbeat_indices[0])] if len(downbeat_indices) else beats[0]
    return {"bpm": bpm, "first_beat": beats[0], "first_downbeat": first_downbeat,
            "beats_per_bar": int(beats_per_bar)}


def mix_points(env: np.ndarray, fps: float, beats, downbeat_indices, *, beats_per_cue: int,
               beats_per_bar: int = BEATS_PER_BAR) -> tuple[float | None, float | None]:
    """(mix_in, mix_out) in seconds, each a downbeat of bars of ``beats_per_bar``; (None,
    None) without downbeats."""
    beats = np.asarray(beats, dtype=float)
    down = np.asarray(downbeat_indices, dtype=int)
    if len(down) == 0 or len(env) == 0:
        return None, None
    frames = np.round(beats * fps).astype(int)
    last = len(env) - 1
    strength = np.maximum.reduce([env[np.clip(frames + d, 0, last)] for d in range(-2, 3)])
    bar_strength = np.array([float(np.mean(strength[d:d + beats_per_bar])) for d in down])
    threshold = _PLAYING * float(np.median(bar_strength))
    playing = bar_strength >= threshold
    starts = [i for i in range(len(down)) if playing[i] and (i + 1 == len(down) or playing[i + 1])]
    first = starts[0] if starts else 0
    last_bar = int(np.flatnonzero(playing)[-1]) if playing.any() else len(down) - 1
    last_beat = min(int(down[last_bar]) + beats_per_bar - 1, len(beats) - 1)
    target = last_beat - int(beats_per_cue) + 1
    before = down[(down <= target) & (down >= down[first])]
    out_index = int(before[-1]) if len(before) else int(down[first])
    return float(beats[down[first]]), float(beats[out_index])
