"""python manage.py analysis_worker [--burst]: an RQ worker for the analysis queue.

librosa's numba kernels compile on first use (seconds). RQ forks a work-horse per job, so
they are compiled here, in the worker, before it takes a job: every work-horse inherits them.
"""

import logging
import time

from django.core.management.base import BaseCommand

from analysis import audio, jobs

log = logging.getLogger("analysis.worker")


class Command(BaseCommand):
    help = "Run an analysis worker (RQ) on this deployment's analysis queue."

    def add_arguments(self, parser):
        parser.add_argument("--burst", action="store_true", help="exit once the queue is empty")

    def handle(self, *args, **options):
        from rq import Worker

        started = time.monotonic()
        audio.warm_up()
        log.info("analysis kernels warmed up in %.1fs", time.monotonic() - started)
        connection = jobs.rq_connection(socket_timeout=None)
        worker = Worker([jobs.queue(connection)], connection=connection,
                        work_horse_killed_handler=_horse_killed)
        worker.work(burst=options["burst"], logging_level="INFO", with_scheduler=False)


def _horse_killed(job, pid, status, rusage) -> None:
    """The work-horse died mid-job (killed, out of memory): the job fails, said so."""
    jobs.finish(job.id, error=f"the analysis process died (exit status {status}); the audio may be "
                              "too large for this worker", only_if_running=True)
