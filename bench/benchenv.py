"""Shared start of the benchmark scripts: the repository on sys.path, a Redis key prefix of
the run's own (`qlbench-…`), Django set up; and the clean-up of exactly those keys."""

import os
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREFIX = f"qlbench-{uuid.uuid4().hex[:8]}"


def setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["QL_REDIS_PREFIX"] = PREFIX
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quantumlive.settings")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    import django

    django.setup()


def delete_own_keys() -> None:
    """This run's keys, and RQ's keys of its queue."""
    from quantumlive import keys
    from quantumlive.redis_conn import get_redis

    redis = get_redis()
    found = keys.keys_of_prefix(redis, PREFIX)
    redis.srem(keys.rq_queue_registry(), keys.rq_queue(PREFIX))
    for start in range(0, len(found), 1000):
        redis.unlink(*found[start:start + 1000])
