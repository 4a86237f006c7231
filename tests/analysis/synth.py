"""Synthesized test audio with known tempo, beats and key (numpy only).

Shared by the analysis tests and ``bench/analysis_bench.py``. Every excerpt is
deterministic for a given ``seed``: a drum pattern in one of several dance/pop styles
(kick, snare, clap, hats, shakers, percussion as pitched or filtered-noise bursts), a bass
line and chords from a progression in a known key, optionally with swing, humanised
timing, a slow tempo drift, a beatless intro, other drum levels or added noise.
``Excerpt.beats`` are the true beat times (quarter notes as a DJ counts them: dubstep's
half-time groove at 140, drum & bass at 174) and ``Excerpt.bpm`` the mean tempo over them.
``corpus()`` lists the benchmark corpus (``CORPUS_SPEC``) or the harder variants
(``STRESS_SPEC``); ``write_pyav`` encodes AAC (.m4a) or MP3 files with PyAV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# --- music theory -------------------------------------------------------------------

TONICS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)

# Progressions as (scale degree 0-6, chord quality) per bar; quality "M", "m" or "d".
PROGRESSIONS = {
    "minor": [
        [(0, "m"), (5, "M"), (2, "M"), (6, "M")],  # i VI III VII
        [(0, "m"), (3, "m"), (4, "m"), (0, "m")],  # i iv v i
        [(0, "m"), (6, "M"), (5, "M"), (6, "M")],  # i VII VI VII
        [(0, "m"), (3, "m"), (4, "M"), (0, "m")],  # i iv V i (harmonic minor)
        [(0, "m"), (0, "m"), (3, "m"), (4, "M")],  # i i iv V
    ],
    "major": [
        [(0, "M"), (4, "M"), (5, "m"), (3, "M")],  # I V vi IV
        [(0, "M"), (3, "M"), (4, "M"), (0, "M")],  # I IV V I
        [(0, "M"), (5, "m"), (3, "M"), (4, "M")],  # I vi IV V
        [(0, "M"), (3, "M"), (0, "M"), (4, "M")],  # I IV I V
    ],
}


def chord_pitches(tonic: int, mode: str, degree: int, quality: str) -> tuple[int, ...]:
    """Pitch classes (root first) of a triad on ``degree`` of the key."""
    scale = MAJOR_SCALE if mode == "major" else MINOR_SCALE
    root = (tonic + scale[degree]) % 12
    third = 4 if quality == "M" else 3
    fifth = 6 if quality == "d" else 7
    return root, (root + third) % 12, (root + fifth) % 12


def midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12)


# --- sounds --------------------------------------------------------------------------


def _noise(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n)


def _band(x: np.ndarray, sr: int, lo: float, hi: float) -> np.ndarray:
    """Brick-wall band-pass by FFT (fine for short one-shots)."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / sr)
    spec[(f < lo) | (f > hi)] = 0
    out = np.fft.irfft(spec, len(x))
    return out / (np.max(np.abs(out)) + 1e-12)


def _env(n: int, sr: int, decay: float, attack: float = 0.001) -> np.ndarray:
    t = np.arange(n) / sr
    return np.minimum(1.0, t / attack) * np.exp(-t / decay)


def kick(sr: int, rng, *, f_hi: float = 160.0, f_lo: float = 48.0, decay: float = 0.18) -> np.ndarray:
    n = int(0.45 * sr)
    t = np.arange(n) / sr
    freq = f_lo + (f_hi - f_lo) * np.exp(-t / 0.03)
    phase = 2 * np.pi * np.cumsum(freq) / sr
    body = np.sin(phase) * _env(n, sr, decay)
    click = np.zeros(n)
    m = int(0.004 * sr)
    click[:m] = _band(_noise(m, rng), sr, 1000, 6000) * np.linspace(1, 0, m) * 0.3
    return body + click


def snare(sr: int, rng, *, decay: float = 0.12) -> np.ndarray:
    n = int(0.35 * sr)
    t = np.arange(n) / sr
    tone = np.sin(2 * np.pi * 185 * t) * _env(n, sr, 0.05) * 0.5
    noise = _band(_noise(n, rng), sr, 800, 9000) * _env(n, sr, decay) * 0.8
    return tone + noise


