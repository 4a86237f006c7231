"""Issue 12, finding 4 (stuck jobs, leaked uploads) and 5 (`wait` holds web workers).

A job RQ lost before it ran fails within QL_ANALYSIS_JOB_TIMEOUT + 60 s and no longer holds
its audio's digest; an upload goes when its job ends, however it ends; orphans in
QL_UPLOAD_DIR are swept after an hour; at most QL_MAX_WAITERS submissions wait at once.
"""

import io
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.analysis_api.conftest import write_excerpt
from tests.system.servers import ROOT

pytestmark = pytest.mark.django_db
URL = "/api/analysis/"


@pytest.fixture
def uploads(settings, tmp_path):
    folder = tmp_path / "uploads"
    folder.mkdir()
    settings.QL_UPLOAD_DIR = folder
    return folder


def redis():
    from quantumlive.redis_conn import get_redis

    return get_redis()


def record_of(job_id):
    from quantumlive import keys

    return redis().hgetall(keys.analysis_job(job_id))


def backdate(job_id, seconds):
    """As if the job had been queued `seconds` ago."""
    from quantumlive import keys

    redis().hset(keys.analysis_job(job_id), "queued_at", repr(time.time() - seconds))


def new_job(digest="a" * 64, upload=None):
    from analysis import jobs

    source = {"path": str(upload), "upload": True} if upload else {"path": "/nowhere.wav"}
    job_id, new = jobs.claim(digest=digest, source=source, options={})
    assert new
    return job_id


def upload_file(folder, job_id, suffix=".wav"):
    path = folder / f"{job_id}{suffix}"
    path.write_bytes(b"RIFF....WAVE")
    return path


# --- (a) lost jobs -------------------------------------------------------------------------
def test_a_job_that_never_reached_the_queue_fails_after_the_grace_and_frees_its_digest(idle_queue):
    from analysis import jobs

    job_id = new_job()  # claimed, never enqueued: the web worker died in between
    assert jobs.job_record(job_id)["status"] == "queued"  # young: its enqueue may be on the way
    assert jobs.claim(digest="a" * 64, source={"path": "/x"}, options={}) == (job_id, False)
    backdate(job_id, jobs.LOST_GRACE + 1)
    record = jobs.job_record(job_id)
    assert record["status"] == "failed" and record["error"] == jobs.JOB_LOST and record["finished"]
    again, new = jobs.claim(digest="a" * 64, source={"path": "/x"}, options={})
    assert new and again != job_id


def test_a_claim_frees_the_digest_of_a_lost_holder_without_any_reader(idle_queue):
    from analysis import jobs

    job_id = new_job(digest="b" * 64)
    backdate(job_id, jobs.LOST_GRACE + 1)
    again, new = jobs.claim(digest="b" * 64, source={"path": "/x"}, options={})
    assert new and again != job_id
    assert record_of(job_id)["status"] == "failed"


def test_a_job_waiting_in_the_queue_is_not_lost_however_old(idle_queue):
    from analysis import jobs

    job_id = new_job()
    jobs.enqueue(job_id)
    backdate(job_id, 10 * 24 * 3600)
    assert jobs.job_record(job_id)["status"] == "queued"
    # taken by a worker (RQ's intermediate list), not started yet: not lost either
    from quantumlive import keys

    assert redis().lmove(keys.rq_queue(), keys.rq_intermediate_queue()) == job_id
    assert jobs.job_record(job_id)["status"] == "queued"


@pytest.mark.parametrize("loss", ["rq job deleted", "queue lost", "rq failed it", "started, never ran"])
def test_a_job_rq_lost_fails(idle_queue, loss):
    from rq.utils import utcformat

    from analysis import jobs
    from quantumlive import keys

    job_id = new_job()
    jobs.enqueue(job_id)
    backdate(job_id, jobs.LOST_GRACE + 1)
    if loss == "rq job deleted":
        redis().delete(keys.rq_job(job_id))
    elif loss == "queue lost":
        redis().delete(keys.rq_queue())
    elif loss == "rq failed it":
        redis().lrem(keys.rq_queue(), 0, job_id)
        redis().hset(keys.rq_job(job_id), "status", "failed")
    else:  # a work-horse took it, and its worker vanished before the task began
        redis().lrem(keys.rq_queue(), 0, job_id)
        started = datetime.now(timezone.utc) - timedelta(seconds=jobs.LOST_GRACE + 1)
        redis().hset(keys.rq_job(job_id), mapping={"status": "started", "started_at": utcformat(started)})
    assert jobs.job_record(job_id)["status"] == "failed"


