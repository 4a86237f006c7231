"""GET /api/analysis/{id}/waveform.json: audiowaveform's JSON v2 of a done job's waveform,
immutable and cached by ETag; the waveform stored beside the job, for as long as the job."""

import json
import math
import uuid

import numpy as np
import pytest
import soundfile
from django.conf import settings

from analysis import jobs
from analysis.waveform import WaveformBuilder
from quantumlive import keys
from quantumlive.redis_conn import get_redis
from tests.analysis_api.conftest import wait_done
from tests.analysis.synth import make_excerpt

pytestmark = pytest.mark.django_db
RESULT = {"bpm": 124.0, "key": "A minor", "camelot": "8A", "open_key": "1m", "duration": 10.0, "sample_rate": 22050,
          "beats": [], "waveform": [], "cues": [],
          "loudness": {"integrated_lufs": -9.0, "range_lu": 4.0, "true_peak_dbtp": -0.3, "replay_gain_db": -9.0}}
RATE = 48000
SAMPLES = RATE * 10 + 123


def waveform_bytes() -> bytes:
    builder = WaveformBuilder(RATE)
    t = np.arange(SAMPLES) / RATE
    builder.add((0.5 * np.sin(2 * np.pi * 3 * t)).astype(np.float32))
    return builder.result()


def done_job(*, waveform: bytes | None = b"", digest: str = "d" * 64) -> str:
    job_id, new = jobs.claim(digest=digest, source={"path": "/a.wav"}, options={"auto_cues": True})
    assert new and jobs.mark_running(job_id)
    assert jobs.finish(job_id, result=RESULT, expected=("running",),
                       waveform=waveform_bytes() if waveform == b"" else waveform)
    return job_id


def url(job_id: str, query: str = "") -> str:
    return f"/api/analysis/{job_id}/waveform.json{query}"


def test_anyone_reads_a_done_jobs_waveform_at_512_samples_per_pixel(anon):
    job_id = done_job()
    response = anon.get(url(job_id))
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert {k: body[k] for k in ("version", "channels", "sample_rate", "samples_per_pixel", "bits", "length")} == {
        "version": 2, "channels": 1, "sample_rate": RATE, "samples_per_pixel": 512, "bits": 8,
        "length": math.ceil(SAMPLES / 512)}
    assert len(body["data"]) == 2 * body["length"] and max(body["data"]) == 64 and min(body["data"]) == -64
    assert response["ETag"] == f'"{job_id}.512"'
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"


def test_any_resolution_from_64_to_65536_is_derived(anon):
    job_id = done_job()
    for n in (64, 100, 1000, 65_536):
        body = json.loads(anon.get(url(job_id, f"?samples_per_pixel={n}")).content)
        assert body["samples_per_pixel"] == n and body["length"] == math.ceil(SAMPLES / n)
    coarsest = json.loads(anon.get(url(job_id, "?samples_per_pixel=65536")).content)
    assert coarsest["data"][:2] == [-64, 64]  # 0.5 of full scale


@pytest.mark.parametrize("value", ["63", "65537", "0", "-64", "abc", "512.0", "", "１２８", "9" * 40])
def test_a_bad_samples_per_pixel_is_400(anon, value):
    job_id = done_job()
    response = anon.get(url(job_id, f"?samples_per_pixel={value}"))
    assert response.status_code == 400 and "samples_per_pixel" in response.json()


def test_if_none_match_with_the_etag_is_304(anon):
    job_id = done_job()
    tag = anon.get(url(job_id, "?samples_per_pixel=256"))["ETag"]
    for header in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        response = anon.get(url(job_id, "?samples_per_pixel=256"), HTTP_IF_NONE_MATCH=header)
        assert response.status_code == 304 and not response.content, header
        assert response["ETag"] == tag and "immutable" in response["Cache-Control"]
    other = anon.get(url(job_id, "?samples_per_pixel=512"), HTTP_IF_NONE_MATCH=tag)
    assert other.status_code == 200  # another resolution is another answer


def test_no_waveform_is_404(anon, idle_queue):
    assert anon.get(url(uuid.uuid4())).status_code == 404  # unknown
    assert anon.get(url("not-a-uuid")).status_code == 404
    assert anon.get(url(uuid.uuid4()), HTTP_IF_NONE_MATCH="*").status_code == 404
    queued, _ = jobs.claim(digest="e" * 64, source={"path": "/b.wav"}, options={})
    assert anon.get(url(queued)).status_code == 404
    without = done_job(waveform=None, digest="f" * 64)  # analysed before waveforms were stored
    assert anon.get(url(without)).status_code == 404
    assert anon.get(f"/api/analysis/{without}/").json()["status"] == "done"


def test_a_failed_job_stores_no_waveform_and_a_done_ones_expires_with_it():
    failed, _ = jobs.claim(digest="a" * 64, source={"path": "/c.wav"}, options={})
    jobs.finish(failed, error="audio is silent", waveform=waveform_bytes())
    assert not get_redis().exists(keys.analysis_waveform(failed))
    job_id = done_job()
    redis = get_redis()
    job_ttl = redis.pttl(keys.analysis_job(job_id))
    assert 0 < job_ttl <= settings.QL_ANALYSIS_TTL * 1000
    assert redis.pexpiretime(keys.analysis_waveform(job_id)) == redis.pexpiretime(keys.analysis_job(job_id))
    assert jobs.job_waveform(job_id) == waveform_bytes()


def test_the_answer_for_a_30_minute_track_at_64_samples_per_pixel_is_bounded(anon):
    builder = WaveformBuilder(44100)
    rng = np.random.default_rng(0)
    for _ in range(30):
        builder.add(rng.uniform(-1, 1, 44100 * 60).astype(np.float32))
    blob = builder.result()
    assert len(blob) <= 2 * 2**20 + 32
    job_id = done_job(waveform=blob)
    response = anon.get(url(job_id, "?samples_per_pixel=64"))
    assert response.status_code == 200 and response.streaming  # written part by part
    content = b"".join(response.streaming_content)
    body = json.loads(content)
    assert body["length"] == math.ceil(1800 * 44100 / 64) and len(content) < 12 * 2**20
    assert response["ETag"] == f'"{job_id}.64"' and response["Content-Type"] == "application/json"


@pytest.mark.usefixtures("analysis_worker")
def test_the_worker_stores_the_waveform_and_loudness_of_a_stereo_file_at_its_own_rate(api, anon, audio_settings):
    excerpt = make_excerpt("house", 124.0, seconds=8.0, sr=44100, seed=5)
    stereo = np.stack([excerpt.y, 0.5 * excerpt.y], axis=1)
    soundfile.write(audio_settings["root"] / "stereo.wav", stereo, 44100)
    job = api.post("/api/analysis/", {"path": "stereo.wav"}, format="json").json()
    record = wait_done(anon, f"/api/analysis/{job['id']}/")
    assert record["status"] == "done", record
    result = record["result"]
    assert result["sample_rate"] == 22050 and result["open_key"] == "1m"
    loudness = result["loudness"]
    assert set(loudness) == {"integrated_lufs", "range_lu", "true_peak_dbtp", "replay_gain_db"}
    assert -40 < loudness["integrated_lufs"] < 0 and loudness["replay_gain_db"] == pytest.approx(
        -18 - loudness["integrated_lufs"], abs=0.011)
    body = json.loads(anon.get(url(job["id"], "?samples_per_pixel=441")).content)
    assert body["sample_rate"] == 44100 and body["length"] == math.ceil(len(stereo) / 441)
