#!/usr/bin/env python
"""Tracks benchmark (issues 2 and 3): 10,000 tracks in Redis, gunicorn with the same workers
throughout, load from wrk, every figure measured side by side in one run.

    .venv/bin/python bench/tracks_bench.py [--tracks 10000] [--workers 4] [--seconds 5] [--rounds 3]

Writes bench/RESULTS-tracks.md. Uses its own Redis key prefix and deletes only its keys.

    .venv/bin/python bench/tracks_bench.py --structure --old /tmp/wt-old [--rounds 4]

Issue 13 side by side, each instance started fresh every round: the code at another worktree
(`--old`, an older commit) and this one, with and without read leases, and a plain Django view
that reads one Redis hash (bench/plain_view.py): single-connection reads in an instance's first
10 seconds and once every worker has read every track, reads and writes under load. Writes
bench/RESULTS-tracks-structure.md. `--only paced,analysed` (groups: start, plain, analysed,
paced, patch) compares only those figures, old and new, and writes nothing.

    .venv/bin/python bench/tracks_bench.py --metrics [--tracks 3000] [--rounds 8]

Issue 17: the hot read with metrics on (the default: MetricsMiddleware, counters in
PROMETHEUS_MULTIPROC_DIR files) and off (QL_METRICS=0), two instances up side by side, rounds
interleaved in alternating order. Prints its table (bench/RESULTS-metrics.md gathers it with
bench/metrics_bench.py's figures).
"""

import argparse
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from benchenv import ROOT, delete_own_keys, setup  # noqa: E402

setup()

import requests  # noqa: E402

from quantumlive import keys  # noqa: E402
from quantumlive.redis_conn import get_redis  # noqa: E402
from tests.system.servers import Database, Gunicorn, wait_until  # noqa: E402
from tracks import store  # noqa: E402

GET_LUA = """
local ids = {}
for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
local auth = os.getenv("AUTH")
request = function()
  local headers = {}
  if auth and auth ~= "" then headers["Authorization"] = auth end
  return wrk.format("GET", "/api/tracks/" .. ids[math.random(#ids)] .. "/", headers)
end
"""
# /healthz through the same kind of script (same per-request client work as the track GETs:
# wrk runs a Lua function per request there, which costs CPU on this same 2-core machine).
HEALTHZ_LUA = GET_LUA.replace('"/api/tracks/" .. ids[math.random(#ids)] .. "/"',
                              '"/healthz?t=" .. ids[math.random(#ids)]')
assert HEALTHZ_LUA != GET_LUA
PATCH_LUA = """
local ids = {}
for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
local n = 0
request = function()
  n = n + 1
  return wrk.format("PATCH", "/api/tracks/" .. ids[math.random(#ids)] .. "/",
    {["Authorization"] = os.getenv("AUTH"), ["Content-Type"] = "application/json"},
    '{"notes": "bench ' .. n .. '"}')
end
"""
POST_LUA = """
request = function()
  return wrk.format("POST", "/api/tracks/",
    {["Authorization"] = os.getenv("AUTH"), ["Content-Type"] = "application/json"},
    '{"title": "bench", "artist": "wrk", "genres": ["house"], "bpm": 124}')
end
"""


def plain_values(i: int) -> dict:
    return {"title": f"Track {i}", "artist": f"Artist {i % 97}", "bpm": 90 + i % 90, "key": "A minor",
            "duration": 240.0 + i % 60, "genres": ["house", "latin"][: 1 + i % 2],
            "sources": {"youtube": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}, "notes": None, "cues": []}


def analysed_values(i: int, rng: random.Random) -> dict:
    values = plain_values(i)
    values["cues"] = [
        {"name": f"cue_{c}", "start": c * 30.0, "end": (c + 1) * 30.0,
         "waveform": [round(rng.random(), 4) for _ in range(2048)]}
        for c in range(8)
    ]
    return values


