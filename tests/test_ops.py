"""/healthz, /readyz, and 503s while Redis is unreachable (a private redis-server we stop)."""

import time

import pytest

from quantumlive import keys
from tests.system.servers import PrivateRedis, wait_until
from tracks.cache import reset_process_cache

pytestmark = pytest.mark.django_db


def test_healthz_answers_ok(anon):
    response = anon.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_reports_both_up(anon):
    response = anon.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"redis": "ok", "database": "ok", "analysis_workers": 0, "queue": 0}


@pytest.fixture
def private_redis(settings):
    server = PrivateRedis().start()
    settings.REDIS_URL = server.url
    reset_process_cache()
    yield server
    reset_process_cache()
    server.close()


def test_while_redis_is_down_the_api_answers_503_fast_and_recovers(api, anon, private_redis):
    created = api.post("/api/tracks/", {"title": "a", "artist": "b"}, format="json")
    assert created.status_code == 201
    track_url = f"/api/tracks/{created.json()['id']}/"
    assert anon.get(track_url).status_code == 200  # now possibly cached in this process
    assert api.get(track_url).status_code == 200  # the token is verified: the hot read

    private_redis.stop()
    calls = [
        lambda: anon.get(track_url),
        lambda: api.get(track_url),
        lambda: anon.get("/api/tracks/"),
        lambda: anon.get("/api/youtube/"),
        lambda: api.post("/api/tracks/", {"title": "c", "artist": "d"}, format="json"),
        lambda: api.patch(track_url, {"notes": "x"}, format="json"),
        lambda: api.post("/api/youtube/", {"url": "dQw4w9WgXcQ"}, format="json"),
    ]
    for call in calls:
        started = time.monotonic()
        response = call()
        assert time.monotonic() - started < 2  # a refused connection answers at once: catches retries or hangs
        assert response.status_code == 503
        assert response["Retry-After"]
        assert "detail" in response.json()

    health = anon.get("/healthz")
    assert health.status_code == 200
    ready = anon.get("/readyz")
    assert ready.status_code == 503 and ready.json() == {"redis": "down", "database": "ok", "analysis_workers": None,
                                                   "queue": None}

    private_redis.start()  # same port; this Redis kept nothing
    wait_until(lambda: anon.get("/readyz").status_code == 200, timeout=10, interval=0.1, what="Redis ready again")
    assert anon.get("/api/tracks/").status_code == 200
    assert anon.get(track_url).status_code == 404  # the data went with that Redis: no stale read
    assert api.post("/api/tracks/", {"title": "c", "artist": "d"}, format="json").status_code == 201


# --- Redis full (maxmemory reached with noeviction) ------------------------------------------
@pytest.fixture
def small_redis(settings):
    """A private redis-server with noeviction whose maxmemory the test sets (never the shared
    Redis's configuration)."""
    server = PrivateRedis(args=("--maxmemory-policy", "noeviction")).start()
    settings.REDIS_URL = server.url
    reset_process_cache()
    yield server
    reset_process_cache()
    server.close()


def fill_past_the_limit(client, prefix: str) -> int:
    """Writes keys under the test's prefix until Redis is past its maxmemory by ~200 KB, so that
    it refuses every write, however its clients' buffers (tens of KB) come and go; returns how
    many keys were written. Plain SETs of 32 KB up to ~96 KB below the limit (bounded: 1,000),
    then one SETRANGE: a few bytes sent, 256 KB allocated, accepted while there was room."""
    import redis as redis_py

    limit = int(client.info("memory")["maxmemory"])
    written = 0
    while written < 1000 and int(client.info("memory")["used_memory"]) < limit - 96 * 1024:
        client.set(keys.key_under(prefix, "filler", str(written)), "x" * 32768)
        written += 1
    client.setrange(keys.key_under(prefix, "filler", str(written)), 256 * 1024, "x")
    written += 1
    assert int(client.info("memory")["used_memory"]) > limit
    with pytest.raises(redis_py.exceptions.OutOfMemoryError):
        client.set(keys.key_under(prefix, "filler", "last"), "x")
    return written


