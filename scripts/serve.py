#!/usr/bin/env python3
"""`make serve`: gunicorn with WEB_WORKERS workers on 127.0.0.1:PORT plus ANALYSIS_WORKERS
analysis workers, in the foreground. SIGTERM/SIGINT stop everything it started; if one
child dies, the rest are stopped too and the exit code says so."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def main() -> int:
    workers = int(os.environ.get("ANALYSIS_WORKERS", "1"))
    children = [subprocess.Popen([PYTHON, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                                  "quantumlive.wsgi:application"], cwd=ROOT)]
    for _ in range(workers):
        children.append(subprocess.Popen([PYTHON, "manage.py", "analysis_worker"], cwd=ROOT))
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    while not stopping:
        for child in children:
            if child.poll() is not None:
                print(f"serve: process {child.args[1:3]} exited with {child.returncode}", file=sys.stderr)
                code = child.returncode or 1
                stopping = True
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return code


if __name__ == "__main__":
    sys.exit(main())
