"""Search benchmark: a real gunicorn with 4 workers over fake services that answer iTunes in
300 ms, SoundCloud in 500 ms and YouTube in 400 ms (real HTTP servers on 127.0.0.1).

Measures: cold fan-out latency (p50, against the sum of the three delays — what a sequential
search costs — and against the slowest), warm (cached) latency, the upstream calls made by
20 concurrent identical cold queries, and the answer time when one service never answers.

    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/search_bench.py

Uses its own Redis key prefix and deletes only those keys. Between cold samples it clears
its own iTunes rate-limit window (the 20 calls/minute limit would otherwise answer the 21st
cold query "rate limited" without calling iTunes).
"""

import http.client
import json
import os
import statistics
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "quantumlive.settings"
os.environ["QL_REDIS_PREFIX"] = f"qlbench-search-{uuid.uuid4().hex[:8]}"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from quantumlive import keys  # noqa: E402
from quantumlive.redis_conn import get_redis  # noqa: E402
from tests.search.fakes import Fakes  # noqa: E402
from tests.system.servers import Database, Gunicorn  # noqa: E402

DELAYS = {"itunes": 0.300, "soundcloud": 0.500, "youtube": 0.400}
COLD_SAMPLES = 20
WARM_SAMPLES = 300
CONCURRENT = 20
HUNG_SAMPLES = 3
SERVICES = tuple(DELAYS)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


class Client:
    """GET /api/search/ over a fresh connection each time (gunicorn's sync workers close it)."""

    def __init__(self, port: int, token: str):
        self.port, self.headers = port, {"Authorization": f"Token {token}"}

    def search(self, query: str) -> tuple[float, dict]:
        path = "/api/search/?" + urlencode({"q": query, "limit": 10})
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path, headers=self.headers)
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        took = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
        return took, json.loads(body)


def reset_rate_window():
    get_redis().delete(keys.search_rate("itunes"))


def statuses(body: dict) -> dict:
    return {name: entry["status"] for name, entry in body["services"].items()}


