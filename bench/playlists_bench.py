#!/usr/bin/env python
"""Playlists benchmark (issue 14): a playlist of 10 entries and one of 10,000 (distinct library
tracks) on one gunicorn instance, every figure measured side by side in one run.

    .venv/bin/python bench/playlists_bench.py [--entries 10000] [--small 10] [--workers 4]
        [--rounds 200] [--seconds 5] [--rate-rounds 5] [--shared-redis] [--no-write] [--profile]

1. Latency, p50 / p90 over `--rounds` rounds, each round interleaving the two sizes (which
   goes first alternates): GET a page of 50 entries at the middle, insert 1 entry at the
   middle, reorder a range of 10 from the start to the end, remove one entry (the inserted
   one, so each round leaves both playlists as it found them). Target: every 10,000-entry
   operation <= 2x its 10-entry time.
2. Throughput (wrk, or a pool of keep-alive clients without wrk), `--rate-rounds` interleaved
   rounds: GET a page of 50 entries of the 10,000-entry playlist (random offset) against GET a
   page of 50 library tracks (random offset), with a token. Target: entries >= 0.8x tracks.
3. Where the time of a page goes, in this process (same Redis, warm per-process cache): the
   playlist's Redis script, the entries' track summaries, rendering; and the same parts of a
   page of library tracks.

Runs on a redis-server of its own (`--shared-redis`: the one at REDIS_URL, under a key prefix
of the run's own, deleting only its keys). Writes bench/RESULTS-playlists.md (`--no-write`:
prints only); `--profile` prints cProfile's top functions of the two whole requests.
"""

import argparse
import atexit
import cProfile
import io
import os
import pstats
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone

from benchenv import ROOT, delete_own_keys, setup  # noqa: E402

sys.path.insert(0, str(ROOT))
from tests.system.servers import Database, Gunicorn, PrivateRedis  # noqa: E402

# A redis-server of the run's own (unless --shared-redis): its CPU per request is then this
# benchmark's alone, and the instance and this process use it through REDIS_URL.
PRIVATE = None if "--shared-redis" in sys.argv else PrivateRedis().start()
if PRIVATE is not None:
    os.environ["REDIS_URL"] = PRIVATE.url
    atexit.register(PRIVATE.close)
# Django's database in this process is the instances' one (the in-process figures below
# authenticate with the same token); throttles off, as the instances have them.
DB_DIR = tempfile.mkdtemp(prefix="ql-bench-db-")
os.environ["DATABASE_URL"] = f"sqlite:///{DB_DIR}/db.sqlite3"
for _name in ("ANON", "WRITES", "SEARCH", "ANALYSIS"):
    os.environ[f"QL_THROTTLE_{_name}"] = "off"
setup()

import requests  # noqa: E402

from quantumlive.redis_conn import get_redis  # noqa: E402
from tracks import store as library  # noqa: E402

PAGE = 50
BATCH = 500  # the most track ids one add takes

ENTRIES_LUA = """
local offsets = tonumber(os.getenv("OFFSETS"))
local path = os.getenv("PAGE_PATH")
local auth = os.getenv("AUTH")
request = function()
  return wrk.format("GET", path .. "?limit=50&offset=" .. (50 * math.random(0, offsets - 1)),
                    {["Authorization"] = auth})
end
"""


def track_values(i: int) -> dict:
    return {"title": f"Track {i}", "artist": f"Artist {i % 97}", "bpm": 90 + i % 90, "key": "A minor",
            "duration": 240.0 + i % 60, "genres": ["house", "latin"][: 1 + i % 2],
            "sources": {"youtube": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}, "notes": None, "cues": []}


