"""analysis.audio's tempo octave and compound metre on grooves of bench/eval_corpus.py's
synthesized styles, rendered here with seeds of their own (not excerpts of the evaluation
set): the DJ convention (issue 16) for drum & bass, slow ballads and 12/8 feel."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import audio
from tests.analysis.bench_scripts import bench_module


def _corpus():
    return bench_module("eval_corpus")


def _render(style: str, bpm: float, *, metre: str = "4/4", seed: int = 7, key: str = "D minor", drift: float = 0.0,
            intro_beats: int = 0, variant: str | None = None):
    variant = variant or ("intro" if intro_beats else "plain")
    spec = {"name": f"test-{style}", "family": "syn", "style": style, "variant": variant,
            "part": "test", "seed": seed, "metre": metre, "nominal_bpm": bpm, "key": key, "seconds": 30.0,
            "drift": drift, "intro_beats": intro_beats}
    y, truth = _corpus().render_syn(spec)
    return y, _corpus().SR, truth


def _analyse(y, sr):
    import soxr

    return audio.analyse(soxr.resample(y, sr, 22050).astype(np.float32), 22050, auto_cues=False)


def _beats_hit(found, truth, tol=0.07) -> float:
    found = np.asarray(found)
    truth = np.asarray(truth)
    truth = truth[(truth > 2) & (truth < truth[-1] - 1)]
    return float(np.mean([np.min(np.abs(found - t)) <= tol for t in truth]))


@pytest.mark.parametrize("seed", [1, 4])
def test_drum_and_bass_at_172_is_172_not_86(seed):
    y, sr, truth = _render("dnb", 172.0, seed=seed)
    r = _analyse(y, sr)
    assert r["bpm"] == pytest.approx(truth["bpm"], rel=0.01)
    assert _beats_hit(r["beats"], truth["beats"]) >= 0.9


def test_loud_jungle_at_174_whose_snare_is_its_slow_off_beat_is_174_not_87():
    """Jungle at 174, mastered loud: at 87 the snare half-way between the kicks is as strong
    as they are, in other bands than the kick. That is no bare pulse, but the hats between
    the beats at 174 subdivide them, and the snare half-way at 87 still makes 174 the beat
    (the band check of a bare pulse is for a level with nothing between its beats). Seed
    1513350532 was read at 87 when the band check applied to it too."""
    y, sr, truth = _render("jungle", 174.0, seed=1513350532, key="F# minor", variant="loud")
    r = _analyse(y, sr)
    assert r["bpm"] == pytest.approx(truth["bpm"], rel=0.01)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_drifting_12_8_ballad_at_78_is_78_not_117(seed):
    y, sr, truth = _render("ballad-12-8", 79.0, metre="12/8", seed=seed, drift=0.04)
    r = _analyse(y, sr)
    assert r["bpm"] == pytest.approx(truth["bpm"], rel=0.01)
    assert _beats_hit(r["beats"], truth["beats"]) >= 0.9


def test_a_halftime_groove_at_146_stays_146():
    y, sr, truth = _render("halftime", 146.0)
    r = _analyse(y, sr)
    assert r["bpm"] == pytest.approx(truth["bpm"], rel=0.01)


def test_a_halftime_groove_whose_half_tempo_beats_are_strong_is_not_read_at_two_thirds():
    """A half-time groove at 150 (kick on one, snare on three of the slow bar) with an intro:
    the beats at 100, every one and a half of its own, hit its onsets more strongly on
    average than its own beats (every other one is weak), but not than its half-tempo
    beats (kick and snare): no 12/8 beat. Seed 438722219 was read at 101."""
    y, sr, truth = _render("halftime", 149.7, seed=438722219, key="Eb minor", intro_beats=32)
    r = _analyse(y, sr)
    assert r["bpm"] == pytest.approx(truth["bpm"], rel=0.01)


def test_a_12_8_ballad_whose_first_triplet_eighth_is_weak_is_74_not_111():
    """A 12/8 ballad at 74 whose strongest family is its triplet eighths (read as 111, two of
    them): its dotted-quarter beats are much stronger, and the triplet eighths between
    them sound, if the first of the two only faintly. Seed 979556641 was read at 111."""
    y, sr, truth = _render("ballad-12-8", 74.0, metre="12/8", seed=979556641, key="A major")
    r = _analyse(y, sr)
    assert r["bpm"] == pytest.approx(truth["bpm"], rel=0.01)
    assert _beats_hit(r["beats"], truth["beats"]) >= 0.9


def _shuffle(bpm: float = 112.0, seconds: float = 20.0, sr: int = 22050, seed: int = 5):
    """A 12/8 blues shuffle: kick on 1 and 3, snare on 2 and 4, hats on the beat and on its
    swung "let" (two thirds of a beat later), and a boogie bass and chord stabs on the let,
    loud enough to outweigh the kit there."""
    from tests.analysis import synth as S

    rng = np.random.default_rng(seed)
    period = 60.0 / bpm
    n_beats = int(seconds / period) - 1
    y = np.zeros(int(seconds * sr) + sr)
    t0 = 0.2

    def place(sound, t, gain):
        i = int(round(t * sr))
        seg = sound[: len(y) - i]
        y[i:i + len(seg)] += gain * seg

    kick, snare, hat = S.kick(sr, rng), S.snare(sr, rng), S.hat(sr, rng)
    beats = []
    for b in range(n_beats):
        t = t0 + b * period
        beats.append(t)
        place(kick if b % 2 == 0 else snare, t, 0.5)
        place(hat, t, 0.15)
        place(hat, t + 2 * period / 3, 0.1)
        place(S.tone(sr, S.midi_hz(40 + (7 if b % 2 else 0)), 0.3 * period), t, 0.3)
        place(S.tone(sr, S.midi_hz(45 + (3 if b % 2 else 0)), 0.3 * period), t + 2 * period / 3, 0.5)
        for note in (57, 61, 64):
            place(S.tone(sr, S.midi_hz(note), 0.25 * period, decay=0.1), t + 2 * period / 3, 0.35)
    return y[: int(seconds * sr)].astype(np.float32), sr, np.array(beats)


def test_a_shuffle_gets_its_beats_on_the_beat_not_on_the_swung_let():
    y, sr, beats = _shuffle()
    r = audio.analyse(y, sr, auto_cues=False)
    assert r["bpm"] == pytest.approx(112.0, rel=0.01)
    assert _beats_hit(r["beats"], beats) >= 0.9


def _fast_waltz(bpm: float, seed: int, seconds: float = 42.0, sr: int = 22050):
    """A waltz whose bar is its strongest periodicity: on the one a kick and a long bass note
    (root and fifth in turn), under a pad held for the bar; soft accordion-like chords (a
    slow attack) on two and three; a melody in quarters and eighths, drawn afresh for
    every bar. (mono, beat times)"""
    from tests.analysis.synth import CHORDS, place_at, sine_chord, sine_kick

    rng = np.random.default_rng(seed)
    period = 60.0 / bpm
    y = np.zeros(int(seconds * sr) + sr, np.float32)
    kick = sine_kick(sr)

    def place(at, sound, gain):
        place_at(y, sound, at, gain, sr)

    t0, bars = 0.4, int((seconds - 1) / (3 * period))
    for bar in range(bars):
        chord, one = CHORDS[bar % 4], t0 + 3 * bar * period
        place(one, kick, 1.0)
        place(one, sine_chord([chord[0 if bar % 2 == 0 else 2] - 24], 0.9 * period, sr, decay=0.3), 0.6)
        place(one, sine_chord(chord, 3 * period, sr, decay=1.0), 0.1)
        for beat in (1, 2):
            place(one + beat * period, sine_chord([n + 12 for n in chord], 0.6 * period, sr, decay=0.2, attack=0.05),
                  0.1)
        pos = 0.0
        while pos < 3:
            length = 0.5 * int(rng.choice([1, 2]))
            place(one + pos * period,
                  sine_chord([chord[int(rng.integers(3))] + 24], 0.9 * min(length, 3 - pos) * period, sr, decay=0.15),
                  0.3)
            pos += length
    y = y[: int(seconds * sr)]
    return (y / np.max(np.abs(y))).astype(np.float32), sr, t0 + np.arange(3 * bars) * period


@pytest.mark.parametrize("seed", [2, 3])
def test_a_fast_waltz_whose_bar_is_its_strongest_periodicity_is_read_in_beats(seed):
    """A waltz at 141 whose strongest periodicity is its bar (47 BPM), the family of its
    beats hardly half as salient: its bar divides in three (its beats two and three), not in
    two, so its beats are the family three times as fast (141), not two to the bar (94),
    and its bar is no 12/8 groove's dotted quarter either (both seeds were read at 94). The tempo
    only: with its beats two and three this soft, a grid on its eighths is no concern here."""
    y, sr, _ = _fast_waltz(141.0, seed)
    r = audio.analyse(y, sr, auto_cues=False)
    assert r["bpm"] == pytest.approx(141.0, rel=0.01)


@pytest.mark.parametrize("seed", [2, 8])
def test_a_one_drop_reggae_bar_starts_on_the_chord_change_not_on_the_kick_of_beat_3(seed):
    """The one drop puts its kick (and rim) on the third beat, the loudest low end of the
    bar; the bar starts where the chords above the moving bass change."""
    y, sr, truth = _render("reggae-onedrop", 76.0, seed=seed, key="G minor")
    r = _analyse(y, sr)
    assert _beats_hit(r["beats"], truth["beats"]) >= 0.9
    assert _beats_hit(r["downbeats"], truth["downbeats"]) >= 0.9


@pytest.mark.parametrize("seed", [3, 4])
def test_uk_garage_gets_its_beats_on_the_kick_and_clap_not_on_the_open_hats(seed):
    """2-step: open hats, the bass and the organ on every off-beat outweigh the kick on 1
    and the clap and snare on 2 and 4; the beat is still where the kick and clap are."""
    y, sr, truth = _render("ukg-2step", 132.0, seed=seed, key="F minor")
    r = _analyse(y, sr)
    assert r["bpm"] == pytest.approx(truth["bpm"], rel=0.01)
    assert _beats_hit(r["beats"], truth["beats"]) >= 0.9


@pytest.mark.parametrize("seed", [1, 2])
def test_hip_hop_with_straight_sixteenths_stays_at_its_tempo(seed):
    """Straight sixteenth-note hats at 88 BPM look like drum & bass's eighths at 176, but
    the level below has no snare half-way between its beats: 88."""
    from tests.analysis.synth import make_excerpt

    e = make_excerpt("hiphop", 88.0, seconds=24, sr=22050, seed=seed, humanize=0.006)
    r = audio.analyse(e.y, e.sr, auto_cues=False)
    assert r["bpm"] == pytest.approx(e.bpm, rel=0.01)


def _gm_render(style: str, *, seed: int, metre: str, bpm: float, key: str, drift: float = 0.0,
               intro_beats: int = 0):
    """A General MIDI arrangement of the corpus's `style`, rendered by FluidSynth (the test is
    skipped without it), 30 s, with a seed outside the evaluation set: (mono, truth)."""
    corpus = _corpus()
    why = corpus.fluidsynth_available()
    if why:
        pytest.skip(why)
    spec = {"name": f"test-{style}", "family": "gm", "style": style, "variant": "intro" if intro_beats else "plain",
            "part": "test", "seed": seed, "metre": metre, "nominal_bpm": bpm, "key": key, "seconds": 30.0,
            "drift": drift, "intro_beats": intro_beats}
    y, truth = corpus.render_gm(spec, 0.005)
    return y.mean(axis=1), truth


def test_a_fast_gm_waltz_is_counted_in_beats_not_in_two_thirds_of_them():
    """A 3/4 waltz at 146 whose strongest periodicity is the bar (48.7 BPM): the beats are
    three to the bar (146), not two (97.4). Rendered by FluidSynth (skipped without it)."""
    y, truth = _gm_render("waltz", seed=201, metre="3/4", bpm=146.2, key="F major")
    r = _analyse(y, _corpus().SR)
    assert r["bpm"] == pytest.approx(truth["bpm"], rel=0.01)


def test_a_gm_waltz_is_not_counted_in_dotted_halves_as_a_12_8_groove():
    """A waltz at 112 after a pad intro: at 75, two to the bar, the beats hit its ones
    harder than its own beats (two and three are soft), its eighths sound between them,
    and the kick is on every other one: a 12/8 ballad's dotted quarters by those figures.
    But every other of those beats is the "and" of two, a fifth as strong as the ones: a
    bar's halves, not beats (a 12/8 ballad's kick and snare alternate, both strong). Seed
    1960220854 was read at 74.7. Rendered by FluidSynth (skipped without it)."""
    y, truth = _gm_render("waltz", seed=1960220854, metre="3/4", bpm=112.1, key="C major", intro_beats=30)
    r = _analyse(y, _corpus().SR)
    assert r["bpm"] == pytest.approx(truth["bpm"], rel=0.01)


@pytest.mark.parametrize(("seed", "bpm", "key"), [(201, 114.6, "D minor"), (202, 112.6, "Ab minor")])
def test_a_gm_funk_groove_gets_its_beats_on_the_beat_where_its_bars_change_not_on_the_off_beat(seed, bpm, key):
    """GM funk: the syncopated bass, chord stabs and sixteenth hats outweigh the kick on 1
    and the snare on 2 and 4 in every band; the bars' chord changes put the beats back.
    Rendered by FluidSynth (skipped without it)."""
    y, truth = _gm_render("funk", seed=seed, metre="4/4", bpm=bpm, key=key)
    r = _analyse(y, _corpus().SR)
    assert r["bpm"] == pytest.approx(truth["bpm"], rel=0.01)
    assert _beats_hit(r["beats"], truth["beats"]) >= 0.9
    assert _beats_hit(r["downbeats"], truth["downbeats"]) >= 0.9


def test_a_gm_reggae_counted_in_eighths_keeps_its_grid_on_the_beats():
    """Reggae at 73.7 read at 147 (its eighths): four of those beats are half a bar, so the
    bar check must not move them half a beat onto the sixteenths. Rendered by FluidSynth
    (skipped without it)."""
    y, truth = _gm_render("reggae", seed=303, metre="4/4", bpm=73.7, key="Bb major")
    r = _analyse(y, _corpus().SR)
    assert _beats_hit(r["beats"], truth["beats"]) >= 0.9


def test_a_gm_reggae_whose_skank_is_as_strong_as_its_beats_is_not_counted_in_eighths():
    """GM reggae at 72 (drifting): the off-beat skank is as strong as the kick and bass on
    the beats, but in other bands (chords above, bass below), so the eighths at 145 are no
    bare pulse. Seed 866035430 was read at 145 and its bars did not halve it. Rendered by
    FluidSynth (skipped without it)."""
    y, truth = _gm_render("reggae", seed=866035430, metre="4/4", bpm=72.0, key="Bb major", drift=-0.049)
    r = _analyse(y, _corpus().SR)
    assert r["bpm"] == pytest.approx(truth["bpm"], rel=0.01)


@pytest.mark.parametrize("seed", [11, 22])
def test_a_one_drop_read_in_eighths_is_halved_onto_its_beats(seed):
    """A one drop at 77 whose skank is as strong as its beats was read at 154: four of
    those beats are half a bar, and its bars stand out at half the tempo, on the beats."""
    y, sr, truth = _render("reggae-onedrop", 77.0, seed=seed, key="G minor")
    r = _analyse(y, sr)
    assert r["bpm"] == pytest.approx(77.0, rel=0.01)
    assert _beats_hit(r["beats"], truth["beats"]) >= 0.9
    assert _beats_hit(r["downbeats"], truth["downbeats"]) >= 0.9


@pytest.mark.parametrize("seed", [18, 24])
def test_a_one_drop_whose_chords_change_on_the_skank_keeps_its_beats(seed):
    """The one drop's chords change on the skank, half a beat after the bar line, so the
    harmony alone likes the off-beat grid; its low end does not, and the beats stay."""
    y, sr, truth = _render("reggae-onedrop", 77.0, seed=seed, key="G minor")
    r = _analyse(y, sr)
    assert _beats_hit(r["beats"], truth["beats"]) >= 0.9
    assert _beats_hit(r["downbeats"], truth["downbeats"]) >= 0.9


@pytest.mark.parametrize(("seed", "bpm", "key"), [(304, 136.2, "Eb major"), (401, 142.3, "Bb minor")])
def test_a_gm_bossa_gets_its_beats_on_the_beat_where_its_bars_change_not_on_the_off_beat(seed, bpm, key):
    """Bossa nova: kick and bass on the "and" of 2 and 4 and a clave-like rim pattern pull
    the grid half a beat early; the harmony and the low end of its bars, each alone, put
    it back. Rendered by FluidSynth (skipped without it)."""
    y, truth = _gm_render("bossa", seed=seed, metre="4/4", bpm=bpm, key=key)
    r = _analyse(y, _corpus().SR)
    assert _beats_hit(r["beats"], truth["beats"]) >= 0.9


def _eighths_envelope(bpm: float, strength, seconds: float = 30.0):
    """An onset envelope of eighth notes at ``bpm``, the ``k``-th ``strength(k)`` strong;
    (envelope, frames per second)."""
    fps = 22050 / 256
    env = np.zeros(int(seconds * fps), np.float32)
    step = 60.0 / bpm / 2
    for k in range(int(seconds / step)):
        at = int(round(k * step * fps))
        if at < len(env):
            env[at] = strength(k)
    return env, fps


def _accented_every_third(accent: float):
    """Even eighths (strength 1), every third one ``accent`` strong."""
    return lambda k: accent if k % 3 == 0 else 1.0


def test_even_eighths_accented_every_third_are_no_12_8_beat(monkeypatch):
    """A straight groove at 120 whose eighths are all as strong, every third one accented
    (a hemiola, a 3-3-2 figure's first notes): the accents, at 80, outweigh the beats, and
    eighths sound between them, a 12/8 groove's figures but one: a 12/8 beat stands out from
    its eighths, and these are as strong as it is. The beat stays at 120."""
    env, fps = _eighths_envelope(120.0, _accented_every_third(1.3))
    chosen = audio._Level.track(env, fps, 120.0)
    levels = [audio._Level.track(env, fps, bpm) for bpm in (60.0, 120.0)]

    assert audio._compound_level(env, fps, 120.0, chosen, levels).bpm == pytest.approx(120.0)
    monkeypatch.setattr(audio, "_COMPOUND_ACCENT", float("inf"))  # without the rule: read at 80
    assert audio._compound_level(env, fps, 120.0, chosen, levels).bpm == pytest.approx(80.0)


def test_a_12_8_beat_that_stands_out_from_its_eighths_is_taken():
    """The same envelope with the accents twice as strong as the eighths: a 12/8 groove's
    dotted quarters at 80, its triplet eighths between them."""
    env, fps = _eighths_envelope(120.0, _accented_every_third(2.0))
    chosen = audio._Level.track(env, fps, 120.0)
    levels = [audio._Level.track(env, fps, bpm) for bpm in (60.0, 120.0)]

    assert audio._compound_level(env, fps, 120.0, chosen, levels).bpm == pytest.approx(80.0)


def test_a_waltz_counted_two_to_the_bar_is_no_12_8_beat(monkeypatch):
    """A waltz at 112 whose one is loud and whose beats two and three are soft, eighths
    between them: at 74.7 (dotted quarters, two to the bar) the beats hit its ones and
    eighths sound between them, a 12/8 groove's figures; but every other of those beats is
    the "and" of two, a fifth as strong as the ones: a bar's halves, not beats."""
    strength = {0: 2.0, 2: 0.3, 4: 0.3}  # per eighth of the bar: its one, beats two and three
    env, fps = _eighths_envelope(112.0, lambda k: strength.get(k % 6, 0.4))
    chosen = audio._Level.track(env, fps, 112.0)
    levels = [audio._Level.track(env, fps, bpm) for bpm in (56.0, 112.0)]

    assert audio._compound_level(env, fps, 112.0, chosen, levels).bpm == pytest.approx(112.0)
    monkeypatch.setattr(audio, "_COMPOUND_EVEN", 0.0)  # without the rule: two to the bar
    assert audio._compound_level(env, fps, 112.0, chosen, levels).bpm == pytest.approx(112.0 * 2 / 3, rel=0.01)
