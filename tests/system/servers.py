"""Real processes for system tests: gunicorn instances, a private redis-server, a database
with a user and token. Every wait is bounded in time."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, *, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:
            pass
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def base_env(**overrides) -> dict:
    from django.conf import settings

    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "quantumlive.settings",
        "REDIS_URL": settings.REDIS_URL,
        "QL_REDIS_PREFIX": settings.QL_REDIS_PREFIX,
        "DJANGO_DEBUG": "1",
        "PYTHONUNBUFFERED": "1",
        # load tests send far more than a client would; tests of throttling set rates
        "QL_THROTTLE_ANON": "off", "QL_THROTTLE_WRITES": "off",
        "QL_THROTTLE_SEARCH": "off", "QL_THROTTLE_ANALYSIS": "off",
    })
    env.update({k: str(v) for k, v in overrides.items()})
    return env


class Database:
    """A migrated SQLite file (or the DATABASE_URL given) with user `dj` and a token."""

    def __init__(self, url: str | None = None):
        self.tmp = tempfile.mkdtemp(prefix="ql-db-")
        self.url = url or f"sqlite:///{self.tmp}/db.sqlite3"
        env = base_env(DATABASE_URL=self.url)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                       cwd=ROOT, env=env, check=True, timeout=120)
        script = (
            "from django.contrib.auth import get_user_model;"
            "from rest_framework.authtoken.models import Token;"
            "u,_=get_user_model().objects.get_or_create(username='dj');"
            "t,_=Token.objects.get_or_create(user=u);print(t.key)"
        )
        out = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env,
                             check=True, timeout=60, capture_output=True, text=True)
        self.token = out.stdout.strip().splitlines()[-1]

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


class Gunicorn:
    """One gunicorn instance on a free port; `with Gunicorn(...) as g: g.url`."""

    def __init__(self, *, workers: int = 3, database: Database, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = base_env(**{"DATABASE_URL": database.url, "PORT": self.port, "WEB_WORKERS": workers,
                               "GUNICORN_ACCESS_LOG": "", **env})
        self.log = tempfile.NamedTemporaryFile(prefix="ql-gunicorn-", suffix=".log", delete=False)
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "quantumlive.wsgi:application"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        wait_until(lambda: requests.get(self.url + "/healthz", timeout=1).status_code == 200,
                   timeout=30, what=f"gunicorn on {self.url}")
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        os.unlink(self.log.name)


class PrivateRedis:
    """A redis-server of the test's own on a free port (AOF with fsync always when asked),
    which the test may stop and start again on the same port."""

    def __init__(self, *, appendonly: bool = False, args: tuple[str, ...] = ()):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tempfile.mkdtemp(prefix="ql-redis-")
        self.appendonly = appendonly
        self.args = list(args)  # more redis-server options, e.g. ("--maxmemory", "2mb")
        self.process = None

    def start(self):
        args = [shutil.which("redis-server") or "redis-server", "--bind", "127.0.0.1", "--port",
                str(self.port), "--dir", self.dir, "--save", "", "--logfile", "redis.log"]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        args += self.args
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        wait_until(lambda: redis.Redis(port=self.port, socket_timeout=0.5).ping(), timeout=10,
                   what="private redis-server")
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def kill(self):
        """SIGKILL: no shutdown, no final fsync (what a crash or the OOM killer does)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
