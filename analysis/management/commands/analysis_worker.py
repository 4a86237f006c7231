"""python manage.py analysis_worker [--burst] [--fork-per-job]: an RQ worker for the analysis queue.

librosa's numba kernels compile on first use (seconds): they are compiled here, in the worker,
before it takes a job, and every process it forks inherits them.

How jobs run. The worker (RQ's loop: dequeue, registries, heartbeats) keeps one pre-forked
child process, the "runner", that runs job after job in-process (RQ's own `perform_job`, as a
work-horse would), so a job costs no fork. The runner keeps the isolation a work-horse per job
gave:

- a runner that dies mid-job (segfault, out of memory, os._exit) fails that job only: the
  worker reports it as RQ reports a dead work-horse (`_horse_killed`: the job reads failed,
  its upload goes) and forks a new runner for the next job;
- a job still running at its timeout (QL_ANALYSIS_JOB_TIMEOUT) has its runner killed (native
  code included: no in-process alarm has to be honoured) and fails saying so;
- a runner is replaced after QL_ANALYSIS_CHILD_MAX_JOBS jobs, or after a job that leaves it
  larger than QL_ANALYSIS_CHILD_MAX_RSS_MB resident (leaks do not pile up);
- a runner's address space may grow by QL_ANALYSIS_CHILD_MAX_MEMORY_MB over what it had when
  forked (RLIMIT_AS): a job that needs more fails with a MemoryError ("too large") rather than
  bring the kernel's OOM killer onto the host's other processes;
- the runner exits when the worker goes (it reads the end of its command pipe).

`--fork-per-job` keeps RQ's own way (a work-horse forked per job), for comparison.

The worker also sweeps QL_UPLOAD_DIR of uploads a crash left behind (analysis/uploads.py), at
start and with RQ's periodic maintenance (every `maintenance_interval` seconds, between jobs).
"""

import errno
import json
import logging
import os
import select
import signal
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
        parser.add_argument("--fork-per-job", action="store_true",
                            help="fork a work-horse per job (RQ's default) instead of a reused runner")

    def handle(self, *args, **options):
        started = time.monotonic()
        audio.warm_up()
        log.info("analysis kernels warmed up in %.1fs", time.monotonic() - started)
        connection = jobs.rq_connection(socket_timeout=None)
        worker_class = analysis_worker_class() if options["fork_per_job"] else runner_worker_class()
        worker = worker_class(
            [jobs.queue(connection)], connection=connection, work_horse_killed_handler=_horse_killed,
            maintenance_interval=settings.QL_UPLOAD_SWEEP_INTERVAL,
            worker_ttl=settings.QL_ANALYSIS_WORKER_TTL)  # its heartbeats (analysis_worker_health)
        try:
            worker.work(burst=options["burst"], logging_level="INFO", with_scheduler=False)
        finally:
            stop_runner = getattr(worker, "stop_runner", None)
            if stop_runner:
                stop_runner()


def analysis_worker_class():
    from rq import Worker

    class AnalysisWorker(Worker):
        def run_maintenance_tasks(self):
            super().run_maintenance_tasks()
            sweep_uploads()

    return AnalysisWorker


class _NoAlarm:
    """The runner's death penalty: none in the process (the worker kills a runner past the
    job's timeout), so no SIGALRM lands in the middle of a job."""

    def __init__(self, timeout, exception=None, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class Runner:
    """A pre-forked child running the jobs it is sent, one at a time. The worker writes
    `["<job id>", "<execution id>", "<queue name>"]` lines (JSON) to its command pipe; it answers
    `done` on its answer pipe after each. End of file on the command pipe: it exits."""

    def __init__(self, pid: int, commands: int, answers: int):
        self.pid, self.commands, self.answers = pid, commands, answers
        self.jobs = 0

    def send(self, line: str) -> None:
        os.write(self.commands, line.encode() + b"\n")

    def close_pipes(self) -> None:
        for fd in (self.commands, self.answers):
            try:
                os.close(fd)
            except OSError:
                pass

    def rss_mb(self) -> float | None:
        try:
            with open(f"/proc/{self.pid}/statm") as statm:
                return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, ValueError, IndexError):
            return None


