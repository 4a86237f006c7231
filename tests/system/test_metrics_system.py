"""/metrics of a real gunicorn instance with several workers (gunicorn.conf.py): one scrape,
whichever worker answers it, sums every worker's counts; the instance's metrics directory is
emptied when it starts (and a temporary one removed when it stops); addresses outside
QL_METRICS_ALLOW are refused."""

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.system.servers import Gunicorn, child_pids, wait_until

WORKERS = 3


def scrape(url: str) -> dict:
    response = requests.get(url + "/metrics", timeout=10)
    assert response.status_code == 200, response.text
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def healthz_count(samples: dict) -> float:
    return samples.get(("ql_http_requests_total", (("method", "GET"), ("route", "/healthz"), ("status", "200"))), 0)


def per_worker_healthz(directory: Path) -> dict[int, float]:
    """{worker pid: /healthz requests it counted}, read from each worker's own file."""
    from prometheus_client.multiprocess import MultiProcessCollector

    counts = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for family in MultiProcessCollector.merge([str(path)], accumulate=False):
            for sample in family.samples:
                if (sample.name == "ql_http_requests_total" and sample.labels.get("route") == "/healthz"
                        and sample.labels.get("status") == "200"):
                    counts[pid] = counts.get(pid, 0) + sample.value
    return counts


def settled(directory: Path) -> dict[int, float]:
    """per_worker_healthz once no request is left in flight (two reads a second apart agree):
    a readiness poll the client gave up on may still be answered, late, on a busy machine."""
    seen = []

    def same():
        seen.append(per_worker_healthz(directory))
        return len(seen) > 1 and seen[-1] == seen[-2]

    wait_until(same, timeout=30, interval=1.0, what="the workers' counts to settle")
    return seen[-1]


def stale_counter_file(directory: Path, pid: int = 999_999) -> Path:
    """A counter file as a worker of an earlier run of the instance left it: 1,000 /healthz."""
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    path = directory / f"counter_{pid}.db"
    stale = MmapedDict(str(path))
    key = mmap_key("ql_http_requests", "ql_http_requests_total", ("route", "method", "status"),
                   ("/healthz", "GET", "200"), "HTTP requests")
    stale.write_value(key, 1000.0, 0.0)
    stale.close()
    return path


def test_one_scrape_sums_the_counts_of_every_worker_and_the_directory_starts_empty(database, tmp_path):
    directory = tmp_path / "metrics"
    directory.mkdir()
    stale = stale_counter_file(directory)
    (directory / "notes.txt").write_text("not ours")  # only *.db files are removed
    with Gunicorn(workers=WORKERS, database=database, PROMETHEUS_MULTIPROC_DIR=directory) as server:
        assert not stale.exists()
        assert (directory / "notes.txt").exists()
        wait_until(lambda: len(child_pids(server.process.pid)) == WORKERS, timeout=30, what="workers")
        workers = set(child_pids(server.process.pid))
        sent = sum(settled(directory).values())  # the start's readiness polls
        assert sent >= 1

        def get(_):
            return requests.get(server.url + "/healthz", timeout=10).status_code

        # Concurrent requests until every worker has answered some (each counts in its own file).
        deadline = time.monotonic() + 60
        with ThreadPoolExecutor(8) as pool:
            while set(per_worker_healthz(directory)) != workers:
                assert time.monotonic() < deadline, per_worker_healthz(directory)
                assert set(pool.map(get, range(40))) == {200}
                sent += 40
        counts = settled(directory)
        assert len(counts) == WORKERS and all(count > 0 for count in counts.values())
        assert sum(counts.values()) == sent

        for _ in range(2 * WORKERS):  # whichever worker answers, the whole instance's total
            assert healthz_count(scrape(server.url)) == sent
        samples = scrape(server.url)
        duration = ("ql_http_request_duration_seconds_count", (("method", "GET"), ("route", "/healthz")))
        assert samples[duration] == sent
        scrapes = ("ql_http_requests_total", (("method", "GET"), ("route", "/metrics"), ("status", "200")))
        assert samples[scrapes] == 2 * WORKERS  # a scrape counts once it has answered


