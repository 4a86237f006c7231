"""Analysis jobs: their records in Redis, the content-hash result cache, and the RQ queue.

A job is identified by a UUID; its record (`{p}:analysis:job:<id>`) is the truth the API
reads. The audio's SHA-256, the options and the analyser's version make the job's digest;
`{p}:analysis:digest:<digest>` points at the job that analyses exactly that, so the same
audio with the same options is analysed once (a failed job does not count). The work runs in
RQ worker processes (analysis/tasks.py), never in a web worker.
"""

import hashlib
import json
import time
import uuid

from django.conf import settings

from analysis.audio import ANALYSER_VERSION
from quantumlive import keys
from quantumlive.redis_conn import get_redis, make_client, run_script
from tracks.store import now_iso

FINISHED = ("done", "failed")
WORKER_DIED = "the analysis worker stopped while running this job; submit it again"

# Claims the digest for a new job unless a live job holds it (queued, done, or running with
# its work-horse still beating).
_CLAIM = r"""
local holder = redis.call('GET', KEYS[1])
if holder then
  local status = redis.call('HGET', KEYS[3] .. holder, 'status')
  local dead = status == 'running' and redis.call('EXISTS', KEYS[4] .. holder) == 0
  if status and status ~= 'failed' and not dead then return holder end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('HSET', KEYS[2], 'status', 'queued', 'created', ARGV[2], 'digest', ARGV[4], 'source', ARGV[5],
           'options', ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return false
"""


def digest_of(*, audio_sha256: str, options: dict) -> str:
    text = json.dumps({"audio": audio_sha256, "options": options, "analyser": ANALYSER_VERSION},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def job_record(job_id: str) -> dict | None:
    """The job's public record, or None for an unknown (or malformed) id. A running job whose
    work-horse no longer beats is reported failed."""
    try:
        job_id = str(uuid.UUID(job_id))
    except ValueError:
        return None
    redis = get_redis()
    raw = redis.hgetall(keys.analysis_job(job_id))
    if not raw:
        return None
    if raw.get("status") == "running" and not redis.exists(keys.analysis_alive(job_id)):
        finish(job_id, error=WORKER_DIED, only_if_running=True)
        raw = redis.hgetall(keys.analysis_job(job_id))
    return {
        "id": job_id,
        "status": raw.get("status", "queued"),
        "error": raw.get("error") or None,
        "result": json.loads(raw["result"]) if raw.get("result") else None,
        "created": raw.get("created"),
        "finished": raw.get("finished") or None,
    }


def finished_result(job_id: str) -> dict:
    """The result of a finished job; ValueError saying why there is none."""
    record = job_record(job_id)
    if record is None:
        raise ValueError("Unknown analysis job.")
    if record["status"] == "failed":
        raise ValueError(f"The analysis failed: {record['error']}")
    if record["status"] != "done":
        raise ValueError("The analysis has not finished yet.")
    return record["result"]


def claim(*, digest: str, source: dict, options: dict) -> tuple[str, bool]:
    """(job id, new): a new queued job for this digest, or the job that already has it."""
    job_id = str(uuid.uuid4())
    holder = run_script(
        get_redis(), _CLAIM, 4, keys.analysis_digest(digest), keys.analysis_job(job_id), keys.analysis_job(""),
        keys.analysis_alive(""),
        job_id, now_iso(), int(settings.QL_ANALYSIS_TTL), digest, json.dumps(source), json.dumps(options),
    )
    if holder:
        return holder, False
    return job_id, True


def rq_connection(**overrides):
    """RQ pickles its payloads: it needs a client that does not decode responses."""
    return make_client(settings.REDIS_URL, decode_responses=False, **overrides)


def queue(connection=None):
    from rq import Queue

    return Queue(keys.analysis_queue_name(), connection=connection or rq_connection(),
                 default_timeout=settings.QL_ANALYSIS_JOB_TIMEOUT)


def enqueue(job_id: str) -> None:
    queue().enqueue("analysis.tasks.run_analysis", job_id, job_id=job_id, result_ttl=60,
                    failure_ttl=24 * 3600, job_timeout=settings.QL_ANALYSIS_JOB_TIMEOUT)


def wait_finished(job_id: str, seconds: float) -> dict | None:
    """Polls the job's record until it is finished or `seconds` pass (bounded)."""
    deadline = time.monotonic() + seconds
    pause = 0.02
    while True:
        record = job_record(job_id)
        if record is None or record["status"] in FINISHED:
            return record
        if time.monotonic() + pause > deadline:
            return record
        time.sleep(pause)
        pause = min(pause * 1.5, 0.25)


# --- the worker's side ---------------------------------------------------------------------
def source_and_options(job_id: str) -> tuple[dict, dict]:
    raw = get_redis().hmget(keys.analysis_job(job_id), "source", "options")
    if raw[0] is None:
        raise LookupError(f"job {job_id} has no record")
    return json.loads(raw[0]), json.loads(raw[1])


def mark_running(job_id: str) -> None:
    pipe = get_redis().pipeline(transaction=True)
    pipe.hset(keys.analysis_job(job_id), "status", "running")
    pipe.set(keys.analysis_alive(job_id), "1", ex=settings.QL_ANALYSIS_HEARTBEAT * 3)
    pipe.execute()


def beat(job_id: str) -> None:
    get_redis().set(keys.analysis_alive(job_id), "1", ex=settings.QL_ANALYSIS_HEARTBEAT * 3)


_FINISH = r"""
if ARGV[4] == '1' and redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[1], 'status', 'done', 'result', ARGV[1], 'finished', ARGV[3])
else
  redis.call('HSET', KEYS[1], 'status', 'failed', 'error', ARGV[2], 'finished', ARGV[3])
end
redis.call('DEL', KEYS[2])
return 1
"""


def finish(job_id: str, *, result: dict | None = None, error: str | None = None,
           only_if_running: bool = False) -> None:
    run_script(
        get_redis(), _FINISH, 2, keys.analysis_job(job_id), keys.analysis_alive(job_id),
        json.dumps(result, separators=(",", ":")) if result is not None else "", error or "", now_iso(),
        "1" if only_if_running else "0",
    )