def clap(sr: int, rng) -> np.ndarray:
    n = int(0.3 * sr)
    noise = _band(_noise(n, rng), sr, 900, 4000)
    env = np.zeros(n)
    for k, d in enumerate((0.0, 0.011, 0.022)):
        i = int(d * sr)
        env[i:] += _env(n - i, sr, 0.006 if k < 2 else 0.09)
    return noise * env * 0.8


def hat(sr: int, rng, *, decay: float = 0.03) -> np.ndarray:
    n = int(min(0.5, decay * 6) * sr)
    return _band(_noise(n, rng), sr, 6000, 10500) * _env(n, sr, decay)


def shaker(sr: int, rng) -> np.ndarray:
    n = int(0.09 * sr)
    return _band(_noise(n, rng), sr, 4000, 9000) * _env(n, sr, 0.025, attack=0.008)


def tom(sr: int, rng, *, f0: float = 220.0, decay: float = 0.12) -> np.ndarray:
    n = int(0.4 * sr)
    t = np.arange(n) / sr
    freq = f0 * (1 + 0.5 * np.exp(-t / 0.02))
    return np.sin(2 * np.pi * np.cumsum(freq) / sr) * _env(n, sr, decay)


def rim(sr: int, rng) -> np.ndarray:
    n = int(0.06 * sr)
    t = np.arange(n) / sr
    return (np.sin(2 * np.pi * 1700 * t) + 0.5 * _band(_noise(n, rng), sr, 2000, 6000)) * _env(n, sr, 0.008)


def tone(sr: int, hz: float, seconds: float, *, partials: int = 6, decay: float | None = None,
         attack: float = 0.005, release: float = 0.05, bright: float = 1.0) -> np.ndarray:
    """A harmonic note (saw-like partials up to ~6 kHz), decaying or sustained."""
    n = max(1, int(seconds * sr))
    t = np.arange(n) / sr
    out = np.zeros(n)
    for k in range(1, partials + 1):
        if hz * k > 6000:
            break
        out += np.sin(2 * np.pi * hz * k * t + k) / k ** (1.0 + 1.0 / bright)
    env = np.minimum(1.0, t / attack)
    if decay is not None:
        env = env * np.exp(-t / decay)
    rel = int(min(release, seconds / 2) * sr)
    if rel > 0:
        env[-rel:] *= np.linspace(1, 0, rel)
    return out * env


# --- patterns ------------------------------------------------------------------------
# A pattern: instrument -> list of (16th step within the bar, velocity).


#: C, A minor, F, G (MIDI notes): the tests' progression of plain chords, one a bar.
CHORDS = [(60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62)]


def sine_kick(sr: int) -> np.ndarray:
    """A 55 Hz kick of 150 ms: a decaying sine, no click."""
    t = np.arange(int(0.15 * sr)) / sr
    return (np.sin(2 * np.pi * 55 * t) * np.exp(-t / 0.05)).astype(np.float32)


def sine_chord(notes, seconds: float, sr: int, *, decay: float | None = None, attack: float = 0.0) -> np.ndarray:
    """The MIDI ``notes`` as plain sines for ``seconds``, decaying with time constant
    ``decay`` and rising over ``attack`` seconds when given."""
    t = np.arange(int(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * 440 * 2 ** ((n - 69) / 12) * t) for n in notes)
    if decay:
        y = y * np.exp(-t / decay)
    if attack:
        y = y * np.minimum(1.0, t / attack)
    return y.astype(np.float32)


def place_at(buf: np.ndarray, snd: np.ndarray, t: float, gain: float, sr: int) -> None:
    """Adds ``gain`` times ``snd`` into ``buf`` from ``t`` seconds on (cut at its end)."""
    i = int(round(t * sr))
    if i < 0 or i >= len(buf):
        return
    m = min(len(snd), len(buf) - i)
    buf[i:i + m] += gain * snd[:m]


