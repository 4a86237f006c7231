#!/usr/bin/env python
"""Per-job overhead of an analysis (issue 16, point 5): submit → done wall time of a 30 s
excerpt, minus the analysis itself, with a ready worker; the code of another commit (`--before`,
by default this branch's merge base with main: RQ forking a work-horse per job, the waiter
polling) and this tree side by side, their jobs interleaved in one run.

    .venv/bin/python bench/job_overhead_bench.py [--jobs 20] [--seconds 30] [--before REF]
                                                  [--after-args "--fork-per-job"]

Each configuration: its own gunicorn (2 workers) and one analysis worker, from its own tree
(`git archive` of REF in a temporary folder for "before"), on a Redis key prefix of its own.
Every job analyses a different file (no stored result). Per job, from RQ's job hash (written
inside the job's process) and the job's record:

- wall: POST /api/analysis/ with `wait` → the answer saying done (client side);
- task: RQ's `started_at` → `ended_at`, set around the task in the process that runs it
  (decode + analyse + the task's three Redis calls): "the analysis itself";
- overhead = wall − task; and where it goes: POST → RQ `enqueued_at` (HTTP, hashing, claim,
  enqueue), `enqueued_at` → `started_at` (dequeue, fork/hand-off, RQ's bookkeeping), the job's
  `finished` → the answer (how the waiting request learns it, plus the HTTP answer).

Appends a dated section to bench/RESULTS-analysis-api.md (`--no-record` to only print).
Deletes only its own keys.
"""

import argparse
import os
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from benchenv import PREFIX, ROOT, setup  # noqa: E402

setup()

import requests  # noqa: E402
import soundfile  # noqa: E402

from tests.analysis.synth import make_excerpt  # noqa: E402
from tests.system.servers import Database, Gunicorn, base_env, wait_until  # noqa: E402

# gunicorn and the worker as deployed (DEBUG off), not as the tests run them
PRODUCTION = {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
              "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "DJANGO_SECURE_SSL_REDIRECT": "0"}
STYLES = [("house", 124), ("techno", 132), ("afrohouse", 120), ("pop", 110), ("dnb", 174)]


class TreeGunicorn(Gunicorn):
    """gunicorn run from another tree (same venv)."""

    def __init__(self, tree: Path, **kwargs):
        super().__init__(**kwargs)
        self.tree = tree

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "quantumlive.wsgi:application"],
            cwd=self.tree, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: requests.get(self.url + "/healthz", timeout=1).status_code == 200,
                   timeout=60, what=f"gunicorn on {self.url}")
        return self


def write_excerpts(root: Path, count: int, seconds: float) -> list[str]:
    names = []
    for i in range(count):
        style, bpm = STYLES[i % len(STYLES)]
        try:
            excerpt = make_excerpt(style, bpm + i % 3, seconds=seconds, sr=44100, seed=700 + i)
        except (KeyError, ValueError):
            excerpt = make_excerpt("house", 124 + i % 3, seconds=seconds, sr=44100, seed=700 + i)
        name = f"excerpt-{i:02d}.wav"
        soundfile.write(root / name, excerpt.y, excerpt.sr, subtype="PCM_16")
        names.append(name)
    return names


def tree_of(ref: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="ql-bench-tree-"))
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def rq_times(prefix_env: dict, job_id: str) -> dict:
    """enqueued_at, started_at, ended_at (unix seconds) of the job's RQ hash, once ended."""
    from rq.utils import utcparse

    from quantumlive.redis_conn import get_redis

    redis = get_redis()
    deadline = time.monotonic() + 5
    while True:
        raw = redis.hmget(f"rq:job:{job_id}", "enqueued_at", "started_at", "ended_at")
        if all(raw) or time.monotonic() > deadline:
            break
        time.sleep(0.005)
    return {name: utcparse(value).replace(tzinfo=timezone.utc).timestamp() if value else None
            for name, value in zip(("enqueued", "started", "ended"), raw)}


