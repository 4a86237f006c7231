"""Analysis use cases, as `<entity>_<action>` functions without HTTP: the views parse,
call these, and map their exceptions to answers."""

import logging
import uuid

from analysis import jobs, sources, waiters

log = logging.getLogger(__name__)


class AudioNotFound(Exception):
    """No audio file at the path under QL_AUDIO_ROOT."""


class UploadFailed(Exception):
    """The upload could not be stored in QL_UPLOAD_DIR for a reason other than the storage's
    own (those are sources.UploadNotStored); logged, nothing is left of it."""


def analysis_submit(*, options: dict, wait: float, path: str | None = None, upload=None) -> dict:
    """Submits audio for analysis with `options`: the file at `path` under QL_AUDIO_ROOT, or
    `upload` (a Django UploadedFile). Audio analysed (or being analysed) with the same options
    already is not analysed again: its job answers. Waits up to `wait` seconds for the job to
    finish when a waiter slot of this instance is free (QL_MAX_WAITERS), and returns the job's
    record.

    Raises sources.PathRefused (a path that may not be read), AudioNotFound,
    sources.UploadNotStored and UploadFailed (nothing is left of the upload)."""
    if path is not None:
        job_id, new = _submit_path(path, options)
    else:
        job_id, new = _submit_upload(upload, options)
    return _wait_finished(job_id, wait, new=new)


def _submit_path(relative: str, options: dict) -> tuple[str, bool]:
    try:
        path = sources.resolve_audio_path(relative)
    except FileNotFoundError:
        raise AudioNotFound(relative) from None
    digest = jobs.digest_of(audio_sha256=sources.sha256_of_file(path), options=options)
    job_id, new = jobs.claim(digest=digest, source={"path": str(path)}, options=options)
    if new:
        _enqueue(job_id)
    return job_id, new


def _submit_upload(uploaded, options: dict) -> tuple[str, bool]:
    """The upload is stored under the new job's id (so that the sweep of QL_UPLOAD_DIR can
    tell whose it is) and goes when the job ends, or at once when the audio is (being)
    analysed already or anything fails."""
    job_id = str(uuid.uuid4())
    try:  # store_upload leaves no partial file, whatever fails
        upload_path, audio_sha = sources.store_upload(uploaded, job_id)
    except OSError:
        log.warning("an upload could not be stored in QL_UPLOAD_DIR", exc_info=True)
        raise UploadFailed() from None
    try:
        digest = jobs.digest_of(audio_sha256=audio_sha, options=options)
        holder, new = jobs.claim(digest=digest, source={"path": str(upload_path), "upload": True},
                                 options=options, job_id=job_id)
        if new:
            _enqueue(job_id)
        else:
            sources.remove_upload(upload_path)  # the same audio is (being) analysed already
        return holder, new
    except BaseException:
        sources.remove_upload(upload_path)
        raise


def _enqueue(job_id: str) -> None:
    try:
        jobs.enqueue(job_id)
    except BaseException:
        # never leave a queued job no worker will run holding this audio's digest
        try:
            jobs.finish(job_id, error="the job could not be queued; submit it again", expected=("queued",))
        except Exception:
            pass
        raise


def _wait_finished(job_id: str, seconds: float, *, new: bool) -> dict:
    """The job's record: waits up to `seconds` for the job to finish, if a waiter slot of this
    instance is free (QL_MAX_WAITERS); else answers at once. A job just queued is not read
    before the wait (wait_finished reads it once subscribed to its end)."""
    record = None
    if not new or seconds <= 0:
        record = jobs.job_record(job_id)
        if record["status"] in jobs.FINISHED or seconds <= 0:
            return record
    slot = waiters.acquire()
    if slot is None:
        return record or jobs.job_record(job_id)
    with slot:
        return jobs.wait_finished(job_id, seconds)