def test_a_worker_that_is_replaced_keeps_its_counts_in_the_sum(database, tmp_path):
    import signal

    directory = tmp_path / "metrics"
    with Gunicorn(workers=2, database=database, PROMETHEUS_MULTIPROC_DIR=directory) as server:
        wait_until(lambda: len(child_pids(server.process.pid)) == 2, timeout=30, what="workers")
        with ThreadPoolExecutor(4) as pool:
            assert set(pool.map(lambda _: requests.get(server.url + "/healthz", timeout=10).status_code,
                                range(30))) == {200}
        victim = child_pids(server.process.pid)[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: victim not in child_pids(server.process.pid)
                   and len(child_pids(server.process.pid)) == 2, timeout=30, what="a new worker")
        wait_until(lambda: requests.get(server.url + "/healthz", timeout=2).status_code == 200,
                   timeout=30, what="the instance answering")
        assert healthz_count(scrape(server.url)) >= 30


def test_an_instance_without_a_directory_gets_a_temporary_one_removed_when_it_stops(database):
    server = Gunicorn(workers=2, database=database)
    server.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with server:
        requests.get(server.url + "/healthz", timeout=5)
        assert healthz_count(scrape(server.url)) >= 1
        found = re.search(r"metrics: per-worker files in (\S+?)[\"\s]", server.output())
        assert found, server.output()[-2000:]
        directory = Path(found.group(1))
        assert directory.is_dir() and list(directory.glob("*.db"))
        if os.access("/dev/shm", os.W_OK):  # in memory, where there is a tmpfs for it
            assert directory.parent == Path("/dev/shm")
    assert not directory.exists()


def test_addresses_outside_ql_metrics_allow_are_refused(database):
    """Here the instance allows only 10.0.0.0/8: the test's loopback address is refused."""
    with Gunicorn(workers=2, database=database, QL_METRICS_ALLOW="10.0.0.0/8") as server:
        for _ in range(4):
            response = requests.get(server.url + "/metrics", timeout=5)
            assert response.status_code == 403
            assert "ql_http_requests" not in response.text
        assert requests.get(server.url + "/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize("header", ["127.0.0.1", "10.0.0.1"])
def test_a_forwarded_request_is_refused_even_from_loopback(database, header):
    with Gunicorn(workers=1, database=database) as server:
        assert requests.get(server.url + "/metrics", timeout=5).status_code == 200
        response = requests.get(server.url + "/metrics", headers={"X-Forwarded-For": header}, timeout=5)
        assert response.status_code == 403


def test_the_stale_file_helper_writes_what_prometheus_client_reads(tmp_path):
    """The test's stale file is one prometheus_client sums (else the clean-up test proves nothing)."""
    from prometheus_client.multiprocess import MultiProcessCollector

    stale_counter_file(tmp_path)
    families = MultiProcessCollector.merge([str(p) for p in tmp_path.glob("*.db")])
    values = [s.value for f in families for s in f.samples if s.name == "ql_http_requests_total"]
    assert values == [1000.0]


def test_track_reads_count_under_the_route_pattern_whichever_worker_answers(database):
    """Token reads of a track, most answered early by tracks/middleware.py in the workers that
    verified the token: one label, the route's pattern; the id appears nowhere."""
    with Gunicorn(workers=2, database=database) as server:
        auth = {"Authorization": f"Token {database.token}"}
        created = requests.post(server.url + "/api/tracks/", json={"title": "t", "artist": "a"}, headers=auth,
                                timeout=10)
        assert created.status_code == 201, created.text
        track_id = created.json()["id"]
        before = scrape(server.url)
        route = (("method", "GET"), ("route", "/api/tracks/<str:track_id>/"), ("status", "200"))
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: requests.get(f"{server.url}/api/tracks/{track_id}/", headers=auth,
                                                           timeout=10), range(40)))
        assert {answer.status_code for answer in answers} == {200}
        assert {answer.headers["X-Track-Cache"] for answer in answers} <= {"hit", "checked", "miss"}
        after = requests.get(server.url + "/metrics", timeout=10).text
        samples = scrape(server.url)
        assert samples[("ql_http_requests_total", route)] - before.get(("ql_http_requests_total", route), 0) == 40
        reads = sum(value - before.get(key, 0) for key, value in samples.items()
                    if key[0] == "ql_cache_reads_total" and ("cache", "track") in key[1])
        assert reads == 40
        assert track_id not in after
