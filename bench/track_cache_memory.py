#!/usr/bin/env python
"""The track cache's memory with a large library of maximal tracks (issue 12, finding 6), and
Redis's bytes per track (for sizing `maxmemory`).

    .venv/bin/python bench/track_cache_memory.py [--tracks 20000] [--cache-mb 256] [--no-trace]

Starts a redis-server of its own on a free port (a 20,000-track library of maximal tracks is
~2.7 GB in Redis: not the shared one), writes the library there (the store's hash layout and
order, pipelined: the store's create script would take ~0.1 s a track here), then lists it
through the view's own path (`track_list` with the `?q=` matcher, limit 50) twice:
the second time under tracemalloc, which gives what the cache retains (what emptying it
frees) against what it counts. Prints the figures; writes nothing.
"""

import argparse
import gc
import json
import os
import resource
import sys
import time
import tracemalloc
import uuid

from benchenv import ROOT, setup  # noqa: E402

sys.path.insert(0, str(ROOT))
from tests.system.servers import PrivateRedis  # noqa: E402


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=20_000)
    parser.add_argument("--cache-mb", type=int, default=256)
    parser.add_argument("--no-trace", action="store_true", help="skip the traced second pass")
    return parser.parse_args()


def fields_of(values: dict, track_id: str, stamp: str) -> dict:
    from tracks import store

    flat = ["id", track_id, "version", "1", "created", stamp, "updated", stamp]
    flat += store.encode_fields({name: values[name] for name in store.WRITABLE})
    return dict(zip(flat[::2], flat[1::2]))


def write_library(count: int) -> list[str]:
    from quantumlive import keys
    from quantumlive.redis_conn import get_redis
    from tests.tracks.test_track_cache_memory import maximal_values
    from tracks import store

    redis = get_redis()
    template = fields_of(maximal_values(0), "", store.now_iso())
    ids = []
    pipe = redis.pipeline(transaction=False)
    for number in range(count):
        track_id = str(uuid.uuid4())
        ids.append(track_id)
        fields = dict(template, id=track_id, title=json.dumps(f"maximal {number:05d} ".ljust(300, "t")))
        pipe.hset(keys.track(track_id), mapping=fields)
        pipe.zadd(keys.playlist(), {track_id: number})
        if len(pipe) >= 200:
            pipe.execute()
    pipe.execute()
    return ids


def redis_bytes_per_track() -> list[tuple[str, int, int]]:
    """MEMORY USAGE of one track's hash (+ its order entry, measured as the sorted set's
    growth) for a typical, a maximal and a maximal analysed track."""
    from quantumlive import keys
    from quantumlive.redis_conn import get_redis
    from tests.tracks.test_track_cache_memory import maximal_values, typical_values
    from tracks import store

    redis = get_redis()
    rows = []
    for name, values in [("typical (16 cues x 100-point waveforms)", typical_values(1)),
                         ("maximal fields, no waveforms", maximal_values(1)),
                         ("maximal fields, 512 cues x 1,000-point waveforms", maximal_values(1, waveform=1000))]:
        track = store.track_create(values=values)
        body = len(json.dumps(values).encode())
        rows.append((name, body, redis.memory_usage(keys.track(track["id"]), samples=0)))
        store.track_delete(track_id=track["id"])
    return rows


def main() -> None:
    args = parse()
    server = PrivateRedis().start()
    os.environ["REDIS_URL"] = server.url
    os.environ["QL_TRACK_CACHE_MB"] = str(args.cache_mb)
    try:
        setup()
        from quantumlive.redis_conn import get_redis
        from tracks import store
        from tracks.cache import process_cache, reset_process_cache
        from tracks.serializers import matcher

        for name, body, usage in redis_bytes_per_track():
            print(f"Redis MEMORY USAGE, {name}: {usage:,} B (JSON body {body:,} B)")
        before = int(get_redis().info("memory")["used_memory"])
        started = time.monotonic()
        write_library(args.tracks)
        after = int(get_redis().info("memory")["used_memory"])
        print(f"wrote {args.tracks:,} maximal tracks in {time.monotonic() - started:.0f} s; Redis used_memory "
              f"+{(after - before) / 2**20:,.0f} MB, {(after - before) / args.tracks:,.0f} B a track")

        cache = process_cache()
        deadline = time.monotonic() + 10
        while not cache.status().subscribed and time.monotonic() < deadline:
            time.sleep(0.05)
        match = matcher({"q": "maximal"})
        started = time.monotonic()
        count, page = store.track_list(offset=0, limit=50, match=match)
        assert count == args.tracks, count
        status = cache.status()
        print(f"list ?q=maximal (limit 50) over {count:,} tracks: {time.monotonic() - started:.1f} s; cache: "
              f"{status.entries:,} entries, counted {status.bytes / 2**20:.1f} MB of "
              f"{args.cache_mb} MB ({status.budget / 2**20:.1f} MB for entries and order), "
              f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
        del page
        if not args.no_trace:
            tracemalloc.start()
            started = time.monotonic()
            store.track_list(offset=0, limit=50, match=match)  # replaces every entry (LRU, cyclic scan)
            gc.collect()
            held, peak = tracemalloc.get_traced_memory()
            entries, counted = cache.status().entries, cache.status().bytes
            cache.clear()
            gc.collect()
            retained = held - tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            print(f"traced list ({time.monotonic() - started:.0f} s): {entries:,} entries retain "
                  f"{retained / 2**20:.1f} MB (tracemalloc), counted {counted / 2**20:.1f} MB; "
                  f"{retained / max(entries, 1):,.0f} B an entry; the request's traced peak "
                  f"{peak / 2**20:.0f} MB")
        reset_process_cache()
    finally:
        server.close()


if __name__ == "__main__":
    main()