def iso_seconds(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


class Config:
    def __init__(self, label, tree, worker_args, root, database):
        self.label, self.tree, self.worker_args = label, tree, worker_args
        self.prefix = f"{PREFIX}-{label}"
        self.env = {"QL_AUDIO_ROOT": root, "QL_REDIS_PREFIX": self.prefix, **PRODUCTION}
        self.server = TreeGunicorn(tree, workers=2, database=database, **self.env)
        self.worker = None
        self.rows = []

    def start(self):
        self.server.start()
        self.worker = subprocess.Popen([sys.executable, "manage.py", "analysis_worker", *self.worker_args],
                                       cwd=self.tree, env=base_env(**self.env), stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)

    def ready(self) -> bool:
        from rq import Queue, Worker

        from analysis import jobs
        from quantumlive import keys

        connection = jobs.rq_connection()
        queue = Queue(keys.analysis_queue_name(self.prefix), connection=connection)
        return bool(Worker.all(connection=connection, queue=queue))

    def stop(self):
        if self.worker is not None:
            self.worker.terminate()
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.worker.kill()
        self.server.stop()
        os.unlink(self.server.log.name)
        delete_keys(self.prefix)


def delete_keys(prefix: str) -> None:
    from quantumlive import keys
    from quantumlive.redis_conn import get_redis

    redis = get_redis()
    found = keys.keys_of_prefix(redis, prefix)
    redis.srem(keys.rq_queue_registry(), keys.rq_queue(prefix))
    for start in range(0, len(found), 1000):
        redis.unlink(*found[start:start + 1000])


def submit(config: Config, token: str, name: str) -> dict:
    started_wall = time.time()
    started = time.perf_counter()
    answer = requests.post(f"{config.server.url}/api/analysis/", json={"path": name, "wait": 30},
                           headers={"Authorization": f"Token {token}"}, timeout=60)
    wall = time.perf_counter() - started
    answered_wall = started_wall + wall
    record = answer.json()
    if record.get("status") != "done":
        raise RuntimeError(f"{config.label}: {name} answered {answer.status_code} {record}")
    times = rq_times(config.env, record["id"])
    task = times["ended"] - times["started"]
    started = time.perf_counter()
    requests.get(f"{config.server.url}/api/analysis/{record['id']}/", timeout=10).raise_for_status()
    get_done = time.perf_counter() - started
    return {
        "get_done": get_done, "kb": len(answer.content) / 1024,
        "wall": wall, "task": task, "overhead": wall - task,
        "to_enqueued": times["enqueued"] - started_wall,
        "enqueued_to_started": times["started"] - times["enqueued"],
        "finished_to_answer": answered_wall - iso_seconds(record["finished"]),
    }


def p50(rows, field):
    return statistics.median(row[field] for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--before", default=None, help="git ref of the 'before' code (default: merge base with main)")
    parser.add_argument("--before-args", default="", help="analysis_worker arguments for 'before'")
    parser.add_argument("--after-args", default="", help="analysis_worker arguments for 'after'")
    parser.add_argument("--only-after", action="store_true", help="measure this tree only")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    before_ref = args.before or subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=ROOT, check=True,
                                               capture_output=True, text=True).stdout.strip()
    root = Path(tempfile.mkdtemp(prefix="ql-bench-audio-"))
    names = write_excerpts(root, args.jobs + 1, args.seconds)
    database = Database()
    trees = []
    configs = []
    try:
        if not args.only_after:
            before_tree = tree_of(before_ref)
            trees.append(before_tree)
            configs.append(Config("before", before_tree, shlex.split(args.before_args), root, database))
        configs.append(Config("after", ROOT, shlex.split(args.after_args), root, database))
        for config in configs:
            config.start()
        wait_until(lambda: all(config.ready() for config in configs), timeout=300, interval=0.2,
                   what="the analysis workers")
        for config in configs:  # a first job each: the web workers' and the worker's first use
            submit(config, database.token, names[0])
        for name in names[1:]:
            for config in configs:
                config.rows.append(submit(config, database.token, name))
    finally:
        for config in configs:
            config.stop()
        database.close()
        shutil.rmtree(root, ignore_errors=True)
        for tree in trees:
            shutil.rmtree(tree, ignore_errors=True)

    result_kb = statistics.median(row["kb"] for config in configs for row in config.rows)
    fields = ["wall", "task", "overhead", "to_enqueued", "enqueued_to_started", "finished_to_answer", "get_done"]
    lines = [
        f"## Per-job overhead, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        "",
        f"`.venv/bin/python bench/job_overhead_bench.py --jobs {args.jobs} --seconds {args.seconds:g}"
        + (f" --before-args {shlex.quote(args.before_args)}" if args.before_args else "")
        + (f" --after-args {shlex.quote(args.after_args)}" if args.after_args else "")
        + ("` (this tree only)." if args.only_after else f"`: before = `{before_ref[:10]}`, after = this tree")
        + f"; {args.jobs} jobs each, interleaved, each a different {args.seconds:g} s 44.1 kHz WAV under "
        "QL_AUDIO_ROOT submitted by `path` with `wait=30` to gunicorn (2 workers, DJANGO_DEBUG=0), one analysis worker, "
        f"ready (one job run first). {os.cpu_count()} cores shared with other work (load average "
        f"{os.getloadavg()[0]:.1f} at the end of the run): compare the rows, "
        "not the absolute times. Medians (p50) in ms; task = RQ's started_at → ended_at inside the "
        "job's process (decode + analyse + the task's Redis calls), overhead = wall − task; "
        "the last column, a GET of the job once done, is what answering the record alone costs "
        f"(the answer's JSON: {result_kb:.0f} KB).",
        "",
        "| code | wall | task | **overhead** | overhead p90 | POST → enqueued | enqueued → task starts "
        "| finished → answer | GET of the done job |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for config in configs:
        rows = config.rows
        ordered = sorted(row["overhead"] for row in rows)
        p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
        cells = [f"{1000 * p50(rows, f):.0f}" for f in fields]
        cells[2] = f"**{cells[2]}**"
        cells.insert(3, f"{1000 * p90:.0f}")
        label = config.label + (f" (`{' '.join(config.worker_args)}`)" if config.worker_args else "")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if len(configs) == 2:
        ratio = p50(configs[1].rows, "overhead") / p50(configs[0].rows, "overhead")
        lines += ["", f"Overhead after / before: {ratio:.2f}."]
    lines.append("")
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        results = ROOT / "bench" / "RESULTS-analysis-api.md"
        results.write_text(results.read_text().rstrip("\n") + "\n\n" + text)


if __name__ == "__main__":
    main()
