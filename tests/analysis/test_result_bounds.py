"""Issue 12, finding 2: an analysis result is bounded as a whole (API.md, "Bad input,
bounded"): at most 512 cues and at most max_result_points (QL_MAX_RESULT_POINTS) waveform
numbers, whatever the options and the length of the audio; a serialized result over
QL_MAX_RESULT_MB is refused by result_json.

Before the fix, beats_per_cue=1 gave one cue per beat each with up to max_cue_samples
points: millions of numbers, tens of MB for a long track."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis import audio
from analysis.audio import MAX_CUES, MAX_RESULT_POINTS, ResultTooLarge, analyse, result_json
from tests.analysis.synth import make_excerpt

pytestmark = pytest.mark.slow  # librosa's analysis of 5- and 30-minute tracks in this process

SR = 22050


def waveform_numbers(result: dict) -> int:
    return len(result["waveform"]) + sum(len(c["waveform"]) for c in result["cues"])


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    audio.warm_up()


@pytest.fixture(scope="module")
def five_minutes():
    """A 16 s house excerpt repeated to 5 min 20 s: about 660 beats at 124 BPM."""
    e = make_excerpt("house", 124.0, seconds=16, sr=SR, seed=11)
    return np.tile(e.y, 20)


def test_one_cue_per_beat_on_a_long_track_stays_within_the_bounds(five_minutes):
    r = analyse(five_minutes, SR, beats_per_cue=1, max_cue_samples=16384)
    beats, cues = r["beats"], r["cues"]
    assert len(beats) > MAX_CUES  # one cue per beat would be too many
    assert len(cues) <= MAX_CUES
    assert waveform_numbers(r) <= MAX_RESULT_POINTS
    # merged by whole groups of beats_per_cue beats, spanning the whole track
    step = audio.auto_cue_step(len(beats), 1)
    assert step == 2
    first = beats.index(r["downbeats"][0])  # cues start at the first downbeat (an "intro" before it)
    assert [c["start"] for c in cues if c["name"] != "intro"] == beats[first::step]
    assert cues[-1]["end"] == r["duration"]
    assert all(a["end"] == b["start"] for a, b in zip(cues, cues[1:]))
    assert len(result_json(r, max_bytes=4 * 2**20)) < 4 * 2**20


def test_a_smaller_budget_gives_each_cue_fewer_points(five_minutes):
    budget = audio.MIN_RESULT_POINTS
    r = analyse(five_minutes, SR, beats_per_cue=4, max_cue_samples=16384, max_result_points=budget)
    assert waveform_numbers(r) <= budget
    points = {len(c["waveform"]) for c in r["cues"][:-1]}
    assert max(points) <= (budget - len(r["waveform"])) // len(r["cues"])
    assert min(points) >= audio.MIN_CUE_POINTS


@pytest.mark.parametrize("bpm, beats_per_cue", [(128.0, 16), (128.0, 1), (250.0, 1), (60.0, 256)])
def test_a_thirty_minute_track_gets_usable_cues_within_the_bounds(bpm, beats_per_cue):
    """The cue building on 30 minutes of audio (1 kHz here to keep the arrays small): the
    default 2048-point, 16-beat analysis gives all its 240 cues, with fewer points each."""
    sr = 1000
    y = np.random.default_rng(0).uniform(-1, 1, 1800 * sr).astype(np.float32)
    beats = list(np.round(np.arange(0.5, 1800, 60 / bpm), 3))
    spans, _ = audio._cue_spans(beats=beats, duration=1800.0, beats_per_cue=beats_per_cue, intervals=None,
                                auto_cues=True)
    overview = audio._peaks(y, audio.WAVEFORM_POINTS)
    cues = audio.build_cues(y, sr, spans, max_cue_samples=2048, overview_points=len(overview))
    assert 0 < len(cues) <= MAX_CUES
    assert len(overview) + sum(len(c["waveform"]) for c in cues) <= MAX_RESULT_POINTS
    assert cues[0]["start"] == beats[0] and cues[-1]["end"] == 1800.0
    step = audio.auto_cue_step(len(beats), beats_per_cue)
    assert step % beats_per_cue == 0
    assert [c["start"] for c in cues] == beats[::step]
    if bpm == 128.0 and beats_per_cue == 16:
        assert len(cues) == 240 and step == 16  # every cue the DJ asked for
        share = (MAX_RESULT_POINTS - len(overview)) // 240  # 1083 points each, instead of 2048
        assert all(share // 2 < len(c["waveform"]) <= share for c in cues)


def test_512_intervals_of_16384_points_fit_by_construction():
    y = make_excerpt("house", 124.0, seconds=16, sr=SR, seed=11).y
    intervals = [(i * 0.03, i * 0.03 + 0.5) for i in range(MAX_CUES)]
    r = analyse(y, SR, intervals=intervals, max_cue_samples=16384)
    assert len(r["cues"]) == MAX_CUES
    assert waveform_numbers(r) <= MAX_RESULT_POINTS


def test_more_than_512_intervals_or_a_budget_too_small_are_refused():
    y = make_excerpt("house", 124.0, seconds=4, sr=SR, seed=11).y
    with pytest.raises(ValueError, match="512"):
        analyse(y, SR, intervals=[(0.0, 1.0)] * (MAX_CUES + 1))
    with pytest.raises(ValueError, match="max_result_points"):
        analyse(y, SR, max_result_points=audio.MIN_RESULT_POINTS - 1)


def test_result_json_is_the_compact_json_and_refuses_what_is_over_the_limit():
    result = {"bpm": 120.0, "beats": [0.5, 1.0], "waveform": [0.25] * 1000, "cues": []}
    text = result_json(result, max_bytes=2**20)
    assert text == json.dumps(result, separators=(",", ":")) and json.loads(text) == result
    with pytest.raises(ResultTooLarge, match="QL_MAX_RESULT_MB"):
        result_json(result, max_bytes=len(text) - 1)
    assert result_json(result, max_bytes=len(text)) == text


@pytest.mark.parametrize("env, ok", [
    ({"QL_MAX_RESULT_POINTS": str(audio.MIN_RESULT_POINTS)}, True),
    ({"QL_MAX_RESULT_POINTS": str(audio.MIN_RESULT_POINTS - 1)}, False),
    ({"QL_MAX_RESULT_POINTS": "lots"}, False),
    ({"QL_MAX_RESULT_MB": "0"}, False),
])
def test_the_settings_are_read_strictly_and_the_points_minimum_always_fits(env, ok):
    """QL_MAX_RESULT_POINTS may not go below the smallest budget that always fits (the
    overview and 512 cues of 128 points)."""
    import os
    import subprocess
    import sys

    from tests.system.servers import ROOT

    code = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'quantumlive.settings'; "
            "from django.conf import settings; print(settings.QL_MAX_RESULT_POINTS, settings.QL_MAX_RESULT_MB)")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env},
                         capture_output=True, text=True, timeout=60)
    assert (run.returncode == 0) == ok, run.stderr[-500:]
    if ok:
        assert run.stdout.split() == [str(audio.MIN_RESULT_POINTS), "4"]
    else:
        assert "ImproperlyConfigured" in run.stderr and next(iter(env)) in run.stderr