def test_a_job_started_moments_ago_is_not_lost(idle_queue):
    from rq.utils import utcformat

    from analysis import jobs
    from quantumlive import keys

    job_id = new_job()
    jobs.enqueue(job_id)
    backdate(job_id, jobs.LOST_GRACE + 1)
    redis().lrem(keys.rq_queue(), 0, job_id)
    redis().hset(keys.rq_job(job_id), mapping={"status": "started",
                                               "started_at": utcformat(datetime.now(timezone.utc))})
    assert jobs.job_record(job_id)["status"] == "queued"


def test_a_work_horse_does_not_run_a_job_already_failed(idle_queue):
    from analysis import jobs

    job_id = new_job()
    backdate(job_id, jobs.LOST_GRACE + 1)
    assert jobs.job_record(job_id)["status"] == "failed"
    assert jobs.mark_running(job_id) is False
    assert record_of(job_id)["status"] == "failed"
    other = new_job(digest="c" * 64)
    assert jobs.mark_running(other) is True and record_of(other)["status"] == "running"


def test_a_finished_job_stays_finished(idle_queue):
    from analysis import jobs

    job_id = new_job()
    assert jobs.mark_running(job_id)
    jobs.finish(job_id, result={"bpm": 120.0})
    jobs.finish(job_id, error="late failure")  # e.g. a killed-horse handler after the fact
    assert jobs.job_record(job_id)["status"] == "done"


