#!/usr/bin/env python
"""The CPU cost of metrics per request, in one process (issue 17): Django's WSGI handler
called directly (no HTTP, no wrk), with metrics on (MetricsMiddleware and the counting, in
prometheus_client's multiprocess mode as gunicorn's workers run it) and off, interleaved in
rounds. Less noisy than requests per second on a shared machine: the figure is CPU time of
this process only.

    .venv/bin/python bench/metrics_bench.py [--requests 20000] [--rounds 5] [--batch 200]

Uses its own Redis key prefix and deletes only its keys; prints a markdown table.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

# As in a gunicorn worker: the multiprocess mode is chosen when prometheus_client is imported.
_DIR = tempfile.mkdtemp(prefix="ql-metrics-bench-",  # where gunicorn.conf.py puts them: memory
                        dir="/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else None)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _DIR
os.environ.setdefault("QL_THROTTLE_ANON", "off")
_DB = os.path.join(tempfile.gettempdir(), os.path.basename(_DIR) + ".sqlite3")
os.environ["DATABASE_URL"] = f"sqlite:///{_DB}"

from benchenv import delete_own_keys, setup  # noqa: E402

setup()

from django.conf import settings  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.test.client import RequestFactory  # noqa: E402

from quantumlive import metrics  # noqa: E402
from tracks import store  # noqa: E402

METRICS_MIDDLEWARE = "quantumlive.metrics.MetricsMiddleware"


def plain_values(i: int) -> dict:
    """A plain track, as bench/tracks_bench.py seeds them."""
    return {"title": f"Track {i}", "artist": f"Artist {i % 97}", "bpm": 90 + i % 90, "key": "A minor",
            "duration": 240.0 + i % 60, "genres": ["house", "latin"][: 1 + i % 2],
            "sources": {"youtube": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}, "notes": None, "cues": []}


def handler(with_metrics: bool) -> WSGIHandler:
    middleware = list(settings.MIDDLEWARE)
    if not with_metrics and METRICS_MIDDLEWARE in middleware:
        middleware.remove(METRICS_MIDDLEWARE)
    if with_metrics and METRICS_MIDDLEWARE not in middleware:
        middleware.insert(1, METRICS_MIDDLEWARE)
    settings.MIDDLEWARE = middleware
    built = WSGIHandler()
    return built


def environ_for(path: str, token: str) -> dict:
    return RequestFactory().get(path, HTTP_AUTHORIZATION=f"Token {token}").environ


def run(app: WSGIHandler, environs: list[dict], count: int, counting: bool) -> float:
    """CPU µs per request of `count` requests through `app`."""
    metrics.ON = counting

    def start_response(status, headers, exc_info=None):
        assert status.startswith(("200", "304")), status

    started = time.process_time()
    for n in range(count):
        body = app(dict(environs[n % len(environs)]), start_response)
        for _ in body:
            pass
        body.close()
    return (time.process_time() - started) / count * 1e6


def metrics_work_alone(runs: int) -> tuple[float, float]:
    """CPU µs of what metrics add to a hot read, without the rest of the request: the
    middleware around a view that answers at once, and the cache outcome's count."""
    from django.http import HttpResponse

    response = HttpResponse(b"{}")
    request = RequestFactory().get("/api/tracks/x/")
    setattr(request, metrics.ROUTE_ATTRIBUTE, "api/tracks/<str:track_id>/")
    middleware = metrics.MetricsMiddleware(lambda r: response)
    metrics.ON = True
    found = []
    for _ in range(runs):
        started = time.process_time()
        for _ in range(20000):
            middleware(request)
            metrics.cache_read("track", "hit")
        found.append((time.process_time() - started) / 20000 * 1e6)
    return statistics.median(found), min(found)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000, help="requests per figure, setting and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--tracks", type=int, default=500)
    args = parser.parse_args()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench")
    token = Token.objects.create(user=user).key
    try:
        ids = [store.track_create(values=plain_values(i))["id"] for i in range(args.tracks)]
        reads = [environ_for(f"/api/tracks/{i}/", token) for i in ids]
        health = [environ_for("/healthz", token)]
        on, off = handler(True), handler(False)
        for app, counting in ((on, True), (off, False)):  # tokens verified, caches filled
            run(app, reads, 2 * len(reads), counting)
        # On and off alternate every `batch` requests; each pair of batches gives one paired
        # difference. A busy neighbour slows both of a pair alike; the medians drop the pairs
        # it hit in the middle.
        batch = args.batch
        pairs = max(1, args.requests // batch)
        results: dict[str, dict[str, list[float]]] = {}
        for figure, environs in (("GET track (hot read)", reads), ("healthz", health)):
            found = results[figure] = {"on": [], "off": [], "diff": []}
            for number in range(args.rounds * pairs):
                order = [("on", on, True), ("off", off, False)]
                spent = {name: run(app, environs, batch, counting)
                         for name, app, counting in (order if number % 2 == 0 else order[::-1])}
                found["on"].append(spent["on"])
                found["off"].append(spent["off"])
                found["diff"].append(spent["on"] - spent["off"])
            print(f"{figure}: on {statistics.median(found['on']):.1f} µs, off {statistics.median(found['off']):.1f} µs",
                  file=sys.stderr)
        alone = metrics_work_alone(args.rounds * 3)
        print(f"CPU µs per request of this process, {args.rounds * pairs} pairs of batches of {batch} requests "
              "per figure, on and off alternating (medians; quartiles of the paired differences):\n")
        print("| request | metrics on | metrics off | on − off (paired) | off / on |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for figure, found in results.items():
            on_us, off_us = statistics.median(found["on"]), statistics.median(found["off"])
            q1, q2, q3 = statistics.quantiles(found["diff"], n=4)
            print(f"| {figure} | {on_us:.1f} | {off_us:.1f} | {q2:.1f} ({q1:.1f} – {q3:.1f}) | {off_us / on_us:.3f} |")
        print(f"\nThe metrics work of a hot read alone (MetricsMiddleware around a view that answers at once, "
              f"plus the cache outcome's count; multiprocess files): {alone[0]:.1f} µs (median of "
              f"{args.rounds * 3} runs of 20,000; fastest run {alone[1]:.1f} µs).")
    finally:
        delete_own_keys()
        os.unlink(_DB)
        import shutil

        shutil.rmtree(_DIR, ignore_errors=True)


if __name__ == "__main__":
    main()
