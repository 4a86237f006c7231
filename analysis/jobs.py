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
import os
import time
import uuid
from datetime import timezone

from django.conf import settings

from analysis.audio import ANALYSER_VERSION
from quantumlive import keys
from quantumlive.exceptions import ServiceUnavailable
from quantumlive.clock import now_iso
from quantumlive.hash_sizes import hash_field_lengths
from quantumlive.redis_conn import REDIS_DOWN_ERRORS, get_binary_redis, get_redis, make_client
from quantumlive.scripts import Script

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
# its work-horse still beating). The holder's record and heartbeat are the keys of the holder
# the caller saw (`seen_holder`; keys of job "" when it saw none): if another claim got in
# between, the answer is {'retry'} and the caller looks again.
# `queued_at` is Redis's clock (TIME), as every age lost_reason measures: web hosts' clocks
# may differ by more than LOST_GRACE.
_CLAIM = Script(
    keys=("digest_key", "job", "holder_job", "holder_alive"),
    args=("job_id", "created", "ttl", "digest", "source", "options", "seen_holder"),
    source=r"""
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
""")
# How often a claim or a restore reads a digest's holder again when another claim changed it
# between that read and the script, before it gives up (ServiceUnavailable).
_HOLDER_READ_ATTEMPTS = 8


def digest_of(*, audio_sha256: str, options: dict) -> str:
    text = json.dumps({"audio": audio_sha256, "options": options, "analyser": ANALYSER_VERSION},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def canonical_job_id(job_id: str) -> str | None:
    """The job id as the job's keys spell it (a UUID's canonical form); None if not a UUID."""
    try:
        return str(uuid.UUID(job_id))
    except ValueError:
        return None


def job_record(job_id: str) -> dict | None:
    """The job's public record, or None for an unknown (or malformed) id. A job that can no
    longer finish is failed here, by whoever reads it first: running with no heartbeat left
    (its work-horse died), or queued and lost by RQ (see lost_reason)."""
    job_id = canonical_job_id(job_id)
    if job_id is None:
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
        seen = _SEEN_TAKEN(redis, job=keys.analysis_job(job_id), now=repr(now))
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
# `now`: Redis TIME, seconds.
_SEEN_TAKEN = Script(keys=("job",), args=("now",), source=r"""
if redis.call('HGET', KEYS[1], 'status') ~= 'queued' then return false end
redis.call('HSETNX', KEYS[1], 'taken_seen', ARGV[1])
return redis.call('HGET', KEYS[1], 'taken_seen')
""")


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
    for _ in range(_HOLDER_READ_ATTEMPTS):
        holder = redis.get(keys.analysis_digest(digest)) or ""
        if holder:
            job_record(holder)  # settles a lost or dead holder (failed)
        answer = _CLAIM(
            redis, digest_key=keys.analysis_digest(digest), job=keys.analysis_job(job_id),
            holder_job=keys.analysis_job(holder), holder_alive=keys.analysis_alive(holder),
            job_id=job_id, created=now_iso(), ttl=int(settings.QL_ANALYSIS_TTL), digest=digest,
            source=json.dumps(source), options=json.dumps(options), seen_holder=holder,
        )
        if answer[0] == "new":
            _job_stats_add(("submitted", 1))
            return job_id, True
        if answer[0] == "held":
            return answer[1], False
    raise ServiceUnavailable("Other submissions of this audio keep changing its job; try again shortly.")


def rq_connection(**overrides):
    """RQ pickles its payloads: it needs a client that does not decode responses."""
    return make_client(settings.REDIS_URL, decode_responses=False, **overrides)


_rq_client: tuple[tuple, object] | None = None


def rq_client():
    """The process's RQ client (made once per process and Redis settings: a new client costs a
    new connection, tens of ms, on every submission otherwise)."""
    global _rq_client
    made_for = (os.getpid(), settings.REDIS_URL, settings.QL_REDIS_CONNECT_TIMEOUT, settings.QL_REDIS_SOCKET_TIMEOUT)
    current = _rq_client
    if current is None or current[0] != made_for:
        current = _rq_client = (made_for, rq_connection())
    return current[1]


def queue(connection=None):
    from rq import Queue

    return Queue(keys.analysis_queue_name(), connection=connection or rq_client(),
                 default_timeout=settings.QL_ANALYSIS_JOB_TIMEOUT)


def enqueue(job_id: str) -> None:
    queue().enqueue("analysis.tasks.run_analysis", job_id, job_id=job_id, result_ttl=60,
                    failure_ttl=24 * 3600, job_timeout=settings.QL_ANALYSIS_JOB_TIMEOUT)


# How often a waiter reads the job's record even without news: it settles a job whose worker
# died (job_record) and bounds a lost announcement (a Redis hiccup between a job's end and its
# PUBLISH, or on the waiter's subscription).
WAIT_RECHECK = 1.0
# A waiter whose subscription failed reads the record this often instead.
WAIT_POLL = 0.1


def wait_finished(job_id: str, seconds: float) -> dict | None:
    """The job's record once it is finished, or when `seconds` pass (bounded). The waiter
    subscribes to the job's announcement (finish publishes it), then reads the record: a job
    that ended before the subscription is seen in the record, one that ends after is announced.
    It reads the record again every WAIT_RECHECK seconds whatever it hears; without a
    subscription (Redis hiccup) every WAIT_POLL seconds."""
    deadline = time.monotonic() + seconds
    subscription = _subscribe(keys.analysis_done_channel(job_id))
    try:
        while True:
            record = job_record(job_id)
            left = deadline - time.monotonic()
            if record is None or record["status"] in FINISHED or left <= 0:
                return record
            if subscription is not None:
                try:
                    subscription.get_message(ignore_subscribe_messages=True, timeout=min(left, WAIT_RECHECK))
                    continue
                except REDIS_DOWN_ERRORS:
                    log.warning("the announcement of analysis job %s cannot be awaited; polling", job_id)
                    _unsubscribe(subscription)
                    subscription = None
            time.sleep(min(left, WAIT_POLL))
    finally:
        _unsubscribe(subscription)


def _subscribe(channel: str):
    subscription = get_redis().pubsub(ignore_subscribe_messages=True)
    try:
        subscription.subscribe(channel)
    except REDIS_DOWN_ERRORS:
        _unsubscribe(subscription)
        return None
    return subscription


def _unsubscribe(subscription) -> None:
    if subscription is not None:
        try:
            subscription.close()  # the connection is dropped: nothing of the subscription is left
        except Exception:
            pass


def _announce_finished(job_id: str) -> None:
    """Wakes the submissions waiting for this job (wait_finished); one that misses it reads
    the record within WAIT_RECHECK seconds."""
    try:
        get_redis().publish(keys.analysis_done_channel(job_id), "1")
    except REDIS_DOWN_ERRORS:
        log.warning("the end of analysis job %s could not be announced", job_id)


# --- the worker's side ---------------------------------------------------------------------
def source_and_options(job_id: str) -> tuple[dict, dict]:
    raw = get_redis().hmget(keys.analysis_job(job_id), "source", "options")
    if raw[0] is None:
        raise LookupError(f"job {job_id} has no record")
    return json.loads(raw[0]), json.loads(raw[1])


# Marks a queued job running and starts its heartbeat; a job already failed (found lost by a
# reader meanwhile) stays failed and is not run.
_MARK_RUNNING = Script(keys=("job", "alive"), args=("heartbeat_ttl",), source=r"""
if redis.call('HGET', KEYS[1], 'status') ~= 'queued' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'running')
redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])
return 1
""")


def mark_running(job_id: str) -> bool:
    """True when the job was queued and is now running (the task may go on)."""
    return bool(_MARK_RUNNING(get_redis(), job=keys.analysis_job(job_id), alive=keys.analysis_alive(job_id),
                              heartbeat_ttl=settings.QL_ANALYSIS_HEARTBEAT * 3))


def beat(job_id: str) -> None:
    get_redis().set(keys.analysis_alive(job_id), "1", ex=settings.QL_ANALYSIS_HEARTBEAT * 3)


# Ends a job that is in one of the expected states (space-separated); a finished job never
# changes again: done with `result` (JSON) when it is not empty, else failed with `error`.
# Answers the job's source (JSON) when it ended it, else false.
# A done job's waveform (bytes; '' for none) is stored beside it, expiring when its record does
# (the same instant: a TTL copied in milliseconds could outlive it by one).
_FINISH = Script(keys=("job", "alive", "waveform_key"), args=("result", "error", "finished", "expected", "waveform"),
                 source=r"""
local status = redis.call('HGET', KEYS[1], 'status')
if not status or not string.find(' ' .. ARGV[4] .. ' ', ' ' .. status .. ' ', 1, true) then return false end
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[1], 'status', 'done', 'result', ARGV[1], 'finished', ARGV[3])
  local at = redis.call('PEXPIRETIME', KEYS[1])
  if ARGV[5] ~= '' and at > 0 then redis.call('SET', KEYS[3], ARGV[5], 'PXAT', at) end
else
  redis.call('HSET', KEYS[1], 'status', 'failed', 'error', ARGV[2], 'finished', ARGV[3])
end
redis.call('DEL', KEYS[2])
return redis.call('HGET', KEYS[1], 'source') or ''
""")


def max_result_bytes() -> int:
    return int(getattr(settings, "QL_MAX_RESULT_MB", 4) * 2**20)


def finish(job_id: str, *, result: dict | None = None, error: str | None = None,
           expected: tuple[str, ...] = UNFINISHED, waveform: bytes | None = None,
           ran_for: float | None = None) -> bool:
    """Ends the job (done with `result`, or failed with `error`) if its status is one of
    `expected`; True when this call ended it. The job's upload, if any, is removed then:
    uploads go when their job ends, whoever ends it. A result larger than QL_MAX_RESULT_MB
    fails the job instead of being stored. A done job's `waveform` (analysis/waveform.py's
    bytes) is stored beside its record, expiring with it. `ran_for`: the seconds the
    worker's task ran, for /metrics."""
    stored = json.dumps(result, separators=(",", ":")) if result is not None else ""
    if len(stored) > max_result_bytes():
        error = (f"the analysis result ({len(stored) / 2**20:.1f} MB) is larger than QL_MAX_RESULT_MB "
                 f"({max_result_bytes() / 2**20:g} MB); ask for fewer cues or waveform points")
        stored = ""
    source = _FINISH(get_redis(), job=keys.analysis_job(job_id), alive=keys.analysis_alive(job_id),
                     waveform_key=keys.analysis_waveform(job_id), result=stored, error=error or "",
                     finished=now_iso(), expected=" ".join(expected), waveform=(waveform or b"") if stored else b"")
    if source is None:
        return False
    remove_upload_of(source)
    _announce_finished(job_id)
    job_stats_finished("done" if stored else "failed", ran_for)
    return True


def job_waveform(job_id: str) -> bytes | None:
    """The stored waveform of a done job (analysis/waveform.py's bytes); None for an unknown
    or malformed id, a job not done, or one analysed without a waveform (an earlier analyser
    version, a restored backup)."""
    job_id = canonical_job_id(job_id)
    if job_id is None:
        return None
    return get_binary_redis().get(keys.analysis_waveform(job_id))


def job_waveform_exists(job_id: str) -> bool:
    """Whether :func:`job_waveform` has bytes for this job (without reading them)."""
    job_id = canonical_job_id(job_id)
    if job_id is None:
        return False
    return bool(get_redis().exists(keys.analysis_waveform(job_id)))


def remove_upload_of(source_json: str) -> None:
    """Deletes the job's upload (never a file under QL_AUDIO_ROOT that a path named)."""
    try:
        source = json.loads(source_json) if source_json else {}
    except ValueError:
        return
    if isinstance(source, dict) and source.get("upload") and source.get("path"):
        from analysis.sources import remove_upload

        remove_upload(source["path"])


# --- figures for /metrics (quantumlive/metrics.py, AnalysisCollector) -------------------------
# Jobs run in worker processes, maybe on other hosts: their counts and run times are kept in
# one Redis hash (keys.metrics_analysis()) that every instance's /metrics reads in one round
# trip, with the queue's length and RQ's registry of running jobs. Run times are histogram
# buckets there: `duration:<outcome>:<i>` counts the runs up to JOB_DURATION_BUCKETS[i]
# seconds (above the previous bound; i == len(JOB_DURATION_BUCKETS): above the last).
JOB_DURATION_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0)
OUTCOMES = ("done", "failed")


