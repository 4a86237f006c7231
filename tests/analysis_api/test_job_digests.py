"""An audio's digest and the job that holds it (analysis/jobs.py): what a claim records, and a
restore of finished jobs that another submission of the same audio overtakes."""

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from django.conf import settings

from analysis import jobs
from quantumlive import keys
from quantumlive.clock import now_iso
from quantumlive.exceptions import ServiceUnavailable
from quantumlive.redis_conn import get_redis

DIGEST = "d" * 64
RESULT = {"bpm": 124.0, "key": "A minor"}


def test_a_claim_records_what_the_job_analyses_and_when():
    job_id, new = jobs.claim(digest=DIGEST, source={"path": "/a.wav"}, options={"auto_cues": True})
    assert new
    redis = get_redis()
    record = redis.hgetall(keys.analysis_job(job_id))
    assert record["status"] == "queued" and record["digest"] == DIGEST
    assert json.loads(record["source"]) == {"path": "/a.wav"}
    assert json.loads(record["options"]) == {"auto_cues": True}
    created = datetime.fromisoformat(record["created"].replace("Z", "+00:00"))
    assert abs(datetime.now(timezone.utc) - created) < timedelta(minutes=1)
    assert jobs.job_record(job_id)["created"] == record["created"]
    assert redis.get(keys.analysis_digest(DIGEST)) == job_id
    assert 0 < redis.ttl(keys.analysis_job(job_id)) <= settings.QL_ANALYSIS_TTL


def staged_finished_job() -> tuple[str, str, str, int]:
    """A finished job staged by an import, as jobs_swap_in takes it."""
    job_id = "0b5e7d2a-0000-4000-8000-000000000001"
    staged_key = keys.backup_temp("digests", "job", job_id)
    fields = jobs.restore_fields(digest=DIGEST, options={}, created=now_iso(), finished=now_iso(), result=RESULT)
    get_redis().hset(staged_key, mapping=dict(zip(fields[::2], fields[1::2])))
    return job_id, staged_key, DIGEST, int(time.time()) + 3600


def failed_holder() -> str:
    job_id, _ = jobs.claim(digest=DIGEST, source={"path": "/a.wav"}, options={})
    jobs.finish(job_id, error="not audio")
    return job_id


def submit_after_each_holder_read(monkeypatch, times: int) -> list[str]:
    """After the restore has read the digests' holders, and before its script runs, another
    submission of the audio takes the digest from its failed holder (`times` times at most).
    Returns the ids of those submissions' jobs."""
    redis = get_redis()
    read_holders = redis.mget
    submitted = []

    def read_then_submit(*args, **kwargs):
        holders = read_holders(*args, **kwargs)
        if len(submitted) < times:
            holder = redis.get(keys.analysis_digest(DIGEST))
            if holder:
                jobs.finish(holder, error="overtaken")
            job_id, new = jobs.claim(digest=DIGEST, source={"path": "/a.wav"}, options={})
            assert new
            submitted.append(job_id)
        return holders

    monkeypatch.setattr(redis, "mget", read_then_submit)
    return submitted


def test_a_restore_overtaken_by_a_submission_leaves_it_the_digest(monkeypatch):
    failed_holder()
    staged = staged_finished_job()
    submitted = submit_after_each_holder_read(monkeypatch, times=1)
    assert jobs.jobs_swap_in(staged=[staged], replace=False) == ["created"]
    assert get_redis().get(keys.analysis_digest(DIGEST)) == submitted[0]  # queued: a live holder
    assert jobs.job_record(staged[0])["result"] == RESULT


def test_a_restore_that_submissions_keep_overtaking_gives_up_having_written_nothing(monkeypatch):
    failed_holder()
    staged = staged_finished_job()
    submitted = submit_after_each_holder_read(monkeypatch, times=1000)
    with pytest.raises(ServiceUnavailable):
        jobs.jobs_swap_in(staged=[staged], replace=False)
    redis = get_redis()
    assert 1 < len(submitted) < 1000
    assert redis.get(keys.analysis_digest(DIGEST)) == submitted[-1]
    assert not redis.exists(keys.analysis_job(staged[0])) and redis.exists(staged[1])
