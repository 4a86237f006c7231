"""Fault suite, analysis (issue 12): real gunicorn and analysis worker processes.

- SIGKILL of a work-horse mid-job: the job is `failed` within QL_ANALYSIS_JOB_TIMEOUT + 60 s,
  its upload is gone, a resubmission of the same audio is analysed (done);
- SIGKILL of the whole analysis worker (parent and horse) mid-job: the same, found by a reader
  (the heartbeat stops);
- an orphaned upload older than QL_UPLOAD_SWEEP_AGE is swept when a worker starts;
- with QL_MAX_WAITERS=1, while one submission of the instance waits, another (on the other
  gunicorn worker) answers 202 at once.

Every loop is bounded in count and time; the counts are printed (pytest -s).
"""

import fcntl
import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.analysis_api.conftest import wait_ready, write_excerpt
from tests.system.servers import ROOT, Gunicorn, base_env

JOB_TIMEOUT = 10  # the smallest QL_ANALYSIS_JOB_TIMEOUT allowed
BOUND = JOB_TIMEOUT + 60  # API.md: failed within QL_ANALYSIS_JOB_TIMEOUT + 60 s of its loss
POLL = 0.02


@pytest.fixture
def faults_env(settings, tmp_path, database):
    """A key prefix of this test's own (no other analysis worker of the test run listens on its
    queue), its folders, and the environment of its processes."""
    from tests.conftest import delete_own_keys

    settings.QL_REDIS_PREFIX = settings.QL_REDIS_PREFIX + "-faults"
    delete_own_keys()
    folders = {name: tmp_path / name for name in ("audio", "uploads", "logs")}
    for folder in folders.values():
        folder.mkdir()
    env = {"DATABASE_URL": database.url, "QL_AUDIO_ROOT": folders["audio"], "QL_UPLOAD_DIR": folders["uploads"],
           "QL_ANALYSIS_JOB_TIMEOUT": JOB_TIMEOUT, "QL_ANALYSIS_HEARTBEAT": 1, "QL_MAX_WAITERS": 1}
    yield {"env": env, **folders}
    _forget_workers()
    delete_own_keys()


def _forget_workers():
    """A SIGKILLed worker leaves its registration behind: take ours (those of this prefix's
    queue) out of RQ's global set of workers; their own keys go with the prefix's."""
    from rq.worker_registration import REDIS_WORKER_KEYS, WORKERS_BY_QUEUE_KEY

    from analysis import jobs

    connection = jobs.rq_connection()
    for worker_key in connection.smembers(WORKERS_BY_QUEUE_KEY % jobs.queue(connection).name):
        connection.srem(REDIS_WORKER_KEYS, worker_key)
        connection.delete(worker_key)


class AnalysisWorker:
    def __init__(self, env: dict, log: Path):
        self.log = open(log, "a+")
        self.process = subprocess.Popen([sys.executable, "manage.py", "analysis_worker"], cwd=ROOT,
                                        env=base_env(**env), stdout=self.log, stderr=subprocess.STDOUT)
        wait_ready(self.process, self.log)

    def horse_pids(self) -> list[int]:
        """The worker's children (RQ forks one work-horse per job)."""
        pid = self.process.pid
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except FileNotFoundError:
            return []

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


def poll(what: str, predicate, *, timeout: float, counts: dict):
    """The first truthy value of predicate(), polled every POLL s for at most `timeout` s."""
    deadline = time.monotonic() + timeout
    polls = 0
    while time.monotonic() < deadline and polls < timeout / POLL + 1:
        polls += 1
        value = predicate()
        if value:
            counts[what] = polls
            return value
        time.sleep(POLL)
    raise AssertionError(f"{what}: not within {timeout} s ({polls} polls)")


def upload(http, url, data: bytes, name: str, wait: int = 0) -> requests.Response:
    return http.post(f"{url}/api/analysis/", files={"file": (name, io.BytesIO(data))},
                     data={"wait": str(wait)}, timeout=wait + 30)


def status_of(url, job_id) -> dict:
    return requests.get(f"{url}/api/analysis/{job_id}/", timeout=5).json()


