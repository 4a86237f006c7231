"""Search through a real gunicorn with 4 workers and the fake services: one upstream call per
service for 20 concurrent identical queries (single flight across processes), the deadline
with a service that never answers, and the breaker shared by every worker; then, through a
second instance configured from its environment, the quotas (a user's YouTube share, the
iTunes rate) held in Redis for every worker and process."""

import subprocess
import sys
import threading
import time

import pytest
import requests

from tests.search.fakes import Fakes
from tests.system.servers import ROOT, Gunicorn, base_env

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
    def timed_search(query):
        started = time.monotonic()
        response = search(server, database.token, query)
        return time.monotonic() - started, response

    # Side by side with searches every service answers at once (what this loaded machine adds
    # to any search), with a whole deadline of margin: still far below the hung call (30 s).
    answered_at_once = min(timed_search(f"at once {n}")[0] for n in range(3))
    fakes.youtube.answer(hang=True)
    took, response = timed_search("hung")
    assert response.status_code == 200 and took <= answered_at_once + 2 * DEADLINE, (took, answered_at_once)
    statuses = {name: entry["status"] for name, entry in response.json()["services"].items()}
    assert statuses == {"itunes": "ok", "soundcloud": "ok", "youtube": "timeout"}


def test_the_breaker_is_shared_by_every_worker(server, database, fakes):
    fakes.soundcloud.answer(status=503, raw=b"")
    first = [search(server, database.token, f"q{n}").json()["services"]["soundcloud"]["status"] for n in range(5)]
    after = [search(server, database.token, f"r{n}").json()["services"]["soundcloud"]["status"] for n in range(8)]
    assert first == ["error"] * 5
    assert after == ["unavailable"] * 8
    assert fakes.soundcloud.calls == 5


# --- quotas ----------------------------------------------------------------------------------
QUOTA_ENV = {"QL_YOUTUBE_DAILY_UNITS": "1000", "QL_YOUTUBE_USER_SHARE": "20%", "QL_ITUNES_RATE": "2/min"}


@pytest.fixture(scope="module")
def quota_server(database, upstream):
    with Gunicorn(workers=2, database=database, QL_SEARCH_DEADLINE=DEADLINE, **QUOTA_ENV,
                  **upstream.settings()) as running:
        yield running


def user_and_token(database, username) -> tuple[int, str]:
    """(id, token key) of a user of the instances' database, made if absent."""
    script = (
        "from django.contrib.auth import get_user_model;"
        "from rest_framework.authtoken.models import Token;"
        f"u,_=get_user_model().objects.get_or_create(username={username!r});"
        "t,_=Token.objects.get_or_create(user=u);print(u.pk, t.key)"
    )
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT,
                         env=base_env(DATABASE_URL=database.url), check=True, timeout=60,
                         capture_output=True, text=True)
    user_id, token = out.stdout.strip().splitlines()[-1].split()
    return int(user_id), token


def statuses(response):
    services = response.json()["services"]
    return {name: (entry["status"], entry.get("error")) for name, entry in services.items()}


def quota_search(server, token, query):
    return requests.get(server.url + "/api/search/", params={"q": query, "limit": 3, "services": "itunes,youtube"},
                        headers={"Authorization": f"Token {token}"}, timeout=10)


def test_quotas_from_the_environment_are_shared_by_every_worker_and_process(quota_server, database, fakes,
                                                                           settings):
    from search.fanout import fanout_search
    from search.quota import user_units_spent

    a_id, a_token = user_and_token(database, "dj")
    b_id, b_token = user_and_token(database, "dj-b")
    seen_a = [statuses(quota_search(quota_server, a_token, f"a{n}")) for n in range(3)]
    seen_b = statuses(quota_search(quota_server, b_token, "b0"))
    assert [seen["youtube"] for seen in seen_a] == [("ok", None)] * 2 + [("unavailable", "user quota exceeded")]
    assert seen_b["youtube"] == ("ok", None)
    assert [seen["itunes"] for seen in seen_a + [seen_b]] == [("ok", None)] * 2 + [("unavailable", "rate limited")] * 2
    assert fakes.calls() == {"itunes": 2, "soundcloud": 0, "youtube": 3}
    # What the workers counted is in Redis: this process (not one of theirs) sees and obeys it.
    for name, value in fakes.settings().items():
        setattr(settings, name, value)
    settings.QL_YOUTUBE_DAILY_UNITS, settings.QL_YOUTUBE_USER_SHARE = 1000, 20.0
    assert (user_units_spent(service="youtube", user_id=a_id), user_units_spent(service="youtube", user_id=b_id)) == (
        200, 100)
    here = fanout_search(query="a9", services=["youtube"], limit=3, user_id=a_id)["youtube"]
    assert (here["status"], here["error"]) == ("unavailable", "user quota exceeded")
    assert fakes.youtube.calls == 3


def test_query_errors_do_not_switch_a_service_off_for_everyone(quota_server, database, fakes):
    fakes.soundcloud.answer(status=400, body={"code": 400})
    seen = [statuses(requests.get(quota_server.url + "/api/search/", params={"q": f"bad{n}", "services": "soundcloud"},
                                  headers={"Authorization": f"Token {database.token}"}, timeout=10))
            for n in range(6)]
    assert seen == [{"soundcloud": ("error", "HTTP 400")}] * 6
    fakes.soundcloud.answer()
    good = statuses(requests.get(quota_server.url + "/api/search/", params={"q": "good", "services": "soundcloud"},
                                 headers={"Authorization": f"Token {database.token}"}, timeout=10))
    assert good == {"soundcloud": ("ok", None)}
    assert fakes.soundcloud.calls == 7
