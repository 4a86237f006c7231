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
import logging
import time
import uuid
from datetime import timezone

from django.conf import settings

from analysis.audio import ANALYSER_VERSION
from quantumlive import keys
from quantumlive.exceptions import ServiceUnavailable
from quantumlive.redis_conn import get_redis, make_client, run_script
from quantumlive.clock import now_iso

log = logging.getLogger(__name__)

FINISHED = ("done", "failed")
UNFINISHED = ("queued", "running")
WORKER_DIED = "the analysis worker stopped while running this job; submit it again"
JOB_LOST = "the job was lost before an analysis worker ran it; submit it again"
# Seconds a queued job may go without the RQ state that proves it alive: its RQ job created
# after the claim, a started RQ job's task marking it running. Far above the milliseconds
# either takes, and within the "+ 60 s" of API.md's bound.
LOST_GRACE = 30.0
# RQ states in which an RQ job will never run our task again.
_RQ_ENDED = {"finished", "failed", "stopped", "canceled"}

# Claims the digest for a new job unless a live job holds it (queued, done, or running with
# its work-horse still beating). KEYS: digest, the new job, the holder's job, the holder's
# heartbeat (both "" keys when the caller saw no holder). ARGV[1] is the holder the caller
# saw: if another claim got in between, the answer is {'retry'} and the caller looks again.
# `queued_at` is Redis's clock (TIME), as every age lost_reason measures: web hosts' clocks
# may differ by more than LOST_GRACE.
_CLAIM = r"""
local holder = redis.call('GET', KEYS[1]) or ''
if holder ~= ARGV[7] then return {'retry'} end
if holder ~= '' then
  local status = redis.call('HGET', KEYS[3], 'status')
  local dead = status == 'running' and redis.call('EXISTS', KEYS[4]) == 0
  if status and status ~= 'failed' and not dead then return {'held', holder} end
end
local now = redis.call('TIME')
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('HSET', KEYS[2], 'status', 'queued', 'created', ARGV[2], 'digest', ARGV[4], 'source', ARGV[5],
           'options', ARGV[6], 'queued_at', now[1] .. '.' .. string.format('%06d', tonumber(now[2])))
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {'new', ARGV[1]}
"""
_CLAIM_ATTEMPTS = 8


