"""Nothing that must be made after gunicorn forks exists before it: importing the WSGI app
(and every view module through the URLconf) starts no thread and opens no socket."""

import subprocess
import sys

from tests.system.servers import ROOT, base_env

SCRIPT = r"""
import os, threading
import quantumlive.wsgi
from django.urls import get_resolver
get_resolver().url_patterns  # imports every view module
threads = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
def target(fd):
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # the listing's own descriptor, closed by now
        return ""
sockets = [fd for fd in os.listdir("/proc/self/fd") if target(fd).startswith("socket:")]
print(len(threads), len(sockets), threads)
"""


def test_importing_the_wsgi_app_starts_no_thread_and_opens_no_socket():
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=base_env(), capture_output=True,
                         text=True, timeout=60, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0 0 []", out.stdout + out.stderr
