"""A harder evaluation set for the audio analysis, with ground truth, and its split.

    .venv/bin/python bench/eval_corpus.py [--out .bench-cache/evalset] [--jobs 2] [--limit N]
                                          [--family syn|gm] [--style STYLE ...] [--list]

Two families of excerpts (30-60 s each, 44.1 kHz 16-bit WAV), 156 in all:

* ``syn-*`` (90): synthesized with the instruments of ``tests/analysis/synth.py`` (kick,
  snare, clap, hat, shaker, tom, rim, tone, composed here into a ride, a hi-hat pedal, an
  808, skank chords...) in styles that ``CORPUS_SPEC`` does not have: a 12/8 ballad at
  68-80 (triplet subdivisions), drum & bass and jungle breakbeats at 160-178 (ghost
  snares, syncopated kicks), half-time at 140-150 (snare on beat 3; the DJ tempo is the
  fast one), UK garage 2-step at 128-136 (shuffled off-beat hats, skippy kicks), a reggae
  one-drop at 70-85 (kick and rim on 3, off-beat skank chords), offbeat-bass house with
  loud open hats, jazz swing at 100-140 (ride pattern, walking bass) and a latin 3-2 son
  clave groove at 96-124 (congas, tumbao bass, montuno). Ten excerpts per
  style, in five pairs: plain, tempo drift (3-5 %, up or down), a beatless intro of 8-32
  beats, and two of four mixes: quiet (peak at -24 dBFS), loud (driven +12 dB into a
  clipper), drums low (-12 dB) or drums high (the rest -12 dB).
* ``gm-*`` (66): General MIDI arrangements (drums on channel 10 with the GM drum map, bass,
  chords on piano/organ/strings/guitar programs, a melody) written with ``mido`` and
  rendered by the FluidSynth CLI with FluidR3_GM: pop, rock, funk, disco, reggae, bossa,
  ballad (4/4, 60-78), a 12/8 ballad, a 12/8 blues shuffle, a 3/4 waltz and a 2/4 march.
  Six excerpts per genre, in three pairs: plain, beatless intro, tempo drift (a tempo map).
  Tempo, key, programs, patterns and levels are drawn per excerpt from its seed.

Ground truth per excerpt, in ``<name>.json`` beside ``<name>.wav`` and collected into
``manifest.json``: ``beats`` (seconds; the beat as a DJ counts it: the dotted quarter in
12/8, the quarter otherwise; only where the drums play, none in a beatless intro),
``downbeats`` (the first beat of every bar of the style's ``metre``: 4/4, 12/8 with four
beats a bar, 3/4, 2/4), ``bpm`` (mean tempo over the beats), ``key`` (canonical, e.g.
"Eb minor"), ``metre``, ``seed``, ``style``, ``variant`` and ``part``.

FluidSynth's offset: before rendering, a calibration file (one kick drum at 1 s) is
rendered and the first sample above the dither is taken as where a note-on lands; every
GM ground-truth time is shifted by it (a few ms: the attack of the sample). Each GM
excerpt also records ``onset_check``: where its first drum note was expected and where the
render's onset envelope rises nearest to it (not after a beatless intro, where the
pads already sound); over the 44 GM excerpts without an intro it is within 3 ms.

**The split.** Within each style, excerpts are numbered 00, 01, ...; even numbers are the
``tuning`` part, odd numbers ``heldout`` (the variants go in pairs, so both parts get the
same conditions: half of each style, of each variant, in each part). Tuning the analyser
may only look at the tuning part (``bench/analysis_eval.py --part tuning``); the held-out
part is for reporting, read once per tuning round, never to choose constants.

The generator is deterministic for a given ``--seed`` (each excerpt's own seed is derived
from it and the excerpt's name, so adding styles does not change the others). Existing
excerpts whose sidecar has the current ``GENERATOR_VERSION`` are skipped.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.analysis import synth as S  # noqa: E402

GENERATOR_VERSION = "1"
DEFAULT_OUT = ROOT / ".bench-cache" / "evalset"
DEFAULT_SEED = 2026
SR = 44100
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
FLUIDSYNTH_TIMEOUT = 180  # seconds per render

LEVELS = ("quiet", "loud", "drums-low", "drums-high")

# style -> (tempo range of the DJ beat, metre, excerpts); the order fixes the level variants.
SYN_STYLES = {
    "ballad-12-8": ((68, 80), "12/8", 10),
    "dnb": ((160, 178), "4/4", 10),
    "jungle": ((160, 178), "4/4", 10),
    "halftime": ((140, 150), "4/4", 10),
    "ukg-2step": ((128, 136), "4/4", 10),
    "reggae-onedrop": ((70, 85), "4/4", 10),
    "offbeat-house": ((120, 128), "4/4", 10),
    "swing": ((100, 140), "4/4", 10),
    "latin-clave": ((96, 124), "4/4", 10),
}
GM_STYLES = {
    "pop": ((96, 128), "4/4", 6),
    "rock": ((100, 150), "4/4", 6),
    "funk": ((95, 115), "4/4", 6),
    "disco": ((115, 130), "4/4", 6),
    "reggae": ((70, 85), "4/4", 6),
    "bossa": ((120, 145), "4/4", 6),
    "ballad": ((60, 78), "4/4", 6),
    "ballad-12-8": ((60, 78), "12/8", 6),
    "shuffle": ((85, 125), "12/8", 6),
    "waltz": ((90, 150), "3/4", 6),
    "march": ((108, 124), "2/4", 6),
}
BEATS_PER_BAR = {"4/4": 4, "12/8": 4, "3/4": 3, "2/4": 2}


# --------------------------------------------------------------------------- the plan


def _seed_for(master: int, name: str) -> int:
    return (zlib.crc32(name.encode()) ^ (master * 2654435761)) % (1 << 31)


def plan(seed: int = DEFAULT_SEED) -> list[dict]:
    """Every excerpt's recipe: name, family, style, variant, part, seed, bpm, key, seconds..."""
    specs = []
    for family, styles in (("syn", SYN_STYLES), ("gm", GM_STYLES)):
        for si, (style, ((lo, hi), metre, count)) in enumerate(styles.items()):
            if family == "syn":
                levels = [LEVELS[(2 * si) % 4], LEVELS[(2 * si + 1) % 4]]
                variants = ["plain", "drift", "intro", *levels]
            else:
                variants = ["plain", "intro", "drift"]
            for i in range(count):
                name = f"{family}-{style}-{i:02d}"
                s = _seed_for(seed, name)
                rng = np.random.default_rng(s)
                variant = variants[(i // 2) % len(variants)]
                minor_share = {"reggae-onedrop": 0.6, "swing": 0.15, "ballad-12-8": 0.4, "march": 0.1,
                               "waltz": 0.3, "bossa": 0.3, "pop": 0.35, "disco": 0.5, "shuffle": 0.0,
                               "ballad": 0.35, "rock": 0.4, "funk": 0.6, "reggae": 0.6,
                               "latin-clave": 0.5}.get(style, 0.8)
                mode = "minor" if rng.random() < minor_share else "major"
                spec = {
                    "name": name, "family": family, "style": style, "variant": variant,
                    "part": "tuning" if i % 2 == 0 else "heldout", "seed": s, "metre": metre,
                    "nominal_bpm": round(float(rng.uniform(lo, hi)), 1),
                    "key": f"{S.TONICS[int(rng.integers(12))]} {mode}",
                    "seconds": round(float(rng.uniform(30, 60)), 1),
                    "drift": 0.0, "intro_beats": 0,
                }
                if variant == "drift":
                    spec["drift"] = round(float(rng.uniform(0.03, 0.05)) * (1 if rng.random() < 0.5 else -1), 3)
                if variant == "intro":
                    bpb = BEATS_PER_BAR[metre]
                    spec["intro_beats"] = int(bpb * math.ceil(int(rng.integers(8, 33)) / bpb))
                    spec["seconds"] = max(spec["seconds"],
                                          round(spec["intro_beats"] * 60 / spec["nominal_bpm"] + 24, 1))
                    spec["seconds"] = min(spec["seconds"], 60.0)
                specs.append(spec)
    return specs


# --------------------------------------------------------------------------- beat clock


@dataclass
class Clock:
    """Beat b (float, from the first beat) -> seconds; tempo linear in the beat index."""

    beat_t: np.ndarray  # start of beat i, i = 0 .. n
    t0: float

    def at(self, beat: float) -> float:
        i = int(np.clip(np.floor(beat), 0, len(self.beat_t) - 2))
        return self.t0 + self.beat_t[i] + (beat - i) * (self.beat_t[i + 1] - self.beat_t[i])


def tempo_curve(bpm: float, drift: float, n_beats: int) -> np.ndarray:
    """Tempo of each beat: from bpm*(1-drift/2) to bpm*(1+drift/2) (synth.py's convention)."""
    return np.linspace(bpm * (1 - drift / 2), bpm * (1 + drift / 2), n_beats)


def make_clock(tempos: np.ndarray, t0: float) -> Clock:
    return Clock(np.concatenate([[0.0], np.cumsum(60.0 / tempos)]), t0)


def truth_of(clock: Clock, first_beat: int, beats_per_bar: int, seconds: float) -> dict:
    """Beats from ``first_beat`` (a bar line) to the end; downbeats every ``beats_per_bar``."""
    beats, downbeats = [], []
    b = first_beat
    while b < len(clock.beat_t) - 1:
        t = clock.at(b)
        if t >= seconds - 0.01:
            break
        beats.append(t)
        if (b - first_beat) % beats_per_bar == 0:
            downbeats.append(t)
        b += 1
    beats_arr = np.array(beats)
    bpm = 60.0 * (len(beats_arr) - 1) / (beats_arr[-1] - beats_arr[0]) if len(beats_arr) > 1 else 0.0
    return {"beats": [round(t, 4) for t in beats], "downbeats": [round(t, 4) for t in downbeats],
            "bpm": round(float(bpm), 3)}


def _scale(key: str) -> tuple[int, str, tuple[int, ...]]:
    tonic_name, mode = key.split()
    return S.TONICS.index(tonic_name), mode, S.MAJOR_SCALE if mode == "major" else S.MINOR_SCALE


def _progression(key: str, rng, style: str) -> list[tuple[int, str]]:
    _, mode, _ = _scale(key)
    if style == "swing" and mode == "major":
        return [(1, "m"), (4, "M"), (0, "M"), (5, "m")]  # ii V I vi
    if style in ("shuffle",):
        return [(0, "M"), (0, "M"), (3, "M"), (0, "M"), (4, "M"), (3, "M"), (0, "M"), (4, "M")]
    progs = S.PROGRESSIONS[mode]
    return progs[int(rng.integers(len(progs)))]


def _note_in(pc: int, low: int) -> int:
    """The MIDI note of pitch class ``pc`` at or just above ``low``."""
    return low + (pc - low) % 12


# --------------------------------------------------------------------------- synthesized family

# Voices: tone() parameters and a gain.
VOICES = {
    "bass": dict(partials=4, attack=0.01, release=0.03, gain=0.35),
    "sub": dict(partials=2, attack=0.005, release=0.05, decay=0.9, gain=0.55),
    "reese": dict(partials=7, attack=0.02, release=0.08, gain=0.22),
    "pad": dict(partials=5, attack=0.08, release=0.1, gain=0.10),
    "intro-pad": dict(partials=5, attack=0.25, release=0.1, gain=0.12),
    "stab": dict(partials=6, attack=0.003, decay=0.25, gain=0.12),
    "arp": dict(partials=6, attack=0.003, decay=0.5, gain=0.15),
    "skank": dict(partials=8, attack=0.002, decay=0.05, release=0.02, bright=2.0, gain=0.16),
    "organ": dict(partials=6, attack=0.01, release=0.02, gain=0.08),
    "piano": dict(partials=6, attack=0.002, decay=0.4, gain=0.10),
    "walk": dict(partials=3, attack=0.01, decay=0.35, release=0.04, gain=0.4),
}


def ride(sr: int, rng) -> np.ndarray:
    """A ride cymbal: a long hat wash plus inharmonic bell partials."""
    n = int(0.9 * sr)
    t = np.arange(n) / sr
    bell = sum(np.sin(2 * np.pi * f * t + k) for k, f in enumerate((3150.0, 4260.0, 5380.0, 6620.0)))
    wash = np.zeros(n)
    h = S.hat(sr, rng, decay=0.2)
    wash[:len(h)] = h
    return 0.6 * wash + 0.12 * bell * np.exp(-t / 0.35)


def pedal_hat(sr: int, rng) -> np.ndarray:
    """The hi-hat foot 'chick': a short, darker hat."""
    n = int(0.08 * sr)
    noise = S._band(rng.standard_normal(n), sr, 2500, 8000)
    return noise * S._env(n, sr, 0.012, attack=0.002)


def kick_808(sr: int, rng) -> np.ndarray:
    return S.kick(sr, rng, f_hi=110.0, f_lo=45.0, decay=0.35)


def _drum_kit(sr: int, rng) -> dict[str, np.ndarray]:
    return {
        "kick": S.kick(sr, rng), "kick808": kick_808(sr, rng), "snare": S.snare(sr, rng),
        "clap": S.clap(sr, rng), "hat": S.hat(sr, rng, decay=0.025), "ohat": S.hat(sr, rng, decay=0.12),
        "shaker": S.shaker(sr, rng), "tom": S.tom(sr, rng, f0=180 + 80 * rng.random()), "rim": S.rim(sr, rng),
        "ride": ride(sr, rng), "chick": pedal_hat(sr, rng),
        "conga": S.tom(sr, rng, f0=320 + 40 * rng.random(), decay=0.08),
        "clave": S.rim(sr, rng),
    }


DRUM_GAINS = {"kick": 1.0, "kick808": 1.0, "snare": 0.6, "clap": 0.55, "hat": 0.25, "ohat": 0.3,
              "shaker": 0.2, "tom": 0.45, "rim": 0.3, "ride": 0.3, "chick": 0.25, "conga": 0.35,
              "clave": 0.3}


class SynStyle:
    """Per-bar drum hits [(inst, beat position, velocity)] and notes
    [(voice, beat position, length in beats, midi note, velocity)] for one style."""

    def __init__(self, style: str, key: str, rng: np.random.Generator):
        self.style, self.rng = style, rng
        self.tonic, self.mode, self.scale = _scale(key)
        self.prog = _progression(key, rng, style)
        self.swing = float(rng.uniform(0.55, 0.667))  # swing: where the off-beat 8th sits (jazz)
        self.shuffle = float(rng.uniform(0.18, 0.33))  # 2-step: 16th delay, in 16ths
        self.skank_mode = int(rng.integers(2))
        self.kick_gain = float(rng.uniform(0.6, 1.0))  # offbeat house: the kick is not always on top

    def chord(self, bar: int) -> tuple[int, ...]:
        deg, qual = self.prog[bar % len(self.prog)]
        return S.chord_pitches(self.tonic, self.mode, deg, qual)

    def pad(self, bar: int, bpb: int, voice: str = "pad") -> list:
        ch = self.chord(bar)
        return [(voice, 0.0, bpb, _note_in(pc, 60) if j else _note_in(pc, 48), 1.0) for j, pc in enumerate(ch)]

    def bar(self, bar: int) -> tuple[list, list]:  # noqa: C901 - one branch per style
        r, st = self.rng, self.style
        ch = self.chord(bar)
        root = ch[0]
        d: list = []
        n: list = []
        if st == "ballad-12-8":
            d += [("kick", 0.0, 1.0), ("snare", 1.0, 0.7), ("snare", 3.0, 0.75)]
            if bar % 2:
                d.append(("kick", 2 + 2 / 3, 0.7))
            d += [("hat", k / 3, 0.22 if k % 3 == 0 else 0.12) for k in range(12)]
            n += [("bass", 0.0, 1.9, _note_in(root, 40), 1.0), ("bass", 2.0, 1.9, _note_in(ch[2], 40), 0.9)]
            order = [0, 1, 2, 1, 2, 1]
            n += [("arp", k / 3, 0.6, _note_in(ch[order[k % 6]], 60) + (12 if k % 6 == 3 else 0), 0.8)
                  for k in range(12)]
            n += self.pad(bar, 4)
        elif st == "dnb":
            kicks = [[0, 2.5], [0, 2.5, 2.75], [0, 0.75, 2.5], [0, 2.25]][int(r.integers(4))]
            d += [("kick", k, 1.0) for k in kicks] + [("snare", 1.0, 1.0), ("snare", 3.0, 1.0)]
            ghosts = r.choice([0.75, 1.75, 2.25, 3.5, 3.75], size=2, replace=False)
            d += [("snare", float(g), float(r.uniform(0.15, 0.3))) for g in ghosts]
            d += [("hat", k / 2, 0.3 if k % 2 else 0.2) for k in range(8)]
            d += [("shaker", k / 4 + 0.25, 0.15) for k in range(0, 16, 2)]
            n += [("reese", 0.0, 1.9, _note_in(root, 33), 1.0), ("reese", 2.5, 1.4, _note_in(root, 33), 0.9)]
            n += self.pad(bar, 4)
        elif st == "jungle":
            # The amen break's two bars, chopped and re-ordered per bar.
            a = {"kick": [0, 0.5, 2.5, 2.75], "snare": [1, 1.75, 2.25, 3, 3.75]}
            b = {"kick": [0, 0.5, 2.5], "snare": [1, 1.75, 2.25, 3.5]}
            c = {"kick": [0, 0.5, 2.0, 2.75], "snare": [1, 1.75, 3, 3.25, 3.75]}
            pat = [a, b, a, c][bar % 4] if r.random() < 0.7 else [a, b, c][int(r.integers(3))]
            d += [("kick", k, 1.0) for k in pat["kick"]]
            d += [("snare", s, 1.0 if float(s).is_integer() else float(r.uniform(0.3, 0.5))) for s in pat["snare"]]
            d += [("ride", k / 2, 0.35 if k % 2 == 0 else 0.25) for k in range(8)]
            d += [("hat", k / 4, 0.12) for k in range(16) if k % 2]
            n += [("sub", 0.0, 3.8, _note_in(root, 28), 1.0)]
            n += self.pad(bar, 4)
            if bar % 4 == 2:
                n += [("stab", 1.5, 0.5, _note_in(pc, 60), 0.8) for pc in ch]
        elif st == "halftime":
            kicks = [[0], [0, 0.75], [0, 1.5, 3.25], [0, 3.5]][int(r.integers(4))]
            d += [("kick808", k, 1.0) for k in kicks] + [("snare", 2.0, 1.0), ("clap", 2.0, 0.7)]
            d += [("hat", k / 2, 0.3 if k % 2 == 0 else 0.22) for k in range(8)]
            if bar % 2 == 1:  # a trap roll in the last beat: 32nds or 16th triplets
                step = 1 / 8 if r.random() < 0.5 else 1 / 6
                d += [("hat", 3 + k * step, 0.12 + 0.05 * k) for k in range(int(round(1 / step)))]
            n += [("sub", k, 1.2, _note_in(root, 33), 1.0) for k in kicks]
            n += self.pad(bar, 4)
        elif st == "ukg-2step":
            def sw(step):  # shuffled 16ths
                return (step + (self.shuffle if step % 2 else 0)) / 4

            kicks = [[0, 10], [0, 7, 10], [0, 9, 10], [0, 10, 13]][int(r.integers(4))]
            d += [("kick", sw(k), 1.0) for k in kicks] + [("clap", 1.0, 0.9), ("snare", 3.0, 0.8)]
            d += [("ohat", sw(s), 0.7) for s in (2, 6, 10, 14)]
            d += [("hat", sw(s), 0.3) for s in range(1, 16, 2)]
            d += [("rim", sw(s), 0.4) for s in (3, 11)]
            n += [("bass", sw(s), 0.45, _note_in(root if s != 6 else ch[2], 36), 1.0) for s in (0, 3, 6, 10, 14)]
            n += [("organ", sw(s), 0.3, _note_in(pc, 60), 1.0) for s in (3, 6) for pc in ch]
            n += self.pad(bar, 4)
        elif st == "reggae-onedrop":
            trip = 2 / 3
            d += [("kick", 2.0, 1.0), ("rim", 2.0, 1.0)]
            d += [("hat", k + o, 0.3 if o == 0 else 0.18) for k in range(4) for o in (0, trip)]
            if bar % 4 == 3:
                d.append(("ohat", 3 + trip, 0.5))
            offs = [1.0, 3.0] if self.skank_mode == 0 else [0.5, 1.5, 2.5, 3.5]
            n += [("skank", o, 0.2, _note_in(pc, 62), 1.0) for o in offs for pc in ch]
            if self.skank_mode == 0:  # organ bubble on the off-beat 8ths
                n += [("organ", k + 0.5, 0.35, _note_in(pc, 55), 0.8) for k in range(4) for pc in ch]
            notes = [(0.0, root), (0.5, root), (1.5, ch[2]), (2.5, ch[1]), (3.0, root)]
            if r.random() < 0.5:
                notes = notes[1:]  # the 'drop': nothing on the one
            n += [("bass", o, 0.45, _note_in(pc, 33), 1.0) for o, pc in notes]
        elif st == "offbeat-house":
            d += [("kick", k, self.kick_gain) for k in range(4)] + [("clap", 1.0, 0.7), ("clap", 3.0, 0.7)]
            d += [("ohat", k + 0.5, float(r.uniform(0.8, 1.0)) * 2.5) for k in range(4)]
            d += [("hat", k / 4, 0.2) for k in range(16) if k % 4 != 2]
            n += [("bass", k + 0.5, 0.4, _note_in(root, 36), 1.4) for k in range(4)]
            if bar % 2:
                n += [("stab", 1.75, 0.4, _note_in(pc, 60), 0.8) for pc in ch]
            n += self.pad(bar, 4)
        elif st == "swing":
            s = self.swing
            d += [("ride", p, 0.55 if float(p).is_integer() else 0.4) for p in (0, 1, 1 + s, 2, 3, 3 + s)]
            d += [("chick", 1.0, 0.5), ("chick", 3.0, 0.5)]
            d += [("kick", k, 0.12) for k in range(4)]
            for _ in range(int(r.integers(0, 3))):
                d.append(("snare", float(r.integers(4)) + (s if r.random() < 0.6 else 0), float(r.uniform(0.12, 0.3))))
            nxt = self.chord(bar + 1)[0]
            walk = [root, ch[1], ch[2], (nxt + (1 if r.random() < 0.5 else -1)) % 12]
            n += [("walk", k, 0.9, _note_in(pc, 36), 1.0) for k, pc in enumerate(walk)]
            comp = [[0.0, 1 + s], [1 + s], [2.0 + s - 1, 3 + s], [0.0, 2 + s]][int(r.integers(4))]
            n += [("piano", c, 0.5, _note_in(pc, 55), 1.0) for c in comp for pc in ch]
        elif st == "latin-clave":
            # 3-2 son clave over two bars, tumbao bass, conga and cowbell-ish rim, piano montuno.
            clave = [0, 0.75, 1.5] if bar % 2 == 0 else [0.5, 1.0]
            d += [("clave", 2 * c, 0.8) for c in clave]
            d += [("conga", p, 0.6) for p in (1.0, 1.5, 3.0, 3.5)] + [("tom", 2.5, 0.5)]
            d += [("shaker", k / 4, 0.2 if k % 2 else 0.3) for k in range(16)]
            d += [("kick", 0.0, 0.5), ("kick", 2.0, 0.4)]
            n += [("bass", 1.5, 0.9, _note_in(root, 36), 1.0), ("bass", 3.0, 0.9, _note_in(ch[2], 36), 1.0)]
            mont = [0, 1, 2, 1]
            n += [("piano", k / 2, 0.3, _note_in(ch[mont[k % 4]], 60), 0.9) for k in range(8) if k % 3 != 2]
            n += self.pad(bar, 4)
        else:
            raise ValueError(f"unknown synthesized style {st!r}")
        return d, n


def render_syn(spec: dict) -> tuple[np.ndarray, dict]:
    """Mono float32 audio at ``SR`` and its ground truth."""
    rng = np.random.default_rng(spec["seed"])
    sr, seconds = SR, spec["seconds"]
    bpb = BEATS_PER_BAR[spec["metre"]]
    style = SynStyle(spec["style"], spec["key"], rng)
    n_beats = int(seconds * spec["nominal_bpm"] / 60 * 1.2) + 16
    clock = make_clock(tempo_curve(spec["nominal_bpm"], spec["drift"], n_beats), t0=float(rng.uniform(0.03, 0.4)))
    humanize = float(rng.uniform(0.002, 0.008))
    kit = _drum_kit(sr, rng)
    n = int(seconds * sr)
    drums, tonal = np.zeros(n + 2 * sr), np.zeros(n + 2 * sr)
    cache: dict = {}

    def place(buf, snd, t, g):
        i = int(round(t * sr))
        if 0 <= i < len(buf):
            m = min(len(snd), len(buf) - i)
            buf[i:i + m] += g * snd[:m]

    def note(voice, note_, dur_s):
        k = (voice, note_, round(dur_s, 2))
        if k not in cache:
            v = dict(VOICES[voice])
            gain = v.pop("gain")
            cache[k] = gain * S.tone(sr, S.midi_hz(note_), dur_s, **v)
        return cache[k]

    first = spec["intro_beats"]
    bar = 0
    while clock.at(bar * bpb) < seconds and (bar + 1) * bpb < n_beats:
        start = bar * bpb
        if start < first:  # beatless intro: pads only, chords changing with the bars
            for voice, pos, length, note_, vel in style.pad(bar, bpb, "intro-pad"):
                place(tonal, note(voice, note_, clock.at(start + length) - clock.at(start) + 0.05), clock.at(start), vel)
            bar += 1
            continue
        hits, notes = style.bar(bar)
        for inst, pos, vel in hits:
            t = clock.at(start + pos) + rng.normal(0, humanize)
            v = max(0.03, vel * (1 + 0.1 * rng.standard_normal()))
            place(drums, kit[inst], t, DRUM_GAINS[inst] * v)
        for voice, pos, length, note_, vel in notes:
            t0 = clock.at(start + pos)
            dur = clock.at(start + pos + length) - t0
            place(tonal, note(voice, note_, dur + (0.05 if voice == "pad" else 0)), t0 + rng.normal(0, humanize / 2), vel)
        bar += 1

    variant = spec["variant"]
    d_gain, t_gain = {"drums-low": (0.25, 1.0), "drums-high": (1.0, 0.25)}.get(variant, (1.0, 1.0))
    mix = (d_gain * drums + t_gain * tonal)[:n]
    mix = mix + 1e-4 * rng.standard_normal(n)
    mix = 0.9 * mix / (np.max(np.abs(mix)) + 1e-12)
    mix = apply_level(mix, variant)
    truth = truth_of(clock, first, bpb, seconds)
    return mix.astype(np.float32), truth


def apply_level(y: np.ndarray, variant: str) -> np.ndarray:
    """quiet: peak at -24 dBFS; loud: +12 dB into a soft clipper, then hard-clipped at -0.1 dBFS."""
    if variant == "quiet":
        return y / (np.max(np.abs(y)) + 1e-12) * 10 ** (-24 / 20)
    if variant == "loud":
        driven = np.tanh(y * 10 ** (12 / 20) * 0.9)
        return np.clip(driven * 1.15, -0.989, 0.989)
    return y


# --------------------------------------------------------------------------- General MIDI family

TPB = 960  # MIDI ticks per DJ beat
DRUM_CH = 9  # channel 10
GM = {  # GM drum map
    "kick": 36, "kick2": 35, "stick": 37, "snare": 38, "clap": 39, "esnare": 40, "hh": 42, "pedal": 44,
    "ohh": 46, "crash": 49, "ride": 51, "bell": 53, "tamb": 54, "cowbell": 56, "ltom": 45, "mtom": 47,
    "htom": 50, "cabasa": 69, "maracas": 70, "claves": 75, "hconga": 63, "lconga": 64, "shaker": 82,
}
# Programs (0-based GM numbers) per role and genre.
PROGRAMS = {
    "bass": {"default": [32, 33, 34], "funk": [36, 37], "disco": [33, 38], "march": [58], "waltz": [32, 43],
             "bossa": [32, 35], "ballad": [32, 33], "ballad-12-8": [32, 33], "rock": [33, 34]},
    "chords": {"default": [0, 4, 16, 24, 25, 48], "rock": [29, 30], "funk": [7, 4, 27], "disco": [48, 49, 27],
               "reggae": [27, 16, 17], "bossa": [24, 0], "ballad": [0, 1, 4], "ballad-12-8": [0, 1, 4],
               "shuffle": [0, 16, 26], "waltz": [21, 0, 48], "march": [61, 56, 57]},
    "melody": {"default": [73, 65, 80, 11, 56, 71], "rock": [29, 30, 80], "march": [56, 73, 72],
               "bossa": [73, 65, 24], "ballad": [73, 40, 71], "ballad-12-8": [73, 40, 71]},
    "pad": {"default": [48, 49, 89, 91, 52]},
}


def _pick(rng, role: str, style: str) -> int:
    table = PROGRAMS[role]
    opts = table.get(style, table["default"])
    return int(opts[int(rng.integers(len(opts)))])


class GMArrangement:
    """Per-bar events [(channel, beat position, length in beats, note, velocity)] for one genre."""

    def __init__(self, style: str, key: str, rng):
        self.style, self.rng = style, rng
        self.tonic, self.mode, self.scale = _scale(key)
        self.prog = _progression(key, rng, style)
        self.programs = {0: _pick(rng, "bass", style), 1: _pick(rng, "chords", style),
                         2: _pick(rng, "melody", style), 3: _pick(rng, "pad", style)}
        self.variant_pattern = int(rng.integers(3))
        self.skank_mode = int(rng.integers(2))

    def chord(self, bar: int):
        deg, qual = self.prog[bar % len(self.prog)]
        return S.chord_pitches(self.tonic, self.mode, deg, qual)

    def pad(self, bar: int, bpb: int, vel: int = 70) -> list:
        return [(3, 0.0, bpb - 0.05, _note_in(pc, 55), vel) for pc in self.chord(bar)]

    def melody(self, bar: int, bpb: int, triplet: bool = False) -> list:
        r, ch = self.rng, self.chord(bar)
        unit = 1 / 3 if triplet else 0.5
        out, pos = [], 0.0
        while pos < bpb - 1e-6:
            length = unit * int(r.choice([1, 2, 2, 3, 4]))
            length = min(length, bpb - pos)
            if r.random() < 0.8:
                if r.random() < 0.6:
                    pc = ch[int(r.integers(3))]
                else:
                    pc = (self.tonic + self.scale[int(r.integers(7))]) % 12
                out.append((2, pos, length * 0.9, _note_in(pc, 69), int(r.integers(70, 96))))
            pos += length
        return out

    def bar(self, bar: int, bpb: int) -> list:  # noqa: C901 - one branch per genre
        r, st = self.rng, self.style
        ch = self.chord(bar)
        root = ch[0]
        ev: list = []

        def dr(name, pos, vel):
            ev.append((DRUM_CH, pos, 0.1, GM[name], int(np.clip(vel + r.integers(-8, 9), 20, 127))))

        def chord_at(pos, length, vel, low=55, ch_=1):
            ev.extend((ch_, pos, length, _note_in(pc, low), vel) for pc in ch)

        def bass(pos, length, pc=None, vel=95, low=36):
            ev.append((0, pos, length, _note_in(root if pc is None else pc, low), vel))

        if bar % 8 == 0 and st not in ("reggae", "bossa", "ballad", "ballad-12-8", "waltz"):
            dr("crash", 0, 90)
        if st in ("pop", "rock"):
            kicks = [[0, 2], [0, 2, 2.5], [0, 1.5, 2]][self.variant_pattern if bar % 4 != 3 else 1]
            for k in kicks:
                dr("kick", k, 110)
            dr("snare", 1, 105), dr("snare", 3, 108)
            cym = "ride" if st == "rock" and bar % 8 >= 4 else "hh"
            for k in range(8):
                dr(cym, k / 2, 85 if k % 2 == 0 else 65)
            for k in range(8):
                bass(k / 2, 0.45, vel=90 if k % 2 == 0 else 75, low=33 if st == "rock" else 36)
            if st == "rock":
                ev.extend((1, k / 2, 0.45, n_, 90) for k in range(8) for n_ in (_note_in(root, 43), _note_in(root, 43) + 7))
            else:
                for k in range(4):
                    chord_at(k, 0.9, 75)
            ev.extend(self.melody(bar, bpb))
        elif st == "funk":
            kicks = [[0, 0.75, 2.5], [0, 1.75, 2.5], [0, 2.25, 2.75]][self.variant_pattern]
            for k in kicks:
                dr("kick", k, 112)
            dr("snare", 1, 110), dr("snare", 3, 110)
            for g in r.choice([0.75, 1.25, 1.75, 2.75, 3.25, 3.75], size=3, replace=False):
                dr("snare", float(g), 38)
            for k in range(16):
                dr("hh", k / 4, 80 if k % 2 == 0 else 55)
            for p, pc in ((0, root), (0.75, root), (1.5, ch[2]), (2.5, root), (3.25, ch[1]), (3.5, root)):
                bass(p, 0.2, pc, vel=100, low=28)
            for p in (0.5, 1.25, 2.5, 3.25, 3.75):
                chord_at(p, 0.15, 85, low=60)
        elif st == "disco":
            for k in range(4):
                dr("kick", k, 112), dr("ohh", k + 0.5, 90), dr("hh", k + 0.25, 50), dr("hh", k + 0.75, 50)
            dr("clap", 1, 95), dr("clap", 3, 95), dr("snare", 1, 80), dr("snare", 3, 80)
            for k in range(8):
                bass(k / 2, 0.4, vel=100, low=36 + (12 if k % 2 else 0))
            chord_at(0, bpb - 0.1, 60, low=60, ch_=3)
            for k in range(4):
                chord_at(k + 0.5, 0.2, 80, low=60)
            ev.extend(self.melody(bar, bpb))
        elif st == "reggae":
            dr("kick", 2, 110), dr("stick", 2, 110)
            for k in range(4):
                dr("hh", k, 75), dr("hh", k + 2 / 3, 55)
            offs = [1.0, 3.0] if self.skank_mode == 0 else [0.5, 1.5, 2.5, 3.5]
            for o in offs:
                chord_at(o, 0.2, 95, low=62)
            if self.skank_mode == 0:
                for k in range(4):
                    chord_at(k + 0.5, 0.3, 60, low=55, ch_=3)
            for p, pc in ((0.5, root), (1.5, ch[2]), (2.5, ch[1]), (3.0, root), (3.5, ch[2])):
                bass(p, 0.45, pc, vel=105, low=28)
        elif st == "bossa":
            for p in (0, 1.5, 2, 3.5):
                dr("kick", p, 80)
            for p in ([0, 0.75, 1.5, 2.5, 3.25] if bar % 2 == 0 else [0.5, 1.5, 2.25, 3.0]):
                dr("stick", p, 90)
            for k in range(8):
                dr("shaker" if k % 2 else "hh", k / 2, 60)
            for p, pc, ln in ((0, root, 1.4), (1.5, ch[2], 0.45), (2, ch[2], 1.4), (3.5, root, 0.45)):
                bass(p, ln, pc, vel=90)
            for p in ([0, 1.5, 2.5] if bar % 2 == 0 else [0.5, 1.5, 3.0]):
                chord_at(p, 0.6, 72, low=55)
            ev.extend(self.melody(bar, bpb))
        elif st == "ballad":
            dr("kick", 0, 95), dr("kick", 2.5, 80)
            dr("stick" if self.variant_pattern == 0 else "snare", 1, 85), dr("stick" if self.variant_pattern == 0 else "snare", 3, 88)
            for k in range(8):
                dr("hh", k / 2, 60 if k % 2 == 0 else 42)
            bass(0, 1.9, vel=85), bass(2, 1.9, ch[2], vel=80)
            order = [0, 1, 2, 1]
            ev.extend((1, k / 2, 0.6, _note_in(ch[order[k % 4]], 60), 72) for k in range(8))
            ev.extend(self.pad(bar, bpb, 55))
            ev.extend(self.melody(bar, bpb))
        elif st == "ballad-12-8":
            dr("kick", 0, 95), dr("snare", 1, 85), dr("snare", 3, 90)
            if bar % 2:
                dr("kick", 2 + 2 / 3, 75)
            for k in range(12):
                dr("hh", k / 3, 62 if k % 3 == 0 else 40)
            bass(0, 1.9, vel=85), bass(2, 1.9, ch[2], vel=80)
            order = [0, 1, 2, 1, 2, 1]
            ev.extend((1, k / 3, 0.5, _note_in(ch[order[k % 6]], 60), 70) for k in range(12))
            ev.extend(self.pad(bar, bpb, 50))
            ev.extend(self.melody(bar, bpb, triplet=True))
        elif st == "shuffle":
            dr("kick", 0, 105), dr("kick", 2, 100), dr("snare", 1, 105), dr("snare", 3, 105)
            for k in range(4):
                dr("ride" if bar % 8 >= 4 else "hh", k, 85), dr("ride" if bar % 8 >= 4 else "hh", k + 2 / 3, 60)
            boogie = [0, 4 if self.mode == "major" else 3, 7, 9, 10, 9, 7, 4 if self.mode == "major" else 3]
            for k, iv in enumerate(boogie):
                bass(k // 2 + (2 / 3 if k % 2 else 0), 0.3, (root + iv) % 12, vel=95)
            for k in range(4):
                chord_at(k + 2 / 3, 0.25, 80, low=58)
            ev.extend(self.melody(bar, bpb, triplet=True))
        elif st == "waltz":
            dr("kick", 0, 85)
            dr("hh", 1, 55), dr("hh", 2, 55)
            bass(0, 0.9, vel=95 + 5 * (bar % 2 == 0), pc=root if bar % 2 == 0 else ch[2])
            chord_at(1, 0.6, 70), chord_at(2, 0.6, 66)
            ev.extend(self.pad(bar, bpb, 45))
            ev.extend(self.melody(bar, bpb))
        elif st == "march":
            dr("kick", 0, 110), dr("kick", 1, 90), dr("crash", 0, 60 if bar % 2 == 0 else 40)
            for p in ([0, 0.5, 0.75, 1, 1.5] if bar % 2 == 0 else [0, 0.25, 0.5, 1, 1.25, 1.5, 1.75]):
                dr("snare", p, 85 if float(p).is_integer() else 62)
            bass(0, 0.45, root, vel=100, low=33), bass(1, 0.45, ch[2], vel=92, low=33)
            chord_at(0.5, 0.3, 78), chord_at(1.5, 0.3, 74)
            ev.extend(self.melody(bar, bpb))
        else:
            raise ValueError(f"unknown GM style {st!r}")
        return ev


def write_midi(spec: dict, path: Path) -> tuple[Clock, float, dict]:
    """The arrangement as a type-0 MIDI file; returns the beat clock (seconds from the file's
    start, before the renderer's offset), the first drum note's time, and the programs."""
    import mido

    rng = np.random.default_rng(spec["seed"])
    bpb = BEATS_PER_BAR[spec["metre"]]
    seconds = spec["seconds"]
    arr = GMArrangement(spec["style"], spec["key"], rng)
    n_beats = int(seconds * spec["nominal_bpm"] / 60 * 1.2) + 16
    tempos_us = np.round(60e6 / tempo_curve(spec["nominal_bpm"], spec["drift"], n_beats)).astype(int)
    lead_beats = 0.5  # the first beat is half a beat after the start of the file
    clock = make_clock(60e6 / tempos_us, t0=lead_beats * tempos_us[0] / 1e6)

    events = []  # (tick, order, message); note-offs (order 0) before note-ons (order 1)
    lead = int(lead_beats * TPB)
    events.append((0, -1, mido.MetaMessage("set_tempo", tempo=int(tempos_us[0]))))
    for b in range(1, n_beats):
        if tempos_us[b] != tempos_us[b - 1]:
            events.append((lead + b * TPB, -1, mido.MetaMessage("set_tempo", tempo=int(tempos_us[b]))))
    for chan, prog in arr.programs.items():
        events.append((0, -1, mido.Message("program_change", channel=chan, program=prog)))
    events.append((0, -1, mido.Message("control_change", channel=3, control=7, value=75)))

    first = spec["intro_beats"]
    first_drum = None
    bar = 0
    end_tick = 0
    while clock.at(bar * bpb) < seconds - 0.5 and (bar + 1) * bpb < n_beats:
        start = bar * bpb
        evs = arr.pad(bar, bpb, 80) if start < first else arr.bar(bar, bpb)
        for chan, pos, length, note, vel in evs:
            jitter = int(rng.normal(0, 6)) if chan == DRUM_CH else 0  # ~4 ms
            on = max(0, lead + int(round((start + pos) * TPB)) + jitter)
            off = max(on + 1, lead + int(round((start + pos + length) * TPB)))
            events.append((on, 1, mido.Message("note_on", channel=chan, note=int(note), velocity=int(vel))))
            events.append((off, 0, mido.Message("note_off", channel=chan, note=int(note), velocity=0)))
            end_tick = max(end_tick, off)
            if chan == DRUM_CH and start >= first and (first_drum is None or on < first_drum):
                first_drum = on
        bar += 1
    events.sort(key=lambda e: (e[0], e[1]))
    mid = mido.MidiFile(type=0, ticks_per_beat=TPB)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    last = 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - last))
        last = tick
    track.append(mido.MetaMessage("end_of_track", time=TPB))
    mid.save(str(path))
    first_drum_s = clock.at((first_drum - lead) / TPB) if first_drum is not None else None
    return clock, first_drum_s, arr.programs


def _fluidsynth(mid: Path, wav: Path, gain: float) -> None:
    cmd = ["fluidsynth", "-ni", "-q", "-g", f"{gain:.2f}", "-o", "audio.file.format=float",
           "-F", str(wav), "-r", str(SR), SOUNDFONT, str(mid)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=FLUIDSYNTH_TIMEOUT, stdin=subprocess.DEVNULL)


def fluidsynth_available() -> str | None:
    """None when FluidSynth and the soundfont are there, else why not."""
    if shutil.which("fluidsynth") is None:
        return "the fluidsynth CLI is not installed (apt-get install fluidsynth fluid-soundfont-gm)"
    if not os.path.exists(SOUNDFONT):
        return f"no soundfont at {SOUNDFONT} (apt-get install fluid-soundfont-gm)"
    return None


def _first_onset(y: np.ndarray, sr: int, after: float = 0.0) -> float:
    """Time of the first sample above 20x the dither level (mono |y|), after ``after`` s."""
    m = np.abs(y) if y.ndim == 1 else np.abs(y).max(axis=1)
    i0 = int(after * sr)
    idx = np.nonzero(m[i0:] > 20 * 2 ** -15)[0]
    return (i0 + int(idx[0])) / sr if len(idx) else float("nan")


def calibrate_fluidsynth(cache: Path) -> float:
    """Seconds from a note-on to its first audible sample in FluidSynth's render (cached)."""
    import mido
    import soundfile as sf

    path = cache / "fluidsynth-offset.json"
    if path.exists():
        return float(json.loads(path.read_text())["offset"])
    with tempfile.TemporaryDirectory(prefix="ql-evalset-cal-") as tmp:
        mid = mido.MidiFile(type=0, ticks_per_beat=TPB)
        tr = mido.MidiTrack()
        mid.tracks.append(tr)
        tr.append(mido.MetaMessage("set_tempo", tempo=500000))
        tr.append(mido.Message("note_on", channel=DRUM_CH, note=GM["kick"], velocity=110, time=2 * TPB))  # 1.0 s
        tr.append(mido.Message("note_off", channel=DRUM_CH, note=GM["kick"], velocity=0, time=TPB))
        tr.append(mido.MetaMessage("end_of_track", time=TPB))
        mid.save(f"{tmp}/cal.mid")
        _fluidsynth(Path(f"{tmp}/cal.mid"), Path(f"{tmp}/cal.wav"), 0.5)
        y, sr = sf.read(f"{tmp}/cal.wav")
    offset = _first_onset(y, sr, 0.5) - 1.0
    path.write_text(json.dumps({"offset": offset, "soundfont": SOUNDFONT}))
    return offset


def _onset_near(y: np.ndarray, sr: int, t: float) -> float:
    """Where the render's energy first rises within 60 ms before / 100 ms after ``t``."""
    m = np.abs(y) if y.ndim == 1 else np.abs(y).max(axis=1)
    lo, hi = max(0, int((t - 0.06) * sr)), int((t + 0.1) * sr)
    seg = m[lo:hi]
    if len(seg) == 0:
        return float("nan")
    before = float(np.max(m[max(0, lo - int(0.03 * sr)):lo], initial=0.0))
    thr = max(20 * 2 ** -15, 0.5 * before + 0.05 * float(seg.max()))
    idx = np.nonzero(seg > thr)[0]
    return (lo + int(idx[0])) / sr if len(idx) else float("nan")


def render_gm(spec: dict, offset: float) -> tuple[np.ndarray, dict]:
    """Stereo float32 audio at ``SR`` (FluidSynth) and its ground truth."""
    import soundfile as sf

    rng = np.random.default_rng(spec["seed"] + 1)
    with tempfile.TemporaryDirectory(prefix="ql-evalset-") as tmp:
        mid, wav = Path(tmp) / "x.mid", Path(tmp) / "x.wav"
        clock, first_drum_s, programs = write_midi(spec, mid)
        _fluidsynth(mid, wav, 0.4)
        y, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    assert sr == SR
    n = int(spec["seconds"] * sr)
    y = y[:n]
    if len(y) < n:
        y = np.pad(y, ((0, n - len(y)), (0, 0)))
    shifted = Clock(clock.beat_t, t0=clock.t0 + offset)
    truth = truth_of(shifted, spec["intro_beats"], BEATS_PER_BAR[spec["metre"]], spec["seconds"])
    peak_db = float(rng.uniform(-6.0, -0.5))
    y = y / (np.max(np.abs(y)) + 1e-12) * 10 ** (peak_db / 20)
    extra = {"programs": {str(k): v for k, v in programs.items()}, "peak_dbfs": round(peak_db, 2),
             "renderer_offset": round(offset, 5)}
    if first_drum_s is not None and not spec["intro_beats"]:  # (after an intro, pads sound before it)
        expected = first_drum_s + offset
        extra["onset_check"] = {"expected": round(expected, 4), "measured": round(_onset_near(y, sr, expected), 4)}
    truth.update(extra)
    return y.astype(np.float32), truth


# --------------------------------------------------------------------------- building the set


def render_one(spec: dict, out: str, offset: float | None) -> dict:
    """Render one excerpt to ``<out>/<name>.wav`` and write its sidecar; returns the entry."""
    import soundfile as sf

    out_dir = Path(out)
    if spec["family"] == "syn":
        y, truth = render_syn(spec)
    else:
        y, truth = render_gm(spec, offset if offset is not None else 0.0)
    entry = {**spec, **truth, "file": f"{spec['name']}.wav", "sample_rate": SR,
             "generator_version": GENERATOR_VERSION}
    entry["bpm_nominal"] = entry.pop("nominal_bpm")
    tmp_wav = out_dir / f".{spec['name']}.tmp.wav"
    sf.write(str(tmp_wav), y, SR, subtype="PCM_16")
    os.replace(tmp_wav, out_dir / f"{spec['name']}.wav")
    tmp_json = out_dir / f".{spec['name']}.tmp.json"
    tmp_json.write_text(json.dumps(entry))
    os.replace(tmp_json, out_dir / f"{spec['name']}.json")
    return entry


def _existing(out_dir: Path, name: str, seed: int | None = None) -> dict | None:
    """The excerpt's sidecar when it and its audio are there, of this generator and (when
    ``seed``, the excerpt's own, is given) of that seed: another seed's render is missing."""
    side, wav = out_dir / f"{name}.json", out_dir / f"{name}.wav"
    if not (side.exists() and wav.exists()):
        return None
    try:
        entry = json.loads(side.read_text())
    except ValueError:
        return None
    if entry.get("generator_version") != GENERATOR_VERSION:
        return None
    return entry if seed is None or entry.get("seed") == seed else None


def build(out: Path, *, seed: int = DEFAULT_SEED, jobs: int = 1, limit: int | None = None,
          families: tuple[str, ...] = ("syn", "gm"), styles: list[str] | None = None,
          names: list[str] | None = None, part: str | None = None, progress: bool = True) -> list[dict]:
    """Render what is missing and write ``manifest.json`` (when building the whole set);
    returns the entries asked for (``part``: "tuning" or "heldout" only)."""
    out.mkdir(parents=True, exist_ok=True)
    specs = [s for s in plan(seed) if s["family"] in families and (not part or s["part"] == part)
             and (not styles or s["style"] in styles) and (not names or s["name"] in names)]
    if limit is not None:
        specs = _spread(specs, limit)
    why_not = fluidsynth_available()
    if why_not and any(s["family"] == "gm" for s in specs):
        print(f"skipping the GM family: {why_not}", file=sys.stderr)
        specs = [s for s in specs if s["family"] != "gm"]
    offset = calibrate_fluidsynth(out) if any(s["family"] == "gm" for s in specs) else None
    entries = {}
    todo = []
    for s in specs:
        e = _existing(out, s["name"], s["seed"])
        if e is None:
            todo.append(s)
        else:
            entries[s["name"]] = e
    from tqdm import tqdm

    bar = tqdm(total=len(todo), desc="rendering", unit="excerpt", disable=not progress or not todo)
    if jobs <= 1:
        for s in todo:
            entries[s["name"]] = render_one(s, str(out), offset)
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(render_one, s, str(out), offset): s for s in todo}
            for f in as_completed(futures):
                entries[futures[f]["name"]] = f.result()
                bar.update()
    bar.close()
    ordered = [entries[s["name"]] for s in specs if s["name"] in entries]
    if not names and not styles and not part and limit is None and families == ("syn", "gm"):
        write_manifest(out, ordered, seed, offset)
    return ordered


