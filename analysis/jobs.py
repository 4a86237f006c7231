"""Analysis jobs: their records in Redis, the content-hash result cache, and the RQ queue.

A job is identified by a UUID; its record (`{p}:analysis:job:<id>`) is the truth the API
reads. The audio's SHA-256, the options and the analyser's version make the job's digest;
`{p}:analysis:digest:<digest>` points at the job that analyses exactly that, so the same
audio with the same options is analysed once (a failed job does not count). The work runs in
RQ worker processes (analysis/tasks.py), never in a web worker.
"""

import functools
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


# --- backup and restore (tracks/backup.py) --------------------------------------------------
def job_ids_snapshot(*, target: str, ttl_ms: int) -> int:
    """Collects the ids of every job record (SCAN, so without blocking Redis) into the scratch
    sorted set `target`, where they page in id order. Returns how many."""
    redis = get_redis()
    for names in _scan_pages(redis, keys.analysis_job_pattern()):
        ids = [name.rsplit(":", 1)[1] for name in names]
        pipe = redis.pipeline(transaction=False)
        pipe.zadd(target, {job_id: 0 for job_id in ids})
        pipe.pexpire(target, ttl_ms)
        pipe.execute()
    return redis.zcard(target)


def _scan_pages(redis, pattern: str):
    cursor = None
    while cursor != 0:
        cursor, names = redis.scan(cursor or 0, match=pattern, count=1000)
        if names:
            yield names


def finished_job_records(job_ids: list[str]) -> list[str | None]:
    """The backup record (compact JSON text: id, digest, options, created, finished, result)
    of each of these jobs that is done, from one atomic read of its record; None for the
    others (queued, running, failed, expired)."""
    pipe = get_redis().pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hgetall(keys.analysis_job(job_id))
    records = []
    for job_id, raw in zip(job_ids, pipe.execute()):
        if raw.get("status") != "done" or not raw.get("result"):
            records.append(None)
            continue
        dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
        records.append(
            '{"id":' + dumps(job_id) + ',"digest":' + dumps(raw.get("digest", "")) + ',"options":'
            + (raw.get("options") or "{}") + ',"created":' + dumps(raw.get("created", "")) + ',"finished":'
            + dumps(raw.get("finished", "")) + ',"result":' + raw["result"] + "}"
        )
    return records


def job_record_sizes(job_ids: list[str]) -> list[int]:
    """About how many bytes each job's backup record holds (HSTRLEN of its result and options
    in one script: nothing is read)."""
    from tracks.lua import FIELD_LENGTHS

    names = [keys.analysis_job(job_id) for job_id in job_ids]
    return [int(n) for n in run_script(get_redis(), FIELD_LENGTHS, len(names), *names, "result", "options")]


def restore_fields(*, digest: str, options: dict, created: str, finished: str, result: dict) -> list[str]:
    """The flat HSET list of a restored finished job's record (as the API and worker write it)."""
    return ["status", "done", "result", json.dumps(result, separators=(",", ":")), "created", created,
            "finished", finished, "digest", digest, "options", json.dumps(options), "source", "{}"]


# Moves staged finished jobs into place (RENAME), each expiring at its time, and points its
# digest at it unless a live job holds the digest (as _CLAIM decides). Add ('0'): an existing
# job is left alone ('unchanged' when it is done with the same finish time, else 'conflict').
# KEYS: job key prefix, alive key prefix (as _CLAIM), then per job: record, staged record, digest.
# ARGV: replace, then per job: id, expires at (unix seconds).
_RESTORE_JOBS = r"""
local out = {}
for i = 1, (#KEYS - 2) / 3 do
  local live, staged, digest = KEYS[3 * i], KEYS[3 * i + 1], KEYS[3 * i + 2]
  local id, at = ARGV[2 * i], ARGV[2 * i + 1]
  local was = redis.call('HMGET', live, 'status', 'finished')
  local finished = redis.call('HGET', staged, 'finished')
  if not finished then
    out[i] = 'gone'
  elseif ARGV[1] == '0' and was[1] then
    redis.call('DEL', staged)
    if was[1] == 'done' and was[2] == finished then out[i] = 'unchanged' else out[i] = 'conflict' end
  else
    redis.call('RENAME', staged, live)
    redis.call('EXPIREAT', live, at)
    local holder = redis.call('GET', digest)
    local keep = false
    if holder and holder ~= id then
      local status = redis.call('HGET', KEYS[1] .. holder, 'status')
      local dead = status == 'running' and redis.call('EXISTS', KEYS[2] .. holder) == 0
      keep = status and status ~= 'failed' and not dead
    end
    if not keep then
      redis.call('SET', digest, id)
      redis.call('EXPIREAT', digest, at)
    end
    if was[1] then out[i] = 'replaced' else out[i] = 'created' end
  end
end
return out
"""


def jobs_swap_in(*, staged: list[tuple[str, str, str, int]], replace: bool) -> list[str]:
    """Brings staged finished jobs (`(job id, staged key, digest, expires at)`) in, in one
    script. Returns per job "created", "replaced", "unchanged", "conflict" or "gone"."""
    names, args = [keys.analysis_job(""), keys.analysis_alive("")], ["1" if replace else "0"]
    for job_id, staged_key, digest, expires_at in staged:
        names += [keys.analysis_job(job_id), staged_key, keys.analysis_digest(digest)]
        args += [job_id, expires_at]
    return list(run_script(get_redis(), _RESTORE_JOBS, len(names), *names, *args))