def seed_library(count: int) -> list[str]:
    return [library.track_create(values=track_values(i))["id"] for i in range(count)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def loadavg() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


class Api:
    """One keep-alive client of the instance with the owner's token."""

    def __init__(self, url: str, token: str):
        self.url = url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Token {token}"

    def call(self, method: str, path: str, expect: int, **kwargs) -> tuple[float, requests.Response]:
        """(seconds, answer) of one request; AssertionError if its status is not `expect`."""
        started = time.perf_counter()
        answer = self.http.request(method, self.url + path, timeout=60, **kwargs)
        took = time.perf_counter() - started
        assert answer.status_code == expect, (method, path, answer.status_code, answer.text[:300])
        return took, answer


def build_playlist(api: Api, name: str, track_ids: list[str]) -> str:
    _, answer = api.call("POST", "/api/playlists/", 201, json={"name": name})
    playlist_id = answer.json()["id"]
    for start in range(0, len(track_ids), BATCH):
        api.call("POST", f"/api/playlists/{playlist_id}/items/", 201, json={"tracks": track_ids[start:start + BATCH]})
    _, answer = api.call("GET", f"/api/playlists/{playlist_id}/", 200)
    assert answer.json()["tracks"] == len(track_ids), answer.json()
    return playlist_id


OPERATIONS = ("GET page of 50 (middle)", "insert 1 (middle)", "reorder 10 (start to end)", "remove 1")


def measure_latencies(api: Api, playlists: dict[int, str], extra_track: str, rounds: int) -> dict:
    """{size: {operation: [ms, ...]}}, the sizes interleaved operation by operation."""
    times = {size: {operation: [] for operation in OPERATIONS} for size in playlists}
    sizes = list(playlists)
    for number in range(rounds):
        order = sizes if number % 2 == 0 else sizes[::-1]
        inserted = {}
        for operation in OPERATIONS:
            for size in order:
                path = f"/api/playlists/{playlists[size]}"
                if operation.startswith("GET"):
                    took, answer = api.call("GET", f"{path}/items/", 200,
                                            params={"limit": PAGE, "offset": max(0, size // 2 - PAGE // 2)})
                    assert len(answer.json()["results"]) == min(PAGE, size)
                elif operation.startswith("insert"):
                    took, answer = api.call("POST", f"{path}/items/", 201,
                                            json={"tracks": [extra_track], "position": size // 2})
                    inserted[size] = answer.json()["entries"][0]["entry"]
                elif operation.startswith("reorder"):
                    # size + 1 entries now: the first 10 go to the end (with 10 entries and
                    # nothing inserted the move would be the identity)
                    took, _ = api.call("POST", f"{path}/reorder/", 200, json={
                        "range_start": 0, "range_length": 10, "insert_before": size + 1})
                else:
                    took, _ = api.call("DELETE", f"{path}/items/{inserted[size]}/", 204)
                times[size][operation].append(took * 1000)
    return times


# --- throughput ----------------------------------------------------------------------------------
def run_wrk(url: str, env: dict, seconds: int, connections: int) -> tuple[int, float]:
    """wrk's request count and rate."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(ENTRIES_LUA)
    try:
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", handle.name, url],
                             capture_output=True, text=True, env={**os.environ, **env}, timeout=seconds + 30)
    finally:
        os.unlink(handle.name)
    found = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    count = re.search(r"(\d+) requests in", out.stdout)
    if not found or not count:
        raise RuntimeError(out.stdout + out.stderr)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    if errors:
        raise RuntimeError(f"{errors.group(1)} non-2xx answers: {out.stdout}")
    return int(count.group(1)), float(found.group(1))


def run_pool(url: str, env: dict, seconds: int, connections: int) -> tuple[int, float]:
    """wrk's measurement by `connections` threads of keep-alive clients (when wrk is missing)."""
    stop = time.monotonic() + seconds
    counts = [0] * connections
    offsets, path = int(env["OFFSETS"]), env["PAGE_PATH"]

    def client(index: int):
        rng = random.Random(index)
        with requests.Session() as http:
            http.headers["Authorization"] = env["AUTH"]
            while time.monotonic() < stop:
                answer = http.get(f"{url}{path}", params={"limit": PAGE, "offset": PAGE * rng.randrange(offsets)},
                                  timeout=30)
                assert answer.status_code == 200, answer.status_code
                counts[index] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts), sum(counts) / (time.monotonic() - started)


def worker_pids(master_pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master_pid)], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (from /proc)."""
    total = 0
    for pid in pids:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measure_rates(url: str, master_pid: int, token: str, playlist_id: str, entries: int, library_size: int, *,
                  rounds: int, seconds: int, connections: int) -> tuple[dict, dict]:
    """req/s per round of each figure, and the workers' CPU µs per request."""
    load = run_wrk if shutil.which("wrk") else run_pool
    figures = {
        "entries": {"PAGE_PATH": f"/api/playlists/{playlist_id}/items/", "OFFSETS": str(entries // PAGE)},
        "tracks": {"PAGE_PATH": "/api/tracks/", "OFFSETS": str(library_size // PAGE)},
    }
    for env in figures.values():
        env["AUTH"] = f"Token {token}"
        load(url, env, 2, connections)  # warm: every worker has read pages of both
    rates = {name: [] for name in figures}
    cpu_us = {name: {"workers": [], "redis": []} for name in figures}
    pids = worker_pids(master_pid)
    redis_pid = [get_redis().info("server")["process_id"]]  # the Redis (on this machine)
    for number in range(rounds):
        names = list(figures) if number % 2 == 0 else list(figures)[::-1]
        for name in names:
            before = cpu_seconds(pids), cpu_seconds(redis_pid)
            count, rate = load(url, figures[name], seconds, connections)
            rates[name].append(rate)
            cpu_us[name]["workers"].append((cpu_seconds(pids) - before[0]) / count * 1e6)
            cpu_us[name]["redis"].append((cpu_seconds(redis_pid) - before[1]) / count * 1e6)
    return rates, cpu_us


# --- where the time of a page goes (in this process) ---------------------------------------------
def breakdown(token: str, playlist_id: str, entries: int, library_size: int, repeat: int = 300,
              profile: bool = False) -> dict[str, float]:
    """µs per call of a whole request for a page of 50 entries and one of 50 library tracks
    (Django's test client: every middleware, DRF, the view, rendering; no HTTP or gunicorn),
    and of their parts."""
    from django.test import Client
    from rest_framework.renderers import JSONRenderer

    from playlists import store
    from playlists.serializers import entry_body
    from tracks.serializers import track_body

    rng = random.Random(1)
    renderer = JSONRenderer()

    def timed(function) -> float:
        function()  # warm (the per-process cache fills)
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            function()
            samples.append(time.perf_counter() - started)
        return statistics.median(samples) * 1e6

    def entry_offset() -> int:
        return PAGE * rng.randrange(entries // PAGE)

    def track_offset() -> int:
        return PAGE * rng.randrange(library_size // PAGE)

    # this process's cache holds every summary first, as the instance's workers do (they fill
    # theirs when they start): else whichever figure ran first would fill it for the other
    for offset in range(0, library_size, 500):
        library.track_list(offset=offset, limit=500)
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")

    def get(path: str, offset: int):
        answer = client.get(path, {"limit": PAGE, "offset": offset})
        assert answer.status_code == 200, answer.status_code
        return answer

    entries_path = f"/api/playlists/{playlist_id}/items/"
    whole = {
        "whole request: page of 50 entries": lambda: get(entries_path, entry_offset()),
        "whole request: page of 50 library tracks": lambda: get("/api/tracks/", track_offset()),
    }
    if profile:
        for name, function in whole.items():
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(repeat):
                function()
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
            print(f"--- {name}, {repeat} requests, by own time ---\n{out.getvalue()}", file=sys.stderr)
    # a fixed page for the parts, so that the summaries are the ones read above
    fixed = entries // 2 - PAGE // 2
    _, page = store.entries_page(playlist_id=playlist_id, offset=fixed, limit=PAGE)
    track_ids = [entry["track"]["id"] for entry in page]
    bodies = [entry_body(entry) for entry in page]
    _, track_page = library.track_list(offset=fixed, limit=PAGE)
    track_bodies = [track_body(summary) for summary in track_page]
    parts = {
        **{name: timed(function) for name, function in whole.items()},
        "entries: Redis script (meta, ZRANGE, HMGET)": timed(lambda: store._read(playlist_id, fixed, PAGE)),
        "entries: track summaries (per-process cache)": timed(lambda: library.track_summaries(track_ids)),
        "entries: store.entries_page (script + summaries)": timed(
            lambda: store.entries_page(playlist_id=playlist_id, offset=entry_offset(), limit=PAGE)),
        "entries: entry_body x 50": timed(lambda: [entry_body(entry) for entry in page]),
        "entries: JSON rendering": timed(lambda: renderer.render({"count": entries, "results": bodies})),
        "tracks: store.track_list (order + summaries, cache)": timed(
            lambda: library.track_list(offset=track_offset(), limit=PAGE)),
        "tracks: track_body x 50": timed(lambda: [track_body(summary) for summary in track_page]),
        "tracks: JSON rendering": timed(lambda: renderer.render({"count": library_size, "results": track_bodies})),
    }
    parts["entries: JSON size (bytes)"] = len(renderer.render({"count": entries, "results": bodies}))
    parts["tracks: JSON size (bytes)"] = len(renderer.render({"count": library_size, "results": track_bodies}))
    return parts


# --- report --------------------------------------------------------------------------------------
def report(args, times, rates, cpu_us, parts, loads, seeded_seconds, build_seconds) -> tuple[str, bool]:
    small, big = args.small, args.entries
    met = True
    lines = [
        "## Playlists benchmark",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on this shared 2-core machine: "
        f"`.venv/bin/python bench/playlists_bench.py --entries {big} --small {small} --workers {args.workers} "
        f"--rounds {args.rounds} --seconds {args.seconds} --rate-rounds {args.rate_rounds}`. "
        f"One gunicorn instance with {args.workers} sync workers on "
        + ("the Redis at REDIS_URL; " if args.shared_redis else "a redis-server of the run's own; ")
        + f"{big:,} library tracks (seeded in {seeded_seconds:.0f} s), a playlist of {small} and one of {big:,} "
        f"entries of distinct tracks (built over HTTP, {BATCH} tracks per POST: {build_seconds:.1f} s), "
        "both owned by the caller, who sends a token. Load average (1/5/15 min) "
        + "; ".join(f"{what}: {value}" for what, value in loads) + ".",
        "",
        f"Latency: one keep-alive client, {args.rounds} rounds; in each the two sizes take turns "
        "operation by operation (which size goes first alternates), so noise hits both. The insert "
        "takes the position in the middle; the reorder moves entries 0-9 to the end (`insert_before` = "
        "the length, which is size + 1 after the insert); the remove deletes the inserted entry.",
        "",
        f"| operation | {small} entries p50 / p90 (ms) | {big:,} entries p50 / p90 (ms) | ratio of p50 | target |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for operation in OPERATIONS:
        a, b = times[small][operation], times[big][operation]
        ratio = statistics.median(b) / statistics.median(a)
        met &= ratio <= 2.0
        lines.append(f"| {operation} | {statistics.median(a):.2f} / {percentile(a, 0.9):.2f} | "
                     f"{statistics.median(b):.2f} / {percentile(b, 0.9):.2f} | {ratio:.2f} "
                     f"{'(met)' if ratio <= 2.0 else '(MISSED)'} | <= 2 |")
    entries, tracks = statistics.median(rates["entries"]), statistics.median(rates["tracks"])
    per_round = ", ".join(f"{a / b:.2f}" for a, b in zip(rates["entries"], rates["tracks"]))
    page_ratio = entries / tracks
    met &= page_ratio >= 0.8
    tool = "wrk -t2 -c%d" % args.connections if shutil.which("wrk") else f"{args.connections} keep-alive client threads"
    lines += [
        "",
        f"Throughput: {tool} for {args.seconds} s per figure, {args.rate_rounds} rounds, the two figures "
        "alternating (which goes first alternates); pages of 50 at random offsets, with a token; "
        "medians of the rounds (every round in brackets). CPU per request from /proc: the instance's "
        "workers, and the Redis.",
        "",
        "| request | req/s | CPU µs / request: workers | Redis |",
        "| --- | ---: | ---: | ---: |",
        *[f"| {label} | {statistics.median(rates[name]):,.0f} "
          f"({', '.join(f'{value:,.0f}' for value in rates[name])}) | "
          f"{statistics.median(cpu_us[name]['workers']):,.0f} | {statistics.median(cpu_us[name]['redis']):,.0f} |"
          for label, name in [(f"GET a page of 50 entries of the {big:,}-entry playlist", "entries"),
                              (f"GET a page of 50 library tracks ({big:,} tracks)", "tracks")]],
        "",
        "| ratio | measured (per round) | target |",
        "| --- | ---: | ---: |",
        f"| page of entries / page of library tracks | {page_ratio:.2f} ({per_round}) "
        f"{'(met)' if page_ratio >= 0.8 else '(MISSED)'} | >= 0.8 |",
        "",
        "Where the time of a page goes (in the benchmark's process against the same Redis, per-process "
        "cache warm; median µs per call, the middle page):",
        "",
        "| part | µs |",
        "| --- | ---: |",
        *[f"| {name} | {value:,.0f} |" for name, value in parts.items()],
        "",
        f"All targets {'met' if met else 'NOT met'}.",
        "",
    ]
    return "\n".join(lines), met


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=10_000, help="the large playlist's entries")
    parser.add_argument("--small", type=int, default=10, help="the small playlist's entries (>= 10)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=200, help="latency rounds")
    parser.add_argument("--seconds", type=int, default=5, help="seconds per throughput figure")
    parser.add_argument("--rate-rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--no-write", action="store_true", help="print only (RESULTS file untouched)")
    parser.add_argument("--shared-redis", action="store_true",
                        help="use the Redis at REDIS_URL (default: a private redis-server of the run)")
    parser.add_argument("--profile", action="store_true",
                        help="also print cProfile's top functions of the two whole requests (stderr)")
    args = parser.parse_args()
    assert args.small >= 10 and args.entries >= max(args.small, 2 * PAGE)
    loads = [("start", loadavg())]
    database = Database(url=os.environ["DATABASE_URL"])
    try:
        started = time.perf_counter()
        track_ids = seed_library(args.entries)
        seeded_seconds = time.perf_counter() - started
        print(f"seeded {args.entries} tracks in {seeded_seconds:.1f}s", file=sys.stderr)
        with Gunicorn(workers=args.workers, database=database) as server:
            api = Api(server.url, database.token)
            started = time.perf_counter()
            playlists = {args.small: build_playlist(api, "small", track_ids[:args.small]),
                         args.entries: build_playlist(api, "large", track_ids)}
            build_seconds = time.perf_counter() - started
            for size, playlist_id in playlists.items():  # every worker reads both once
                for _ in range(2 * args.workers):
                    api.call("GET", f"/api/playlists/{playlist_id}/items/", 200, params={"limit": PAGE})
            measure_latencies(api, playlists, track_ids[-1], 10)  # warm-up rounds
            loads.append(("before the latencies", loadavg()))
            times = measure_latencies(api, playlists, track_ids[-1], args.rounds)
            loads.append(("before the throughput", loadavg()))
            rates, cpu_us = measure_rates(server.url, server.process.pid, database.token, playlists[args.entries],
                                          args.entries, args.entries, rounds=args.rate_rounds, seconds=args.seconds,
                                          connections=args.connections)
            loads.append(("after it", loadavg()))
            parts = breakdown(database.token, playlists[args.entries], args.entries, args.entries,
                              profile=args.profile)
        text, met = report(args, times, rates, cpu_us, parts, loads, seeded_seconds, build_seconds)
        print(text)
        if not args.no_write:
            (ROOT / "bench" / "RESULTS-playlists.md").write_text(text)
        if not met:
            print("a target was missed", file=sys.stderr)
    finally:
        database.close()
        shutil.rmtree(DB_DIR, ignore_errors=True)
        delete_own_keys()


if __name__ == "__main__":
    main()
