"""python manage.py analysis_worker [--burst]: an RQ worker for the analysis queue.

librosa's numba kernels compile on first use (seconds). RQ forks a work-horse per job, so
they are compiled here, in the worker, before it takes a job: every work-horse inherits them.

The worker also sweeps QL_UPLOAD_DIR of uploads a crash left behind (analysis/uploads.py), at
start and with RQ's periodic maintenance (every `maintenance_interval` seconds, between jobs).
"""

import logging
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from analysis import audio, jobs
from analysis.uploads import sweep_orphans

log = logging.getLogger("analysis.worker")


class Command(BaseCommand):
    help = "Run an analysis worker (RQ) on this deployment's analysis queue."

    def add_arguments(self, parser):
        parser.add_argument("--burst", action="store_true", help="exit once the queue is empty")

    def handle(self, *args, **options):
        started = time.monotonic()
        audio.warm_up()
        log.info("analysis kernels warmed up in %.1fs", time.monotonic() - started)
        connection = jobs.rq_connection(socket_timeout=None)
        worker = analysis_worker_class()(
            [jobs.queue(connection)], connection=connection, work_horse_killed_handler=_horse_killed,
            maintenance_interval=settings.QL_UPLOAD_SWEEP_INTERVAL,
            worker_ttl=settings.QL_ANALYSIS_WORKER_TTL)  # its heartbeats (analysis_worker_health)
        worker.work(burst=options["burst"], logging_level="INFO", with_scheduler=False)


def analysis_worker_class():
    from rq import Worker

    class AnalysisWorker(Worker):
        def run_maintenance_tasks(self):
            super().run_maintenance_tasks()
            sweep_uploads()

    return AnalysisWorker


def sweep_uploads() -> None:
    try:
        removed = sweep_orphans()
    except Exception:  # Redis away for a moment: the next sweep does it
        log.warning("the sweep of QL_UPLOAD_DIR failed", exc_info=True)
        return
    if removed:
        log.info("swept %d orphaned upload(s) from QL_UPLOAD_DIR", removed)


def _horse_killed(job, pid, status, rusage) -> None:
    """The work-horse died mid-job (killed, out of memory), possibly before its task marked the
    job running: the job fails, said so, and its upload goes (jobs.finish)."""
    jobs.finish(job.id, error=f"the analysis process died (exit status {status}); the audio may be "
                              "too large for this worker")