class Mix:
    """A mono buffer of ``seconds`` at ``sr`` that a test's groove places its sounds on."""

    def __init__(self, seconds: float, sr: int):
        self.sr, self.out = sr, np.zeros(int(seconds * sr))

    def place(self, snd: np.ndarray, t: float, gain: float) -> None:
        place_at(self.out, snd, t, gain, self.sr)

    def normalised(self, peak: float = 0.9) -> np.ndarray:
        return (peak * self.out / np.abs(self.out).max()).astype(np.float32)


def _steps(steps, vel=1.0):
    return [(s, vel) for s in steps]


def drum_pattern(style: str, bar: int, rng: np.random.Generator) -> dict[str, list]:
    """Drum hits for one 4/4 bar (16 sixteenth-note steps) in the given style."""
    fill = bar % 4 == 3
    if style == "house":
        return {"kick": _steps([0, 4, 8, 12]), "clap": _steps([4, 12], 0.8),
                "ohat": _steps([2, 6, 10, 14], 0.9),
                "hat": [(s, 0.25 + 0.1 * (s % 2 == 0)) for s in range(16) if s % 4 != 2]}
    if style == "techno":
        return {"kick": _steps([0, 4, 8, 12]), "ohat": _steps([2, 6, 10, 14], 0.7),
                "hat": [(s, 0.3 if s % 2 else 0.45) for s in range(16)],
                "clap": _steps([4, 12], 0.5) if bar % 2 else [],
                "rim": _steps([3, 7, 11, 14] if fill else [7, 11], 0.5)}
    if style == "afrohouse":
        return {"kick": _steps([0, 4, 8, 12]), "shaker": [(s, 0.6 if s % 2 else 0.3) for s in range(16)],
                "tom": _steps([3, 6, 10, 14] if bar % 2 else [3, 6, 11], 0.7),
                "rim": _steps([2, 7, 12], 0.5), "clap": _steps([4, 12], 0.55)}
    if style == "dnb":
        kicks = [0, 10] if bar % 2 == 0 else [0, 10, 11]
        return {"kick": _steps(kicks), "snare": _steps([4, 12]) + ([(7, 0.25), (15, 0.3)] if fill else [(9, 0.2)]),
                "hat": [(s, 0.45 if s % 4 == 2 else 0.25) for s in range(0, 16, 2)],
                "shaker": [(s, 0.15) for s in range(1, 16, 2)]}
    if style == "dubstep":  # half time at 140: kick on 1, snare on 3
        return {"kick": _steps([0] if bar % 2 == 0 else [0, 3]), "snare": _steps([8]),
                "hat": [(s, 0.35 if s % 4 == 2 else 0.2) for s in range(0, 16, 2)] + [(s, 0.12) for s in (13, 15)]}
    if style == "hiphop":  # 16ths are swung by the caller
        kicks = [0, 7, 10] if bar % 2 == 0 else [0, 3, 10]
        return {"kick": _steps(kicks), "snare": _steps([4, 12]),
                "hat": [(s, 0.45 if s % 2 == 0 else 0.2) for s in range(16)]}
    if style == "dembow":
        return {"kick": _steps([0, 4, 8, 12]), "snare": _steps([3, 6, 11, 14], 0.85),
                "hat": _steps([2, 6, 10, 14], 0.3)}
    if style == "pop":
        kicks = [0, 8, 10] if bar % 2 else [0, 6, 8]
        return {"kick": _steps(kicks), "snare": _steps([4, 12]) + ([(14, 0.5), (15, 0.6)] if fill else []),
                "hat": [(s, 0.45 if s % 4 == 0 else 0.3) for s in range(0, 16, 2)]}
    if style == "ballad":
        return {"kick": _steps([0, 10] if bar % 2 else [0]), "snare": _steps([4, 12], 0.7),
                "hat": [(s, 0.25 if s % 4 == 0 else 0.15) for s in range(0, 16, 2)]}
    raise ValueError(f"unknown style {style!r}")


