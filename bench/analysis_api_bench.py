#!/usr/bin/env python
"""Analysis through the API (issue 5): wall time of a 5-minute track from submit to `done`,
with gunicorn and a real analysis worker; and the first job's time after the worker starts
(the worker compiles librosa's kernels before it takes jobs).

    .venv/bin/python bench/analysis_api_bench.py [--minutes 5] [--runs 3]

Writes the first section of bench/RESULTS-analysis-api.md (the others stay). Own Redis key
prefix; deletes only its keys.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from benchenv import ROOT, delete_own_keys, setup  # noqa: E402

setup()

import numpy as np  # noqa: E402
import requests  # noqa: E402
import soundfile  # noqa: E402

from tests.analysis.synth import make_excerpt  # noqa: E402
from tests.system.servers import Database, Gunicorn, base_env  # noqa: E402


def five_minutes(path: Path, minutes: float, seed: int) -> None:
    """A long track: excerpts of several styles and tempi joined, 44.1 kHz stereo 16-bit."""
    parts, total = [], 0.0
    styles = [("house", 124), ("techno", 132), ("afrohouse", 120), ("pop", 110)]
    i = 0
    while total < minutes * 60:
        style, bpm = styles[i % len(styles)]
        excerpt = make_excerpt(style, bpm, seconds=60, sr=44100, seed=seed + i)
        parts.append(excerpt.y)
        total += excerpt.duration
        i += 1
    mono = np.concatenate(parts)[: int(minutes * 60 * 44100)]
    soundfile.write(path, np.stack([mono, mono * 0.9], axis=1), 44100, subtype="PCM_16")


def submit_and_wait(url: str, token: str, path: str) -> tuple[float, dict]:
    started = time.perf_counter()
    answer = requests.post(f"{url}/api/analysis/", json={"path": path, "wait": 30},
                           headers={"Authorization": f"Token {token}"}, timeout=60)
    record = answer.json()
    while record["status"] not in ("done", "failed"):
        time.sleep(0.05)
        record = requests.get(record["url"], timeout=10).json()
    return time.perf_counter() - started, record


def wait_ready(deadline: float) -> bool:
    """Until an RQ worker listens on this deployment's analysis queue (after its warm-up)."""
    from rq import Worker

    from analysis import jobs

    connection = jobs.rq_connection()
    while time.perf_counter() < deadline:
        if Worker.all(connection=connection, queue=jobs.queue(connection)):
            return True
        time.sleep(0.05)
    return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ql-bench-audio-"))
    names = [f"long-{i}.wav" for i in range(args.runs + 2)]
    for i, name in enumerate(names):
        five_minutes(root / name, args.minutes, seed=100 * i)
    database = Database()
    rows = []
    try:
        with Gunicorn(workers=2, database=database, QL_AUDIO_ROOT=root) as server:
            worker_started = time.perf_counter()
            worker = subprocess.Popen([sys.executable, "manage.py", "analysis_worker"], cwd=ROOT,
                                      env=base_env(QL_AUDIO_ROOT=root), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            try:
                first, record = submit_and_wait(server.url, database.token, names[0])
                from_start = time.perf_counter() - worker_started
                rows.append(("first job, submitted as the worker process starts", first, from_start, record))
                worker.terminate()
                worker.wait(timeout=30)
                # a worker that has warmed up and registered with RQ, then its first job
                worker_started = time.perf_counter()
                worker = subprocess.Popen([sys.executable, "manage.py", "analysis_worker"], cwd=ROOT,
                                          env=base_env(QL_AUDIO_ROOT=root), stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
                ready = wait_ready(time.perf_counter() + 120)
                ready_after = time.perf_counter() - worker_started
                seconds, record = submit_and_wait(server.url, database.token, names[-1])
                rows.append((f"first job of a ready worker (ready {ready_after:.1f} s after its start)",
                             seconds, time.perf_counter() - worker_started, record))
                assert ready
                for name in names[1:-1]:
                    seconds, record = submit_and_wait(server.url, database.token, name)
                    rows.append((f"{name}, worker running", seconds, None, record))
                repeat, record = submit_and_wait(server.url, database.token, names[1])
                rows.append(("the same audio again (stored result)", repeat, None, record))
            finally:
                worker.terminate()
                worker.wait(timeout=30)
    finally:
        database.close()
        for name in names:
            (root / name).unlink()
        root.rmdir()
        delete_own_keys()

    lines = [
        "## Analysis through the API",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: `.venv/bin/python bench/analysis_api_bench.py "
        f"--minutes {args.minutes:g} --runs {args.runs}`. {args.minutes:g}-minute 44.1 kHz stereo WAV files "
        "under QL_AUDIO_ROOT, submitted by `path` with `wait=30` to gunicorn (2 workers), one analysis "
        "worker (RQ; its jobs run in its pre-forked runner).",
        "",
        "| job | submit → done (s) | worker start → done (s) | status | bpm |",
        "| --- | ---: | ---: | --- | ---: |",
    ]
    for label, seconds, from_start, record in rows:
        bpm = (record.get("result") or {}).get("bpm")
        lines.append(f"| {label} | {seconds:.2f} | {'' if from_start is None else f'{from_start:.2f}'} | "
                     f"{record['status']} | {bpm if bpm is not None else '-'} |")
    lines.append("")
    text = "\n".join(lines)
    print(text)
    # this section replaces the file's first; the sections after it (job_overhead_bench.py's) stay
    results = ROOT / "bench" / "RESULTS-analysis-api.md"
    previous = results.read_text() if results.exists() else ""
    rest = previous[previous.find("\n## ", 1) + 1:] if "\n## " in previous else ""
    results.write_text(text + ("\n" + rest if rest else ""))


if __name__ == "__main__":
    main()