def seed(count: int, analysed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(7)
    plain_ids, analysed_ids = [], []
    for i in range(count):
        if i < analysed:
            analysed_ids.append(store.track_create(values=analysed_values(i, rng))["id"])
        else:
            plain_ids.append(store.track_create(values=plain_values(i))["id"])
    return plain_ids, analysed_ids


def run_wrk(url: str, script: str, env: dict, seconds: int, connections: int = 8) -> tuple[int, float, float]:
    """wrk's request count and rate, and the CPU seconds wrk itself used."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        out = subprocess.run(["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "-s", handle.name, url],
                             capture_output=True, text=True, env={**os.environ, **env}, timeout=seconds + 30)
    finally:
        os.unlink(handle.name)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    count = re.search(r"(\d+) requests in", out.stdout)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    if not found or not count:
        raise RuntimeError(out.stdout + out.stderr)
    if errors:
        print(f"  note: {errors.group(1)} non-2xx answers for {url}", file=sys.stderr)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return int(count.group(1)), float(found.group(1)), used


def wrk(url: str, script: str, env: dict, seconds: int, connections: int = 8) -> float:
    return run_wrk(url, script, env, seconds, connections)[1]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (from /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measure_read(server, script: str, env: dict, seconds: int, redis_pid: int,
                 connections: int = 8) -> tuple[float, float]:
    """wrk's rate, and the CPU per request (µs) of everything serving it: the instance's
    workers, Redis and wrk. CPU time moves less with a busy neighbour than a rate does."""
    pids = worker_pids(server.process.pid) + [redis_pid]
    before = cpu_seconds(pids)
    count, rate, wrk_cpu = run_wrk(server.url, script, env, seconds, connections)
    return rate, (cpu_seconds(pids) - before + wrk_cpu) / count * 1e6


def ids_file(ids: list[str]) -> str:
    handle = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
    handle.write("\n".join(ids) + "\n")
    handle.close()
    return handle.name


def worker_pids(master_pid: int) -> list[int]:
    """The gunicorn master's worker processes."""
    out = subprocess.run(["pgrep", "-P", str(master_pid)], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def worker_rss_mb(master_pid: int) -> list[float]:
    sizes = []
    for pid in worker_pids(master_pid):
        status = Path(f"/proc/{pid}/status").read_text()
        sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)
    return sorted(sizes)


def list_all_seconds(url: str, total: int) -> float:
    started = time.perf_counter()
    seen, offset = 0, 0
    with requests.Session() as http:
        while True:
            page = http.get(f"{url}/api/tracks/", params={"limit": 500, "offset": offset}, timeout=30).json()
            seen += len(page["results"])
            if page["next"] is None:
                break
            offset += 500
    assert seen == total, (seen, total)
    return time.perf_counter() - started


class _Background:
    """A client thread beside a benchmark: `with X(...) as x:` runs `x.work(http)` until the
    block ends."""

    def __init__(self, url: str, ids: list[str], auth: str, *, enabled: bool = True):
        self.url, self.ids, self.auth, self.enabled = url, ids, auth, enabled
        self.stop = threading.Event()

    def work(self, http: requests.Session) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        with requests.Session() as http:
            http.headers["Authorization"] = self.auth
            self.work(http)

    def __enter__(self):
        if self.enabled:
            self.started = time.perf_counter()
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.stop.set()
            self.thread.join(timeout=15)
            self.seconds = time.perf_counter() - self.started


class BackgroundReader(_Background):
    """GETs random tracks, one at a time with a short pause, while a write benchmark runs."""

    def __init__(self, *args, pause: float = 0.004, **kwargs):
        super().__init__(*args, **kwargs)
        self.pause = pause
        self.count = 0
        self.rate = 0.0

    def work(self, http: requests.Session) -> None:
        rng = random.Random(3)
        while not self.stop.is_set():
            answer = http.get(f"{self.url}/api/tracks/{rng.choice(self.ids)}/", timeout=10)
            assert answer.status_code == 200, answer.status_code
            self.count += 1
            time.sleep(self.pause)

    def __exit__(self, *exc):
        super().__exit__(*exc)
        if self.enabled:
            self.rate = self.count / self.seconds


class PacedWriter(_Background):
    """PATCHes random tracks at a steady pace (a few per second, as editing DJs do) and records
    each write's latency, while a read benchmark runs."""

    def __init__(self, *args, per_second: float = 20, **kwargs):
        super().__init__(*args, **kwargs)
        self.period = 1 / per_second
        self.latencies_ms: list[float] = []

    def work(self, http: requests.Session) -> None:
        rng = random.Random(5)
        n = 0
        while not self.stop.is_set():
            n += 1
            started = time.perf_counter()
            answer = http.patch(f"{self.url}/api/tracks/{rng.choice(self.ids)}/", json={"notes": f"paced {n}"},
                                timeout=10)
            assert answer.status_code == 200, answer.status_code
            took = time.perf_counter() - started
            self.latencies_ms.append(took * 1000)
            time.sleep(max(0.0, self.period - took))


def measure_writes_under_reads(args, database, plain: dict, plain_ids: list[str], auth: str,
                               results: dict[str, list[float]]) -> dict[str, list[float]]:
    """Reads outnumber writes: every cache holds its read lease, so every write waits for
    every worker's acknowledgement. wrk GETs while a paced writer PATCHes; returns the
    writes' latencies (ms) per setting."""
    latencies: dict[str, list[float]] = {}
    for _ in range(args.write_rounds):
        for name, env in [("cache", {}), ("no cache", {"QL_TRACK_CACHE": "0"})]:
            with Gunicorn(workers=args.workers, database=database, **env) as server:
                wrk(server.url, GET_LUA, plain, 8, connections=16)  # every worker's cache warm
                with PacedWriter(server.url, plain_ids, auth) as writer:
                    rate = wrk(server.url, GET_LUA, plain, args.seconds)
                results.setdefault(f"GET plain under paced writes, {name}", []).append(rate)
                latencies.setdefault(name, []).extend(writer.latencies_ms)
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_writes(args, database, plain: dict, plain_ids: list[str], auth: str,
                   results: dict[str, list[float]]) -> list[float]:
    """PATCH per second with and without the cache, alone and with a reader beside;
    returns the reader's GET rates."""
    # Writes: one instance at a time, so the no-cache figure pays for no cache anywhere
    # (a running cached instance would apply every invalidation). Each also with a reader
    # beside it: the caches keep serving its reads (without leases: writes outnumber reads).
    reader_rates = []
    for _ in range(args.write_rounds):
        for name, env in [("PATCH, cache", {}), ("PATCH, no cache", {"QL_TRACK_CACHE": "0"})]:
            for beside in ("", ", with reader"):
                with Gunicorn(workers=args.workers, database=database, **env) as server:
                    wrk(server.url, GET_LUA, plain, 2)  # workers up, caches subscribed
                    with BackgroundReader(server.url, plain_ids, auth, enabled=bool(beside)) as reader:
                        rate = wrk(server.url, PATCH_LUA, plain, args.seconds)
                    results.setdefault(name + beside, []).append(rate)
                    if beside:
                        reader_rates.append(reader.rate)
    return reader_rates


def write_summary(results: dict[str, list[float]], reader_rates: list[float],
                  latencies: dict[str, list[float]]) -> str:
    def ratio(suffix: str) -> float:
        return median(results["PATCH, no cache" + suffix]) / median(results["PATCH, cache" + suffix])

    def rounds(suffix: str) -> str:
        return ", ".join(f"{a:,.0f} / {b:,.0f}" for a, b in zip(results["PATCH, cache" + suffix],
                                                                results["PATCH, no cache" + suffix]))

    under = {name: (median(values), percentile(values, 0.9), len(values)) for name, values in latencies.items()}
    gets = {name: median(results[f"GET plain under paced writes, {name}"]) for name in latencies}
    return (f"PATCH req/s per round (cache / no cache): {rounds('')} (ratio of medians {ratio(''):.2f}); "
            f"with a reader beside: {rounds(', with reader')} (ratio of medians {ratio(', with reader'):.2f}; "
            f"the reader: {median(reader_rates):,.0f} GET/s).\n\n"
            "Writes under a read load (wrk GETs plain tracks while one client PATCHes 20 times a second; "
            "reads outnumber writes, so every cache holds its lease and each write waits for every "
            "worker's acknowledgement): PATCH latency median / p90 "
            + ", ".join(f"{name} {m:.1f} / {p90:.1f} ms ({n} writes)" for name, (m, p90, n) in under.items())
            + "; GET req/s meanwhile " + ", ".join(f"{name} {rate:,.0f}" for name, rate in gets.items()) + ".")


def median(values):
    return statistics.median(values)


# --- issue 13: old code vs new, warm start, leases, a plain view ------------------------------
class InstanceAt(Gunicorn):
    """A gunicorn instance of the code in `root` (this repository, or another worktree)."""

    def __init__(self, root: Path, **kwargs):
        super().__init__(**kwargs)
        self.root = root
        self.env["PYTHONPATH"] = str(root)

    def start(self):
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "quantumlive.wsgi:application"],
            cwd=self.root, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        wait_until(lambda: requests.get(self.url + "/healthz", timeout=1).status_code == 200,
                   timeout=120, what=f"gunicorn on {self.url}")
        return self

    def wait_for_workers(self, workers: int) -> float:
        """Until every worker has booted (it logs "worker ready" once it has loaded the app
        and filled its cache; code without that line, "track cache subscriber ready" once it
        has loaded the app); seconds since the start."""
        def booted():
            log = self.output()
            return (log.count("worker ready") or log.count("track cache subscriber ready")) >= workers

        wait_until(booted, timeout=120, what="every worker booted")
        return time.monotonic() - self.started


