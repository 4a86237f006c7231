"""Imports run as jobs: a file with more than QL_IMPORT_SYNC_MAX_TRACKS tracks is stored under
QL_UPLOAD_DIR/imports/ and imported by the analysis RQ worker (same queue: `manage.py
analysis_worker` runs it, exchange/tasks.py); its record in Redis (`{p}:import:job:<id>`) is
what GET /api/imports/{id}/ reads. The stored file is deleted when the job ends, however it
ends (done, failed, or found dead when read); one a dead worker left behind goes with the
worker's periodic sweep (`sweep_files`), once old and no live job needs it. The sweep of
QL_UPLOAD_DIR's uploads never touches the imports/ folder (it only deletes files in the
folder itself)."""

import contextlib
import json
import os
import time
import uuid
from pathlib import Path

from django.conf import settings

from quantumlive import keys
from quantumlive.clock import now_iso
from quantumlive.redis_conn import get_redis
from quantumlive.scripts import Script

WORKER_DIED = "the import stopped before it finished (its worker died or it ran out of time); import the file again"
LOST = "the import was lost from the queue before it ran; import the file again"
# How long a queued import may go without its RQ job (between the record and the enqueue).
_QUEUE_GRACE = 60


_MARK = Script(keys=("job",), args=("started",), source="""
if redis.call('HGET', KEYS[1], 'status') ~= 'queued' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'running', 'started', ARGV[1])
return 1
""")
_FINISH = Script(keys=("job",), args=("status", "report", "error", "finished"), source="""
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'running' then return false end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'report', ARGV[2], 'error', ARGV[3], 'finished', ARGV[4])
return redis.call('HGET', KEYS[1], 'path') or ''
""")


def folder() -> Path:
    return Path(settings.QL_UPLOAD_DIR) / "imports"


def store_file(uploaded, job_id: str) -> Path:
    """Copies the upload to QL_UPLOAD_DIR/imports/<job id> (a new file, never through a link);
    removed again on any failure."""
    from analysis.sources import UploadNotStored, _storage_failed

    target = folder() / job_id
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as out:
            for chunk in uploaded.chunks(1 << 20):
                out.write(chunk)
    except BaseException as exc:
        remove_file(str(target))
        if _storage_failed(exc):  # full, read-only...: 503, nothing kept
            raise UploadNotStored() from exc
        raise
    return target


def remove_file(path: str) -> None:
    if path:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def sweep_files(now: float | None = None) -> int:
    """Deletes the files in imports/ older than QL_UPLOAD_SWEEP_AGE that no queued or running
    job needs (its record ended or expired: a worker that died before it could delete it).
    Returns how many were deleted. Run by the analysis worker with its sweep of uploads."""
    cutoff = (now or time.time()) - settings.QL_UPLOAD_SWEEP_AGE
    removed = 0
    try:
        entries = list(os.scandir(folder()))
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            if not entry.is_file(follow_symlinks=False) or entry.stat().st_mtime > cutoff:
                continue
        except FileNotFoundError:
            continue
        raw = raw_record(entry.name)
        if raw is not None and raw.get("status") in ("queued", "running"):
            continue  # a live job still needs it
        remove_file(entry.path)
        removed += 1
    return removed


def create(*, owner_id: int, owner: str, path: Path, file_name: str, root: str | None, job_id: str) -> None:
    """Writes the job's record with its expiry in one transaction: no record without one."""
    pipe = get_redis().pipeline(transaction=True)
    pipe.hset(keys.import_job(job_id), mapping={
        "status": "queued", "owner_id": str(owner_id), "owner": owner, "created": now_iso(),
        "created_at": str(time.time()), "path": str(path), "file_name": file_name, "root": root or ""})
    pipe.expire(keys.import_job(job_id), settings.QL_IMPORT_JOB_TTL)
    pipe.execute()


def enqueue(job_id: str) -> None:
    from analysis.jobs import queue

    # the RQ job's id: "import-<id>" (the analysis worker fails the import by it when its
    # process dies or runs past the timeout: analysis_worker.py job_failed)
    queue().enqueue("exchange.tasks.run_import", job_id, job_id=f"import-{job_id}",
                    job_timeout=settings.QL_IMPORT_JOB_TIMEOUT, result_ttl=60, failure_ttl=3600)


def mark_running(job_id: str) -> bool:
    return bool(_MARK(get_redis(), job=keys.import_job(job_id), started=str(time.time())))


def finish(job_id: str, *, report: dict | None = None, error: str | None = None) -> bool:
    """Ends a queued or running job (done with `report`, or failed with `error`) and deletes
    its file; False when it had ended already."""
    path = _FINISH(get_redis(), job=keys.import_job(job_id), status="failed" if error else "done",
                   report=json.dumps(report, separators=(",", ":")) if report is not None else "",
                   error=error or "", finished=now_iso())
    if path is None:
        return False
    remove_file(path)
    return True


def raw_record(job_id: str) -> dict | None:
    try:
        job_id = str(uuid.UUID(job_id))
    except ValueError:
        return None
    raw = get_redis().hgetall(keys.import_job(job_id))
    return raw or None


def record(job_id: str) -> dict | None:
    """The job as the API shows it; a job running longer than QL_IMPORT_JOB_TIMEOUT (its
    worker died: RQ would have stopped it), or queued for over a minute without its RQ job
    (lost from the queue), is failed here, and its file deleted."""
    raw = raw_record(job_id)
    if raw is None:
        return None
    job_id = str(uuid.UUID(job_id))
    if raw.get("status") == "running" and time.time() - float(raw.get("started") or 0) > \
            settings.QL_IMPORT_JOB_TIMEOUT + 60:
        finish(job_id, error=WORKER_DIED)
        raw = get_redis().hgetall(keys.import_job(job_id))
    elif raw.get("status") == "queued" and time.time() - float(raw.get("created_at") or 0) > _QUEUE_GRACE \
            and not get_redis().exists(keys.rq_job(f"import-{job_id}")):
        finish(job_id, error=LOST)  # nothing will run it (only a queued job ends: a race is harmless)
        raw = get_redis().hgetall(keys.import_job(job_id))
    return {"id": job_id, "status": raw.get("status"), "owner_id": int(raw.get("owner_id") or 0),
            "created": raw.get("created"), "finished": raw.get("finished") or None,
            "report": json.loads(raw["report"]) if raw.get("report") else None, "error": raw.get("error") or None}
