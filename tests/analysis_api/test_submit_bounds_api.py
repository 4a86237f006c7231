"""Issue 12 through POST /api/analysis/: options whose product exceeds QL_MAX_RESULT_POINTS are
400 naming the limit (finding 2); JSON types are strict and every text option is
length-checked before it is parsed (API.md, "Bad input, bounded"); an upload QL_UPLOAD_DIR
cannot take is 503 and leaves nothing (finding 4).

These need no analysis worker: a job accepted here stays queued under the test run's own
Redis prefix, deleted after each test."""

import io
import json
import os

import pytest

from analysis import jobs
from tests.analysis_api.conftest import write_excerpt

pytestmark = pytest.mark.django_db
URL = "/api/analysis/"


@pytest.fixture
def root(settings, tmp_path):
    settings.QL_AUDIO_ROOT = tmp_path / "root"
    settings.QL_UPLOAD_DIR = tmp_path / "uploads"
    settings.QL_AUDIO_ROOT.mkdir()
    write_excerpt(settings.QL_AUDIO_ROOT / "ok.wav", seconds=2)
    return settings.QL_AUDIO_ROOT


def intervals(n):
    return [{"start": i, "end": i + 1} for i in range(n)]


def submit(api, **body):
    return api.post(URL, {"path": "ok.wav", **body}, format="json")


def form(api, **fields):
    return api.post(URL, {"path": "ok.wav", **fields}, format="multipart")


# --------------------------------------------------------------------------- result bounds


@pytest.mark.parametrize("n, samples", [(512, 16384), (128, 2048), (17, 16384)])
def test_intervals_whose_waveforms_exceed_the_result_bound_are_400_naming_it(api, root, n, samples):
    response = submit(api, intervals=intervals(n), max_cue_samples=samples)
    assert response.status_code == 400, response.content[:300]
    message = response.json()["intervals"][0]
    assert "QL_MAX_RESULT_POINTS (262144)" in message and f"{n} intervals" in message


@pytest.mark.parametrize("n, samples", [(127, 2048), (512, 128), (15, 16384)])
def test_intervals_within_the_bound_are_accepted(api, root, n, samples):
    response = submit(api, intervals=intervals(n), max_cue_samples=samples)
    assert response.status_code == 202, response.content[:300]
    _, options = jobs.source_and_options(response.json()["id"])
    assert "max_result_points" not in options  # the default budget: the analyze command's digests


def test_a_smaller_setting_is_the_bound_and_reaches_the_analyser(api, root, settings):
    settings.QL_MAX_RESULT_POINTS = 100_000
    assert submit(api, intervals=intervals(48)).status_code == 400  # 48 x 2048 + 2000 = 100,304
    response = submit(api, intervals=intervals(47))
    assert response.status_code == 202
    _, options = jobs.source_and_options(response.json()["id"])
    assert options["max_result_points"] == 100_000


def test_automatic_cues_are_not_refused_at_submit_the_analyser_fits_them(api, root):
    assert submit(api, beats_per_cue=1, max_cue_samples=16384).status_code == 202


# --------------------------------------------------------------------------- strict JSON types


@pytest.mark.parametrize("options", [
    {"beats_per_cue": "16"}, {"beats_per_cue": 1.5}, {"beats_per_cue": True},
    {"max_cue_samples": "2048"}, {"max_cue_samples": False},
    {"auto_cues": "true"}, {"auto_cues": 1}, {"auto_cues": "1"},
    {"wait": "1"}, {"wait": True},
    {"intervals": '[{"start": 0, "end": 1}]'}, {"intervals": {"start": 0, "end": 1}},
    {"intervals": [{"start": "0", "end": 1}]}, {"intervals": [{"start": 0, "end": True}]},
    {"bpm_range": "[70, 180]"}, {"bpm_range": ["70", 180]}, {"bpm_range": {"min": 70, "max": 180}},
    {"path": 5}, {"path": ["ok.wav"]},
])
def test_json_values_of_the_wrong_type_are_400(api, root, options):
    response = submit(api, **options)
    assert response.status_code == 400, response.content[:300]
    assert set(response.json()) == set(options)


def test_the_same_values_as_multipart_text_are_taken(api, root):
    response = form(api, beats_per_cue="8", max_cue_samples="1024", auto_cues="false", wait="0",
                    intervals='[{"start": 0, "end": 1}]', bpm_range="[60, 120]")
    assert response.status_code == 202, response.content[:300]
    _, options = jobs.source_and_options(response.json()["id"])
    assert options == {"auto_cues": False, "beats_per_cue": 8, "intervals": [{"start": 0.0, "end": 1.0}],
                       "max_cue_samples": 1024, "bpm_range": [60.0, 120.0]}


# --------------------------------------------------------------------------- lengths first


@pytest.mark.parametrize("field, text", [
    ("intervals", json.dumps(intervals(2)) + " " * 65536),
    ("intervals", "[" * 70_000),
    ("bpm_range", "[70, 180]" + " " * 300),
    ("auto_cues", "true" + " " * 100),
    ("beats_per_cue", "0" * 100 + "16"),
    ("wait", "0" * 200_000),
    ("path", "a" * 200_000),
])
def test_long_multipart_texts_are_400_before_parsing(api, root, field, text):
    response = form(api, **{field: text})
    assert response.status_code == 400, response.content[:300]
    assert "no more than" in response.json()[field][0]


def test_a_long_json_path_is_400(api, root):
    response = submit(api, path="a/" * 100_000 + "x.wav")
    assert response.status_code == 400 and "no more than 4096" in response.json()["path"][0]


# --------------------------------------------------------------------------- storage


def test_an_upload_the_upload_dir_cannot_take_is_503_and_leaves_nothing(api, root, settings, tmp_path):
    (tmp_path / "a-file").write_bytes(b"x")
    settings.QL_UPLOAD_DIR = tmp_path / "a-file" / "uploads"
    audio = io.BytesIO((root / "ok.wav").read_bytes())
    audio.name = "ok.wav"
    response = api.post(URL, {"file": audio}, format="multipart")
    assert response.status_code == 503 and "could not be stored" in response.json()["detail"]
    assert os.listdir(tmp_path / "root") == ["ok.wav"]