START_SECONDS = 10  # "the first 10 seconds" of an instance, and the steady single-connection round


# the groups of figures of a fresh instance (`--only` picks some)
FIGURE_GROUPS = ("start", "plain", "analysed", "paced", "patch")


def measure_fresh_instance(server, plain: dict, analysed: dict, plain_ids: list[str], auth: str,
                           seconds: int, redis_pid: int, workers: int,
                           groups: tuple[str, ...] = FIGURE_GROUPS) -> dict[str, float]:
    """Figures of an instance just started: single-connection GETs over the plain tracks in its
    first START_SECONDS, then (once wrk -c16 has read every track through every worker) the
    same steady, then 8 connections (with the CPU per request of the workers, Redis and wrk),
    a paced writer's latency under that read load, and PATCH."""
    found = {"boot, s (every worker ready)": server.wait_for_workers(workers)}
    if "start" in groups:
        found["first 10 s, 1 connection"] = wrk(server.url, GET_LUA, plain, START_SECONDS, connections=1)
    wrk(server.url, GET_LUA, plain, 12, connections=16)
    wrk(server.url, GET_LUA, analysed, 3)
    if "start" in groups:
        found["steady, 1 connection"], found["steady, 1 connection, CPU µs / request"] = measure_read(
            server, GET_LUA, plain, START_SECONDS, redis_pid, connections=1)
    if "plain" in groups:
        found["GET plain, 8 connections"], found["GET plain, 8 connections, CPU µs / request"] = measure_read(
            server, GET_LUA, plain, seconds, redis_pid)
    if "analysed" in groups:
        found["GET analysed, 8 connections"], found["GET analysed, 8 connections, CPU µs / request"] = (
            measure_read(server, GET_LUA, analysed, seconds, redis_pid))
    if "paced" in groups:
        with PacedWriter(server.url, plain_ids, auth) as writer:
            found["GET plain under paced writes"] = wrk(server.url, GET_LUA, plain, seconds)
        found["PATCH latency under reads, median ms"] = median(writer.latencies_ms)
        found["PATCH latency under reads, p90 ms"] = percentile(writer.latencies_ms, 0.9)
    if "patch" in groups:
        found["PATCH, 8 connections"] = wrk(server.url, PATCH_LUA, plain, seconds)
    return found