STYLE_TONAL = {
    # bass: 16th steps of bass notes (root of the bar's chord); stabs: chord hits; pad: sustained
    "house": {"bass": [2, 6, 10, 14], "stabs": [], "pad": True},
    "techno": {"bass": [2, 3, 6, 7, 10, 11, 14, 15], "stabs": [3, 11], "pad": True},
    "afrohouse": {"bass": [0, 3, 8, 11], "stabs": [6, 14], "pad": True},
    "dnb": {"bass": [0, 10], "stabs": [], "pad": True},
    "dubstep": {"bass": [0, 4, 8, 12], "stabs": [], "pad": True},
    "hiphop": {"bass": [0, 7, 10], "stabs": [0, 8], "pad": False},
    "dembow": {"bass": [0, 8], "stabs": [3, 6, 11, 14], "pad": False},
    "pop": {"bass": [0, 2, 4, 6, 8, 10, 12, 14], "stabs": [0, 4, 8, 12], "pad": True},
    "ballad": {"bass": [0, 8], "stabs": [0, 2, 4, 6, 8, 10, 12, 14], "pad": True},
}


# --- excerpt -------------------------------------------------------------------------


@dataclass
class Excerpt:
    name: str
    style: str
    bpm: float  # mean tempo over the true beats
    key: str  # canonical, e.g. "A minor"
    beats: np.ndarray  # true beat times in seconds
    y: np.ndarray  # mono float32
    sr: int
    meta: dict = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return len(self.y) / self.sr


