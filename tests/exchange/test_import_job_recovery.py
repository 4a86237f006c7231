"""Import jobs (exchange/jobs.py) on the analysis worker: a job whose process died
or ran past its timeout ends failed and its stored file goes at once, not only when someone
reads the job (nobody may, and the record expires: the file would stay forever, since the
sweep of QL_UPLOAD_DIR never looks into imports/)."""

import signal
from types import SimpleNamespace

import pytest
from django.test import override_settings

from analysis.management.commands import analysis_worker
from exchange import jobs
from quantumlive import keys
from quantumlive.redis_conn import get_redis
from tests.exchange.conftest import upload
from tests.exchange.test_import import M3U8

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def upload_dir(settings, tmp_path):
    settings.QL_UPLOAD_DIR = tmp_path / "uploads"


def _queued_import(api) -> str:
    with override_settings(QL_IMPORT_SYNC_MAX_TRACKS=1):
        response = upload(api, M3U8, name="set.m3u8", root="/Users/dj/Music")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def test_an_import_whose_process_died_is_failed_and_its_file_deleted(api):
    job_id = _queued_import(api)
    assert jobs.mark_running(job_id)  # the runner started it, then was killed (OOM)
    assert [path.name for path in jobs.folder().iterdir()] == [job_id]

    analysis_worker._horse_killed(SimpleNamespace(id=f"import-{job_id}"), 4242, signal.SIGKILL, None)

    assert list(jobs.folder().iterdir()) == []  # without anyone reading the job
    raw = get_redis().hgetall(keys.import_job(job_id))
    assert raw["status"] == "failed" and raw["error"]
    assert api.get(f"/api/imports/{job_id}/").json()["status"] == "failed"


def test_an_import_killed_at_its_timeout_is_failed_and_its_file_deleted(api):
    job_id = _queued_import(api)
    assert jobs.mark_running(job_id)

    analysis_worker.job_failed(f"import-{job_id}", "the job took longer than 3600 s and was stopped")

    assert list(jobs.folder().iterdir()) == []
    raw = get_redis().hgetall(keys.import_job(job_id))
    assert raw["status"] == "failed" and "3600" in raw["error"]


def test_the_workers_sweep_deletes_import_files_no_live_job_needs(api, settings):
    import os
    import time

    live = _queued_import(api)  # queued: its file stays, however old
    ended = _queued_import(api)
    jobs.finish(ended, error="ended")  # (its file went with it)
    lost = _queued_import(api)
    get_redis().delete(keys.import_job(lost))  # its record expired (a worker died long ago)
    young = str(__import__("uuid").uuid4())
    (jobs.folder() / young).write_bytes(b"#EXTM3U\n")  # being written: too young to judge
    (jobs.folder() / ended).write_bytes(b"#EXTM3U\n")  # left behind
    old = time.time() - settings.QL_UPLOAD_SWEEP_AGE - 60
    for name in (live, ended, lost):
        os.utime(jobs.folder() / name, (old, old))

    analysis_worker.sweep_uploads()

    assert sorted(path.name for path in jobs.folder().iterdir()) == sorted([live, young])


def test_a_queued_import_whose_queue_entry_was_lost_is_failed_after_a_grace(api, settings):
    """Its RQ job is gone (Redis lost it, or it was removed from the queue): nothing will ever
    run it, so a reader fails it once the grace is over, rather than showing "queued" until the
    record expires; its file goes with it."""
    import time as clock

    from exchange import jobs as import_jobs
    from quantumlive import keys as key_names
    from quantumlive.redis_conn import get_redis

    job_id = "0b6f5f7e-1d2c-4e3f-9a8b-7c6d5e4f3a2b"
    path = import_jobs.folder() / job_id
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"#EXTM3U\n")
    import_jobs.create(owner_id=1, owner="dj", path=path, file_name="x.m3u8", root=None, job_id=job_id)
    assert import_jobs.record(job_id)["status"] == "queued"  # within the grace: queued

    get_redis().hset(key_names.import_job(job_id), "created_at", str(clock.time() - 120))
    lost = import_jobs.record(job_id)
    assert lost["status"] == "failed" and "lost" in lost["error"]
    assert not path.exists()