def runner_worker_class():
    from rq import Worker
    from rq.exceptions import InvalidJobOperation
    from rq.job import JobStatus
    from rq.utils import now

    class RunnerWorker(Worker):
        """RQ's Worker whose work-horse is a long-lived runner (see the module's text)."""

        runner: Runner | None = None

        def run_maintenance_tasks(self):
            super().run_maintenance_tasks()
            sweep_uploads()

        # --- the runner's life ----------------------------------------------------------
        def bootstrap(self, *args, **kwargs):
            super().bootstrap(*args, **kwargs)
            self.start_runner()

        def start_runner(self) -> Runner:
            commands_r, commands_w = os.pipe()
            answers_r, answers_w = os.pipe()
            pid = os.fork()
            if pid == 0:  # the runner
                try:
                    os.close(commands_w)
                    os.close(answers_r)
                    self._runner_main(commands_r, answers_w)
                finally:
                    os._exit(1)
            os.close(commands_r)
            os.close(answers_w)
            os.set_inheritable(commands_w, False)
            os.set_inheritable(answers_r, False)
            self.runner = Runner(pid, commands_w, answers_r)
            self.log.info("analysis runner %d started", pid)
            return self.runner

        def stop_runner(self, *, grace: float = 10.0) -> None:
            """Closes the runner's command pipe (it exits when idle); kills it past `grace`."""
            runner, self.runner = self.runner, None
            if runner is None:
                return
            runner.close_pipes()
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                pid, _ = _reap(runner.pid, block=False)
                if pid:
                    return
                time.sleep(0.01)
            _kill(runner.pid)
            _reap(runner.pid, block=True)

        def _runner_main(self, commands: int, answers: int) -> None:
            """The runner's loop, in the child: never returns."""
            from rq.executions import Execution

            self.setup_work_horse_signals()
            os.setpgrp()  # as a work-horse: the worker's kill_horse kills its group
            self._is_horse = True
            self.death_penalty_class = _NoAlarm
            _limit_address_space(settings.QL_ANALYSIS_CHILD_MAX_MEMORY_MB)
            self.procline("analysis runner: idle")
            stream = os.fdopen(commands, "rb", buffering=0)
            buffer = b""
            while True:
                while b"\n" not in buffer:
                    chunk = stream.read(4096)
                    if not chunk:  # the worker is gone, or let it go
                        os._exit(0)
                    buffer += chunk
                line, buffer = buffer.split(b"\n", 1)
                job_id, execution_id, queue_name = json.loads(line)
                try:
                    job = self.job_class.fetch(job_id, connection=self.connection, serializer=self.serializer)
                    queue = self.queue_class(queue_name, connection=self.connection, job_class=self.job_class,
                                             serializer=self.serializer, death_penalty_class=_NoAlarm)
                    execution = Execution.fetch(execution_id, job.id, connection=self.connection)
                    execution._job = job
                    self.executions.clear()
                    self.execution = execution
                    self.perform_job(job, queue, execution)
                except BaseException:  # as RQ's work-horse: the worker fails the job
                    self.log.exception("analysis runner: job %s could not be run", job_id)
                    os._exit(1)
                self.procline("analysis runner: idle")
                os.write(answers, b"done\n")

        # --- RQ's hooks: the runner is the work-horse ----------------------------------
        def fork_work_horse(self, job, queue):
            runner = self.runner or self.start_runner()
            line = json.dumps([job.id, self.execution.id, queue.name])
            try:
                runner.send(line)
            except OSError:  # it died while idle: a new one
                self._retire(runner, kill=True)
                runner = self.start_runner()
                runner.send(line)
            self._horse_pid = runner.pid
            self.procline(f"Runner {runner.pid} on job {job.id} since {time.time()}")

        def monitor_work_horse(self, job, queue, execution):
            runner = self.runner
            job.started_at = now()
            timeout = job.timeout if job.timeout and job.timeout > 0 else None
            deadline = time.monotonic() + timeout if timeout else None
            outcome = None
            while outcome is None:
                wait = self.job_monitoring_interval
                if deadline is not None:
                    wait = max(0.0, min(wait, deadline - time.monotonic()))
                try:
                    readable, _, _ = select.select([runner.answers], [], [], wait)
                except OSError as exc:
                    if exc.errno != errno.EINTR:
                        raise
                    continue
                if readable:
                    outcome = "done" if os.read(runner.answers, 64) else "died"
                elif deadline is not None and time.monotonic() >= deadline:
                    outcome = "timeout"
                else:
                    self.maintain_heartbeats(job, execution)
            self._horse_pid = 0
            self.executions.pop(execution.id, None)
            if outcome == "done":
                runner.jobs += 1
                self._recycle_if_due(runner)
                return
            if outcome == "timeout":
                self.log.warning("analysis job %s ran past its timeout (%s s): its runner %d is killed",
                                 job.id, timeout, runner.pid)
                _kill(runner.pid)
            retpid, status = _reap(runner.pid, block=True)
            self._retire(runner, kill=False)
            try:
                self._after_runner_death(job, queue, execution, outcome, timeout, retpid, status)
            finally:
                if not self._stop_requested:
                    self.start_runner()

        def _after_runner_death(self, job, queue, execution, outcome, timeout, retpid, status):
            try:
                job_status = job.get_status()
            except InvalidJobOperation:
                return  # the job finished and expired meanwhile
            if self._stopped_job_id == job.id:
                self._handle_stopped_job(job, queue, execution)
                return
            if outcome == "timeout":
                job_failed(job.id, f"the analysis took longer than {timeout} s (QL_ANALYSIS_JOB_TIMEOUT) and was "
                                   "stopped", imports=f"the import took longer than {timeout} s "
                                                      "(QL_IMPORT_JOB_TIMEOUT) and was stopped")
                job.ended_at = now()
                self.handle_job_failure(job, queue=queue, execution=execution,
                                        exc_string=f"JobTimeoutException: runner killed after {timeout} s")
            elif job_status not in (JobStatus.FINISHED, JobStatus.FAILED):
                job.ended_at = now()
                self.log.warning("analysis job %s failed: its runner %d died (%s)", job.id, retpid,
                                 _describe(status))
                self.handle_work_horse_killed(job, retpid, status, None)
                self.handle_job_failure(job, queue=queue, execution=execution,
                                        exc_string=f"Work-horse terminated unexpectedly ({_describe(status)})")

        def _recycle_if_due(self, runner: Runner) -> None:
            reason = None
            max_jobs = settings.QL_ANALYSIS_CHILD_MAX_JOBS
            max_rss = settings.QL_ANALYSIS_CHILD_MAX_RSS_MB
            if max_jobs and runner.jobs >= max_jobs:
                reason = f"it ran {runner.jobs} jobs (QL_ANALYSIS_CHILD_MAX_JOBS)"
            elif max_rss and (rss := runner.rss_mb()) is not None and rss > max_rss:
                reason = f"it holds {rss:.0f} MB (QL_ANALYSIS_CHILD_MAX_RSS_MB {max_rss})"
            if reason is None:
                return
            self.log.info("analysis runner %d is replaced: %s", runner.pid, reason)
            self._retire(runner, kill=False, grace=10.0)
            if not self._stop_requested:
                self.start_runner()

        def _retire(self, runner: Runner, *, kill: bool, grace: float = 0.0) -> None:
            if self.runner is runner:
                self.runner = None
            runner.close_pipes()
            if kill:
                _kill(runner.pid)
            deadline = time.monotonic() + grace
            while True:
                pid, _ = _reap(runner.pid, block=False)
                if pid or time.monotonic() >= deadline:
                    break
                time.sleep(0.01)
            if not pid:
                _kill(runner.pid)
                _reap(runner.pid, block=True)

        def wait_for_horse(self):
            """Used by RQ's cold shutdown after kill_horse."""
            if self.runner is None:
                return None, None, None
            pid, status = _reap(self.runner.pid, block=True)
            return pid, status, None

    return RunnerWorker


