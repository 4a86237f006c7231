"""Backup and restore benchmark: export and import rates (tracks/s) and the peak memory (RSS
high-water mark) of the process doing each, at two library sizes (flatness: the peak should not
grow with the library).

    .venv/bin/python bench/backup_bench.py [--tracks 1000 10000] [--analysed-every 20]

Each size runs in a child process of its own (a fresh RSS high-water mark): it seeds the library
under its own prefix, exports it to a file, imports the file into another empty prefix, and
prints one JSON line; the parent prints the table. Only this run's keys are touched.
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchenv  # noqa: E402


def peak_rss_mb() -> float:
    """This process's RSS high-water mark (VmHWM), MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Resets VmHWM to the current RSS (Linux >= 4.0: writing 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def seed(count: int, analysed_every: int) -> None:
    """`count` tracks (every `analysed_every`-th with 8 cues x 2,048-point waveforms, as an analysed
    track; the others 2 cues x 32 points), written with the store's CREATE script, pipelined."""
    from quantumlive.redis_conn import get_redis
    from tracks import lua, store

    rng = random.Random(5)
    redis = get_redis()
    for start in range(0, count, 200):
        pipe = redis.pipeline(transaction=False)
        for i in range(start, min(count, start + 200)):
            analysed = analysed_every and i % analysed_every == 0
            cues, points = (8, 2048) if analysed else (2, 32)
            values = {"title": f"Track {i}", "artist": f"Artist {i % 97}", "bpm": 90.0 + i % 90,
                      "key": "A minor", "duration": 240.0 + i % 60, "genres": ["house", "latin"][: 1 + i % 2],
                      "sources": {"youtube": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}, "notes": None,
                      "cues": [{"name": f"cue_{c}", "start": c * 30.0, "end": c * 30.0 + 30.0,
                                "waveform": [round(rng.random(), 4) for _ in range(points)]} for c in range(cues)]}
            track_id = str(uuid.uuid4())
            fields = store.restore_fields(track_id=track_id, values=values, version=1 + i % 5,
                                          created=store.now_iso(), updated=store.now_iso())
            lua.create_track(pipe, track_id=track_id, ack="-", position=None, fields=fields)
        pipe.execute()


def child(count: int, analysed_every: int) -> None:
    benchenv.setup()
    from django.core.management import call_command
    from django.test import override_settings

    from tracks.cache import reset_process_cache

    restore_prefix = benchenv.PREFIX + "-restore"
    path = Path(tempfile.mkdtemp(prefix="ql-backup-bench-")) / "library.json"
    try:
        seed(count, analysed_every)
        reset_process_cache()
        devnull = open(os.devnull, "w")
        reset_peak()
        base = peak_rss_mb()
        started, cpu = time.perf_counter(), time.process_time()
        call_command("export_library", str(path), stdout=devnull)
        export_s, export_cpu = time.perf_counter() - started, time.process_time() - cpu
        export_peak = peak_rss_mb()
        size_mb = path.stat().st_size / 2**20
        with override_settings(QL_REDIS_PREFIX=restore_prefix):
            reset_peak()
            started, cpu = time.perf_counter(), time.process_time()
            call_command("import_library", str(path), stdout=devnull)
            import_s, import_cpu = time.perf_counter() - started, time.process_time() - cpu
            import_peak = peak_rss_mb()
            reset_process_cache()
            benchenv.PREFIX, saved = restore_prefix, benchenv.PREFIX
            benchenv.delete_own_keys()
            benchenv.PREFIX = saved
        print(json.dumps({"tracks": count, "file_mb": round(size_mb, 1), "base_rss_mb": round(base, 1),
                          "export_s": round(export_s, 2), "export_rate": round(count / export_s),
                          "export_cpu_rate": round(count / export_cpu), "export_peak_mb": round(export_peak, 1),
                          "import_s": round(import_s, 2), "import_rate": round(count / import_s),
                          "import_cpu_rate": round(count / import_cpu), "load": os.getloadavg()[0],
                          "import_peak_mb": round(import_peak, 1)}))
    finally:
        benchenv.delete_own_keys()
        path.unlink(missing_ok=True)
        path.parent.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--analysed-every", type=int, default=20,
                        help="every n-th track carries 8 cues x 2,048 points (0: none)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.analysed_every)
        return
    rows = []
    for count in args.tracks:
        out = subprocess.run([sys.executable, __file__, "--child", str(count), "--analysed-every",
                              str(args.analysed_every)], check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| tracks | file MB | export tracks/s wall (per CPU s) | export peak RSS MB | "
          "import tracks/s wall (per CPU s) | import peak RSS MB | load |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['tracks']:,} | {row['file_mb']} | {row['export_rate']:,} ({row['export_cpu_rate']:,}) | "
              f"{row['export_peak_mb']} | {row['import_rate']:,} ({row['import_cpu_rate']:,}) | "
              f"{row['import_peak_mb']} | {row['load']:.1f} |")
    print(f"(RSS of the process before the export: {rows[-1]['base_rss_mb']} MB)")


if __name__ == "__main__":
    main()