def _spread(specs: list[dict], limit: int) -> list[dict]:
    """``limit`` excerpts taken round-robin over the styles (both parts alike)."""
    by_style: dict = {}
    for s in specs:
        by_style.setdefault((s["family"], s["style"]), []).append(s)
    out, i = [], 0
    while len(out) < limit and any(i < len(v) for v in by_style.values()):
        for v in by_style.values():
            if i < len(v) and len(out) < limit:
                out.append(v[i])
        i += 1
    return out


def write_manifest(out: Path, entries: list[dict], seed: int, offset: float | None) -> None:
    doc = {"generator_version": GENERATOR_VERSION, "seed": seed, "soundfont": SOUNDFONT,
           "fluidsynth_offset": offset,
           "split": "within each style, even-numbered excerpts are 'tuning', odd ones 'heldout'",
           "excerpts": entries}
    tmp = out / ".manifest.tmp.json"
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, out / "manifest.json")


def load_manifest(out: Path = DEFAULT_OUT) -> list[dict]:
    """The entries of ``manifest.json``, or else of the sidecars present (a partial set)."""
    path = out / "manifest.json"
    if path.exists():
        return json.loads(path.read_text())["excerpts"]
    entries = []
    for s in plan():
        e = _existing(out, s["name"])
        if e is not None:
            entries.append(e)
    return entries


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"cache folder (default {DEFAULT_OUT})")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--jobs", type=int, default=1, help="render in N processes (default 1)")
    ap.add_argument("--limit", type=int, default=None, help="only N excerpts, spread over the styles")
    ap.add_argument("--family", choices=("syn", "gm"), default=None)
    ap.add_argument("--style", action="append", default=None, help="only this style (repeatable)")
    ap.add_argument("--list", action="store_true", help="print the plan and exit")
    args = ap.parse_args()
    if args.list:
        for s in plan(args.seed):
            print(f"{s['name']:24s} {s['part']:8s} {s['variant']:10s} {s['nominal_bpm']:6.1f} "
                  f"{s['key']:9s} {s['metre']:5s} {s['seconds']:5.1f} s")
        return
    t0 = time.time()
    families = (args.family,) if args.family else ("syn", "gm")
    entries = build(args.out, seed=args.seed, jobs=args.jobs, limit=args.limit, families=families,
                    styles=args.style)
    minutes = sum(e["seconds"] for e in entries) / 60
    print(f"{len(entries)} excerpts ({minutes:.1f} min of audio) in {args.out}; "
          f"{time.time() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