def _limit_address_space(extra_mb: int) -> None:
    """Caps the runner's address space at what it has now plus `extra_mb` (RLIMIT_AS): a job
    that would take more gets a MemoryError (the job fails, "too large") instead of the
    kernel's OOM killer choosing a victim, maybe a web worker. 0: no cap."""
    if not extra_mb:
        return
    import resource

    try:
        with open("/proc/self/status") as status:
            size_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    except (OSError, StopIteration, ValueError, IndexError):
        log.warning("the runner's address space cannot be read: QL_ANALYSIS_CHILD_MAX_MEMORY_MB not applied")
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = size_kb * 1024 + extra_mb * 2**20
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _reap(pid: int, *, block: bool) -> tuple[int, int | None]:
    """(pid, wait status) once the child ended, (0, None) while it runs (or is not ours)."""
    while True:
        try:
            found, status = os.waitpid(pid, 0 if block else os.WNOHANG)
            return found, (status if found else None)
        except ChildProcessError:
            return pid, None
        except InterruptedError:
            continue


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # the runner leads its process group
    except OSError:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _describe(status) -> str:
    if status is None:
        return "unknown status"
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            return f"killed by {signal.Signals(number).name}"
        except ValueError:
            return f"killed by signal {number}"
    if os.WIFEXITED(status):
        return f"exit code {os.WEXITSTATUS(status)}"
    return f"wait status {status}"


def sweep_uploads() -> None:
    from exchange.jobs import sweep_files

    try:
        removed = sweep_orphans() + sweep_files()  # uploads, then imports' files
    except Exception:  # Redis away for a moment: the next sweep does it
        log.warning("the sweep of QL_UPLOAD_DIR failed", exc_info=True)
        return
    if removed:
        log.info("swept %d orphaned upload(s) from QL_UPLOAD_DIR", removed)


def _horse_killed(job, pid, status, rusage) -> None:
    """The process running the job (a work-horse, or the runner) died mid-job (killed, out of
    memory), possibly before its task marked the job running: the job fails, said so, and its
    upload goes (jobs.finish)."""
    if isinstance(status, int) and (os.WIFSIGNALED(status) or os.WIFEXITED(status)):
        how = _describe(status)
    else:
        how = f"exit status {status}"
    job_failed(job.id, f"the analysis process died ({how}); the audio may be too large for this worker",
               imports=f"the import's process died ({how}); import the file again")


# RQ's id of an import job (exchange/jobs.py enqueue): this prefix and the import's id.
IMPORT_PREFIX = "import-"


def job_failed(rq_job_id: str, error: str, *, imports: str | None = None) -> None:
    """Fails the job the worker's RQ job `rq_job_id` ran, whichever kind it is: an analysis
    job (analysis/jobs.py) or an import of a DJ file (exchange/jobs.py, error `imports`); its
    stored file goes with it."""
    if rq_job_id.startswith(IMPORT_PREFIX):
        from exchange import jobs as import_jobs

        import_jobs.finish(rq_job_id[len(IMPORT_PREFIX):], error=imports or error)
    else:
        jobs.finish(rq_job_id, error=error)
