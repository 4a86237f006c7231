"""The RQ task: runs in an analysis worker's work-horse, never in a web worker."""

import logging
import threading
import time

from django.conf import settings

from analysis import audio, jobs
from analysis.sources import remove_upload

log = logging.getLogger(__name__)


def run_analysis(job_id: str) -> None:
    source, options = jobs.source_and_options(job_id)
    try:
        if not jobs.mark_running(job_id):
            log.warning("analysis job %s is no longer queued (found lost); not run", job_id)
            return
        _run(job_id, source, options)
    finally:
        if source.get("upload"):
            remove_upload(source["path"])


def _run(job_id: str, source: dict, options: dict) -> None:
    started = time.monotonic()
    stop = threading.Event()
    heart = threading.Thread(target=_heartbeat, args=(job_id, stop), daemon=True)
    heart.start()
    try:
        try:
            decoded = audio.decode_native(source["path"], max_seconds=settings.QL_MAX_AUDIO_SECONDS)
        finally:
            if source.get("upload"):  # decoded or not, the upload is no longer needed: it goes
                remove_upload(source["path"])  # before the job can read finished
        result = audio.job_result(decoded, **options)
    except (audio.AudioError, ValueError) as exc:
        jobs.finish(job_id, error=str(exc) or "the audio cannot be analysed", expected=("running",),
                    ran_for=time.monotonic() - started)
    except MemoryError:
        jobs.finish(job_id, error="the audio is too large to analyse", expected=("running",),
                    ran_for=time.monotonic() - started)
    except Exception:
        log.exception("analysis job %s crashed", job_id)
        jobs.finish(job_id, error="internal error while analysing; see the worker's log", expected=("running",),
                    ran_for=time.monotonic() - started)
    else:
        jobs.finish(job_id, result=result, expected=("running",), waveform=decoded.waveform,
                    ran_for=time.monotonic() - started)
    finally:
        stop.set()


def _heartbeat(job_id: str, stop: threading.Event) -> None:
    while not stop.wait(settings.QL_ANALYSIS_HEARTBEAT):
        try:
            jobs.beat(job_id)
        except Exception:
            log.warning("heartbeat of job %s failed", job_id)