def measure_structure(args, database, plain: dict, analysed: dict, plain_ids: list[str], auth: str):
    """Every round starts each instance fresh, in an order that alternates between rounds."""
    instances = [("old", Path(args.old), {}), ("new", ROOT, {}), ("new, no lease", ROOT, {"QL_TRACK_LEASE": "0"})]
    if not args.old:
        instances = instances[1:]
    groups = tuple(args.only.split(",")) if args.only else FIGURE_GROUPS
    if args.only:  # a focused comparison: the lease and plain-view figures need the full run
        instances = [instance for instance in instances if instance[0] != "new, no lease"]
    redis_pid = get_redis().info("server")["process_id"]  # the Redis on this machine
    results: dict[str, dict[str, list[float]]] = {}
    for number in range(args.rounds):
        for name, root, env in (instances if number % 2 == 0 else instances[::-1]):
            with InstanceAt(root, workers=args.workers, database=database, **env) as server:
                for figure, value in measure_fresh_instance(server, plain, analysed, plain_ids, auth,
                                                            args.seconds, redis_pid, args.workers,
                                                            groups).items():
                    results.setdefault(name, {}).setdefault(figure, []).append(value)
            print(f"round {number + 1}, {name}: " + ", ".join(
                f"{figure} {values[-1]:,.1f}" for figure, values in results[name].items()), file=sys.stderr)
        if args.only:
            continue
        with InstanceAt(ROOT, workers=args.workers, database=database,
                        DJANGO_SETTINGS_MODULE="bench.plain_view") as server:
            wrk(server.url, GET_LUA, plain, 3, connections=1)
            rate = wrk(server.url, GET_LUA, plain, START_SECONDS, connections=1)
            results.setdefault("plain view", {}).setdefault("steady, 1 connection", []).append(rate)
            print(f"round {number + 1}, plain view: {rate:,.0f}", file=sys.stderr)
    return results


