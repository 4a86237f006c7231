"""Upload handling that refuses an oversized file early (413) without reading it whole, and
the sweep of uploads a crash left behind in QL_UPLOAD_DIR."""

import os
import re
import time
from pathlib import Path

from django.core.files.uploadhandler import FileUploadHandler

from analysis.serializers import upload_limit_bytes
from quantumlive.exceptions import PayloadTooLarge


def too_large() -> PayloadTooLarge:
    from django.conf import settings

    return PayloadTooLarge(f"The upload is larger than QL_MAX_UPLOAD_MB ({settings.QL_MAX_UPLOAD_MB} MB).")


class SizeLimitUploadHandler(FileUploadHandler):
    """Counts the bytes of each uploaded file as they stream in; past the limit, stops."""

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > upload_limit_bytes():
            raise too_large()
        return raw_data

    def file_complete(self, file_size):
        return None


def check_declared_size(request) -> None:
    """413 at once when Content-Length already says the body is over the limit."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > upload_limit_bytes() + 2**20:  # multipart framing and form fields
        raise too_large()


# What the upload of job <uuid> is called in QL_UPLOAD_DIR (analysis/services.py names it so):
# "<uuid><suffix>"; "upload-<uuid><suffix>" is the naming of earlier versions (its job is not
# known). Nothing else in the folder is ever touched.
_UPLOAD_NAME = re.compile(
    r"(upload-)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(\.\w{1,7})?")


def sweep_orphans(now: float | None = None) -> int:
    """Deletes the uploads in QL_UPLOAD_DIR older than QL_UPLOAD_SWEEP_AGE seconds whose job
    no longer needs them (no such job, or finished; a job lost or dead is failed here first);
    a queued or running job's upload stays, however old. Returns how many were deleted."""
    from django.conf import settings

    from analysis import jobs
    from analysis.sources import remove_upload

    folder = Path(settings.QL_UPLOAD_DIR)
    cutoff = (now or time.time()) - settings.QL_UPLOAD_SWEEP_AGE
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    for entry in entries:
        match = _UPLOAD_NAME.fullmatch(entry.name)
        try:
            if not match or not entry.is_file(follow_symlinks=False) or entry.stat().st_mtime > cutoff:
                continue
        except FileNotFoundError:
            continue
        record = None if match.group(1) else jobs.job_record(match.group(2))
        if record is not None and record["status"] not in jobs.FINISHED:
            continue  # a live job still needs it
        remove_upload(entry.path)
        removed += 1
    return removed
