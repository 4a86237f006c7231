#!/usr/bin/env python
"""Suggestions and DJ filters benchmark (issue 15): a library of 10,000 tracks with random keys
and BPMs on one gunicorn instance, every figure measured side by side in one run.

    .venv/bin/python bench/suggestions_bench.py [--tracks 10000] [--workers 2] [--rounds 400]
        [--playlist 10000] [--shared-redis] [--no-write]

Latency, p50 / p90 over `--rounds` rounds with one keep-alive client (a token); each round
takes every request below once, in an order that rotates from round to round, so noise hits
all of them:

- GET /api/tracks/?limit=20 at a random offset (the plain list page: the reference);
- GET /api/tracks/{random track}/suggestions/ (defaults: bpm_tolerance 6, limit 20). Target:
  p50 within 10 ms of the plain page's;
- the same within a playlist of `--playlist` entries (`?playlist=`);
- GET /api/tracks/?compatible_with=<random code>&ordering=bpm&limit=20 and
  ?ordering=-title&limit=20 (the whole library read and sorted);
- a playlist's items: a plain page of 20 and `?ordering=bpm&compatible_with=…`.

Also: the harmonic index's first build over the library (an older data set), timed in this
process. Runs on a redis-server of its own (`--shared-redis`: the one at REDIS_URL, under a key
prefix of the run's own, deleting only its keys). Writes bench/RESULTS-suggestions.md
(`--no-write`: prints only).
"""

import argparse
import atexit
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone

from benchenv import ROOT, delete_own_keys, setup  # noqa: E402

sys.path.insert(0, str(ROOT))
from tests.system.servers import Database, Gunicorn, PrivateRedis  # noqa: E402

PRIVATE = None if "--shared-redis" in sys.argv else PrivateRedis().start()
if PRIVATE is not None:
    os.environ["REDIS_URL"] = PRIVATE.url
    atexit.register(PRIVATE.close)
DB_DIR = tempfile.mkdtemp(prefix="ql-bench-db-")
os.environ["DATABASE_URL"] = f"sqlite:///{DB_DIR}/db.sqlite3"
for _name in ("ANON", "WRITES", "SEARCH", "ANALYSIS"):
    os.environ[f"QL_THROTTLE_{_name}"] = "off"
setup()

import requests  # noqa: E402

from quantumlive import keys  # noqa: E402
from quantumlive.clock import now_iso  # noqa: E402
from quantumlive.musical_keys import CAMELOT_CODES, KEY_NAMES  # noqa: E402
from quantumlive.redis_conn import get_redis  # noqa: E402
from tracks import lua, store, suggestions  # noqa: E402

PAGE = 20
BATCH = 500


def seed_library(count: int, rng: random.Random) -> list[str]:
    """`count` tracks with random keys (24) and BPMs (70-180, one decimal), written by the
    create script (the index with them), pipelined."""
    ids = []
    redis = get_redis()
    for start in range(0, count, 1000):
        pipe = redis.pipeline(transaction=False)
        for i in range(start, min(count, start + 1000)):
            track_id = str(uuid.uuid4())
            values = {"title": f"Track {i:05d} {rng.choice('abcdefghij')}", "artist": f"Artist {i % 97}",
                      "bpm": round(rng.uniform(70, 180), 1), "key": rng.choice(KEY_NAMES),
                      "duration": 240.0 + i % 60, "genres": ["house"], "notes": None, "cues": [],
                      "sources": {"youtube": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}}
            stamp = now_iso()
            fields = ["id", track_id, "version", "1", "created", stamp, "updated", stamp]
            fields += store.encode_fields(store._writable_values(values))
            lua.create_track(pipe, track_id=track_id, ack="-", position=None, fields=fields)
            ids.append(track_id)
        pipe.execute()
    return ids


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def loadavg() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


class Api:
    def __init__(self, url: str, token: str):
        self.url = url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Token {token}"

    def get(self, path: str, **params) -> tuple[float, dict]:
        started = time.perf_counter()
        answer = self.http.get(self.url + path, params=params, timeout=60)
        took = time.perf_counter() - started
        assert answer.status_code == 200, (path, params, answer.status_code, answer.text[:300])
        return took, answer.json()

    def post(self, path: str, body: dict, expect: int) -> dict:
        answer = self.http.post(self.url + path, json=body, timeout=60)
        assert answer.status_code == expect, (path, answer.status_code, answer.text[:300])
        return answer.json()


