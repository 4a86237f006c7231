"""gunicorn settings for `make serve` and the containers (all from the environment)."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
# gunicorn's C parser (gunicorn_h1c): parsing is a fixed cost of every request, ~25 µs of CPU
# less with it (bench/RESULTS.md). "fast", not "auto": without it the server fails at start.
http_parser = "fast"
timeout = 60  # > the longest `wait` of an analysis submission (30 s) plus an upload
graceful_timeout = 10
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
errorlog = "-"
# Nothing that opens a Redis connection or starts a thread may run before the fork:
# the app is loaded in each worker (no preload), and the track cache's subscriber starts
# here, after the fork, in the worker itself, and fills the cache in bulk (tracks/cache: warm
# start) before the worker serves, for up to QL_TRACK_CACHE_WARM_WAIT seconds (then the rest
# while it serves; 0: all of it while it serves).
preload_app = False
# A worker does not report to the arbiter while it waits in post_worker_init: past `timeout`
# it would be killed and restarted in a loop, so the wait stays well below it.
track_cache_warm_wait = min(float(os.environ.get("QL_TRACK_CACHE_WARM_WAIT", "10")), timeout / 2)


def post_worker_init(worker):
    from django.conf import settings

    if not settings.QL_TRACK_CACHE:
        worker.log.info("worker ready (no track cache)")
        return
    from tracks.store import track_cache_warm

    warm = False
    try:
        warm = track_cache_warm(wait=track_cache_warm_wait)
    except Exception:  # Redis down at start: the cache comes up when Redis does
        worker.log.warning("track cache not started yet")
    worker.log.info("worker ready (track cache %s)", "warm" if warm else "filling as it serves")


def worker_exit(server, worker):
    # A worker that stops ends its cache's read lease at once, so writers do not wait for it
    # to run out.
    try:
        from tracks.cache import reset_process_cache

        reset_process_cache()
    except Exception:
        pass


# --- metrics (issue 17): /metrics sums every worker's counts ----------------------------------
# Each worker writes its counts to files in PROMETHEUS_MULTIPROC_DIR (prometheus_client's
# multiprocess mode), read by whichever worker answers a scrape. The directory is the
# instance's own: the one given (emptied of its *.db files here, so counts start at zero with
# the instance and a dead instance's files are not summed), else a new temporary one in
# /dev/shm (memory: the files are written at every request, never worth a disk's writeback),
# removed when the instance stops. Set before any worker is forked: prometheus_client
# chooses its mode when first imported, in the worker.
_metrics_dir_made = None


def on_starting(server):
    global _metrics_dir_made
    import glob
    import tempfile

    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for name in glob.glob(os.path.join(path, "*.db")):
            os.unlink(name)
    else:
        memory = "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else None
        path = _metrics_dir_made = tempfile.mkdtemp(prefix="ql-metrics-", dir=memory)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    server.log.info("metrics: per-worker files in %s", path)


def child_exit(server, worker):
    # A worker that is gone: its live gauges leave the sums (its counters stay: they happened).
    try:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
    except Exception:
        pass


def on_exit(server):
    if _metrics_dir_made:
        import shutil

        shutil.rmtree(_metrics_dir_made, ignore_errors=True)