@pytest.mark.usefixtures("analysis_worker")
def test_a_resubmission_after_a_lost_job_starts_a_new_job(api, audio_settings):
    """End to end with the session's worker: a lost job's audio is analysed again."""
    from analysis import jobs
    from quantumlive import keys

    write_excerpt(audio_settings["root"] / "lost.wav", bpm=126, seconds=6)
    sha = __import__("analysis.sources", fromlist=["x"]).sha256_of_file(audio_settings["root"] / "lost.wav")
    from analysis.serializers import AnalysisSubmitSerializer

    body = AnalysisSubmitSerializer(data={"path": "lost.wav"})
    assert body.is_valid(), body.errors
    digest = jobs.digest_of(audio_sha256=sha, options=body.analysis_options())
    lost, _ = jobs.claim(digest=digest, source={"path": "/nowhere"}, options={})  # never enqueued
    assert api.post(URL, {"path": "lost.wav"}, format="json").json()["id"] == lost  # it holds the digest
    redis().hset(keys.analysis_job(lost), "queued_at", repr(time.time() - jobs.LOST_GRACE - 1))
    response = api.post(URL, {"path": "lost.wav", "wait": 30}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "done"
    assert response.json()["id"] != lost
    assert api.get(f"{URL}{lost}/").json()["status"] == "failed"


# --- (b) uploads go when their job ends ----------------------------------------------------
def test_a_reader_noticing_the_dead_heartbeat_removes_the_upload(idle_queue, uploads, anon):
    from analysis import jobs
    from quantumlive import keys

    job_id = new_job(digest="d" * 64, upload=None)
    path = upload_file(uploads, job_id)
    redis().hset(keys.analysis_job(job_id), "source", f'{{"path": "{path}", "upload": true}}')
    assert jobs.mark_running(job_id)
    redis().delete(keys.analysis_alive(job_id))  # the work-horse stopped beating
    record = anon.get(f"{URL}{job_id}/").json()
    assert record["status"] == "failed" and record["error"] == jobs.WORKER_DIED
    assert not path.exists()


def test_a_lost_queued_job_removes_its_upload(idle_queue, uploads):
    from analysis import jobs

    path = uploads / "pending.wav"
    path.write_bytes(b"x")
    job_id = new_job(digest="e" * 64, upload=path)
    backdate(job_id, jobs.LOST_GRACE + 1)
    assert jobs.job_record(job_id)["status"] == "failed"
    assert not path.exists()


@pytest.mark.parametrize("started", [False, True])
def test_the_worker_failing_a_killed_horse_removes_the_upload(idle_queue, uploads, started):
    """RQ calls this in the worker's parent process when the horse died (SIGKILL, OOM), also
    before the task marked the job running."""
    from analysis.management.commands.analysis_worker import _horse_killed
    from analysis import jobs

    path = uploads / "horse.wav"
    path.write_bytes(b"x")
    job_id = new_job(digest="f" * 64, upload=path)
    if started:
        assert jobs.mark_running(job_id)

    class RQJob:
        id = job_id

    _horse_killed(RQJob(), 1234, 9, None)
    record = jobs.job_record(job_id)
    assert record["status"] == "failed" and "died" in record["error"]
    assert not path.exists()


def test_the_view_names_the_upload_after_its_job(api, audio_settings, settings, idle_queue, tmp_path):
    """So that the sweep can tell whose it is."""
    buffer = io.BytesIO(write_excerpt(audio_settings["root"] / "named.wav", seconds=2).read_bytes())
    buffer.name = "named.wav"
    settings.QL_UPLOAD_DIR = tmp_path / "named"  # not the session worker's folder
    job = api.post(URL, {"file": buffer}, format="multipart").json()
    assert os.listdir(settings.QL_UPLOAD_DIR) == [f"{job['id']}.wav"]


# --- (c) the sweep -------------------------------------------------------------------------
def test_the_sweep_removes_old_orphans_only(idle_queue, uploads, settings):
    from analysis import jobs
    from analysis.uploads import sweep_orphans

    hour = settings.QL_UPLOAD_SWEEP_AGE
    old = time.time() - hour - 60

    def file(name, *, aged=True):
        path = uploads / name
        path.write_bytes(b"x")
        if aged:
            os.utime(path, (old, old))
        return path

    running = new_job(digest="1" * 64)
    assert jobs.mark_running(running)  # beating: its worker still reads the file
    queued = new_job(digest="2" * 64)
    jobs.enqueue(queued)  # waits in the queue however long
    done = new_job(digest="3" * 64)
    assert jobs.mark_running(done)
    jobs.finish(done, result={"bpm": 1.0})
    keep = [file(f"{running}.wav"), file(f"{queued}.mp3"), file("0b9a2c8e-1111-4222-8333-444455556666.flac", aged=False),
            file("notes.txt")]  # not a name of ours: never touched
    gone = [file(f"{done}.wav"), file("0b9a2c8e-1111-4222-8333-444455556666.wav"),  # no job at all
            file("upload-0b9a2c8e-1111-4222-8333-444455556667.ogg"),  # the earlier naming
            file("0b9a2c8e-1111-4222-8333-444455556668.wäv"), file("0b9a2c8e-1111-4222-8333-444455556669")]
    removed = sweep_orphans()
    assert removed == len(gone)
    assert all(p.exists() for p in keep) and not any(p.exists() for p in gone)


def test_the_sweep_fails_a_dead_job_and_removes_its_file(idle_queue, uploads, settings):
    from analysis import jobs
    from analysis.uploads import sweep_orphans
    from quantumlive import keys

    job_id = new_job(digest="4" * 64)
    assert jobs.mark_running(job_id)
    redis().delete(keys.analysis_alive(job_id))
    path = upload_file(uploads, job_id)
    old = time.time() - settings.QL_UPLOAD_SWEEP_AGE - 1
    os.utime(path, (old, old))
    assert sweep_orphans() == 1 and not path.exists()
    assert record_of(job_id)["status"] == "failed"


def test_the_sweep_of_a_missing_folder_is_nothing(settings, tmp_path):
    from analysis.uploads import sweep_orphans

    settings.QL_UPLOAD_DIR = tmp_path / "none"
    assert sweep_orphans() == 0


# --- the stored result's bound -------------------------------------------------------------
def test_a_result_over_the_size_bound_fails_the_job(idle_queue, settings):
    from analysis import jobs

    settings.QL_MAX_RESULT_MB = 1
    job_id = new_job()
    assert jobs.mark_running(job_id)
    jobs.finish(job_id, result={"waveform": [0.123456789] * 200_000})  # ~2.2 MB of JSON
    record = jobs.job_record(job_id)
    assert record["status"] == "failed" and "QL_MAX_RESULT_MB" in record["error"]
    assert record["result"] is None


# --- 5: waiters ----------------------------------------------------------------------------
@pytest.mark.usefixtures("analysis_worker")
def test_past_the_waiter_cap_a_submission_answers_202_at_once(api, audio_settings, settings):
    from analysis import waiters

    settings.QL_MAX_WAITERS = 1
    write_excerpt(audio_settings["root"] / "w1.wav", bpm=122, seconds=6)
    held = waiters.acquire()  # another web worker of this instance is waiting
    assert held is not None
    try:
        assert waiters.acquire() is None
        refused = api.post(URL, {"path": "w1.wav", "wait": 30}, format="json")
        assert refused.status_code == 202 and refused.json()["status"] in ("queued", "running")
    finally:
        held.release()
    waited = api.post(URL, {"path": "w1.wav", "wait": 30, "beats_per_cue": 4}, format="json")
    assert waited.status_code == 200 and waited.json()["status"] == "done"
    shutil.rmtree(waiters.instance_dir(), ignore_errors=True)


def test_a_killed_waiter_frees_its_slot(tmp_path):
    """The slot is a lock the kernel drops with its process: SIGKILL leaks nothing."""
    from analysis import waiters

    code = ("import sys,time; from analysis.waiters import acquire; from pathlib import Path;"
            "s=acquire(directory=Path(sys.argv[1]), capacity=1); print('held' if s else 'none', flush=True);"
            "time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        assert waiters.acquire(directory=tmp_path, capacity=1) is None
        child.kill()
        child.wait(timeout=10)
        slot = waiters.acquire(directory=tmp_path, capacity=1)
        assert slot is not None
        slot.release()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)



def test_an_upload_that_cannot_be_stored_leaves_no_partial_file(api, audio_settings, settings, tmp_path):
    """A real write failure (the file size limit, as a full disk would): 503, nothing left."""
    import resource
    import signal

    settings.QL_UPLOAD_DIR = tmp_path / "partial"
    # a WAV header (what the submit's sniffing checks), 1.5 MB: held in memory by Django (< 2 MB)
    big = io.BytesIO(b"RIFF\xd8\x07\x00\x00WAVE" + bytes(3 * 2**19))
    big.name = "big.wav"
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, hard))
    try:
        response = api.post(URL, {"file": big}, format="multipart")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert response.status_code == 503, response.content
    assert os.listdir(settings.QL_UPLOAD_DIR) == []


@pytest.mark.slow
def test_the_analyze_command_keeps_its_jobs_alive_while_it_works(tmp_path, idle_queue):
    """`manage.py analyze` runs its jobs itself, not through RQ: they must not look lost to a
    reader (after the grace, with no RQ job), and its results must be stored."""
    import threading

    from django.core.management import call_command

    from analysis import jobs
    from quantumlive import keys

    write_excerpt(tmp_path / "long.wav", bpm=124, seconds=8)
    seen, stop = [], threading.Event()

    def reader():
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline:
            for name in redis().scan_iter(match=keys.analysis_job("*")):
                job_id = name.rsplit(":", 1)[1]
                backdate(job_id, jobs.LOST_GRACE + 1)  # as if it had been at it for a while
                seen.append(jobs.job_record(job_id)["status"])
            time.sleep(0.02)  # the pace of this reader's looks, not a wait

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        call_command("analyze", str(tmp_path), stdout=io.StringIO(), stderr=io.StringIO())
    finally:
        stop.set()
        thread.join(timeout=30)
    assert seen and "failed" not in seen
    [name] = list(redis().scan_iter(match=keys.analysis_job("*")))
    assert jobs.job_record(name.rsplit(":", 1)[1])["status"] == "done"