def report_structure(args, results) -> str:
    def rounds(name: str, figure: str) -> str:
        return ", ".join(f"{value:,.1f}" if value < 100 else f"{value:,.0f}" for value in results[name][figure])

    figures = list(results["new"])
    names = [name for name in ("old", "new", "new, no lease") if name in results]
    med = {name: {figure: median(values) for figure, values in results[name].items()} for name in results}
    new, plain_view = med["new"], med["plain view"]["steady, 1 connection"]
    lines = [
        "## Tracks: structure (issue 13), warm start, leases",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on this shared 2-core machine: "
        f"`.venv/bin/python bench/tracks_bench.py --structure --old {args.old or '-'} --tracks {args.tracks} "
        f"--analysed {args.analysed} --workers {args.workers} --seconds {args.seconds} --rounds {args.rounds}`. "
        f"{args.tracks} tracks ({args.analysed} analysed), gunicorn with {args.workers} sync workers, every "
        "instance started fresh in every round (the order alternating between rounds), one at a time: "
        "`old` is the code at the `--old` worktree, `new` this one (its workers fill their caches in bulk "
        "when they start), `new, no lease` the same with `QL_TRACK_LEASE=0`, `plain view` a Django view "
        "that reads one Redis hash (bench/plain_view.py) through the same middleware. GETs: random plain "
        "tracks with a token. `boot`: from the start until every worker is ready (its app loaded; new: its "
        "cache filled, up to QL_TRACK_CACHE_WARM_WAIT); `first 10 s`: wrk -c1 from then; "
        "`steady`: wrk -c1 again once wrk -c16 has read every track through every worker. Paced writes: "
        "one client PATCHes 20 times a second while wrk GETs. Medians of the rounds (every round in brackets).",
        "",
        "| figure | " + " | ".join(names) + " |",
        "| --- | " + " | ".join("---:" for _ in names) + " |",
        *[f"| {figure} | " + " | ".join(f"{med[name][figure]:,.1f} ({rounds(name, figure)})" if med[name][figure] < 100
                                         else f"{med[name][figure]:,.0f} ({rounds(name, figure)})" for name in names) + " |"
          for figure in figures],
        f"| plain view, steady, 1 connection | {plain_view:,.0f} ({rounds('plain view', 'steady, 1 connection')}) | | |",
        "",
        "| ratio | measured (per round) | target |",
        "| --- | ---: | ---: |",
        f"| new: first 10 s / steady, 1 connection | {new['first 10 s, 1 connection'] / new['steady, 1 connection']:.2f} "
        f"({', '.join(f'{a / b:.2f}' for a, b in zip(results['new']['first 10 s, 1 connection'], results['new']['steady, 1 connection']))}) | ≥ 0.9 |",
        f"| new steady / plain view, 1 connection | {new['steady, 1 connection'] / plain_view:.2f} "
        f"({', '.join(f'{a / b:.2f}' for a, b in zip(results['new']['steady, 1 connection'], results['plain view']['steady, 1 connection']))}) | ≥ 1.2 |",
    ]
    if "old" in med:
        for figure in figures:
            per_round = ", ".join(f"{b / a:.2f}" for a, b in zip(results["old"][figure], results["new"][figure]))
            lines.append(f"| new / old: {figure} | {new[figure] / med['old'][figure]:.2f} ({per_round}) | |")
    if "new, no lease" in med:
        for figure in figures:
            per_round = ", ".join(f"{a / b:.2f}" for a, b in zip(results["new"][figure], results["new, no lease"][figure]))
            lines.append(f"| leases / no lease: {figure} | {new[figure] / med['new, no lease'][figure]:.2f} "
                         f"({per_round}) | |")
    lines.append("")
    return "\n".join(lines)


def report_focused(results) -> str:
    """`--only`: each figure's medians and the new / old ratio per round (nothing written)."""
    lines = []
    for figure in results["new"]:
        line = f"{figure}: new {median(results['new'][figure]):,.1f}"
        if "old" in results:
            pairs = list(zip(results["old"][figure], results["new"][figure]))
            line += (f", old {median(results['old'][figure]):,.1f}, new / old "
                     f"{median(results['new'][figure]) / median(results['old'][figure]):.2f} "
                     f"({', '.join(f'{b / a:.2f}' for a, b in pairs)})")
        lines.append(line)
    return "\n".join(lines)


