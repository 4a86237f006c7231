"""Per-process resources of the fan-out, made on first use (so after gunicorn forks):
one thread pool per process, one `requests.Session` per pool thread (a Session is not
guaranteed thread-safe). Both are re-made when the process id changes (a fork)."""

import logging
import os
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

import requests
from requests.adapters import HTTPAdapter

MAX_THREADS = 16
# Connections kept per host by each thread's session; a thread makes one call at a time.
CONNECTIONS_PER_HOST = 2

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_executor_pid: int | None = None
_local = threading.local()
_running: set = set()


def executor() -> ThreadPoolExecutor:
    global _executor, _executor_pid
    pid = os.getpid()
    if _executor_pid != pid:
        with _lock:
            if _executor_pid != pid:
                _executor = ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="search")
                _executor_pid = pid
    return _executor


def submit(function, /, **kwargs) -> Future:
    """Runs `function(**kwargs)` on this process's pool."""
    future = executor().submit(function, **kwargs)
    with _lock:
        _running.add(future)
    future.add_done_callback(_forget)
    return future


def _forget(future: Future) -> None:
    with _lock:
        _running.discard(future)


def wait_idle(timeout: float) -> bool:
    """Waits (at most `timeout` s) until every call submitted in this process has ended:
    for a graceful stop, and for tests that must not leave work running."""
    with _lock:
        running = list(_running)
    return not wait(running, timeout=timeout).not_done


def session() -> requests.Session:
    """The calling thread's session (call it from a pool thread only)."""
    pid = os.getpid()
    if getattr(_local, "pid", None) != pid:
        _hide_credentials_in_urllib3_logs()
        http = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=CONNECTIONS_PER_HOST, max_retries=0)
        http.mount("http://", adapter)
        http.mount("https://", adapter)
        _local.session, _local.pid = http, pid
    return _local.session


class _HideCredentials(logging.Filter):
    """urllib3 logs every request line, query string included, at DEBUG: blank the values
    of the credential parameters (SoundCloud's client_id, YouTube's key)."""

    _PARAM = re.compile(r"([?&](?:client_id|key)=)[^&\s\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "client_id=" in message or "key=" in message:
            record.msg, record.args = self._PARAM.sub(r"\1***", message), ()
        return True


def _hide_credentials_in_urllib3_logs() -> None:
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _HideCredentials) for f in logger.filters):
        logger.addFilter(_HideCredentials())


def started() -> bool:
    """Whether this process has made its pool (tests check nothing is made at import)."""
    return _executor is not None and _executor_pid == os.getpid()
