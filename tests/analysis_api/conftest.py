"""A real analysis worker process (RQ) on this run's queue, and audio files made with numpy."""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.analysis.synth import make_excerpt
from tests.system.servers import ROOT, base_env, wait_until


def pytest_collection_modifyitems(items):
    """A test whose jobs the real worker runs is slow (the worker loads librosa's kernels
    first, then analyses): `make test-fast` leaves it out, `make test` runs it."""
    for item in items:
        if "analysis_worker" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def audio_folders(tmp_path_factory) -> dict:
    """The session's QL_AUDIO_ROOT and QL_UPLOAD_DIR, shared by the web side and the worker."""
    return {"root": tmp_path_factory.mktemp("audio-root"), "uploads": tmp_path_factory.mktemp("uploads")}


@pytest.fixture(scope="package")
def analysis_worker(tmp_path_factory, audio_folders):
    """One worker for this package's tests, with the test run's REDIS_URL and key prefix. It
    stops when they are done: its track cache subscriber shares the prefix and would write
    `{prefix}:epoch` and take jobs under the later tests elsewhere. Its
    QL_AUDIO_ROOT/QL_UPLOAD_DIR are the session's audio folders; it refuses audio over
    10 seconds."""
    root, uploads = audio_folders["root"], audio_folders["uploads"]
    log = open(tmp_path_factory.mktemp("logs") / "worker.log", "w+")
    process = subprocess.Popen([sys.executable, "manage.py", "analysis_worker"], cwd=ROOT,
                               env=base_env(QL_AUDIO_ROOT=root, QL_UPLOAD_DIR=uploads, QL_MAX_AUDIO_SECONDS=10),
                               stdout=log, stderr=subprocess.STDOUT)
    wait_ready(process, log)
    yield {"process": process, "root": root, "uploads": uploads, "log": log}
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def wait_ready(process, log, timeout: float = 300) -> None:
    """Until the worker listens on this run's queue: it compiles librosa's kernels first (a few
    seconds with the numba cache `make` fills, minutes without)."""
    from rq import Worker

    from analysis import jobs

    connection = jobs.rq_connection()
    deadline = time.monotonic() + timeout
    while not Worker.all(connection=connection, queue=jobs.queue(connection)):
        if process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            raise RuntimeError(f"the analysis worker did not start:\n{log.read()[-3000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="session", autouse=True)
def waiter_slots_removed():
    """Submissions with `wait` take a waiter slot: a file in a folder of this process's own
    (analysis/waiters.py). It goes at the end of the session."""
    yield
    import shutil

    from analysis import waiters

    shutil.rmtree(waiters.instance_dir(), ignore_errors=True)


@pytest.fixture
def audio_settings(settings, audio_folders):
    """The web side on the session's audio folders. A test whose jobs must run also asks for
    `analysis_worker`."""
    settings.QL_AUDIO_ROOT = audio_folders["root"]
    settings.QL_UPLOAD_DIR = audio_folders["uploads"]
    return audio_folders


def write_excerpt(path: Path, *, style="house", bpm=124.0, seconds=12.0, key="A minor", fmt=None) -> Path:
    excerpt = make_excerpt(style, bpm, key=key, seconds=seconds, sr=22050, seed=3)
    soundfile.write(path, excerpt.y, excerpt.sr, format=fmt)
    return path


def write_silence(path: Path, seconds=5.0) -> Path:
    soundfile.write(path, np.zeros(int(22050 * seconds), dtype=np.float32), 22050)
    return path


def wait_done(client, job_url: str, timeout: float = 60) -> dict:
    def finished_record():
        record = client.get(job_url).json()
        return record if record["status"] in ("done", "failed") else None

    return wait_until(finished_record, timeout=timeout, interval=0.1, what=f"job {job_url} to finish")
