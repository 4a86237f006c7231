"""Search through a real gunicorn with 4 workers and the fake services: one upstream call per
service for 20 concurrent identical queries (single flight across processes), the deadline
with a service that never answers, and the breaker shared by every worker."""

import threading
import time

import pytest
import requests

from tests.search.fakes import Fakes
from tests.system.servers import Gunicorn

DEADLINE = 1.5


@pytest.fixture(scope="module")
def upstream():
    fakes = Fakes()
    yield fakes
    fakes.stop()


@pytest.fixture(scope="module")
def server(database, upstream):
    with Gunicorn(workers=4, database=database, QL_SEARCH_DEADLINE=DEADLINE, **upstream.settings()) as running:
        yield running


@pytest.fixture
def fakes(upstream):
    upstream.reset()
    yield upstream
    upstream.reset()


def search(server, token, query, timeout=10):
    return requests.get(server.url + "/api/search/", params={"q": query, "limit": 3},
                        headers={"Authorization": f"Token {token}"}, timeout=timeout)


def test_twenty_concurrent_identical_queries_make_one_upstream_call_per_service(server, database, fakes):
    fakes.itunes.answer(delay=0.3)
    fakes.soundcloud.answer(delay=0.5)
    fakes.youtube.answer(delay=0.4)
    barrier = threading.Barrier(20)
    responses = [None] * 20

    def one(n):
        barrier.wait(timeout=5)
        responses[n] = search(server, database.token, "Same  Query")

    threads = [threading.Thread(target=one, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert [r.status_code for r in responses] == [200] * 20
    bodies = [r.json() for r in responses]
    assert fakes.calls() == {"itunes": 1, "soundcloud": 1, "youtube": 1}
    for name in ("itunes", "soundcloud", "youtube"):
        assert [b["services"][name]["status"] for b in bodies] == ["ok"] * 20
        assert sum(not b["services"][name]["cached"] for b in bodies) == 1
        assert all(b["services"][name]["results"] == bodies[0]["services"][name]["results"] for b in bodies)


def test_a_service_that_never_answers_does_not_hold_the_answer_past_the_deadline(server, database, fakes):
    fakes.youtube.answer(hang=True)
    started = time.monotonic()
    response = search(server, database.token, "hung")
    took = time.monotonic() - started
    assert response.status_code == 200 and took <= DEADLINE + 0.25
    statuses = {name: entry["status"] for name, entry in response.json()["services"].items()}
    assert statuses == {"itunes": "ok", "soundcloud": "ok", "youtube": "timeout"}


def test_the_breaker_is_shared_by_every_worker(server, database, fakes):
    fakes.soundcloud.answer(status=503, raw=b"")
    first = [search(server, database.token, f"q{n}").json()["services"]["soundcloud"]["status"] for n in range(5)]
    after = [search(server, database.token, f"r{n}").json()["services"]["soundcloud"]["status"] for n in range(8)]
    assert first == ["error"] * 5
    assert after == ["unavailable"] * 8
    assert fakes.soundcloud.calls == 5
