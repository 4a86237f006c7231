"""Analysis jobs: their records in Redis."""

import json
import uuid

from quantumlive import keys
from quantumlive.redis_conn import get_redis


def job_record(job_id: str) -> dict | None:
    """The job's public record, or None for an unknown (or malformed) id."""
    try:
        job_id = str(uuid.UUID(job_id))
    except ValueError:
        return None
    raw = get_redis().hgetall(keys.analysis_job(job_id))
    if not raw:
        return None
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
