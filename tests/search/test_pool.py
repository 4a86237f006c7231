"""Per-process resources: nothing made at import, a new pool after fork, one session per
pool thread."""

import os
import subprocess
import sys
import threading
from pathlib import Path

from search import pool

ROOT = Path(__file__).resolve().parents[2]

_IMPORT_ONLY = """
import os, threading
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quantumlive.settings")
from quantumlive.wsgi import application
import search.views, search.fanout, search.lookup
from search import pool
assert not pool.started(), "pool made at import"
assert not [t for t in threading.enumerate() if t.name.startswith("search")], "search thread at import"
print("ok")
"""

_FORK = """
import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quantumlive.settings")
import django; django.setup()
from search import pool
parent = pool.executor()
assert parent.submit(os.getpid).result(timeout=5) == os.getpid()
child = os.fork()
if child == 0:
    mine = pool.executor()
    ok = mine is not parent and mine.submit(os.getpid).result(timeout=5) == os.getpid()
    os._exit(0 if ok else 1)
_, status = os.waitpid(child, 0)
print("ok" if os.waitstatus_to_exitcode(status) == 0 else "child failed")
"""


def run_python(source: str) -> str:
    done = subprocess.run([sys.executable, "-c", source], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "DJANGO_SETTINGS_MODULE": "quantumlive.settings"})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_importing_the_app_makes_no_pool_and_no_thread():
    assert run_python(_IMPORT_ONLY) == "ok"


def test_a_forked_process_makes_its_own_pool():
    assert run_python(_FORK) == "ok"


def test_each_pool_thread_has_its_own_session_kept_across_calls():
    barrier = threading.Barrier(2)

    def session_of_a_busy_thread():
        barrier.wait(timeout=5)  # both tasks run at once, so on two threads
        return pool.session(), threading.get_ident()

    first, second = (pool.submit(session_of_a_busy_thread) for _ in range(2))
    (session_a, thread_a), (session_b, thread_b) = first.result(timeout=5), second.result(timeout=5)
    assert thread_a != thread_b and session_a is not session_b
    seen = {thread_a: session_a, thread_b: session_b}
    for _ in range(20):
        session, ident = pool.submit(lambda: (pool.session(), threading.get_ident())).result(timeout=5)
        assert seen.setdefault(ident, session) is session


def test_wait_idle_waits_for_submitted_calls():
    release = threading.Event()
    pool.submit(release.wait, timeout=5)
    assert pool.wait_idle(0.05) is False
    release.set()
    assert pool.wait_idle(5) is True