def _job_stats_add(*increments: tuple[str, float]) -> None:
    """Adds to fields of the figures' hash in one round trip; a failure is logged, never
    raised (a figure is not worth a job)."""
    try:
        pipe = get_redis().pipeline(transaction=False)
        for field, amount in increments:
            if isinstance(amount, int):
                pipe.hincrby(keys.metrics_analysis(), field, amount)
            else:
                pipe.hincrbyfloat(keys.metrics_analysis(), field, amount)
        pipe.execute()
    except Exception as exc:
        log.warning("analysis figures not recorded (%s)", type(exc).__name__)


def job_stats_finished(outcome: str, ran_for: float | None) -> None:
    """A job ended ("done" or "failed"); `ran_for`: seconds its task ran (None when no worker
    ran it: a lost job failed by a reader)."""
    increments = [(f"finished:{outcome}", 1)]
    if ran_for is not None:
        ran_for = max(0.0, float(ran_for))
        bucket = next((i for i, bound in enumerate(JOB_DURATION_BUCKETS) if ran_for <= bound),
                      len(JOB_DURATION_BUCKETS))
        increments += [(f"duration:{outcome}:{bucket}", 1), (f"duration:{outcome}:sum", ran_for)]
    _job_stats_add(*increments)


def job_stats() -> dict:
    """The analysis figures of the deployment, in one round trip: jobs waiting in the queue,
    queued (waiting, or taken by a worker and not started), running (RQ's registry of started
    jobs whose work-horse is alive), submitted and finished so far, and the run times:
    {outcome: (counts per bucket, the last above every bound; sum of seconds)}."""
    pipe = get_redis().pipeline(transaction=False)
    pipe.llen(keys.rq_queue())
    pipe.llen(keys.rq_intermediate_queue())
    pipe.zcount(keys.rq_started_registry(), time.time(), "+inf")
    pipe.hgetall(keys.metrics_analysis())
    waiting, taken, running, raw = pipe.execute()

    def number(field: str) -> float:
        try:
            return float(raw.get(field) or 0)
        except ValueError:
            return 0.0

    durations = {}
    for outcome in OUTCOMES:
        counts = [int(number(f"duration:{outcome}:{i}")) for i in range(len(JOB_DURATION_BUCKETS) + 1)]
        durations[outcome] = (counts, number(f"duration:{outcome}:sum"))
    return {
        "waiting": waiting, "queued": waiting + taken, "running": running,
        "submitted": int(number("submitted")),
        "finished": {outcome: int(number(f"finished:{outcome}")) for outcome in OUTCOMES},
        "durations": durations,
    }


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
    return hash_field_lengths(hashes=[keys.analysis_job(job_id) for job_id in job_ids], fields=("result", "options"))


