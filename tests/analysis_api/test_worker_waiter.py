"""A submission waiting for its job (`wait`) hears of its end (analysis/jobs.py wait_finished):
it is woken by the job's announcement rather than reading the record in a poll loop, and it
still sees a job that ended without one (re-read every WAIT_RECHECK seconds)."""

import threading
import time
import uuid

import pytest

from analysis import jobs
from quantumlive import keys
from quantumlive.redis_conn import get_redis


@pytest.fixture
def reads(monkeypatch):
    """How often the waiter reads the job's record."""
    count = {"n": 0}
    real = jobs.job_record

    def counted(job_id):
        count["n"] += 1
        return real(job_id)

    monkeypatch.setattr(jobs, "job_record", counted)
    return count


def queued_job() -> str:
    job_id, new = jobs.claim(digest=uuid.uuid4().hex * 2, source={"path": "/nowhere.wav"}, options={})
    assert new
    return job_id


def later(seconds: float, action) -> threading.Thread:
    def run():
        time.sleep(seconds)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_the_end_of_the_job_wakes_the_waiter_at_once(idle_queue, reads, monkeypatch):
    monkeypatch.setattr(jobs, "WAIT_RECHECK", 5.0)
    job_id = queued_job()

    def done():
        assert jobs.mark_running(job_id)
        assert jobs.finish(job_id, result={"bpm": 120.0})

    thread = later(0.5, done)
    started = time.monotonic()
    record = jobs.wait_finished(job_id, 20)
    elapsed = time.monotonic() - started
    thread.join()

    assert record["status"] == "done" and record["result"] == {"bpm": 120.0}
    assert elapsed < 3.0  # woken by the announcement, not the 5 s re-read
    assert reads["n"] <= 3  # a poll loop reads it every few tens of ms


def test_a_failed_job_wakes_the_waiter_too(idle_queue, monkeypatch):
    monkeypatch.setattr(jobs, "WAIT_RECHECK", 5.0)
    job_id = queued_job()
    thread = later(0.3, lambda: jobs.finish(job_id, error="the audio cannot be analysed"))
    started = time.monotonic()
    record = jobs.wait_finished(job_id, 20)
    thread.join()

    assert record["status"] == "failed" and time.monotonic() - started < 3.0


def test_a_job_ended_without_an_announcement_is_seen_at_the_next_re_read(idle_queue, monkeypatch):
    monkeypatch.setattr(jobs, "WAIT_RECHECK", 0.3)
    job_id = queued_job()
    # as if the finisher's PUBLISH had been lost: the record alone says done
    thread = later(0.2, lambda: get_redis().hset(keys.analysis_job(job_id), mapping={
        "status": "done", "result": '{"bpm":121.0}', "finished": "2026-12-07T00:00:00.000Z"}))
    started = time.monotonic()
    record = jobs.wait_finished(job_id, 20)
    thread.join()

    assert record["status"] == "done" and time.monotonic() - started < 5.0


def test_a_waiter_gives_up_after_its_seconds_without_polling(idle_queue, reads):
    job_id = queued_job()
    started = time.monotonic()
    record = jobs.wait_finished(job_id, 1.5)
    elapsed = time.monotonic() - started

    assert record["status"] == "queued"
    assert 1.4 < elapsed < 4.0
    assert reads["n"] <= 4  # once, then once a WAIT_RECHECK second


def test_a_waiter_leaves_no_subscription_behind(idle_queue):
    job_id = queued_job()
    channel = keys.analysis_done_channel(job_id)
    thread = later(0.3, lambda: jobs.finish(job_id, error="stopped"))
    jobs.wait_finished(job_id, 10)
    thread.join()

    assert get_redis().pubsub_numsub(channel) == [(channel, 0)]