def build_playlist(api: Api, track_ids: list[str]) -> str:
    playlist_id = api.post("/api/playlists/", {"name": "bench"}, 201)["id"]
    for start in range(0, len(track_ids), BATCH):
        api.post(f"/api/playlists/{playlist_id}/items/", {"tracks": track_ids[start:start + BATCH]}, 201)
    return playlist_id


def figures(api: Api, track_ids: list[str], playlist_id: str, size: int, rng: random.Random) -> dict:
    """name -> a function making one request (its seconds); the results' sizes are checked."""
    items = f"/api/playlists/{playlist_id}/items/"

    def plain():
        took, body = api.get("/api/tracks/", limit=PAGE, offset=rng.randrange(size - PAGE))
        assert len(body["results"]) == PAGE
        return took

    def suggest():
        took, body = api.get(f"/api/tracks/{rng.choice(track_ids)}/suggestions/")
        assert body["results"], "no suggestion"
        return took

    def suggest_in_playlist():
        took, _ = api.get(f"/api/tracks/{rng.choice(track_ids)}/suggestions/", playlist=playlist_id)
        return took

    def compatible_by_bpm():
        took, body = api.get("/api/tracks/", limit=PAGE, compatible_with=rng.choice(CAMELOT_CODES), ordering="bpm")
        assert len(body["results"]) == PAGE
        return took

    def by_title_desc():
        took, body = api.get("/api/tracks/", limit=PAGE, offset=rng.randrange(size - PAGE), ordering="-title")
        assert len(body["results"]) == PAGE
        return took

    def items_plain():
        took, body = api.get(items, limit=PAGE, offset=rng.randrange(size - PAGE))
        assert len(body["results"]) == PAGE
        return took

    def items_ordered():
        took, body = api.get(items, limit=PAGE, ordering="bpm", compatible_with=rng.choice(CAMELOT_CODES))
        assert len(body["results"]) == PAGE
        return took

    return {
        "GET /api/tracks/?limit=20 (plain page, random offset)": plain,
        "GET /api/tracks/{id}/suggestions/ (random track)": suggest,
        "GET /api/tracks/{id}/suggestions/?playlist=<all tracks>": suggest_in_playlist,
        "GET /api/tracks/?compatible_with=<random>&ordering=bpm&limit=20": compatible_by_bpm,
        "GET /api/tracks/?ordering=-title&limit=20 (random offset)": by_title_desc,
        "GET /api/playlists/{id}/items/?limit=20 (plain page, random offset)": items_plain,
        "GET /api/playlists/{id}/items/?ordering=bpm&compatible_with=<random>&limit=20": items_ordered,
    }


def measure(requests_by_name: dict, rounds: int) -> dict[str, list[float]]:
    names = list(requests_by_name)
    times = {name: [] for name in names}
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(requests_by_name[name]() * 1000)
    return times


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


def measure_cpu(requests_by_name: dict, master_pid: int, count: int) -> dict[str, tuple[float, float]]:
    """name -> (CPU ms per request of the workers, of the Redis): `count` requests of each, one
    figure after the other. CPU time does not grow with the machine's load as latency does."""
    pids = worker_pids(master_pid)
    redis_pid = [get_redis().info("server")["process_id"]]
    found = {}
    for name, make in requests_by_name.items():
        before = cpu_seconds(pids), cpu_seconds(redis_pid)
        for _ in range(count):
            make()
        found[name] = ((cpu_seconds(pids) - before[0]) / count * 1000,
                       (cpu_seconds(redis_pid) - before[1]) / count * 1000)
    return found