# --- issue 17: the cost of metrics ------------------------------------------------------------
def measure_metrics(args, database, plain: dict, analysed: dict, redis_pid: int) -> dict[str, dict[str, list[float]]]:
    """Two instances up side by side, metrics on and off; each round measures both, in an
    order that alternates between rounds: {figure: {"on"|"off": [per round]}}."""
    results: dict[str, dict[str, list[float]]] = {}
    on = Gunicorn(workers=args.workers, database=database)
    off = Gunicorn(workers=args.workers, database=database, QL_METRICS="0")
    with on, off:
        assert requests.get(on.url + "/metrics", timeout=5).status_code == 200
        assert requests.get(off.url + "/metrics", timeout=5).status_code == 404
        for server in (on, off):  # every worker's cache warm, every worker's token verified
            wrk(server.url, GET_LUA, plain, max(args.seconds, 8), connections=16)
            wrk(server.url, GET_LUA, analysed, 3)
        figures = [("GET plain (hot read)", GET_LUA, plain), ("GET analysed", GET_LUA, analysed),
                   ("healthz", HEALTHZ_LUA, plain)]
        for number in range(args.rounds):
            pairs = [("on", on), ("off", off)]
            for figure, script, env in figures:
                for name, server in (pairs if number % 2 == 0 else pairs[::-1]):
                    workers = worker_pids(server.process.pid)
                    before = cpu_seconds(workers)
                    rate, cpu = measure_read(server, script, env, args.seconds, redis_pid)
                    # the workers' own CPU (Redis and wrk serve other sessions too on a shared machine)
                    own = (cpu_seconds(workers) - before) / max(1.0, rate * args.seconds) * 1e6
                    results.setdefault(figure, {}).setdefault(name, []).append(rate)
                    results.setdefault(figure + ", CPU µs / request", {}).setdefault(name, []).append(cpu)
                    results.setdefault(figure + ", workers' CPU µs / request", {}).setdefault(name, []).append(own)
            print(f"round {number + 1}: " + ", ".join(
                f"{figure} on/off {values['on'][-1]:,.0f}/{values['off'][-1]:,.0f}"
                for figure, values in results.items()), file=sys.stderr)
        scrape = requests.get(on.url + "/metrics", timeout=10).text
    counted = sum(float(line.rsplit(" ", 1)[1]) for line in scrape.splitlines()
                  if line.startswith('ql_http_requests_total{') and 'route="/api/tracks/<str:track_id>/"' in line)
    results["track reads counted by /metrics (on)"] = {"on": [counted]}
    return results