def kill_mid_job(server, http, worker, data: bytes, name: str, counts: dict, *, whole_worker: bool) -> dict:
    """Submits the upload, SIGKILLs the work-horse (and the worker itself when asked) once the
    job runs, and answers the job's record once it reads failed."""
    job_id = upload(http, server.url, data, name).json()["id"]
    poll("running", lambda: status_of(server.url, job_id)["status"] == "running", timeout=120, counts=counts)
    [horse] = poll("horse", worker.horse_pids, timeout=10, counts=counts)
    if whole_worker:
        worker.process.send_signal(signal.SIGKILL)  # first: no parent is left to handle the horse
        worker.process.wait(timeout=10)
    os.kill(horse, signal.SIGKILL)
    killed = time.monotonic()
    record = poll("failed", lambda: (r := status_of(server.url, job_id))["status"] == "failed" and r,
                  timeout=BOUND, counts=counts)
    counts["seconds to failed"] = round(time.monotonic() - killed, 2)
    return record


def test_a_killed_work_horse_fails_its_job_frees_its_upload_and_the_audio_is_analysed_again(faults_env, database):
    env, uploads = faults_env["env"], faults_env["uploads"]
    orphan = uploads / f"{uuid.uuid4()}.wav"  # a crash's leftover, two hours old
    orphan.write_bytes(b"RIFF")
    two_hours_ago = time.time() - 7200
    os.utime(orphan, (two_hours_ago, two_hours_ago))
    long_audio = write_excerpt(faults_env["audio"] / "long.wav", bpm=124, seconds=90).read_bytes()
    other_audio = write_excerpt(faults_env["audio"] / "other.wav", bpm=110, seconds=60).read_bytes()
    counts: dict = {}

    with Gunicorn(workers=2, database=database, **env) as server:
        http = requests.Session()
        http.headers["Authorization"] = f"Token {database.token}"
        worker = AnalysisWorker(env, faults_env["logs"] / "worker.log")
        try:
            poll("orphan swept", lambda: not orphan.exists(), timeout=30, counts=counts)

            # 1. the work-horse alone is killed: the worker's parent fails the job
            record = kill_mid_job(server, http, worker, long_audio, "long.wav", counts, whole_worker=False)
            print(f"\nhorse killed: failed after {counts['seconds to failed']} s ({counts['failed']} polls); "
                  f"error: {record['error']!r}")
            assert "died" in record["error"] and counts["seconds to failed"] <= BOUND
            assert os.listdir(uploads) == []
            again = upload(http, server.url, long_audio, "long.wav", wait=30).json()
            assert again["id"] != record["id"]
            done = poll("resubmission done", lambda: (r := status_of(server.url, again["id"]))["status"]
                        in ("done", "failed") and r, timeout=180, counts=counts)
            assert done["status"] == "done" and abs(done["result"]["bpm"] - 124) < 3, done
            assert os.listdir(uploads) == []

            # 2. the whole worker is killed: a reader finds the heartbeat gone
            record = kill_mid_job(server, http, worker, other_audio, "other.wav", counts, whole_worker=True)
            print(f"worker killed: failed after {counts['seconds to failed']} s ({counts['failed']} polls); "
                  f"error: {record['error']!r}")
            assert counts["seconds to failed"] <= BOUND
            assert os.listdir(uploads) == []
        finally:
            worker.stop()

        # 3. no worker now: jobs stay queued; one submission waits, the next answers at once
        waited, refused = _waiters(server, http, faults_env["audio"], counts)
        print(f"waiters: the waiting submission took {waited['seconds']:.2f} s, the one past the cap "
              f"{refused['seconds']:.2f} s ({refused['status']})")

        worker = AnalysisWorker(env, faults_env["logs"] / "worker2.log")
        try:
            again = upload(http, server.url, other_audio, "other.wav").json()
            assert again["id"] != record["id"]
            done = poll("resubmission done", lambda: (r := status_of(server.url, again["id"]))["status"]
                        in ("done", "failed") and r, timeout=300, counts=counts)
            assert done["status"] == "done" and abs(done["result"]["bpm"] - 110) < 3, done
            assert poll("uploads gone", lambda: os.listdir(uploads) == [], timeout=30, counts=counts)
        finally:
            worker.stop()
    print(f"polls: {counts}")