def measure_sequential(fakes: Fakes) -> float:
    """What calling the three fakes one after another costs (the sequential baseline)."""
    import requests

    session = requests.Session()
    urls = [fakes.itunes.url + "/search", fakes.soundcloud.url + "/search/tracks", fakes.youtube.url + "/search"]
    times = []
    for _ in range(3):
        started = time.perf_counter()
        for url in urls:
            session.get(url, timeout=5).raise_for_status()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    fakes = Fakes()
    for name, delay in DELAYS.items():
        getattr(fakes, name).answer(delay=delay)
    database = Database()
    results = {}
    try:
        with Gunicorn(workers=4, database=database, **fakes.settings()) as server:
            client = Client(server.port, database.token)
            deadline = settings.QL_SEARCH_DEADLINE
            client.search("warm-up the workers")  # each worker's first search imports and connects
            for n in range(8):
                client.search(f"warm-up {n}")
            reset_rate_window()

            sequential = measure_sequential(fakes)
            for fake in fakes.all:
                fake.calls = 0

            cold = []
            for n in range(COLD_SAMPLES):
                reset_rate_window()
                took, body = client.search(f"cold query {n} {uuid.uuid4().hex[:6]}")
                assert statuses(body) == {s: "ok" for s in SERVICES}, statuses(body)
                assert not any(e["cached"] for e in body["services"].values())
                cold.append(took)

            client.search("warm query")
            warm = []
            for _ in range(WARM_SAMPLES):
                took, body = client.search("warm query")
                assert all(e["cached"] for e in body["services"].values())
                warm.append(took)

            reset_rate_window()
            for fake in fakes.all:
                fake.calls = 0
            barrier = threading.Barrier(CONCURRENT)
            concurrent_times, concurrent_bodies = [None] * CONCURRENT, [None] * CONCURRENT

            def one(n):
                barrier.wait(timeout=10)
                concurrent_times[n], concurrent_bodies[n] = client.search("the same cold query")

            threads = [threading.Thread(target=one, args=(n,)) for n in range(CONCURRENT)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            calls = fakes.calls()
            all_ok = all(statuses(b) == {s: "ok" for s in SERVICES} for b in concurrent_bodies)

            fakes.youtube.answer(hang=True)
            hung = []
            for n in range(HUNG_SAMPLES):
                reset_rate_window()
                took, body = client.search(f"hung query {n}")
                assert statuses(body) == {"itunes": "ok", "soundcloud": "ok", "youtube": "timeout"}, statuses(body)
                hung.append(took)
            fakes.youtube.reset()

            results = {
                "deadline": deadline, "sequential_measured": sequential,
                "cold_p50": percentile(cold, 0.5), "cold_p90": percentile(cold, 0.9), "cold_max": max(cold),
                "warm_p50": percentile(warm, 0.5), "warm_p90": percentile(warm, 0.9), "warm_p99": percentile(warm, 0.99),
                "concurrent_calls": calls, "concurrent_all_ok": all_ok,
                "concurrent_p50": percentile(concurrent_times, 0.5), "concurrent_max": max(concurrent_times),
                "hung": hung,
            }
    finally:
        fakes.stop()
        database.close()
        client_redis = get_redis()
        own = list(client_redis.scan_iter(match=keys.prefix_pattern(), count=1000))
        if own:
            client_redis.unlink(*own)
    report(results)


def report(r: dict) -> None:
    total, slowest = sum(DELAYS.values()), max(DELAYS.values())
    ms = lambda s: f"{s * 1000:.1f} ms"  # noqa: E731
    print(f"date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}; cpus: {os.cpu_count()}; "
          f"QL_SEARCH_DEADLINE: {r['deadline']} s")
    print()
    print("| measure | value | compared with | target | met |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| cold fan-out p50 ({COLD_SAMPLES} distinct queries) | {ms(r['cold_p50'])} | "
          f"sum of the three {ms(total)}: x{r['cold_p50'] / total:.2f}; slowest {ms(slowest)}: "
          f"x{r['cold_p50'] / slowest:.2f} (+{ms(r['cold_p50'] - slowest)}) | <= slowest + 50 ms | "
          f"{'yes' if r['cold_p50'] <= slowest + 0.050 else 'NO'} |")
    print(f"| cold fan-out p90 / max | {ms(r['cold_p90'])} / {ms(r['cold_max'])} | | | |")
    print(f"| sequential baseline, measured (the three fakes called one after another) | "
          f"{ms(r['sequential_measured'])} | cold p50 is x{r['cold_p50'] / r['sequential_measured']:.2f} of it | | |")
    print(f"| warm (cached) p50 ({WARM_SAMPLES} requests) | {ms(r['warm_p50'])} | p90 {ms(r['warm_p90'])}, "
          f"p99 {ms(r['warm_p99'])} | <= 5 ms | {'yes' if r['warm_p50'] <= 0.005 else 'NO'} |")
    calls = r["concurrent_calls"]
    print(f"| upstream calls for {CONCURRENT} concurrent identical cold queries | "
          f"itunes {calls['itunes']}, soundcloud {calls['soundcloud']}, youtube {calls['youtube']} | "
          f"all answers ok: {r['concurrent_all_ok']}; p50 {ms(r['concurrent_p50'])}, max {ms(r['concurrent_max'])} | "
          f"exactly 1 each | {'yes' if set(calls.values()) == {1} else 'NO'} |")
    worst = max(r["hung"])
    print(f"| answer with YouTube never answering ({HUNG_SAMPLES} queries) | "
          f"{', '.join(ms(t) for t in r['hung'])} | deadline {ms(r['deadline'])}: worst {(worst - r['deadline']) * 1000:+.1f} ms | "
          f"<= deadline + 100 ms | {'yes' if worst <= r['deadline'] + 0.100 else 'NO'} |")


if __name__ == "__main__":
    main()
