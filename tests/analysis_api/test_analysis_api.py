"""API.md's Analysis section end to end: the web side here, a real RQ worker process."""

import io
import os

import pytest

from tests.analysis_api.conftest import wait_done, write_excerpt, write_silence

pytestmark = pytest.mark.django_db
URL = "/api/analysis/"


def submit(api, **body):
    return api.post(URL, body, format="json")


@pytest.mark.usefixtures("analysis_worker")
def test_a_path_is_analysed_by_the_worker(api, anon, audio_settings):
    write_excerpt(audio_settings["root"] / "house.wav", bpm=124, seconds=9.5)
    response = submit(api, path="house.wav", beats_per_cue=8)
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["status"] in ("queued", "running") and response["Location"].endswith(f"/api/analysis/{job['id']}/")
    assert job["url"] == response["Location"]
    record = wait_done(anon, f"{URL}{job['id']}/")
    assert record["status"] == "done", record
    result = record["result"]
    assert abs(result["bpm"] - 124) / 124 < 0.02
    assert result["key"] == "A minor" and result["camelot"] == "8A"
    assert 9.4 < result["duration"] < 9.6 and result["sample_rate"] == 22050
    assert len(result["waveform"]) <= 2000 and all(0 <= v <= 1 for v in result["waveform"])
    beats = result["beats"]
    cues = result["cues"]
    assert cues[0]["start"] == pytest.approx(beats[0], abs=0.01)
    if len(cues) > 1:
        assert cues[1]["start"] == pytest.approx(beats[8], abs=0.01)
    assert cues[-1]["end"] == pytest.approx(result["duration"], abs=0.05)
    assert record["finished"] and record["error"] is None


@pytest.mark.usefixtures("analysis_worker")
def test_wait_answers_200_with_the_finished_job_and_a_repeat_answers_at_once(api, audio_settings):
    write_excerpt(audio_settings["root"] / "again.wav", bpm=128, seconds=8)
    first = submit(api, path="again.wav", wait=30)
    assert first.status_code == 200 and first.json()["status"] == "done"
    repeat = submit(api, path="again.wav")
    assert repeat.status_code == 200
    assert repeat.json()["id"] == first.json()["id"] and repeat.json()["result"] == first.json()["result"]
    other_options = submit(api, path="again.wav", beats_per_cue=4)
    assert other_options.status_code == 202 and other_options.json()["id"] != first.json()["id"]


@pytest.mark.usefixtures("analysis_worker")
def test_an_upload_is_analysed_and_removed(api, audio_settings):
    buffer = io.BytesIO()
    path = write_excerpt(audio_settings["root"] / "up.flac", bpm=100, seconds=8, fmt="FLAC")
    buffer.write(path.read_bytes())
    buffer.seek(0)
    buffer.name = "up.flac"
    response = api.post(URL, {"file": buffer, "auto_cues": "false", "wait": "30",
                              "bpm_range": "[70, 180]"}, format="multipart")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "done"
    assert response.json()["result"]["cues"] == []
    assert os.listdir(audio_settings["uploads"]) == []


@pytest.mark.usefixtures("analysis_worker")
def test_intervals_make_the_cues_clipped_to_the_audio(api, audio_settings):
    write_excerpt(audio_settings["root"] / "iv.wav", seconds=8)
    response = submit(api, path="iv.wav", wait=30, intervals=[
        {"start": 1, "end": 2}, {"start": 7, "end": 20}, {"start": 50, "end": 60}])
    cues = response.json()["result"]["cues"]
    assert [(c["name"], c["start"], c["end"]) for c in cues] == [
        ("cue_0", 1.0, 2.0), ("cue_1", 7.0, pytest.approx(8.0, abs=0.01))]


