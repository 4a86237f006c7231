"""bench/eval_corpus.py: the evaluation set's ground truth lines up with its audio, and
its tuning/held-out split is stratified and deterministic.

The alignment check needs no beat tracker: on the low band (< 120 Hz, kick and bass) the
energy rises fastest a few ms after every labelled downbeat, and not half a beat later (the
grid of the half-beats is the negative control: ground truth on the off-beat fails it).
The GM check is skipped, naming why, when FluidSynth or its soundfont is not installed.
bench/analysis_eval.py's scoring (downbeats, the DJ octave convention, failure kinds) is
checked on made-up results.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest
from scipy import signal

from tests.analysis.bench_scripts import bench_module

ec = bench_module("eval_corpus")


def _spec(name: str, seconds: float = 14.0) -> dict:
    spec = next(s for s in ec.plan() if s["name"] == name)
    return {**spec, "seconds": seconds}


def rise_score(y: np.ndarray, sr: int, times: np.ndarray, lag_ms: np.ndarray) -> np.ndarray:
    """For each lag, the mean step of the low band's energy at ``times + lag``: the mean over
    the 40 ms after minus the mean over the 40 ms before (2 ms frames)."""
    if y.ndim > 1:
        y = y.mean(axis=1)
    low = signal.sosfilt(signal.butter(4, 120, "low", fs=sr, output="sos"), y)
    hop = int(0.002 * sr)
    n = len(low) // hop
    env = np.sqrt((low[: n * hop] ** 2).reshape(n, hop).mean(axis=1))
    cum = np.concatenate([[0.0], np.cumsum(env)])
    w = 20  # frames: 40 ms
    out = []
    for lag in lag_ms:
        idx = np.round((times + lag / 1000) / 0.002).astype(int)
        idx = idx[(idx >= w) & (idx + w <= n)]
        out.append(np.mean((cum[idx + w] - cum[idx]) - (cum[idx] - cum[idx - w])) / w)
    return np.array(out)


def assert_on_the_downbeats(y: np.ndarray, sr: int, truth: dict) -> None:
    down = np.asarray(truth["downbeats"])
    beats = np.asarray(truth["beats"])
    assert len(down) >= 3
    half = np.median(np.diff(beats)) / 2
    lags = np.arange(-100, 101, 2)
    on = rise_score(y, sr, down, lags)
    off = rise_score(y, sr, down + half, lags)
    best = lags[int(np.argmax(on))]
    # The step detector peaks ~25 ms after a kick (its sweep falls into the band); a grid 50 ms
    # late or early moves the peak by 50 ms.
    assert 0 <= best <= 45, f"the energy steps up {best} ms from the labelled downbeats"
    assert on.max() > 3 * off.max(), "the half-beat grid fits as well as the labelled one"


@pytest.mark.slow  # renders audio
def test_synthesized_excerpt_downbeats_line_up_with_its_kicks():
    spec = _spec("syn-dnb-00")
    y, truth = ec.render_syn(spec)
    assert abs(truth["bpm"] - spec["nominal_bpm"]) < 0.01
    assert_on_the_downbeats(y, ec.SR, truth)


@pytest.mark.slow  # renders audio
def test_synthesized_excerpt_with_drift_and_intro_has_no_beats_in_the_intro():
    spec = {**_spec("syn-halftime-04", seconds=24.0), "intro_beats": 8, "drift": 0.04}
    y, truth = ec.render_syn(spec)
    beats = np.asarray(truth["beats"])
    assert truth["downbeats"][0] == truth["beats"][0]
    assert beats[0] > 8 * 60 / spec["nominal_bpm"] * 0.95  # nothing labelled in the beatless intro
    ibi = np.diff(beats)
    assert ibi[-1] < ibi[0] * 0.985  # it speeds up
    assert_on_the_downbeats(y, ec.SR, truth)


@pytest.mark.slow  # renders audio
def test_general_midi_excerpt_downbeats_line_up_after_the_renderer_offset(tmp_path):
    why_not = ec.fluidsynth_available()
    if why_not:
        pytest.skip(f"GM family not checked: {why_not}")
    offset = ec.calibrate_fluidsynth(tmp_path)
    assert 0 <= offset < 0.03
    spec = _spec("gm-pop-00")
    y, truth = ec.render_gm(spec, offset)
    check = truth["onset_check"]
    assert abs(check["measured"] - check["expected"]) < 0.01
    assert_on_the_downbeats(y, ec.SR, truth)


def test_split_is_stratified_by_style_and_variant_and_deterministic():
    specs = ec.plan()
    assert specs == ec.plan()
    assert len({s["name"] for s in specs}) == len(specs)
    by_style = defaultdict(Counter)
    for s in specs:
        by_style[(s["family"], s["style"])][(s["part"], s["variant"])] += 1
    for style, counts in by_style.items():
        for (part, variant), n in counts.items():
            other = "heldout" if part == "tuning" else "tuning"
            assert counts[(other, variant)] == n, (style, variant)
    assert 120 <= len(specs) <= 160


@pytest.mark.slow  # renders audio
def test_build_writes_a_sidecar_per_excerpt_and_skips_what_exists(tmp_path):
    name = "syn-swing-00"
    ec.build(tmp_path, names=[name], progress=False)
    wav = tmp_path / f"{name}.wav"
    mtime = wav.stat().st_mtime_ns
    (entry,) = ec.build(tmp_path, names=[name], progress=False)
    assert wav.stat().st_mtime_ns == mtime
    assert entry["part"] == "tuning" and entry["metre"] == "4/4"
    assert set(entry) >= {"name", "family", "style", "bpm", "beats", "downbeats", "key", "metre", "seed"}


@pytest.mark.slow  # renders audio
def test_an_excerpt_of_another_seed_is_rendered_again_not_taken(tmp_path):
    """A folder of other-seed renders must not pass for the evaluation set (nor be filled up
    with the evaluation set's own excerpts under their names)."""
    name = "syn-swing-00"
    (other,) = ec.build(tmp_path, names=[name], seed=5301, progress=False)
    (entry,) = ec.build(tmp_path, names=[name], progress=False)
    assert other["seed"] != entry["seed"]
    assert ec._existing(tmp_path, name) == entry
    assert ec._existing(tmp_path, name, other["seed"]) is None


def _load_eval():
    return bench_module("analysis_eval")


def _entry(bpm: float, seconds: float = 40.0) -> dict:
    beats = np.arange(0.1, seconds, 60 / bpm)
    return {"bpm": bpm, "beats": beats.tolist(), "downbeats": beats[::4].tolist(), "key": "A minor"}


def test_scoring_counts_downbeats_when_the_analyser_gives_them():
    ae = _load_eval()
    e = _entry(120.0)
    beats, down = np.asarray(e["beats"]), np.asarray(e["downbeats"])
    right = ae.score(e, "ours", {"bpm": 120.0, "beats": beats, "downbeats": down, "key": "A minor"}, 0.1)
    assert right["downbeat_f"] == 1.0 and right["beat_f"] == 1.0 and right["fail"] == []
    late = ae.score(e, "ours", {"bpm": 120.0, "beats": beats, "downbeats": beats[1::4], "key": "A minor"}, 0.1)
    assert late["downbeat_f"] == 0.0
    absent = ae.score(e, "seed", {"bpm": 120.0, "beats": beats, "downbeats": None, "key": None}, 0.1)
    assert absent["downbeat_f"] is None and ae.summary([{"seconds": 40, "seed": absent}], "seed")["downbeat_f"] is None


def test_a_slow_song_reported_doubled_has_its_bars_at_the_doubled_tempo():
    """The DJ octave convention, as for beats: a 65 BPM song counted at 130 has bars of four
    beats at 130, half its written bars; its downbeat F is the better of the strict score and
    the score against the written bar lines with the mid-bar points added (the strict one is
    kept beside it)."""
    ae = _load_eval()
    slow = _entry(65.0)
    doubled = ae.with_half_beats(np.asarray(slow["beats"]))
    felt_bars = doubled[::4]
    got = ae.score(slow, "ours", {"bpm": 130.0, "beats": doubled, "downbeats": felt_bars, "key": "A minor"}, 0.1)
    assert got["downbeat_f"] > 0.95 and 0.6 < got["downbeat_f_strict"] < 0.7
    off = ae.score(slow, "ours", {"bpm": 130.0, "beats": doubled, "downbeats": doubled[1::4], "key": "A minor"}, 0.1)
    assert off["downbeat_f"] == 0.0
    beats, down = np.asarray(slow["beats"]), np.asarray(slow["downbeats"])
    own_tempo = ae.score(slow, "ours", {"bpm": 65.0, "beats": beats[1:] - (beats[1] - beats[0]) / 2,
                                        "downbeats": beats[2::4], "key": "A minor"}, 0.1)
    assert own_tempo["downbeat_f"] == 0.0 and own_tempo["beat_f"] == 0.0  # bars on beat 3, beats off: no credit
    fast = _entry(120.0)  # not slow: no convention, a half-bar grid is half wrong
    halves = ae.with_half_beats(np.asarray(fast["downbeats"]))
    got = ae.score(fast, "ours", {"bpm": 120.0, "beats": fast["beats"], "downbeats": halves, "key": "A minor"}, 0.1)
    assert got["downbeat_f"] == got["downbeat_f_strict"] < 0.7
    assert ae.summary([{"seconds": 40, "ours": got}], "ours")["downbeat_f_strict"] == got["downbeat_f_strict"]


def test_scoring_names_the_kinds_of_failure_with_the_dj_octave_convention():
    ae = _load_eval()
    slow, ballad, dnb = _entry(65.0), _entry(72.0), _entry(174.0)
    doubled = np.asarray(slow["beats"])
    doubled = np.sort(np.concatenate([doubled, doubled[:-1] + np.diff(doubled) / 2]))
    ok = ae.score(slow, "ours", {"bpm": 130.0, "beats": doubled, "key": "C major"}, 0.1)
    assert ok["acc1"] and ok["within1"] and ok["beat_f"] == 1.0 and ok["fail"] == ["relative"]
    assert ae.score(ballad, "ours", {"bpm": 144.0, "beats": [], "key": "E minor"}, 0.1)["fail"] == ["double", "fifth"]
    assert ae.score(dnb, "ours", {"bpm": 87.0, "beats": [], "key": "D minor"}, 0.1)["fail"] == ["half", "fifth"]
    off = np.asarray(dnb["beats"]) + 30 / 174
    assert ae.score(dnb, "ours", {"bpm": 174.0, "beats": off, "key": "A major"}, 0.1)["fail"] == ["off-beat", "parallel"]


def test_a_new_report_keeps_the_hand_written_notes_of_the_last(tmp_path):
    ae = _load_eval()
    path = tmp_path / "RESULTS.md"
    path.write_text("# T\n\nold header\n\n## Notes (v2)\n\nwhy v2\n\n## Notes (v1)\n\nwhy v1\n\n## Tuning part\n\nold\n")
    new = "# T\n\nnew header\n\n## Tuning part\n\nnew\n"
    assert ae.with_notes_of(path, new) == ("# T\n\nnew header\n\n## Notes (v2)\n\nwhy v2\n\n## Notes (v1)\n\n"
                                          "why v1\n\n## Tuning part\n\nnew\n")
    assert ae.with_notes_of(tmp_path / "absent.md", new) == new
