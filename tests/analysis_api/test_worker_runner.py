"""How the analysis worker runs jobs (issue 16, point 5): in a pre-forked runner process, reused
from job to job, with the isolation a work-horse per job gave. Real worker processes on key
prefixes of their own; the jobs that crash, hang or report their process are RQ jobs whose
functions are the ones below (the worker imports them from this module)."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.analysis_api.conftest import write_excerpt
from tests.system.servers import ROOT, base_env, wait_until

URL = "/api/analysis/"


# --- the jobs' functions (run in the worker's runner) ---------------------------------------
def runner_pid() -> int:
    return os.getpid()


def exit_mid_job(job_id: str) -> None:
    from analysis import jobs

    assert jobs.mark_running(job_id)
    os._exit(3)


def hang_mid_job(job_id: str) -> None:
    from analysis import jobs

    assert jobs.mark_running(job_id)
    time.sleep(600)


def raise_mid_job() -> None:
    raise RuntimeError("a job's own error")


def reserve(megabytes: int) -> int:
    """Reserves (numpy's empty: address space, no page touched) that much memory."""
    import numpy

    return len(numpy.empty(megabytes * 2**20, dtype=numpy.uint8)) // 2**20


# --- workers -------------------------------------------------------------------------------
class Worker:
    def __init__(self, prefix: str, log: Path, *args: str, **env):
        self.prefix = prefix
        self.log = open(log, "w+")
        self.process = subprocess.Popen([sys.executable, "manage.py", "analysis_worker", *args], cwd=ROOT,
                                        env=base_env(QL_REDIS_PREFIX=prefix, **env), stdout=self.log,
                                        stderr=subprocess.STDOUT)

    def queue(self):
        from rq import Queue

        from analysis import jobs
        from quantumlive import keys

        return Queue(keys.analysis_queue_name(self.prefix), connection=jobs.rq_client())

    def wait_ready(self, timeout: float = 300) -> None:
        from rq import Worker as RQWorker

        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited:\n{self.output()}")
            return RQWorker.all(connection=self.queue().connection, queue=self.queue())

        deadline = time.monotonic() + timeout
        while not ready():
            assert time.monotonic() < deadline, f"the worker did not start:\n{self.output()}"
            time.sleep(0.2)

    def children(self) -> list[int]:
        pid = self.process.pid
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except FileNotFoundError:
            return []

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


def delete_keys_of(prefix: str) -> None:
    from quantumlive import keys
    from quantumlive.redis_conn import get_redis

    assert prefix.startswith("qltest")
    redis = get_redis()
    found = keys.keys_of_prefix(redis, prefix)
    redis.srem(keys.rq_queue_registry(), keys.rq_queue(prefix))
    for start in range(0, len(found), 500):
        redis.unlink(*found[start:start + 500])


@pytest.fixture(scope="module")
def runner_worker(tmp_path_factory, audio_folders):
    """One worker on a prefix of its own whose runner is replaced after 3 jobs."""
    from django.conf import settings

    prefix = settings.QL_REDIS_PREFIX + "-runner"
    delete_keys_of(prefix)
    worker = Worker(prefix, tmp_path_factory.mktemp("runner-logs") / "worker.log",
                    QL_AUDIO_ROOT=audio_folders["root"], QL_UPLOAD_DIR=audio_folders["uploads"],
                    QL_MAX_AUDIO_SECONDS=10, QL_ANALYSIS_CHILD_MAX_JOBS=3, QL_ANALYSIS_CHILD_MAX_MEMORY_MB=2048)
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()
        delete_keys_of(prefix)


@pytest.fixture
def on_runner_worker(runner_worker, settings, audio_folders):
    """This test's web side on the runner worker's prefix and the session's audio folders."""
    settings.QL_REDIS_PREFIX = runner_worker.prefix
    settings.QL_AUDIO_ROOT = audio_folders["root"]
    settings.QL_UPLOAD_DIR = audio_folders["uploads"]
    return runner_worker


def run(worker: Worker, function, *args, timeout: float = 60, **options):
    """Enqueues `function(*args)` on the worker's queue; its RQ job once it ended."""
    job = worker.queue().enqueue(f"{__name__}.{function.__name__}", *args, result_ttl=60, **options)

    def ended():
        job.refresh()
        return job.get_status() in ("finished", "failed")

    wait_until(ended, timeout=timeout, interval=0.02, what=f"RQ job {function.__name__}")
    return job


def new_analysis_job() -> str:
    """An analysis job record (queued), as a submission claims it."""
    from analysis import jobs

    job_id, new = jobs.claim(digest=uuid.uuid4().hex * 2, source={"path": "/nowhere.wav"}, options={})
    assert new
    return job_id


def analysed(api, root: Path, name: str) -> dict:
    write_excerpt(root / name, bpm=124, seconds=4)
    response = api.post(URL, {"path": name, "wait": 30}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


# --- tests ---------------------------------------------------------------------------------
pytestmark = pytest.mark.django_db


def test_a_runner_is_replaced_after_max_jobs(on_runner_worker):
    """QL_ANALYSIS_CHILD_MAX_JOBS=3: every run of jobs in one runner is at most 3 long, and
    exactly 3 once the first replacement has been seen."""
    pids = [run(on_runner_worker, runner_pid).return_value() for _ in range(7)]
    assert on_runner_worker.process.pid not in pids  # not the worker itself
    runs = []
    for pid in pids:
        if runs and runs[-1][0] == pid:
            runs[-1][1] += 1
        else:
            runs.append([pid, 1])
    assert len(runs) >= 2
    assert all(count <= 3 for _, count in runs)
    assert all(count == 3 for _, count in runs[1:-1])
    assert len({pid for pid, _ in runs}) == len(runs)  # a new process each time


def test_a_job_that_kills_its_runner_fails_clearly_and_the_next_job_succeeds(on_runner_worker, api, audio_folders):
    from analysis import jobs

    job_id = new_analysis_job()
    before = on_runner_worker.children()
    rq_job = run(on_runner_worker, exit_mid_job, job_id, job_id=job_id)

    assert rq_job.get_status() == "failed"
    record = jobs.job_record(job_id)
    assert record["status"] == "failed"
    assert "died" in record["error"] and "exit code 3" in record["error"]
    assert on_runner_worker.process.poll() is None  # the worker goes on, with a new runner
    after = wait_until(on_runner_worker.children, timeout=10, what="a new runner")
    assert after != before
    assert analysed(api, audio_folders["root"], "after-crash.wav")["status"] == "done"


def test_a_runner_killed_by_a_signal_mid_job_fails_only_its_job(on_runner_worker, api, audio_folders):
    import signal

    from analysis import jobs

    job_id = new_analysis_job()
    rq_job = on_runner_worker.queue().enqueue(f"{__name__}.hang_mid_job", job_id, job_id=job_id, result_ttl=60)
    wait_until(lambda: jobs.job_record(job_id)["status"] == "running", timeout=30, what="the job to run")
    [runner] = on_runner_worker.children()
    os.kill(runner, signal.SIGKILL)  # e.g. the OOM killer

    wait_until(lambda: jobs.job_record(job_id)["status"] == "failed", timeout=30, what="the job to fail")
    assert "killed by SIGKILL" in jobs.job_record(job_id)["error"]
    wait_until(lambda: rq_job.get_status(refresh=True) == "failed", timeout=10, what="RQ's job to fail")
    assert analysed(api, audio_folders["root"], "after-kill.wav")["status"] == "done"


def test_a_job_past_its_timeout_has_its_runner_killed_and_fails_alone(on_runner_worker):
    from analysis import jobs

    job_id = new_analysis_job()
    started = time.monotonic()
    rq_job = run(on_runner_worker, hang_mid_job, job_id, job_id=job_id, job_timeout=2, timeout=30)

    assert rq_job.get_status() == "failed"
    assert time.monotonic() - started < 15  # killed at 2 s, not the worker's minutes of grace
    record = jobs.job_record(job_id)
    assert record["status"] == "failed" and "longer than 2 s" in record["error"]
    assert run(on_runner_worker, runner_pid).get_status() == "finished"


def test_a_job_that_raises_fails_in_its_runner_as_rq_reports_it(on_runner_worker):
    """The runner handles the error as a work-horse does (RQ's traceback, the runner alive),
    not as a dead process."""
    failed = run(on_runner_worker, raise_mid_job)
    assert failed.get_status() == "failed"
    assert "RuntimeError: a job's own error" in (failed.latest_result().exc_string or "")
    assert run(on_runner_worker, runner_pid).get_status() == "finished"


def test_a_job_needing_more_memory_than_the_runner_may_take_fails_with_a_memory_error(on_runner_worker):
    """QL_ANALYSIS_CHILD_MAX_MEMORY_MB=2048 (RLIMIT_AS): 3 GB cannot be had, 512 MB can, and
    the runner goes on."""
    failed = run(on_runner_worker, reserve, 3072)
    assert failed.get_status() == "failed"
    assert "MemoryError" in (failed.latest_result().exc_string or "")
    assert run(on_runner_worker, reserve, 512).return_value() == 512


def test_a_runner_grown_past_max_rss_is_replaced_after_its_job(tmp_path, settings, audio_folders):
    """QL_ANALYSIS_CHILD_MAX_RSS_MB=1: every job leaves the runner above it; in burst mode the
    worker runs the queued jobs and exits."""
    prefix = settings.QL_REDIS_PREFIX + "-rss"
    delete_keys_of(prefix)
    worker = Worker(prefix, tmp_path / "worker.log", "--burst", QL_ANALYSIS_CHILD_MAX_RSS_MB=1,
                    QL_AUDIO_ROOT=audio_folders["root"], QL_UPLOAD_DIR=audio_folders["uploads"])
    try:
        queued = [worker.queue().enqueue(f"{__name__}.runner_pid", result_ttl=60) for _ in range(3)]
        assert worker.process.wait(timeout=300) == 0, worker.output()
        pids = [job.return_value(refresh=True) for job in queued]
        assert None not in pids and len(set(pids)) == 3
        assert "QL_ANALYSIS_CHILD_MAX_RSS_MB" in worker.output()
    finally:
        worker.stop()
        delete_keys_of(prefix)