@pytest.mark.usefixtures("analysis_worker")
@pytest.mark.parametrize("name, writer, error", [
    ("silent.wav", write_silence, "silent"),
    ("noise.wav", lambda p: p.write_bytes(b"RIFF this is not audio at all" * 50), ""),
])
def test_audio_that_cannot_be_analysed_ends_failed_with_a_clear_error(api, audio_settings, name, writer, error):
    writer(audio_settings["root"] / name)
    response = submit(api, path=name, wait=30)
    if response.status_code == 400:  # refused at once: allowed for what is plainly not audio
        return
    record = response.json()
    assert record["status"] == "failed" and record["result"] is None
    assert error in record["error"] and len(record["error"]) < 300


@pytest.mark.usefixtures("analysis_worker")
def test_audio_longer_than_the_limit_fails(api, audio_settings):
    write_excerpt(audio_settings["root"] / "long.wav", seconds=12)  # the worker's limit: 10 s
    record = submit(api, path="long.wav", wait=30).json()
    assert record["status"] == "failed" and "long" in record["error"]


def test_a_running_job_whose_worker_died_reads_failed(anon):
    """The work-horse beats every QL_ANALYSIS_HEARTBEAT seconds; a running job with no beat
    left (its worker was killed) is failed, not left running for ever."""
    from analysis import jobs
    from quantumlive import keys
    from quantumlive.redis_conn import get_redis

    job_id, _ = jobs.claim(digest="d" * 64, source={"path": "/nowhere.wav"}, options={})
    jobs.mark_running(job_id)
    assert anon.get(f"{URL}{job_id}/").json()["status"] == "running"
    get_redis().delete(keys.analysis_alive(job_id))  # what the expiry does when it stops beating
    record = anon.get(f"{URL}{job_id}/").json()
    assert record["status"] == "failed" and record["error"] == jobs.WORKER_DIED


def test_a_running_job_whose_worker_died_does_not_hold_its_audio():
    from analysis import jobs

    first, new = jobs.claim(digest="d" * 64, source={"path": "/x.wav"}, options={})
    assert new
    jobs.mark_running(first)
    assert jobs.claim(digest="d" * 64, source={"path": "/x.wav"}, options={}) == (first, False)
    from quantumlive import keys
    from quantumlive.redis_conn import get_redis

    get_redis().delete(keys.analysis_alive(first))  # its work-horse stopped beating
    second, new = jobs.claim(digest="d" * 64, source={"path": "/x.wav"}, options={})
    assert new and second != first


@pytest.mark.parametrize("path, code", [
    ("/etc/passwd", 400), ("../secret.wav", 400), ("a/../../x.wav", 400), ("missing.wav", 404),
    ("", 400), ("C:\\x.wav", 400),
])
def test_paths_outside_the_root_are_refused(api, audio_settings, path, code):
    assert submit(api, path=path).status_code == code


def test_a_symlink_leaving_the_root_is_refused(api, audio_settings, tmp_path):
    outside = write_excerpt(tmp_path / "outside.wav", seconds=2)
    link = audio_settings["root"] / "escape.wav"
    if not link.exists():
        link.symlink_to(outside)
    response = submit(api, path="escape.wav")
    assert response.status_code == 400 and "path" in response.json()


def test_a_loop_of_links_under_the_audio_root_is_400(api, settings, tmp_path):
    settings.QL_AUDIO_ROOT = tmp_path
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    response = api.post("/api/analysis/", {"path": "loop/x.wav"}, format="json")
    assert response.status_code == 400 and "path" in response.json()


@pytest.mark.parametrize("options", [
    {"beats_per_cue": 0}, {"beats_per_cue": 257}, {"max_cue_samples": 127}, {"max_cue_samples": 16385},
    {"bpm_range": [100, 90]}, {"bpm_range": [30, 90]}, {"bpm_range": [90]}, {"bpm_range": "x"},
    {"intervals": [{"start": -1, "end": 2}]}, {"intervals": [{"start": 3, "end": 2}]},
    {"intervals": [{"start": 0, "end": 1, "x": 1}]}, {"intervals": [{"start": 0, "end": 1}] * 513},
    {"wait": 31}, {"wait": -1}, {"auto_cues": "maybe"}, {"colour": "red"},
])
def test_bad_options_are_400(api, audio_settings, options):
    write_excerpt(audio_settings["root"] / "ok.wav", seconds=2)
    response = submit(api, path="ok.wav", **options)
    assert response.status_code == 400, response.content