def _waiters(server, http, folder: Path, counts: dict) -> tuple[dict, dict]:
    from analysis import waiters
    from django.conf import settings

    slot = waiters.instance_dir(prefix=settings.QL_REDIS_PREFIX, master_pid=server.process.pid) / "slot-0"
    wait_seconds = 6
    first_audio = write_excerpt(folder / "w1.wav", bpm=120, seconds=3).read_bytes()
    second_audio = write_excerpt(folder / "w2.wav", bpm=121, seconds=3).read_bytes()
    answers: dict = {}

    def submit(name, data):
        started = time.monotonic()
        response = upload(http, server.url, data, name + ".wav", wait=wait_seconds)
        answers[name] = {"status": response.status_code, "seconds": time.monotonic() - started,
                         "at": time.monotonic()}

    first = threading.Thread(target=submit, args=("first", first_audio))
    first.start()
    try:
        poll("first waits", lambda: _held(slot), timeout=20, counts=counts)  # it holds the slot
        submit("second", second_audio)
        second_done_while_first_waits = first.is_alive()
    finally:
        first.join(timeout=wait_seconds + 40)
    assert answers["second"]["status"] == 202 and answers["first"]["status"] == 202
    assert second_done_while_first_waits and answers["second"]["at"] < answers["first"]["at"]
    assert answers["second"]["seconds"] < 0.5 * answers["first"]["seconds"]
    shutil.rmtree(slot.parent, ignore_errors=True)  # the instance's slot files
    return answers["first"], answers["second"]


def _held(slot: Path) -> bool:
    """Whether some process holds the slot's lock (taken and dropped at once when free)."""
    try:
        fd = os.open(slot, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False



def test_eight_waiting_submissions_do_not_stall_a_three_worker_instance(faults_env, database):
    """Issue 12's finding 5 as reported: eight parallel submissions with `wait` on a 3-worker
    instance (QL_MAX_WAITERS by default: 3 // 2 = 1). No analysis worker: the job stays queued,
    so a waiter waits its whole `wait`. One submission waits; the seven others answer 202
    while it does, and reads are answered meanwhile."""
    from concurrent.futures import ThreadPoolExecutor

    env = {k: v for k, v in faults_env["env"].items() if k != "QL_MAX_WAITERS"}
    write_excerpt(faults_env["audio"] / "same.wav", bpm=120, seconds=2)
    wait_seconds = 8
    with Gunicorn(workers=3, database=database, **env) as server:
        http = requests.Session()
        http.headers["Authorization"] = f"Token {database.token}"

        def submit(_):
            started = time.monotonic()
            response = http.post(f"{server.url}/api/analysis/", json={"path": "same.wav", "wait": wait_seconds},
                                 timeout=wait_seconds + 30)
            return response.status_code, time.monotonic() - started, time.monotonic()

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(submit, n) for n in range(8)]
            reads = []
            deadline = time.monotonic() + wait_seconds + 30
            while not all(f.done() for f in futures) and time.monotonic() < deadline and len(reads) < 10_000:
                started = time.monotonic()
                status = requests.get(f"{server.url}/api/tracks/", timeout=wait_seconds + 30).status_code
                reads.append((status, time.monotonic() - started, time.monotonic()))
                time.sleep(0.05)  # the pace of the reads beside the waiters, not a wait
            answers = sorted(f.result() for f in futures)
        from analysis import waiters
        from django.conf import settings

        shutil.rmtree(waiters.instance_dir(prefix=settings.QL_REDIS_PREFIX, master_pid=server.process.pid),
                      ignore_errors=True)
    statuses = [a[0] for a in answers]
    last_answer = max(a[2] for a in answers)
    durations = sorted(a[1] for a in answers)
    reads_during_wait = [r for r in reads if r[2] < last_answer - 0.5]
    print(f"\n8 waiting submissions, 3 workers: statuses {statuses}, seconds {[round(d, 2) for d in durations]}; "
          f"{len(reads_during_wait)} reads answered while one waited, slowest {max(r[1] for r in reads):.2f} s")
    assert statuses == [202] * 8
    assert durations[-1] >= wait_seconds * 0.9  # one waited its whole `wait`
    assert durations[-2] < 0.5 * durations[-1]  # the others did not
    assert reads_during_wait and all(r[0] == 200 for r in reads)
    assert max(r[1] for r in reads) < 0.5 * durations[-1]  # no read waited for a waiter
