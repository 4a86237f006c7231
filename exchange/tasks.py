"""The RQ task of an import job: runs in the analysis worker's work-horse (exchange/jobs.py)."""

import logging

from exchange import jobs
from exchange.parse import BadFile, read
from exchange.services import import_apply, import_check

log = logging.getLogger(__name__)


def run_import(job_id: str) -> None:
    raw = jobs.raw_record(job_id) or {}
    try:
        if not jobs.mark_running(job_id):
            log.warning("import job %s is no longer queued; not run", job_id)
            return
        try:
            with open(raw["path"], "rb") as handle:
                checked = import_check(read(handle, file_name=raw.get("file_name", "")), root=raw.get("root") or None)
            report = import_apply(checked, owner_id=int(raw["owner_id"]), owner=raw["owner"])
        except BadFile as exc:
            jobs.finish(job_id, error=str(exc))
        except Exception:
            log.exception("import job %s crashed", job_id)
            jobs.finish(job_id, error="internal error while importing; see the worker's log")
        else:
            jobs.finish(job_id, report=report)
    finally:
        jobs.remove_file(raw.get("path", ""))