def test_readyz_says_full_and_writes_answer_503_while_redis_refuses_for_memory(api, anon, small_redis, settings):
    import redis as redis_py

    admin = redis_py.Redis(port=small_redis.port, decode_responses=True)
    assert anon.get("/readyz").json()["redis"] == "ok"
    created = api.post("/api/tracks/", {"title": "kept", "artist": "b"}, format="json")
    assert created.status_code == 201
    # 2 MB of room: what a client's buffers take and give back (tens of KB) stays small beside it
    admin.config_set("maxmemory", int(admin.info("memory")["used_memory"]) + 2 * 2**20)
    assert anon.get("/readyz").status_code == 200  # a limit with room left is fine
    written = fill_past_the_limit(admin, settings.QL_REDIS_PREFIX)
    print(f"filled with {written} keys; info: {admin.info('memory')['used_memory']} of "
          f"{admin.info('memory')['maxmemory']} bytes")

    ready = anon.get("/readyz")
    assert ready.status_code == 503 and ready.json() == {"redis": "full", "database": "ok", "analysis_workers": 0,
                                                   "queue": 0}
    assert ready["Retry-After"]
    refused = api.post("/api/tracks/", {"title": "new", "artist": "b"}, format="json")
    assert refused.status_code == 503, refused.content
    assert "full" in refused.json()["detail"] and refused["Retry-After"]
    patched = api.patch(f"/api/tracks/{created.json()['id']}/", {"notes": "x"}, format="json")
    assert patched.status_code == 503 and "full" in patched.json()["detail"]
    # Reads: never a 500. (Redis refuses every command queued in a MULTI while it is out of
    # memory, reads included, and an anonymous read counts in its throttle, a write: 503 today.)
    for client in (api, anon):
        for path in (f"/api/tracks/{created.json()['id']}/", "/api/tracks/"):
            read = client.get(path)
            assert read.status_code in (200, 503), (path, read.status_code)
            assert read.status_code == 200 or "full" in read.json()["detail"]

    for batch in range(0, written + 1, 500):  # room again: ready, and writes land
        admin.delete(*[keys.key_under(settings.QL_REDIS_PREFIX, "filler", str(i)) for i in range(batch, batch + 500)])
    assert anon.get("/readyz").json()["redis"] == "ok"
    assert api.post("/api/tracks/", {"title": "new", "artist": "b"}, format="json").status_code == 201


def test_readyz_is_ok_when_memory_is_unbounded_or_evicting(anon, small_redis, settings):
    import redis as redis_py

    admin = redis_py.Redis(port=small_redis.port, decode_responses=True)
    used = int(admin.info("memory")["used_memory"])
    admin.config_set("maxmemory", 0)
    assert anon.get("/readyz").json()["redis"] == "ok"
    admin.config_set("maxmemory-policy", "allkeys-lru")  # writes evict instead of failing
    admin.config_set("maxmemory", used)
    assert anon.get("/readyz").json()["redis"] == "ok"


# --- the analysis queue in /readyz (issue 17) --------------------------------------------------
@pytest.fixture
def rq_worker(settings, idle_queue):
    """Makes RQ workers of the analysis queue as RQ registers one (not working: the test says
    when they beat and die); named under the test's prefix, unregistered at the end (RQ's
    `rq:workers` set is shared)."""
    from rq import Worker

    from analysis import jobs

    made = []

    def make(name: str):
        connection = jobs.rq_connection()
        worker = Worker([jobs.queue(connection)], connection=connection, worker_ttl=60,
                        name=f"{keys.key_under(settings.QL_REDIS_PREFIX)}:{name}")
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.register_death()
        worker.connection.delete(worker.key)


def test_readyz_counts_the_live_analysis_workers_and_the_waiting_jobs(anon, rq_worker):
    from analysis import jobs
    from quantumlive.redis_conn import get_redis

    first, second = rq_worker("one"), rq_worker("two")
    first.register_birth()
    second.register_birth()
    for n in range(3):
        jobs.queue().enqueue("analysis.tasks.run_analysis", f"job-{n}")
    ready = anon.get("/readyz")
    assert ready.status_code == 200
    assert (ready.json()["analysis_workers"], ready.json()["queue"]) == (2, 3)

    get_redis().delete(second.key)  # its heartbeats stopped long enough: RQ's key expired
    assert anon.get("/readyz").json()["analysis_workers"] == 1
    first.register_death()  # a worker that stops unregisters itself
    ready = anon.get("/readyz")
    assert ready.status_code == 200 and ready.json()["analysis_workers"] == 0  # 200: the number says it


def test_readyz_reads_the_queue_in_two_round_trips_at_most(anon, monkeypatch, rq_worker):
    import redis as redis_py

    rq_worker("one").register_birth()
    sent = []
    real = redis_py.client.Pipeline.execute

    def counted(self, *args, **kwargs):
        sent.append([command[0][0] for command in self.command_stack])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(redis_py.client.Pipeline, "execute", counted)
    assert anon.get("/readyz").json()["analysis_workers"] == 1
    assert len(sent) == 2, sent


# --- the worker's health check (docker-compose.yml) ----------------------------------------------
def health(*args) -> tuple[int, str]:
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = io.StringIO()
    try:
        call_command("analysis_worker_health", *args, stdout=out)
    except CommandError as exc:
        return 1, str(exc)
    return 0, out.getvalue()


def test_the_worker_health_check_wants_this_hosts_worker_with_a_recent_heartbeat(rq_worker):
    import socket
    from datetime import datetime, timedelta, timezone

    from quantumlive.redis_conn import get_redis
    from rq.utils import utcformat

    code, said = health()
    assert code == 1 and "no analysis worker" in said
    worker = rq_worker("health")
    worker.register_birth()
    code, said = health()
    assert code == 0 and worker.key in said
    assert health("--hostname", "another-container")[0] == 1

    stale = datetime.now(timezone.utc) - timedelta(seconds=200)
    get_redis().hset(worker.key, "last_heartbeat", utcformat(stale))
    code, said = health()
    assert code == 1 and "last beat" in said
    assert health("--max-age", "300")[0] == 0
    worker.heartbeat()
    assert health()[0] == 0
    assert socket.gethostname() in str(worker.hostname)
