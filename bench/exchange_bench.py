#!/usr/bin/env python
"""Export/import benchmark (issue 15): a library of 10,000 tracks exported as rekordbox XML
through a real gunicorn worker, and the same file imported.

    .venv/bin/python bench/exchange_bench.py [--tracks 10000] [--no-write]

1. Export: GET /api/tracks/export/?format=rekordbox (then M3U8) from one gunicorn worker:
   seconds (first, with the worker's track cache cold; again, warm), the file's size, and the
   worker's peak resident memory (VmHWM from /proc before and after: what the export added to
   the peak) and its resident memory after.
2. Import of that file into an empty library (a second gunicorn and an analysis worker under
   another key prefix; above QL_IMPORT_SYNC_MAX_TRACKS it runs as a job): every track created,
   tracks/s from the upload to the job's report; then the same import again (every track
   matched, nothing written).

Runs on a redis-server of its own. Writes bench/RESULTS-exchange.md (`--no-write`: prints).
"""

import argparse
import atexit
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone

from benchenv import ROOT, delete_own_keys, setup  # noqa: E402

sys.path.insert(0, str(ROOT))
from tests.system.servers import Database, Gunicorn, PrivateRedis  # noqa: E402

PRIVATE = PrivateRedis().start()
os.environ["REDIS_URL"] = PRIVATE.url
atexit.register(PRIVATE.close)
DB_DIR = tempfile.mkdtemp(prefix="ql-bench-db-")
os.environ["DATABASE_URL"] = f"sqlite:///{DB_DIR}/db.sqlite3"
for _name in ("ANON", "WRITES", "SEARCH", "ANALYSIS"):
    os.environ[f"QL_THROTTLE_{_name}"] = "off"
setup()

import requests  # noqa: E402

from tracks import store as library  # noqa: E402

ROOT_ON_THE_DJ_MACHINE = "/Users/dj/Music"


def track_values(i: int) -> dict:
    return {"title": f"Track {i} – Süße Nächte", "artist": f"Artist {i % 97}", "bpm": 90 + i % 90 + 0.25,
            "key": ["A minor", "C major", "F# minor", "Eb major"][i % 4], "duration": 240.0 + i % 60,
            "genres": ["House"], "sources": {}, "notes": None,
            "location": f"Artist {i % 97}/Track {i} #{i % 7}.mp3",
            "cues": [{"name": f"cue_{n}", "start": n * 30.0, "end": n * 30.0 + 30.0, "waveform": []} for n in range(4)]}


def seed(count: int) -> None:
    for i in range(count):
        library.track_create(values=track_values(i))


def status_kb(pid: int, field: str) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def worker_pid(master_pid: int) -> int:
    import subprocess

    out = subprocess.run(["pgrep", "-P", str(master_pid)], capture_output=True, text=True).stdout.split()
    assert len(out) == 1, out
    return int(out[0])


def export(url: str, token: str, kind: str, target: str) -> tuple[float, int]:
    started = time.perf_counter()
    with requests.get(f"{url}/api/tracks/export/", params={"format": kind, "root": ROOT_ON_THE_DJ_MACHINE},
                      headers={"Authorization": f"Token {token}"}, stream=True, timeout=300) as answer:
        assert answer.status_code == 200, answer.text[:300]
        size = 0
        with open(target, "wb") as out:
            for chunk in answer.iter_content(1 << 16):
                out.write(chunk)
                size += len(chunk)
    return time.perf_counter() - started, size


