"""Review of issue 12, findings 4 and 5 (h12-jobs): what an attacker or a slow host could
still do to the waiter slots and the lost-job detection."""

import os
import stat
import time

import pytest

from analysis import waiters


def _default_folder(monkeypatch, tmp_path):
    """The waiter folder as in production ($TMPDIR/quantumlive-waiters-<uid>/<prefix>-<pid>),
    with $TMPDIR a shared, world-writable, sticky folder like /tmp."""
    shared = tmp_path / "shared-tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    monkeypatch.setattr(waiters.tempfile, "gettempdir", lambda: str(shared))
    per_user = shared / f"quantumlive-waiters-{os.getuid()}"
    return shared, per_user


def test_a_per_user_folder_another_user_planted_is_not_used(monkeypatch, tmp_path, settings):
    """Another local user creates the per-uid folder first (world-writable, theirs): slot files
    in it are theirs to lock, replace or point elsewhere. The folder must not be used."""
    _, per_user = _default_folder(monkeypatch, tmp_path)
    per_user.mkdir()
    per_user.chmod(0o777)
    os.chown(per_user, 54321, 54321)
    slot = waiters.acquire(capacity=1)
    assert slot is None
    assert not any(per_user.rglob("slot-*"))


def test_a_per_user_folder_that_is_a_symlink_is_not_followed(monkeypatch, tmp_path):
    """A symlink planted at the per-uid name must not make the app create folders and files
    where it points."""
    _, per_user = _default_folder(monkeypatch, tmp_path)
    elsewhere = tmp_path / "victim"
    elsewhere.mkdir()
    per_user.symlink_to(elsewhere, target_is_directory=True)
    slot = waiters.acquire(capacity=1)
    assert slot is None
    assert list(elsewhere.iterdir()) == []


def test_a_slot_file_that_is_a_symlink_is_not_followed(tmp_path):
    folder = tmp_path / "slots"
    folder.mkdir(mode=0o700)
    target = tmp_path / "victim-file"
    (folder / "slot-0").symlink_to(target)
    slot = waiters.acquire(directory=folder, capacity=1)
    if slot is not None:
        slot.release()
    assert not target.exists()


def test_a_private_default_folder_still_works(monkeypatch, tmp_path):
    _, per_user = _default_folder(monkeypatch, tmp_path)
    slot = waiters.acquire(capacity=1)
    assert slot is not None
    try:
        assert waiters.acquire(capacity=1) is None
        mode = stat.S_IMODE(os.lstat(per_user).st_mode)
        assert mode & 0o077 == 0
    finally:
        slot.release()


# --- lost-job detection: clocks and RQ's intermediate list ---------------------------------
from tests.analysis_api.test_jobs_recovery import backdate, new_job, redis  # noqa: E402,F401


def test_a_reader_whose_clock_is_ahead_does_not_fail_a_job_being_enqueued(idle_queue, monkeypatch):
    """Two web hosts whose clocks differ by more than LOST_GRACE: the job one of them has just
    claimed (its enqueue on the way) must not be failed by the other's first read. Ages are
    measured on one clock, Redis's."""
    from analysis import jobs

    job_id = new_job(digest="d" * 64)  # claimed; the claiming worker is enqueueing it
    ahead = time.time() + 3600
    monkeypatch.setattr(jobs.time, "time", lambda: ahead)  # this reader's clock runs an hour ahead
    assert jobs.job_record(job_id)["status"] == "queued"


def test_a_job_a_dead_worker_took_from_the_queue_is_lost_after_the_grace(idle_queue, monkeypatch):
    """A worker took the job (RQ's intermediate list) and was killed before its work-horse
    started it: RQ only fails it at another worker's maintenance, twice
    QL_UPLOAD_SWEEP_INTERVAL later at worst (and never without another worker), past API.md's
    QL_ANALYSIS_JOB_TIMEOUT + 60 s. Seen there for longer than the grace, it is lost; seen there
    once, it is not (a live worker starts it within milliseconds)."""
    from analysis import jobs
    from quantumlive import keys

    monkeypatch.setattr(jobs, "LOST_GRACE", 0.5)
    job_id = new_job(digest="e" * 64)
    jobs.enqueue(job_id)
    backdate(job_id, 10 * 24 * 3600)
    assert redis().lmove(keys.rq_queue(), keys.rq_intermediate_queue()) == job_id
    assert jobs.job_record(job_id)["status"] == "queued"  # just seen taken: a worker is starting it
    time.sleep(0.7)  # past the (shortened) grace; no bound on how long anything takes
    record = jobs.job_record(job_id)
    assert record["status"] == "failed" and record["error"] == jobs.JOB_LOST
    again, new = jobs.claim(digest="e" * 64, source={"path": "/x"}, options={})
    assert new and again != job_id
