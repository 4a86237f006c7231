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
    """The first truthy value of predicate(), polled every `interval` s (an exception counts
    as not yet); TimeoutError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
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


# --- nginx with the repository's deploy/nginx.conf --------------------------------------------
NGINX_CONF = ROOT / "deploy" / "nginx.conf"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)), None)


def nginx_test_config(upstream_port: int, listen_port: int, run_dir: str, *,
                      trusted_terminator: str | None = None) -> str:
    """deploy/nginx.conf as the test runs it: only what ties it to docker-compose.yml (the
    upstream's host names, port 8000, stdout/stderr logs) and to a root install (pid file,
    temporary folders, one worker) is replaced; every other setting is the repository's.
    `trusted_terminator`: an address added to the geo block of TLS terminators."""
    import re

    text = NGINX_CONF.read_text()
    substitutions = [
        (r"^worker_processes [^;]+;", "worker_processes 1;"),
        (r"server web\d+:8000", f"server 127.0.0.1:{upstream_port}"),
        (r"^(\s*)listen 8000;", rf"\1listen 127.0.0.1:{listen_port};"),
        (r"access_log /dev/stdout ql;", f"access_log {run_dir}/access.log ql;"),
        (r"error_log /dev/stderr warn;", f"error_log {run_dir}/error.log warn;"),
    ]
    if trusted_terminator:
        substitutions.append((r"(geo \$ql_from_terminator \{\n\s*default 0;)",
                              rf"\1\n        {trusted_terminator} 1;"))
    for pattern, replacement in substitutions:
        text, count = re.subn(pattern, replacement, text, flags=re.M)
        assert count >= 1, f"deploy/nginx.conf no longer has {pattern!r}"
    temp_paths = "".join(f"    {name}_temp_path {run_dir}/{name};\n"
                         for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    text = text.replace("http {\n", "http {\n" + temp_paths, 1)
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers may use the run folder
    return f"{user}daemon off;\npid {run_dir}/nginx.pid;\n" + text


class Nginx:
    """nginx on a free port in front of `upstream_port`, with the repository's settings."""

    def __init__(self, upstream_port: int, **config):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = tempfile.mkdtemp(prefix="ql-nginx-")
        self.conf = Path(self.dir) / "nginx.conf"
        self.conf.write_text(nginx_test_config(upstream_port, self.port, self.dir, **config))
        self.process = None

    def start(self):
        binary = nginx_binary()
        assert binary, "nginx is not installed (scripts/ensure_nginx.py installs it)"
        self.process = subprocess.Popen(
            [binary, "-p", self.dir, "-c", str(self.conf), "-e", f"{self.dir}/error.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

        def listening():
            assert self.process.poll() is None, self.error_log()
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True

        try:
            wait_until(listening, timeout=10, what=f"nginx on {self.url}")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; its error log: {self.error_log()[-2000:]}") from None
        return self

    def error_log(self) -> str:
        path = Path(self.dir) / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # fast shutdown: open connections are closed
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- processes and their connections (Linux /proc) --------------------------------------------
def child_pids(parent: int) -> list[int]:
    """The live children of `parent` (a gunicorn master's workers)."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "(comm)": state, ppid, …
        if fields[0] != "Z" and int(fields[1]) == parent:
            children.append(int(entry))
    return children


# Where the main thread of a gunicorn sync worker waits for the next connection (select).
IDLE_WCHAN = "poll_schedule_timeout"


def wchan(pid: int) -> str | None:
    """The kernel function the process's main thread sleeps in ("0": running), None if gone."""
    try:
        return Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return None


def waiting_for_a_connection(pid: int) -> bool:
    """A gunicorn sync worker idle in its accept loop (so its app is loaded)."""
    return (wchan(pid) or "").startswith(IDLE_WCHAN)