def report_metrics(args, results) -> str:
    def per_round(figure: str, invert: bool = False) -> list[float]:
        pairs = zip(results[figure]["on"], results[figure]["off"])
        return [(b / a if invert else a / b) for a, b in pairs]

    lines = [
        "## Metrics: the cost on the hot read (issue 17)",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on this shared 2-core machine: "
        f"`.venv/bin/python bench/tracks_bench.py --metrics --tracks {args.tracks} --analysed {args.analysed} "
        f"--workers {args.workers} --seconds {args.seconds} --rounds {args.rounds}`. Two gunicorn instances "
        f"({args.workers} sync workers each) up side by side: `on` as deployed (MetricsMiddleware, "
        "prometheus_client multiprocess files in the instance's PROMETHEUS_MULTIPROC_DIR), `off` with "
        "QL_METRICS=0 (no middleware, no counting). wrk -t2 -c8, {s} s per figure, each round measures both "
        "instances in an order alternating between rounds. GETs of random tracks with a token (the hot read, "
        "answered by tracks/middleware.py), every cache warm. CPU per request: the instance's workers, Redis "
        "and wrk, from /proc and wrk's rusage.".format(s=args.seconds),
        "",
        "| figure | on | off | on / off (median of rounds) | per round |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for figure, values in results.items():
        if "off" not in values:
            continue
        cpu = "CPU" in figure
        ratios = per_round(figure)
        lines.append(f"| {figure} | {median(values['on']):,.0f} | {median(values['off']):,.0f} | "
                     f"{median(ratios):.3f} | {', '.join(f'{r:.3f}' for r in ratios)} |")
    hot = median(per_round("GET plain (hot read)"))
    lines += [
        "",
        f"Hot read with metrics on / off: **{hot:.3f}** (reads per second; target ≥ 0.95, i.e. at most 5 % "
        f"fewer). Track reads the `on` instance's /metrics counted: "
        f"{results['track reads counted by /metrics (on)']['on'][0]:,.0f}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tracks", type=int, default=10000)
    parser.add_argument("--analysed", type=int, default=500, help="how many of them carry 8 cues x 2048 points")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--write-rounds", type=int, default=8, help="write rounds (each starts six instances)")
    parser.add_argument("--writes-only", action="store_true",
                        help="only the PATCH figures, printed (for experiments; RESULTS files untouched)")
    parser.add_argument("--structure", action="store_true",
                        help="issue 13: fresh instances side by side (writes RESULTS-tracks-structure.md)")
    parser.add_argument("--old", default="", help="with --structure: a worktree of the older commit to compare")
    parser.add_argument("--metrics", action="store_true",
                        help="issue 17: the hot read with metrics on and off (prints; see RESULTS-metrics.md)")
    parser.add_argument("--only", default="", help="with --structure: a quick comparison of some figures, "
                        f"comma-separated among {','.join(FIGURE_GROUPS)} (nothing written)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    redis = get_redis()
    database = Database()
    files = []
    try:
        started = time.perf_counter()
        plain_ids, analysed_ids = seed(args.tracks, args.analysed)
        print(f"seeded {args.tracks} tracks in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        mem_plain = median([redis.memory_usage(keys.track(i), samples=0) for i in plain_ids[:200]])
        mem_analysed = median([redis.memory_usage(keys.track(i), samples=0) for i in analysed_ids[:50]])
        plain_file, analysed_file = ids_file(plain_ids), ids_file(analysed_ids)
        files += [plain_file, analysed_file]
        auth = f"Token {database.token}"
        if args.metrics:
            results = measure_metrics(args, database, {"IDS_FILE": plain_file, "AUTH": auth},
                                      {"IDS_FILE": analysed_file, "AUTH": auth}, redis.info("server")["process_id"])
            print(report_metrics(args, results))  # bench/RESULTS-metrics.md gathers it with metrics_bench.py's
            return
        if args.structure:
            results = measure_structure(args, database, {"IDS_FILE": plain_file, "AUTH": auth},
                                        {"IDS_FILE": analysed_file, "AUTH": auth}, plain_ids, auth)
            if args.only:
                print(report_focused(results))
                return
            text = report_structure(args, results)
            print(text)
            (ROOT / "bench" / "RESULTS-tracks-structure.md").write_text(text)
            return
        if args.writes_only:
            results = {}
            plain = {"IDS_FILE": plain_file, "AUTH": auth}
            reader_rates = measure_writes(args, database, plain, plain_ids, auth, results)
            latencies = measure_writes_under_reads(args, database, plain, plain_ids, auth, results)
            print(write_summary(results, reader_rates, latencies))
            return
        cached = Gunicorn(workers=args.workers, database=database)
        checked = Gunicorn(workers=args.workers, database=database, QL_TRACK_LEASE="0")
        uncached = Gunicorn(workers=args.workers, database=database, QL_TRACK_CACHE="0")
        results: dict[str, list[float]] = {}
        cpu_us: dict[str, list[float]] = {}
        redis_pid = redis.info("server")["process_id"]  # the Redis on this machine
        plain = {"IDS_FILE": plain_file, "AUTH": auth}
        analysed = {"IDS_FILE": analysed_file, "AUTH": auth}
        with cached, checked, uncached:
            rss_before = worker_rss_mb(cached.process.pid)
            # warm every worker's cache over the whole playlist
            for server in (cached, checked):
                wrk(server.url, GET_LUA, plain, max(args.seconds, 8), connections=16)
                wrk(server.url, GET_LUA, analysed, 3)
            for _ in range(args.rounds):
                for name, server, script, env in [
                    ("healthz", cached, None, {}),
                    ("GET plain, cache", cached, GET_LUA, plain),
                    ("GET plain, cache, no lease", checked, GET_LUA, plain),
                    ("GET plain, no cache", uncached, GET_LUA, plain),
                    ("GET analysed, cache", cached, GET_LUA, analysed),
                    ("GET analysed, cache, no lease", checked, GET_LUA, analysed),
                    ("GET analysed, no cache", uncached, GET_LUA, analysed),
                    ("GET plain, cache, anonymous", cached, GET_LUA, {"IDS_FILE": plain_file}),
                    ("healthz (again)", cached, None, {}),
                ]:
                    if script is None:
                        script, env = HEALTHZ_LUA, plain
                    rate, cpu = measure_read(server, script, env, args.seconds, redis_pid)
                    results.setdefault(name, []).append(rate)
                    cpu_us.setdefault(name, []).append(cpu)
            rss_after = worker_rss_mb(cached.process.pid)
            list_cached = median([list_all_seconds(cached.url, args.tracks) for _ in range(3)])
            list_uncached = median([list_all_seconds(uncached.url, args.tracks) for _ in range(3)])
        reader_rates = measure_writes(args, database, plain, plain_ids, auth, results)
        latencies = measure_writes_under_reads(args, database, plain, plain_ids, auth, results)
        with Gunicorn(workers=args.workers, database=database) as server:
            wrk(server.url, GET_LUA, plain, 2)
            results["POST"] = [wrk(server.url, POST_LUA, {"AUTH": auth}, args.seconds)]
        report(args, results, cpu_us, mem_plain, mem_analysed, rss_before, rss_after, list_cached,
               list_uncached, reader_rates, latencies)
    finally:
        for name in files:
            os.unlink(name)
        database.close()
        delete_own_keys()


def report(args, results, cpu_us, mem_plain, mem_analysed, rss_before, rss_after, list_cached,
           list_uncached, reader_rates, latencies):
    med = {name: median(values) for name, values in results.items()}
    cpu = {name: median(values) for name, values in cpu_us.items()}
    health = median(results["healthz"] + results["healthz (again)"])
    labels = [
        ("GET /healthz (the floor)", "healthz"),
        ("GET track, plain, cache", "GET plain, cache"),
        ("GET track, plain, cache without leases (QL_TRACK_LEASE=0: one round trip)", "GET plain, cache, no lease"),
        ("GET track, plain, no cache", "GET plain, no cache"),
        ("GET track, analysed, cache", "GET analysed, cache"),
        ("GET track, analysed, cache without leases (one round trip)", "GET analysed, cache, no lease"),
        ("GET track, analysed, no cache", "GET analysed, no cache"),
        ("GET track, plain, cache, anonymous (DRF view, throttle off)", "GET plain, cache, anonymous"),
        ("PATCH, cache", "PATCH, cache"),
        ("PATCH, no cache", "PATCH, no cache"),
        ("PATCH, cache, with a reader beside", "PATCH, cache, with reader"),
        ("PATCH, no cache, with a reader beside", "PATCH, no cache, with reader"),
        ("POST", "POST"),
    ]
    rows = [(label, key, med[key], 1.0 if key == "healthz" else med[key] / health) for label, key in labels]
    lines = [
        "## Tracks benchmark",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on this 2-core machine: "
        f"`.venv/bin/python bench/tracks_bench.py --tracks {args.tracks} --analysed {args.analysed} "
        f"--workers {args.workers} --seconds {args.seconds} --rounds {args.rounds} --write-rounds {args.write_rounds}`. "
        f"{args.tracks} tracks in Redis ({args.analysed} analysed: 8 cues x 2,048-point waveforms), "
        f"gunicorn with {args.workers} sync workers per instance, wrk -t2 -c8 on the same machine, "
        "random track ids (/healthz through the same wrk Lua script); medians of the rounds, measured interleaved. Reads carry a token (the hot path: "
        "a verified token without cookies is answered by tracks/middleware.py, before the session, CSRF, auth and "
        "messages middleware and DRF's dispatch) unless said; writes always do. Reads: three instances up side "
        "by side (cache with leases, the default; cache without leases; no cache). Writes: one instance at a "
        "time, each started fresh per round, alone and with a reader beside it (one Python client, GET after GET); "
        "writes outnumber reads there, so the caches hold no read leases. Where reads outnumber writes they "
        "do, and every write waits for them: measured as PATCH latency under a wrk read load.",
        "",
        "CPU per request: the instance's workers, Redis and wrk together, from /proc and wrk's rusage "
        "(reads only; Redis's figure includes anything else it served meanwhile).",
        "",
        "| request | req/s | × /healthz | CPU µs / request |",
        "| --- | ---: | ---: | ---: |",
        *[f"| {name} | {rate:,.0f} | {ratio:.2f} | {cpu[key]:,.0f} |" if key in cpu
          else f"| {name} | {rate:,.0f} | {ratio:.2f} | |" for name, key, rate, ratio in rows],
        "",
        "| ratio | measured | target |",
        "| --- | ---: | ---: |",
        f"| cached GET plain / healthz | {med['GET plain, cache'] / health:.2f} | ≥ 0.75 (issue 3), ≥ 0.6 (issue 2) |",
        f"| cached GET plain / uncached | {med['GET plain, cache'] / med['GET plain, no cache']:.2f} | |",
        f"| cached GET analysed / uncached | {med['GET analysed, cache'] / med['GET analysed, no cache']:.2f} | ≥ 1.5 |",
        f"| … the same by CPU per request (uncached / cached) | "
        f"{cpu['GET analysed, no cache'] / cpu['GET analysed, cache']:.2f} | |",
        f"| PATCH no cache / PATCH cache (slowdown of writes by the cache) | "
        f"{med['PATCH, no cache'] / med['PATCH, cache']:.2f} | ≤ 1.2 |",
        f"| … with a reader beside | "
        f"{med['PATCH, no cache, with reader'] / med['PATCH, cache, with reader']:.2f} | ≤ 1.2 |",
        "",
        write_summary(results, reader_rates, latencies),
        "",
        f"- List all {args.tracks} tracks page by page (limit 500): {list_cached:.2f} s with the cache, "
        f"{list_uncached:.2f} s without.",
        f"- Redis memory per track (`MEMORY USAGE`, median): plain {mem_plain:,.0f} B, analysed {mem_analysed:,.0f} B.",
        f"- Worker RSS (MB) before: {', '.join(f'{v:.0f}' for v in rss_before)}; after reading every track "
        f"through every worker: {', '.join(f'{v:.0f}' for v in rss_after)}.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    (ROOT / "bench" / "RESULTS-tracks.md").write_text(text)


if __name__ == "__main__":
    main()
