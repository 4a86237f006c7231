"""The docker-compose topology, reproduced without Docker: two gunicorn instances (and the
analysis worker) on one Redis and one PostgreSQL, in production mode (DJANGO_DEBUG=0).
A token made on one instance (manage.py against the shared database) works on the other;
a track created through one is read through both; the access log is JSON, carries the
request id and no credentials."""

import json
import os
import secrets
import subprocess
import sys
import uuid
import warnings
from types import SimpleNamespace

import pytest
import requests

from tests.system.servers import ROOT, Gunicorn, base_env, wait_until

ADMIN_URL = os.environ.get("QL_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
FAKE_YT_KEY = "AIzaSyFAKE-multi-instance-0123456789"


@pytest.fixture
def postgres_database():
    """A database of this test's own on the PostgreSQL at 127.0.0.1:5432, dropped at the end."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {ADMIN_URL}: {exc}")
    name = f"ql_multi_{uuid.uuid4().hex[:12]}"
    base = ADMIN_URL.rsplit("/", 1)[0]
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{base}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def production(**extra) -> dict:
    return {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "0",  # plain HTTP on loopback, as behind nginx here
        "YOUTUBE_API_KEY": FAKE_YT_KEY,
        **extra,
    }


def manage(env: dict, *args: str) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def has_analysis_worker(env: dict) -> bool:
    result = subprocess.run([sys.executable, "manage.py", "help", "analysis_worker"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    return result.returncode == 0


def test_a_token_made_on_one_instance_works_on_the_other(postgres_database):
    settings_env = production()
    db = SimpleNamespace(url=postgres_database)
    env = base_env(DATABASE_URL=db.url, **settings_env)

    # The compose file's one-shot `migrate` service, then an admin and a token made with
    # manage.py (as an operator would on instance A).
    manage(env, "migrate", "--noinput", "-v", "0")
    manage({**env, "DJANGO_SUPERUSER_PASSWORD": secrets.token_urlsafe(16)},
           "createsuperuser", "--noinput", "--username", "ops", "--email", "ops@example.com")
    token = manage(env, "drf_create_token", "ops").split()[2]
    assert len(token) == 40

    worker = None
    if has_analysis_worker(env):
        worker = subprocess.Popen([sys.executable, "manage.py", "analysis_worker"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    else:
        warnings.warn("manage.py analysis_worker does not exist yet: topology tested without the worker")

    a = Gunicorn(workers=2, database=db, **settings_env)
    a.env["GUNICORN_ACCESS_LOG"] = "-"  # A writes its access log: checked below
    b = Gunicorn(workers=2, database=db, **settings_env)
    try:
        with a, b:
            auth = {"Authorization": f"Token {token}"}
            for server in (a, b):
                ready = requests.get(server.url + "/readyz", timeout=5)
                assert ready.status_code == 200
                assert {k: ready.json()[k] for k in ("redis", "database")} == {"redis": "ok", "database": "ok"}
                if worker is not None:  # (registered once its kernels are warm)
                    wait_until(lambda: requests.get(server.url + "/readyz", timeout=5).json()["analysis_workers"] == 1,
                               timeout=60, what="the analysis worker in /readyz")

            created = requests.post(f"{b.url}/api/tracks/", json={"title": "Cross", "artist": "Instance"},
                                    headers=auth, timeout=5)
            assert created.status_code == 201, created.text
            track_id = created.json()["id"]
            for server in (a, b, a, b):
                got = requests.get(f"{server.url}/api/tracks/{track_id}/", headers=auth, timeout=5)
                assert got.status_code == 200
                assert (got.json()["title"], got.json()["version"]) == ("Cross", 1)

            patched = requests.patch(f"{a.url}/api/tracks/{track_id}/", json={"bpm": 128},
                                     headers={**auth, "If-Match": '"1"'}, timeout=5)
            assert patched.status_code == 200 and patched.json()["version"] == 2
            for _ in range(4):  # no stale read on the other instance, whichever worker answers
                got = requests.get(f"{b.url}/api/tracks/{track_id}/", timeout=5).json()
                assert (got["bpm"], got["version"]) == (128.0, 2)

            bad = requests.post(f"{a.url}/api/tracks/", json={"title": "x", "artist": "y"},
                                headers={"Authorization": "Token " + "0" * 40}, timeout=5)
            assert bad.status_code == 401

            # Request id passed through and echoed; credentials never reach the log.
            traced = requests.get(f"{a.url}/api/youtube/?key={FAKE_YT_KEY}&token=t0psecret",
                                  headers={"X-Request-ID": "multi-rid-1"}, timeout=5)
            assert traced.status_code == 200 and traced.headers["X-Request-ID"] == "multi-rid-1"
            generated = requests.get(f"{a.url}/healthz", timeout=5).headers["X-Request-ID"]
            assert len(generated) == 32

            def access_lines():
                found = []
                for line in a.output().splitlines():
                    if line.startswith("{"):
                        record = json.loads(line)
                        if record["logger"] == "gunicorn.access":
                            found.append(record)
                return found

            wait_until(lambda: any("multi-rid-1" in r["message"] for r in access_lines()),
                       timeout=5, what="the access line of the traced request")
            line = next(r for r in access_lines() if "multi-rid-1" in r["message"])
            assert "key=***" in line["message"] and "token=***" in line["message"]
            assert line["request_id"] == "multi-rid-1"
            wait_until(lambda: any(r["request_id"] == generated for r in access_lines()),
                       timeout=5, what="the access line with a generated request id")

            if worker is not None:
                assert worker.poll() is None, "the analysis worker exited"
            a.stop()
            b.stop()
            output = a.output() + b.output()  # (the logs go when the `with` ends)
            assert FAKE_YT_KEY not in output and "t0psecret" not in output
            assert token not in output
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=5)


def test_the_postgres_database_is_dropped_afterwards():
    """The fixture's database names are unique and none is left behind by the test above."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {ADMIN_URL}: {exc}")
    with admin:
        wait_until(lambda: not admin.execute("SELECT datname FROM pg_database WHERE datname LIKE 'ql_multi_%'")
                   .fetchall(), timeout=5, interval=0.2, what="no ql_multi_ database left")