def test_neither_or_both_sources_is_400(api, audio_settings):
    assert submit(api).status_code == 400


def test_an_upload_over_the_limit_is_413(api, audio_settings, settings):
    settings.QL_MAX_UPLOAD_MB = 1
    big = io.BytesIO(b"\0" * (3 * 2**20))
    big.name = "big.wav"
    response = api.post(URL, {"file": big}, format="multipart")
    assert response.status_code == 413
    assert os.listdir(audio_settings["uploads"]) == []


def test_submitting_needs_a_token_and_reading_does_not(anon, api, audio_settings):
    assert submit(anon, path="x.wav").status_code == 401
    assert anon.get(f"{URL}6f1c1d2e-0000-4000-8000-000000000000/").status_code == 404
    assert anon.get(f"{URL}nope/").status_code == 404


@pytest.mark.usefixtures("analysis_worker")
def test_a_track_takes_a_finished_analysis(api, audio_settings):
    write_excerpt(audio_settings["root"] / "t.wav", bpm=120, seconds=8)
    job = submit(api, path="t.wav", wait=30).json()
    track = api.post("/api/tracks/", {"title": "t", "artist": "a", "analysis": job["id"], "duration": 7},
                     format="json").json()
    assert track["bpm"] == job["result"]["bpm"] and track["key"] == job["result"]["key"]
    assert track["duration"] == 7.0  # sent fields win
    assert len(track["cues"]) == len(job["result"]["cues"])
    assert track["cues"][0]["waveform"] == job["result"]["cues"][0]["waveform"]


@pytest.mark.usefixtures("analysis_worker")
def test_apply_analysis_keeps_what_was_set_by_hand_unless_overwrite(api, audio_settings):
    write_excerpt(audio_settings["root"] / "a.wav", bpm=120, seconds=8)
    job = submit(api, path="a.wav", wait=30).json()
    track = api.post("/api/tracks/", {"title": "t", "artist": "a", "bpm": 99}, format="json").json()
    url = f"/api/tracks/{track['id']}/apply-analysis/"
    applied = api.post(url, {"analysis": job["id"]}, format="json", HTTP_IF_MATCH='"1"')
    assert applied.status_code == 200
    body = applied.json()
    assert body["bpm"] == 99.0 and body["key"] == job["result"]["key"] and body["version"] == 2
    assert len(body["cues"]) == len(job["result"]["cues"])
    assert api.post(url, {"analysis": job["id"]}, format="json", HTTP_IF_MATCH='"1"').status_code == 412
    overwritten = api.post(url, {"analysis": job["id"], "overwrite": True}, format="json").json()
    assert overwritten["bpm"] == job["result"]["bpm"] and overwritten["version"] == 3


@pytest.mark.parametrize("analysis", ["6f1c1d2e-0000-4000-8000-000000000000", "nope"])
def test_apply_analysis_of_an_unknown_job_is_400(api, analysis):
    track = api.post("/api/tracks/", {"title": "t", "artist": "a"}, format="json").json()
    response = api.post(f"/api/tracks/{track['id']}/apply-analysis/", {"analysis": analysis}, format="json")
    assert response.status_code == 400 and "analysis" in response.json()


def test_an_analysis_with_more_cues_than_a_track_holds_is_400(api):
    from analysis import jobs

    job_id, _ = jobs.claim(digest="c" * 64, source={"path": "/x.wav"}, options={})
    cues = [{"name": f"cue_{i}", "start": float(i), "end": i + 1.0, "waveform": []} for i in range(600)]
    jobs.finish(job_id, result={"bpm": 120.0, "key": "A minor", "camelot": "8A", "duration": 601.0,
                                "sample_rate": 22050, "beats": [], "waveform": [], "cues": cues})
    response = api.post("/api/tracks/", {"title": "a", "artist": "b", "analysis": job_id}, format="json")
    assert response.status_code == 400 and "512" in response.json()["analysis"][0]