def make_excerpt(style: str, bpm: float, *, key: str = "A minor", seconds: float = 30.0,
                 sr: int = 44100, seed: int = 0, swing: float = 0.0, humanize: float = 0.0,
                 drift: float = 0.0, intro: float = 0.0, progression: int | None = None,
                 gains: dict[str, float] | None = None, tonal_gain: float = 1.0,
                 snr_db: float | None = None, name: str | None = None) -> Excerpt:
    """Render one excerpt.

    ``swing`` delays every odd 16th (hip-hop) by that fraction of a 16th; ``humanize`` is
    the timing jitter in seconds (std); ``drift`` the relative tempo change from start to
    end (0.02 = +2 %, linear in beats); ``intro`` seconds of beatless pads before the drums;
    ``gains`` overrides drum levels (e.g. ``{"ohat": 0.8}``), ``tonal_gain`` scales bass,
    chords and pads; ``snr_db`` adds white noise at that signal-to-noise ratio.
    """
    rng = np.random.default_rng(seed)
    tonic_name, mode = key.split()
    tonic = TONICS.index(tonic_name)
    progs = PROGRESSIONS[mode]
    prog = progs[progression % len(progs)] if progression is not None else progs[rng.integers(len(progs))]

    # Beat clock: tempo changes linearly with the beat index; bar lines every 4 beats.
    n_beats_max = int(seconds * bpm / 60 * 1.2) + 16
    b0 = bpm * (1 - drift / 2)
    b1 = bpm * (1 + drift / 2)
    # Beat index at which the drums start (a bar line at or after `intro` seconds).
    tempos = np.linspace(b0, b1, n_beats_max)
    beat_t = np.concatenate([[0.0], np.cumsum(60.0 / tempos)])
    first_bar_beat = 0
    if intro > 0:
        first_bar_beat = int(np.ceil(np.searchsorted(beat_t, intro) / 4.0) * 4)
    t0 = 0.05  # first downbeat a little after the start

    def at(beat: float) -> float:
        i = int(np.floor(beat))
        return t0 + beat_t[i] + (beat - i) * (beat_t[i + 1] - beat_t[i])

    n = int(seconds * sr)
    out = np.zeros(n + sr)  # slack for tails
    drums = np.zeros_like(out)

    sounds = {
        "kick": kick(sr, rng, decay=0.25 if style in ("dubstep", "ballad", "hiphop") else 0.16),
        "snare": snare(sr, rng, decay=0.15 if style in ("dubstep", "ballad") else 0.1),
        "clap": clap(sr, rng), "hat": hat(sr, rng, decay=0.025), "ohat": hat(sr, rng, decay=0.12),
        "shaker": shaker(sr, rng), "tom": tom(sr, rng, f0=200 + 60 * rng.random()), "rim": rim(sr, rng),
    }
    gains = {"kick": 1.0, "snare": 0.6, "clap": 0.55, "hat": 0.25, "ohat": 0.3, "shaker": 0.2,
             "tom": 0.45, "rim": 0.25, **(gains or {})}

    def place(buf, snd, t, g):
        place_at(buf, snd, t, g, sr)

    def step_time(bar: int, step: float) -> float:
        if swing and int(step) % 2 == 1:
            step = step + swing
        t = at(bar * 4 + step / 4.0)
        if humanize:
            t += rng.normal(0, humanize)
        return t

    total_bars = int(np.searchsorted(beat_t + t0, seconds) // 4) + 1
    true_beats = []
    tonal = STYLE_TONAL[style]
    bass_oct = 36 if style in ("dnb", "dubstep") else 40  # MIDI octave base for the bass
    for bar in range(total_bars):
        deg, qual = prog[bar % len(prog)]
        chord = chord_pitches(tonic, mode, deg, qual)
        bar_start, bar_end = at(bar * 4), at(bar * 4 + 4)
        in_intro = bar * 4 < first_bar_beat
        # Pads: sustained triad, always (also in the intro).
        if tonal["pad"] or in_intro:
            for j, pc in enumerate(chord):
                note = 60 + (pc - 60) % 12 if j else 48 + (pc - 48) % 12
                snd = tone(sr, midi_hz(note), bar_end - bar_start + 0.05, partials=5,
                           attack=0.25 if in_intro else 0.08, release=0.1)
                place(out, snd, bar_start, 0.10)
        if in_intro:
            continue
        for b in range(4):
            true_beats.append(at(bar * 4 + b))
        for inst, hits in drum_pattern(style, bar, rng).items():
            for step, vel in hits:
                vel = vel * (1 + (0.15 * rng.standard_normal() if humanize else 0))
                place(drums, sounds[inst], step_time(bar, step), gains[inst] * max(0.05, vel))
        root = chord[0]
        for step in tonal["bass"]:
            t = step_time(bar, step)
            dur = 0.9 * (at(bar * 4 + (step + 2) / 4) - at(bar * 4 + step / 4))
            if style in ("dnb", "dubstep", "ballad"):
                dur = (bar_end - bar_start) / len(tonal["bass"]) * 0.95
            note = bass_oct + (root - bass_oct) % 12
            snd = tone(sr, midi_hz(note), dur, partials=4, attack=0.01, release=0.03)
            if style == "dubstep":  # wobble at 8th notes of the (fast) beat
                tt = np.arange(len(snd)) / sr
                rate = 2 * bpm / 60
                snd = snd * (0.55 + 0.45 * np.cos(2 * np.pi * rate * tt))
            place(out, snd, t, 0.35)
        for step in tonal["stabs"]:
            t = step_time(bar, step)
            arp = style == "ballad"
            notes = [chord[(step // 2) % 3]] if arp else list(chord)
            for pc in notes:
                snd = tone(sr, midi_hz(60 + (pc - 60) % 12 + (12 if arp else 0)), 0.6,
                           partials=6, decay=0.25 if not arp else 0.5, attack=0.003)
                place(out, snd, t, 0.12 if not arp else 0.16)

    mix = tonal_gain * out + drums
    mix = mix[:n]
    mix = mix + 1e-4 * rng.standard_normal(n)  # noise floor
    if snr_db is not None:
        power = float(np.mean(mix ** 2))
        mix = mix + math.sqrt(power / 10 ** (snr_db / 10)) * rng.standard_normal(n)
    mix = (0.9 * mix / (np.max(np.abs(mix)) + 1e-12)).astype(np.float32)
    beats = np.array([t for t in true_beats if t < seconds - 0.01])
    mean_bpm = 60.0 * (len(beats) - 1) / (beats[-1] - beats[0]) if len(beats) > 1 else bpm
    return Excerpt(name=name or f"{style}-{bpm:g}", style=style, bpm=float(mean_bpm), key=key,
                   beats=beats, y=mix, sr=sr,
                   meta={"nominal_bpm": bpm, "swing": swing, "humanize": humanize,
                         "drift": drift, "intro": intro, "progression": prog, "gains": gains,
                         "tonal_gain": tonal_gain, "snr_db": snr_db})


# --- corpus --------------------------------------------------------------------------

# (style, tempo range, options) — tempi drawn uniformly in the range.
CORPUS_SPEC = [
    ("house", (118, 128), {}, 8),
    ("techno", (125, 140), {}, 7),
    ("afrohouse", (116, 124), {}, 6),
    ("dnb", (170, 176), {}, 6),
    ("dubstep", (138, 142), {}, 5),
    ("hiphop", (84, 95), {"swing": 0.25, "humanize": 0.006}, 6),
    ("dembow", (92, 100), {}, 6),
    ("pop", (96, 132), {"humanize": 0.005}, 7),
    ("ballad", (71, 78), {"humanize": 0.008}, 5),
    ("pop", (108, 124), {"drift": 0.02, "humanize": 0.006}, 3),  # slight tempo drift
    ("house", (120, 126), {"drift": -0.015}, 2),
    ("techno", (124, 132), {"intro": 10.0}, 3),  # long beatless intro
    ("house", (118, 124), {"intro": 8.0}, 2),
]


# Harder variants, outside the targets: what the synthesized corpus does not cover.
STRESS_SPEC = [
    ("house", (120, 128), {"gains": {"ohat": 0.9, "hat": 0.5}, "tonal_gain": 1.6}, 3),  # loud off-beats
    ("hiphop", (82, 95), {"humanize": 0.006}, 3),  # straight (unswung) sixteenths
    ("hiphop", (82, 95), {"swing": 0.1, "humanize": 0.006}, 2),  # light swing
    ("pop", (96, 130), {"humanize": 0.015}, 3),  # sloppy timing
    ("techno", (124, 136), {"snr_db": 6.0}, 3),  # noisy
    ("dnb", (168, 178), {"tonal_gain": 3.0, "gains": {"hat": 0.15}}, 3),  # quiet drums
    ("ballad", (70, 76), {"tonal_gain": 2.0, "humanize": 0.01}, 3),
    ("dembow", (88, 104), {"humanize": 0.008}, 3),
    ("pop", (100, 126), {"drift": 0.05, "humanize": 0.006}, 3),  # 5 % drift
]


def corpus(*, seconds: float = 30.0, sr: int = 44100, seed: int = 1234,
           spec: list | None = None) -> list[dict]:
    """Specifications (kwargs for :func:`make_excerpt`) of the benchmark corpus (66 excerpts;
    ``spec=STRESS_SPEC`` gives the 26 harder variants instead)."""
    rng = np.random.default_rng(seed)
    specs = []
    for style, (lo, hi), opts, count in spec or CORPUS_SPEC:
        for i in range(count):
            bpm = round(float(rng.uniform(lo, hi)), 1)
            mode = "minor" if rng.random() < (0.35 if style in ("pop", "ballad") else 0.8) else "major"
            key = f"{TONICS[int(rng.integers(12))]} {mode}"
            tag = "-".join(k.replace("_", "") for k in opts) or "plain"
            specs.append(dict(style=style, bpm=bpm, key=key, seconds=seconds, sr=sr,
                              seed=int(rng.integers(1 << 30)), name=f"{style}-{tag}-{i}", **opts))
    return specs


# --- files ---------------------------------------------------------------------------


def write_pyav(path, y: np.ndarray, sr: int, *, codec: str = "aac", container: str | None = None,
               channels: int = 1, bit_rate: int = 128_000) -> None:
    """Encode mono float audio with PyAV (FFmpeg): ``codec`` "aac" (in .m4a/.mp4) or
    "libmp3lame" (.mp3); ``channels=2`` duplicates the signal into stereo."""
    import av

    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=sr)
        stream.layout = layout
        stream.bit_rate = bit_rate
        samples = np.clip(np.asarray(y, dtype=np.float32), -1, 1)
        planar = np.repeat(samples[None, :], channels, axis=0)
        frame_size = 1152 if "mp3" in codec else 1024
        for start in range(0, planar.shape[1], frame_size):
            chunk = np.ascontiguousarray(planar[:, start:start + frame_size])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            frame.sample_rate = sr
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
