"""GET /metrics (API.md, "Browser clients and observability"), in one process (no
PROMETHEUS_MULTIPROC_DIR: the counts are this process's): the text format, who may read it,
the route label (the URL pattern, never the path), the early answers, the cache outcomes,
search, Redis errors and the analysis jobs read from Redis. Counters only grow in a process:
every test compares before and after. Several gunicorn workers: tests/system/test_metrics_system.py."""

import pytest
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from quantumlive import metrics
from tests.search.conftest import fakes  # noqa: F401 (the fake search services)

pytestmark = pytest.mark.django_db

TRACK_ROUTE = "/api/tracks/<str:track_id>/"


def scrape(client=None, **extra) -> dict:
    """{(sample name, ((label, value), ...)): value} of one scrape."""
    from django.test import Client

    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def requests_of(samples, route, method="GET", status="200") -> float:
    return value(samples, "ql_http_requests_total", route=route, method=method, status=status)


def create_track(api) -> dict:
    response = api.post("/api/tracks/", {"title": "Live Session", "artist": "Quantum Crew"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


# --- the endpoint ------------------------------------------------------------------------------
def test_metrics_are_served_in_the_prometheus_text_format_from_loopback(anon):
    anon.get("/healthz")
    samples = scrape()
    assert requests_of(samples, "/healthz") >= 1
    assert value(samples, "ql_http_request_duration_seconds_count", route="/healthz", method="GET") >= 1
    assert value(samples, "ql_http_request_duration_seconds_bucket", route="/healthz", method="GET",
                 le="+Inf") >= 1


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_the_default_allows_loopback_only(address):
    from django.test import Client

    assert Client(REMOTE_ADDR=address).get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="192.0.2.7").get("/metrics").status_code == 403


@override_settings(QL_METRICS_ALLOW=["10.0.0.0/8", "2001:db8::5/128"])
@pytest.mark.parametrize("address, allowed", [
    ("127.0.0.1", False),          # loopback is no longer listed
    ("::1", False),
    ("10.1.2.3", True),            # inside the network
    ("::ffff:10.1.2.3", True),     # the same, as an IPv4-mapped IPv6 peer
    ("11.0.0.1", False),
    ("2001:db8::5", True),
    ("2001:db8::6", False),
    ("", False),
    ("not-an-address", False),
])
def test_only_addresses_in_ql_metrics_allow_may_read_them(address, allowed):
    from django.test import Client

    response = Client(REMOTE_ADDR=address).get("/metrics")
    assert response.status_code == (200 if allowed else 403)
    if not allowed:
        assert "QL_METRICS_ALLOW" in response.json()["detail"]
        assert b"ql_http_requests" not in response.content


def test_the_check_is_on_the_peer_address_and_a_proxied_request_is_refused():
    """REMOTE_ADDR decides; X-Forwarded-For (a client writes it) never lets one in, and a
    request that has it came through a proxy (nginx), whose own address says nothing."""
    from django.test import Client

    assert Client(REMOTE_ADDR="192.0.2.7").get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 403
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics", HTTP_X_FORWARDED_FOR="192.0.2.7").status_code == 403
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 403


def test_other_methods_are_405(anon):
    response = anon.post("/metrics")
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"
    assert anon.head("/metrics").status_code == 200


def test_a_bad_ql_metrics_allow_stops_start_up(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from quantumlive.env import envnetworks

    monkeypatch.setenv("QL_METRICS_ALLOW", "127.0.0.1, 10.0.0.0/8 ,::1")
    assert envnetworks("QL_METRICS_ALLOW", "") == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    for bad in ("localhost", "10.0.0.0/33", "127.0.0.1;rm"):
        monkeypatch.setenv("QL_METRICS_ALLOW", bad)
        with pytest.raises(ImproperlyConfigured, match="QL_METRICS_ALLOW"):
            envnetworks("QL_METRICS_ALLOW", "")


# --- requests: the route label ---------------------------------------------------------------
def test_the_route_label_is_the_url_pattern_never_the_path(api, anon):
    track = create_track(api)
    before = scrape()
    url = f"/api/tracks/{track['id']}/"
    assert anon.get(url).status_code == 200                 # through DRF (anonymous)
    assert anon.patch(url, {}, format="json").status_code == 401
    response = anon.get(f"/api/tracks/{track['id']}/move/")
    assert response.status_code == 405
    after = scrape()
    assert requests_of(after, TRACK_ROUTE) - requests_of(before, TRACK_ROUTE) == 1
    assert requests_of(after, TRACK_ROUTE, "PATCH", "401") - requests_of(before, TRACK_ROUTE, "PATCH", "401") == 1
    move = "/api/tracks/<str:track_id>/move/"
    assert requests_of(after, move, "GET", "405") - requests_of(before, move, "GET", "405") == 1
    text = api.get("/metrics").content.decode()
    assert track["id"] not in text


def test_paths_that_match_no_route_share_one_label(anon):
    before = scrape()
    for n in range(3):
        assert anon.get(f"/no/such/path/{n}-8f3a").status_code == 404
    after = scrape()
    assert requests_of(after, "<unmatched>", "GET", "404") - requests_of(before, "<unmatched>", "GET", "404") == 3
    assert "8f3a" not in repr(after.keys())


def test_unknown_methods_share_one_label(anon):
    from django.test import Client

    before = scrape()
    for method in ("FOO", "BAR1", "X" * 200):
        assert Client().generic(method, "/healthz").status_code == 405
    after = scrape()
    assert requests_of(after, "/healthz", "other", "405") - requests_of(before, "/healthz", "other", "405") == 3
    assert not any(dict(labels).get("method") in ("FOO", "BAR1") for _, labels in after)


def test_the_early_track_read_is_counted_under_the_track_route(api):
    """The token read answered by tracks/middleware.py before URL resolution counts under the
    track route's pattern, and so does the cache outcome it reports."""
    track = create_track(api)
    url = f"/api/tracks/{track['id']}/"
    api.get(url)  # the token verified: the next reads are answered early
    before = scrape()
    for _ in range(3):
        response = api.get(url)
        assert response.status_code == 200
        assert not hasattr(response.wsgi_request, "resolver_match") or response.wsgi_request.resolver_match is None
    after = scrape()
    assert requests_of(after, TRACK_ROUTE) - requests_of(before, TRACK_ROUTE) == 3
    count = "ql_http_request_duration_seconds_count"
    assert value(after, count, route=TRACK_ROUTE, method="GET") - value(before, count, route=TRACK_ROUTE,
                                                                          method="GET") == 3
    reads = sum(value(after, "ql_cache_reads_total", cache="track", outcome=o)
                - value(before, "ql_cache_reads_total", cache="track", outcome=o) for o in metrics.CACHE_OUTCOMES)
    assert reads == 3
    outcome = response["X-Track-Cache"]  # hit or checked, or miss while the cache is not subscribed yet
    assert value(after, "ql_cache_reads_total", cache="track", outcome=outcome) > value(
        before, "ql_cache_reads_total", cache="track", outcome=outcome)


def test_a_not_modified_read_counts_its_cache_outcome_too(api):
    track = create_track(api)
    url = f"/api/tracks/{track['id']}/"
    api.get(url)
    before = scrape()
    assert api.get(url, HTTP_IF_NONE_MATCH='"1"').status_code == 304
    after = scrape()
    assert requests_of(after, TRACK_ROUTE, "GET", "304") - requests_of(before, TRACK_ROUTE, "GET", "304") == 1
    assert sum(after.get(k, 0) - before.get(k, 0) for k in after if k[0] == "ql_cache_reads_total") == 1


def test_a_page_of_playlist_entries_counts_its_cache_outcome(api):
    created = api.post("/api/playlists/", {"name": "Set"}, format="json")
    assert created.status_code == 201, created.content
    url = f"/api/playlists/{created.json()['id']}/items/"
    before = scrape()
    first, second = api.get(url), api.get(url)
    assert first.status_code == second.status_code == 200
    after = scrape()
    for response in (first, second):
        outcome = response["X-Playlist-Cache"]
        assert value(after, "ql_cache_reads_total", cache="playlist", outcome=outcome) > value(
            before, "ql_cache_reads_total", cache="playlist", outcome=outcome)
    route = "/api/playlists/<str:playlist_id>/items/"
    assert requests_of(after, route) - requests_of(before, route) == 2


# --- Redis down ----------------------------------------------------------------------------------
@pytest.fixture
def private_redis(settings):
    from tests.system.servers import PrivateRedis
    from tracks.cache import reset_process_cache

    server = PrivateRedis().start()
    settings.REDIS_URL = server.url
    reset_process_cache()
    yield server
    reset_process_cache()
    server.close()


def test_503s_while_redis_is_down_are_counted_with_their_route_and_as_redis_errors(api, anon, private_redis):
    track = create_track(api)
    url = f"/api/tracks/{track['id']}/"
    assert api.get(url).status_code == 200  # the token verified: the hot read answers early
    private_redis.stop()
    before = scrape()
    assert api.get(url).status_code == 503                               # early (tracks/middleware.py)
    assert anon.get(url).status_code == 503                              # DRF's exception handler
    assert anon.get("/api/youtube/").status_code == 503
    after = scrape()  # still answers: the analysis figures are left out
    assert requests_of(after, TRACK_ROUTE, "GET", "503") - requests_of(before, TRACK_ROUTE, "GET", "503") == 2
    assert requests_of(after, "/api/youtube/", "GET", "503") - requests_of(before, "/api/youtube/", "GET", "503") == 1
    errors = value(after, "ql_redis_errors_total", kind="down") - value(before, "ql_redis_errors_total", kind="down")
    assert errors == 3
    assert not any(name.startswith("ql_analysis") for name, _ in after)


# --- search ----------------------------------------------------------------------------------
def test_search_answers_are_counted_by_provider_status_and_cache_and_upstream_calls_timed(
        api, fakes, settings):  # noqa: F811
    settings.SOUNDCLOUD_CLIENT_ID = ""  # not_configured
    fakes.itunes.answer(raw=b"not json")  # error
    before = scrape()
    for _ in range(2):
        assert api.get("/api/search/", {"q": "afro house", "limit": 3}).status_code == 200
    after = scrape()

    def answers(provider, status, cached):
        labels = dict(provider=provider, status=status, cached=cached)
        return value(after, "ql_search_answers_total", **labels) - value(before, "ql_search_answers_total", **labels)

    assert answers("youtube", "ok", "false") == 1 and answers("youtube", "ok", "true") == 1
    assert answers("soundcloud", "not_configured", "false") == 2
    assert answers("itunes", "error", "false") >= 1
    calls = "ql_search_upstream_duration_seconds_count"
    assert value(after, calls, provider="youtube") - value(before, calls, provider="youtube") == 1
    assert value(after, calls, provider="itunes") - value(before, calls, provider="itunes") >= 1
    assert value(after, calls, provider="soundcloud") == value(before, calls, provider="soundcloud")
    assert value(after, "ql_search_upstream_duration_seconds_sum", provider="youtube") > value(
        before, "ql_search_upstream_duration_seconds_sum", provider="youtube")


# --- analysis jobs -------------------------------------------------------------------------------
def test_analysis_jobs_queue_and_durations_are_read_from_redis(idle_queue):
    """What a worker process (maybe on another host) records in Redis: every instance's
    /metrics reads it."""
    from analysis import jobs

    samples = scrape()
    assert value(samples, "ql_analysis_queue_depth") == 0
    assert value(samples, "ql_analysis_jobs", state="queued") == 0
    assert value(samples, "ql_analysis_jobs_submitted_total") == 0

    ids = []
    for n in range(3):
        job_id, new = jobs.claim(digest=f"d{n}", source={"path": f"x{n}.wav"}, options={})
        assert new
        jobs.enqueue(job_id)
        ids.append(job_id)
    assert jobs.claim(digest="d0", source={"path": "x0.wav"}, options={})[1] is False  # joins: not counted
    assert jobs.mark_running(ids[0]) and jobs.mark_running(ids[1])
    jobs.finish(ids[0], result={"bpm": 120}, expected=("running",), ran_for=1.5)
    jobs.finish(ids[1], error="not audio", expected=("running",), ran_for=42.0)
    jobs.finish(ids[2], error="lost", expected=("queued",))  # failed by a reader: no run time

    samples = scrape()
    assert value(samples, "ql_analysis_jobs_submitted_total") == 3
    assert value(samples, "ql_analysis_queue_depth") == 3  # RQ's list: no worker took them
    assert value(samples, "ql_analysis_jobs", state="queued") == 3
    assert value(samples, "ql_analysis_jobs", state="running") == 0
    assert value(samples, "ql_analysis_jobs_finished_total", outcome="done") == 1
    assert value(samples, "ql_analysis_jobs_finished_total", outcome="failed") == 2
    bucket = "ql_analysis_job_duration_seconds_bucket"
    assert value(samples, bucket, outcome="done", le="1.0") == 0
    assert value(samples, bucket, outcome="done", le="2.0") == 1
    assert value(samples, bucket, outcome="done", le="+Inf") == 1
    assert value(samples, bucket, outcome="failed", le="30.0") == 0
    assert value(samples, bucket, outcome="failed", le="60.0") == 1
    assert value(samples, bucket, outcome="failed", le="+Inf") == 1
    assert value(samples, "ql_analysis_job_duration_seconds_count", outcome="failed") == 1
    assert value(samples, "ql_analysis_job_duration_seconds_sum", outcome="done") == 1.5


def test_the_task_records_its_run_time(settings, tmp_path):
    """The worker's task (analysis/tasks.py) hands its run time to finish: here a file that
    is not audio fails at once."""
    from analysis import jobs, tasks

    settings.QL_AUDIO_ROOT = tmp_path
    (tmp_path / "noise.wav").write_bytes(b"RIFF" + b"\x00" * 64)
    job_id, _ = jobs.claim(digest="noise", source={"path": str(tmp_path / "noise.wav")}, options={})
    tasks.run_analysis(job_id)
    assert jobs.job_record(job_id)["status"] == "failed"
    samples = scrape()
    assert value(samples, "ql_analysis_jobs_finished_total", outcome="failed") == 1
    assert value(samples, "ql_analysis_job_duration_seconds_count", outcome="failed") == 1
    assert 0 < value(samples, "ql_analysis_job_duration_seconds_sum", outcome="failed") < 60


def test_in_multiprocess_mode_each_process_writes_its_own_files_after_a_fork(tmp_path):
    """quantumlive/metrics.py keeps the pid instead of asking for it at every increment: a
    forked child (gunicorn's workers are forks) must still count in files of its own pid."""
    import json
    import subprocess
    import sys

    from tests.system.servers import ROOT, base_env

    script = r"""
import os, json, django
django.setup()
from quantumlive import metrics
metrics.redis_error("down")                       # the parent's file
child = os.fork()
if child == 0:
    metrics.redis_error("down"); metrics.redis_error("down")
    os._exit(0)
os.waitpid(child, 0)
from prometheus_client.multiprocess import MultiProcessCollector
counts = {}
for name in sorted(os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])):
    path = os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], name)
    for family in MultiProcessCollector.merge([path], accumulate=False):
        for sample in family.samples:
            if sample.name == "ql_redis_errors_total":
                counts[name] = sample.value
print(json.dumps({"parent": os.getpid(), "child": child, "counts": counts}))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env=base_env(PROMETHEUS_MULTIPROC_DIR=tmp_path))
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["counts"] == {f"counter_{found['parent']}.db": 1.0, f"counter_{found['child']}.db": 2.0}