def digest_of(*, audio_sha256: str, options: dict) -> str:
    text = json.dumps({"audio": audio_sha256, "options": options, "analyser": ANALYSER_VERSION},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def job_record(job_id: str) -> dict | None:
    """The job's public record, or None for an unknown (or malformed) id. A job that can no
    longer finish is failed here, by whoever reads it first: running with no heartbeat left
    (its work-horse died), or queued and lost by RQ (see lost_reason)."""
    try:
        job_id = str(uuid.UUID(job_id))
    except ValueError:
        return None
    redis = get_redis()
    raw = redis.hgetall(keys.analysis_job(job_id))
    if not raw:
        return None
    error = None
    if raw.get("status") == "running" and not redis.exists(keys.analysis_alive(job_id)):
        error, expected = WORKER_DIED, ("running",)
    elif raw.get("status") == "queued" and (reason := lost_reason(job_id, raw)):
        log.warning("analysis job %s is lost: %s", job_id, reason)
        error, expected = JOB_LOST, ("queued",)
    if error:
        finish(job_id, error=error, expected=expected)
        raw = redis.hgetall(keys.analysis_job(job_id))
    return {
        "id": job_id,
        "status": raw.get("status", "queued"),
        "error": raw.get("error") or None,
        "result": json.loads(raw["result"]) if raw.get("result") else None,
        "created": raw.get("created"),
        "finished": raw.get("finished") or None,
    }


def lost_reason(job_id: str, raw: dict) -> str | None:
    """Why a queued job will never run, or None while it still may. RQ moves a job forward
    only: waiting in the queue's list, then in its intermediate list (a worker took it), then
    `started` (a work-horse runs it; our task marks it running at once). The three are read in
    that order, so a job moving on meanwhile is seen in a later place, never nowhere. Should a
    reader still fail a job a worker is about to run, mark_running refuses it: a job is failed
    or run, never both. Ages are measured on Redis's clock (TIME), never a host's."""
    try:
        queued_at = float(raw.get("queued_at") or 0)
    except ValueError:
        queued_at = 0.0
    redis = get_redis()
    pipe = redis.pipeline(transaction=False)
    pipe.time()
    pipe.lpos(keys.rq_queue(), job_id)
    pipe.lpos(keys.rq_intermediate_queue(), job_id)
    pipe.hmget(keys.rq_job(job_id), "status", "started_at")
    (seconds, micros), in_queue, taken, (rq_status, started_at) = pipe.execute()
    now = seconds + micros / 1e6
    if now - queued_at < LOST_GRACE:
        return None  # just claimed: its enqueue may be on the way
    if rq_status is None:  # RQ skips an id in its lists whose job is gone
        return "its RQ job does not exist (never enqueued, or deleted)"
    if in_queue is not None:
        return None  # waiting its turn, however long
    if taken is not None and rq_status == "queued":
        # A live worker starts what it took within milliseconds; one killed in between leaves
        # it there until another worker's maintenance (minutes, or never).
        seen = run_script(redis, _SEEN_TAKEN, 1, keys.analysis_job(job_id), repr(now))
        if seen is not None and now - float(seen) > LOST_GRACE:
            return "a worker took it from the queue and never started it"
        return None
    if rq_status in _RQ_ENDED:
        return f"RQ ended it ({rq_status}) before the task ran"
    if rq_status == "queued":
        return "its RQ job is in no queue (the queue was lost)"
    if rq_status == "started":
        started = _rq_time(started_at)
        if started is None or now - started > LOST_GRACE:
            return "its work-horse never began the task"
    return None


# Records (once) when a queued job was first seen in RQ's intermediate list; answers that time,
# or nil when the job is no longer queued (it never recreates a finished or expired record).
# KEYS: the job. ARGV: now (Redis TIME, seconds).
_SEEN_TAKEN = r"""
if redis.call('HGET', KEYS[1], 'status') ~= 'queued' then return false end
redis.call('HSETNX', KEYS[1], 'taken_seen', ARGV[1])
return redis.call('HGET', KEYS[1], 'taken_seen')
"""


def _rq_time(text: str | None) -> float | None:
    from rq.utils import utcparse

    try:
        return utcparse(text).replace(tzinfo=timezone.utc).timestamp() if text else None
    except ValueError:
        return None


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


def claim(*, digest: str, source: dict, options: dict, job_id: str | None = None) -> tuple[str, bool]:
    """(job id, new): a new queued job (`job_id`, or a new id) for this digest, or the job that
    already has it. A holder that can no longer finish (lost, dead) is failed first and gives
    the digest up."""
    job_id = job_id or str(uuid.uuid4())
    redis = get_redis()
    for _ in range(_CLAIM_ATTEMPTS):
        holder = redis.get(keys.analysis_digest(digest)) or ""
        if holder:
            job_record(holder)  # settles a lost or dead holder (failed)
        answer = run_script(
            redis, _CLAIM, 4, keys.analysis_digest(digest), keys.analysis_job(job_id),
            keys.analysis_job(holder) if holder else keys.analysis_job(""),
            keys.analysis_alive(holder) if holder else keys.analysis_alive(""),
            job_id, now_iso(), int(settings.QL_ANALYSIS_TTL), digest, json.dumps(source), json.dumps(options),
            holder,
        )
        if answer[0] == "new":
            return job_id, True
        if answer[0] == "held":
            return answer[1], False
    raise ServiceUnavailable("Other submissions of this audio keep changing its job; try again shortly.")


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


# Marks a queued job running and starts its heartbeat; a job already failed (found lost by a
# reader meanwhile) stays failed and is not run. KEYS: the job, its heartbeat.
_MARK_RUNNING = r"""
if redis.call('HGET', KEYS[1], 'status') ~= 'queued' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'running')
redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])
return 1
"""


def mark_running(job_id: str) -> bool:
    """True when the job was queued and is now running (the task may go on)."""
    return bool(run_script(get_redis(), _MARK_RUNNING, 2, keys.analysis_job(job_id), keys.analysis_alive(job_id),
                           settings.QL_ANALYSIS_HEARTBEAT * 3))


def beat(job_id: str) -> None:
    get_redis().set(keys.analysis_alive(job_id), "1", ex=settings.QL_ANALYSIS_HEARTBEAT * 3)


# Ends a job that is in one of the expected states (ARGV[4], space-separated); a finished job
# never changes again. Answers the job's source (JSON) when it ended it, else false.
# KEYS: the job, its heartbeat.
_FINISH = r"""
local status = redis.call('HGET', KEYS[1], 'status')
if not status or not string.find(' ' .. ARGV[4] .. ' ', ' ' .. status .. ' ', 1, true) then return false end
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[1], 'status', 'done', 'result', ARGV[1], 'finished', ARGV[3])
else
  redis.call('HSET', KEYS[1], 'status', 'failed', 'error', ARGV[2], 'finished', ARGV[3])
end
redis.call('DEL', KEYS[2])
return redis.call('HGET', KEYS[1], 'source') or ''
"""


def max_result_bytes() -> int:
    return int(getattr(settings, "QL_MAX_RESULT_MB", 4) * 2**20)


def finish(job_id: str, *, result: dict | None = None, error: str | None = None,
           expected: tuple[str, ...] = UNFINISHED) -> bool:
    """Ends the job (done with `result`, or failed with `error`) if its status is one of
    `expected`; True when this call ended it. The job's upload, if any, is removed then:
    uploads go when their job ends, whoever ends it. A result larger than QL_MAX_RESULT_MB
    fails the job instead of being stored."""
    stored = json.dumps(result, separators=(",", ":")) if result is not None else ""
    if len(stored) > max_result_bytes():
        error = (f"the analysis result ({len(stored) / 2**20:.1f} MB) is larger than QL_MAX_RESULT_MB "
                 f"({max_result_bytes() / 2**20:g} MB); ask for fewer cues or waveform points")
        stored = ""
    source = run_script(get_redis(), _FINISH, 2, keys.analysis_job(job_id), keys.analysis_alive(job_id),
                        stored, error or "", now_iso(), " ".join(expected))
    if source is None:
        return False
    remove_upload_of(source)
    return True


def remove_upload_of(source_json: str) -> None:
    """Deletes the job's upload (never a file under QL_AUDIO_ROOT that a path named)."""
    try:
        source = json.loads(source_json) if source_json else {}
    except ValueError:
        return
    if isinstance(source, dict) and source.get("upload") and source.get("path"):
        from analysis.sources import remove_upload

        remove_upload(source["path"])


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