def restore_fields(*, digest: str, options: dict, created: str, finished: str, result: dict) -> list[str]:
    """The flat HSET list of a restored finished job's record (as the API and worker write it)."""
    return ["status", "done", "result", json.dumps(result, separators=(",", ":")), "created", created,
            "finished", finished, "digest", digest, "options", json.dumps(options), "source", "{}"]


# Moves staged finished jobs into place (RENAME), each expiring at its time, and points its
# digest at it unless a live job holds the digest (as _CLAIM decides). Add (replace '0'): an
# existing job is left alone ('unchanged' when it is done with the same finish time, else
# 'conflict').
# job_keys, per job: its record, its heartbeat, its staged record, its digest, and the record
# and heartbeat of the digest's holder as the caller read it (job "" when none).
# job_args, per job: its id, when it expires (unix seconds), that holder's id ('' when none).
# Every key is passed in: the caller reads the holders first, and the script checks, before it
# writes anything, that each digest still has that holder; else it answers {'retry'} (nothing
# written) and the caller reads them again. A script runs alone, so past that check the only
# other holders a digest can get are jobs of this very batch, restored a moment earlier: their
# keys are in job_keys too.
_RESTORE_JOBS = Script(keys=("job_keys*",), args=("replace", "job_args*"), source=r"""
local n = #KEYS / 6
for i = 1, n do
  if (redis.call('GET', KEYS[6 * i - 2]) or '') ~= ARGV[3 * i + 1] then return {'retry'} end
end
local restored = {}
local out = {}
for i = 1, n do
  local live, alive, staged, digest = KEYS[6 * i - 5], KEYS[6 * i - 4], KEYS[6 * i - 3], KEYS[6 * i - 2]
  local id, at, seen = ARGV[3 * i - 1], ARGV[3 * i], ARGV[3 * i + 1]
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
    restored[id] = {live, alive}
    local holder = redis.call('GET', digest)
    local keep = false
    if holder and holder ~= id then
      local holder_keys = restored[holder]
      if holder == seen then holder_keys = {KEYS[6 * i - 1], KEYS[6 * i]} end
      local status = redis.call('HGET', holder_keys[1], 'status')
      local dead = status == 'running' and redis.call('EXISTS', holder_keys[2]) == 0
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
""")


def jobs_swap_in(*, staged: list[tuple[str, str, str, int]], replace: bool) -> list[str]:
    """Brings staged finished jobs (`(job id, staged key, digest, expires at)`) in, in one
    script. Returns per job "created", "replaced", "unchanged", "conflict" or "gone"."""
    redis = get_redis()
    for _ in range(_HOLDER_READ_ATTEMPTS):
        holders = redis.mget([keys.analysis_digest(digest) for _, _, digest, _ in staged]) if staged else []
        job_keys, job_args = [], []
        for (job_id, staged_key, digest, expires_at), holder in zip(staged, holders):
            holder = holder or ""
            job_keys += [keys.analysis_job(job_id), keys.analysis_alive(job_id), staged_key,
                         keys.analysis_digest(digest), keys.analysis_job(holder), keys.analysis_alive(holder)]
            job_args += [job_id, expires_at, holder]
        outcomes = _RESTORE_JOBS(redis, job_keys=job_keys, replace="1" if replace else "0", job_args=job_args)
        if outcomes != ["retry"]:
            return list(outcomes)
    raise ServiceUnavailable("Analysis submissions of these jobs' audio keep changing their digests; try again.")