def sizes(api: Api, track_ids: list[str], rng: random.Random, count: int = 200) -> tuple[float, float]:
    """Median number of suggestions and of index candidates (the 5 codes x 3 windows read)."""
    answers, candidates = [], []
    for _ in range(count):
        track = store.track_summaries([rng.choice(track_ids)])
        track = next(iter(track.values()))
        answers.append(len(suggestions.track_suggestions(track=track, limit=10_000)))
        _, body = api.get(f"/api/tracks/{track['id']}/suggestions/")
        candidates.append(len(body["results"]))
    return statistics.median(answers), statistics.median(candidates)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tracks", type=int, default=10_000)
    parser.add_argument("--playlist", type=int, default=None, help="entries of the playlist (default: --tracks)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--cpu-requests", type=int, default=200, help="requests per figure for the CPU figures")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--shared-redis", action="store_true")
    args = parser.parse_args()
    playlist_size = args.playlist or args.tracks
    rng = random.Random(15)
    loads = [("start", loadavg())]
    database = Database(url=os.environ["DATABASE_URL"])
    try:
        started = time.perf_counter()
        track_ids = seed_library(args.tracks, rng)
        seeded = time.perf_counter() - started
        # the first build of the index, as an older data set gets it on first use
        redis = get_redis()
        redis.delete(keys.track_key_index(), keys.track_key_index_version())
        started = time.perf_counter()
        suggestions.key_index_build()
        build_ms = (time.perf_counter() - started) * 1000
        assert redis.zcard(keys.track_key_index()) == args.tracks
        with Gunicorn(workers=args.workers, database=database) as server:
            api = Api(server.url, database.token)
            playlist_id = build_playlist(api, rng.sample(track_ids, playlist_size))
            by_name = figures(api, track_ids, playlist_id, min(args.tracks, playlist_size), rng)
            measure(by_name, 10 * args.workers)  # warm-up: every worker fills its cache
            loads.append(("before the rounds", loadavg()))
            times = measure(by_name, args.rounds)
            loads.append(("after them", loadavg()))
            cpu = measure_cpu(by_name, server.process.pid, args.cpu_requests)
            suggested, answered = sizes(api, track_ids, rng)
        text, met = report(args, times, cpu, loads, seeded, build_ms, suggested, answered, playlist_size)
        print(text)
        if not args.no_write:
            (ROOT / "bench" / "RESULTS-suggestions.md").write_text(text)
        if not met:
            print("the target was missed", file=sys.stderr)
    finally:
        database.close()
        shutil.rmtree(DB_DIR, ignore_errors=True)
        delete_own_keys()


def report(args, times, cpu, loads, seeded, build_ms, suggested, answered, playlist_size) -> tuple[str, bool]:
    names = list(times)
    plain = statistics.median(times[names[0]])
    suggest = statistics.median(times[names[1]])
    met = suggest - plain <= 10
    lines = [
        "## Suggestions and DJ filters benchmark",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on this shared 2-core machine: "
        f"`.venv/bin/python bench/suggestions_bench.py --tracks {args.tracks} --workers {args.workers} "
        f"--rounds {args.rounds}`. One gunicorn instance with {args.workers} sync workers on "
        + ("the Redis at REDIS_URL" if args.shared_redis else "a redis-server of the run's own")
        + f"; {args.tracks:,} tracks with random keys (all 24) and BPMs (70-180), seeded by the create "
        f"script in {seeded:.1f} s; a playlist of {playlist_size:,} of them (distinct). One keep-alive client "
        "with a token; every round makes each request once, the order rotating from round to round. "
        "Load average (1/5/15 min) " + "; ".join(f"{what}: {value}" for what, value in loads) + ".",
        "",
        f"CPU per request: {args.cpu_requests} requests of each figure in a row, the CPU time the "
        "workers and the Redis used meanwhile (/proc), divided by the count: unlike latency it does "
        "not grow with the other processes' load.",
        "",
        "| request | p50 (ms) | p90 (ms) | p50 − plain page (ms) | CPU ms / request: workers | Redis |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in names:
        values = times[name]
        lines.append(f"| {name} | {statistics.median(values):.2f} | {percentile(values, 0.9):.2f} | "
                     f"{statistics.median(values) - plain:+.2f} | {cpu[name][0]:.2f} | {cpu[name][1]:.2f} |")
    lines += [
        "",
        f"Suggestions p50 − plain list page p50: {suggest - plain:+.2f} ms (target: <= 10 ms) — "
        f"{'met' if met else 'MISSED'}; CPU per request (workers + Redis): suggestions "
        f"{sum(cpu[names[1]]):.2f} ms, plain page {sum(cpu[names[0]]):.2f} ms.",
        "",
        f"A suggestion query found a median of {suggested:.0f} compatible tracks in the index "
        "(5 codes × 3 BPM windows, "
        f"tolerance 6 %; one MULTI/EXEC of 15 ZRANGEs), scored them in the worker and answered the best "
        f"{answered:.0f}.",
        f"First build of the harmonic index over {args.tracks:,} tracks (an older data set, on first use): "
        f"{build_ms:.0f} ms.",
        "",
    ]
    return "\n".join(lines), met


if __name__ == "__main__":
    main()