class Worker:
    """`manage.py analysis_worker` (it runs import jobs too) under the given key prefix."""

    def __init__(self, database, prefix: str):
        import subprocess

        from tests.system.servers import base_env

        self.log = tempfile.NamedTemporaryFile(prefix="ql-worker-", suffix=".log", delete=False)
        self.process = subprocess.Popen([sys.executable, "manage.py", "analysis_worker"], cwd=ROOT,
                                        env=base_env(DATABASE_URL=database.url, QL_REDIS_PREFIX=prefix),
                                        stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 300) -> None:
        """Until it listens (its librosa kernels compiled first: seconds)."""
        deadline = time.monotonic() + timeout
        while "warmed up" not in open(self.log.name, errors="replace").read():
            assert self.process.poll() is None and time.monotonic() < deadline, open(self.log.name).read()[-2000:]
            time.sleep(0.5)
        time.sleep(1)

    def close(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        os.unlink(self.log.name)


def import_file(url: str, token: str, path: str) -> tuple[float, dict]:
    """Seconds from the upload to the report (the job's, when the import runs as one)."""
    headers = {"Authorization": f"Token {token}"}
    started = time.perf_counter()
    with open(path, "rb") as handle:
        answer = requests.post(f"{url}/api/imports/", files={"file": ("library.xml", handle)},
                               data={"root": ROOT_ON_THE_DJ_MACHINE}, headers=headers, timeout=600)
    if answer.status_code == 200:
        return time.perf_counter() - started, answer.json()
    assert answer.status_code == 202, answer.text[:300]
    job_url = answer.json()["url"]
    while True:
        job = requests.get(job_url, headers=headers, timeout=30).json()
        if job["status"] in ("done", "failed"):
            assert job["status"] == "done", job
            return time.perf_counter() - started, job["report"]
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tracks", type=int, default=10_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    database = Database(url=os.environ["DATABASE_URL"])
    work = tempfile.mkdtemp(prefix="ql-bench-exchange-")
    other_prefix = f"qlbench-{uuid.uuid4().hex[:8]}"
    env = {"QL_TRACK_CACHE_WARM_WAIT": 0}
    lines = []
    worker = None
    try:
        started = time.perf_counter()
        seed(args.tracks)
        print(f"seeded {args.tracks} tracks in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        xml_path, m3u_path = os.path.join(work, "library.xml"), os.path.join(work, "library.m3u8")
        with Gunicorn(workers=1, database=database, **env) as server:
            pid = worker_pid(server.process.pid)
            requests.get(server.url + "/api/tracks/?limit=1", timeout=30)
            hwm_before, rss_before = status_kb(pid, "VmHWM"), status_kb(pid, "VmRSS")
            cold, size = export(server.url, database.token, "rekordbox", xml_path)
            hwm_after, rss_after = status_kb(pid, "VmHWM"), status_kb(pid, "VmRSS")
            warm, _ = export(server.url, database.token, "rekordbox", xml_path)
            hwm_warm = status_kb(pid, "VmHWM")
            m3u, m3u_size = export(server.url, database.token, "m3u8", m3u_path)
        with Gunicorn(workers=1, database=database, QL_TRACK_CACHE="false", **env) as server:
            pid = worker_pid(server.process.pid)  # without the track cache: the export's own memory
            requests.get(server.url + "/api/tracks/?limit=1", timeout=30)
            nocache_before = status_kb(pid, "VmHWM")
            nocache, _ = export(server.url, database.token, "rekordbox", xml_path)
            nocache_after = status_kb(pid, "VmHWM")
        worker = Worker(database, other_prefix)
        worker.wait_ready()
        with Gunicorn(workers=1, database=database, QL_REDIS_PREFIX=other_prefix, **env) as server:
            created_seconds, created = import_file(server.url, database.token, xml_path)
            assert created["tracks_created"] == args.tracks, {k: v for k, v in created.items() if k != "skipped"}
            again_seconds, again = import_file(server.url, database.token, xml_path)
            assert again["tracks_created"] == 0 and again["tracks_matched"] == args.tracks
        mb = 1024
        lines = [
            "# Export and import of DJ files (issue 15)",
            "",
            f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `bench/exchange_bench.py --tracks "
            f"{args.tracks}` on a private redis-server, one gunicorn sync worker, one `manage.py "
            f"analysis_worker` (2-core machine shared with other work: load "
            f"{'/'.join(f'{v:.2f}' for v in os.getloadavg())}). Library: {args.tracks} tracks, each with "
            "location, BPM, key, duration, genre and 4 cues.",
            "",
            "| figure | value |",
            "| --- | --- |",
            f"| export rekordbox XML, worker's track cache cold | {cold:.2f} s ({size / 2**20:.1f} MB) |",
            f"| export rekordbox XML again (cache warm) | {warm:.2f} s |",
            f"| export M3U8 | {m3u:.2f} s ({m3u_size / 2**20:.1f} MB) |",
            f"| worker peak RSS (VmHWM) before the export | {hwm_before / mb:.1f} MB |",
            f"| worker peak RSS after the first export | {hwm_after / mb:.1f} MB "
            f"(+{(hwm_after - hwm_before) / mb:.1f}) |",
            f"| worker peak RSS after the second | {hwm_warm / mb:.1f} MB |",
            f"| worker RSS before / after the first export | {rss_before / mb:.1f} / {rss_after / mb:.1f} MB |",
            f"| export rekordbox XML, QL_TRACK_CACHE off (the export's own memory) | {nocache:.2f} s, peak RSS "
            f"{nocache_before / mb:.1f} -> {nocache_after / mb:.1f} MB "
            f"(+{(nocache_after - nocache_before) / mb:.1f}) |",
            f"| import of that file into an empty library (a job: upload to report), every track created | "
            f"{created_seconds:.1f} s, {args.tracks / created_seconds:.0f} tracks/s |",
            f"| the same import again (every track matched, nothing written) | {again_seconds:.1f} s, "
            f"{args.tracks / again_seconds:.0f} tracks/s |",
            "",
            "The export is written from pages of 500 tracks into spooled temporary files (1 MB in memory, "
            "then disk) and streamed from them. With the track cache on, the worker's peak grows by what the "
            "cache keeps of the 10,000 summaries it reads (bounded by QL_TRACK_CACHE_MB, and kept for later "
            "reads); with it off, the growth is the export's own: a page of summaries, the spools' memory "
            "part, the library's order and the TrackID map, not the file.",
            "",
        ]
    finally:
        if worker is not None:
            worker.close()
        database.close()
        shutil.rmtree(DB_DIR, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        delete_own_keys()
        from quantumlive import keys
        from quantumlive.redis_conn import get_redis

        redis = get_redis()
        found = keys.keys_of_prefix(redis, other_prefix)
        for start in range(0, len(found), 1000):
            redis.unlink(*found[start:start + 1000])
    text = "\n".join(lines)
    print(text)
    if text and not args.no_write:
        (ROOT / "bench" / "RESULTS-exchange.md").write_text(text)


if __name__ == "__main__":
    main()
