"""python manage.py analysis_worker_health: the compose `worker` service's health check.

Exits 0 when an analysis worker of this host (the container's hostname; `--hostname` to name
another) is registered on this deployment's analysis queue and sent a heartbeat within
`--max-age` seconds (default QL_ANALYSIS_WORKER_TTL + 30: an idle worker beats every
QL_ANALYSIS_WORKER_TTL - 15 s, a busy one every 30 s); else says why and exits 1. Reads RQ's
registration: the queue's worker set and each worker's hash (two round trips)."""

import socket
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from rq.utils import utcparse

from quantumlive import keys
from quantumlive.redis_conn import get_redis


class Command(BaseCommand):
    help = "Exit 0 if this host's analysis worker is registered with a recent heartbeat, else 1."

    def add_arguments(self, parser):
        parser.add_argument("--hostname", default=socket.gethostname(),
                            help="the worker's host (default: this one's)")
        parser.add_argument("--max-age", type=float, default=None,
                            help="seconds since its last heartbeat (default QL_ANALYSIS_WORKER_TTL + 30)")

    def handle(self, *args, hostname, max_age, **options):
        max_age = max_age if max_age is not None else settings.QL_ANALYSIS_WORKER_TTL + 30
        client = get_redis()
        try:
            worker_keys = sorted(client.smembers(keys.rq_queue_workers()))
            pipe = client.pipeline(transaction=False)
            for key in worker_keys:
                pipe.hmget(key, "hostname", "pid", "state", "last_heartbeat")
            found = pipe.execute() if worker_keys else []
        except Exception as exc:
            raise CommandError(f"Redis cannot be read: {type(exc).__name__}") from None
        now = time.time()
        ages = []
        for key, (host, pid, state, beat) in zip(worker_keys, found):
            if host != hostname or not beat:
                continue
            try:
                age = now - utcparse(beat).timestamp()
            except (TypeError, ValueError):
                continue
            if age <= max_age:
                self.stdout.write(f"ok: {key} (pid {pid}, {state}, heartbeat {age:.0f} s ago)")
                return
            ages.append(age)
        if ages:
            raise CommandError(f"the analysis worker of {hostname} last beat {min(ages):.0f} s ago "
                               f"(more than {max_age:.0f} s)")
        raise CommandError(f"no analysis worker of {hostname} is registered on {keys.analysis_queue_name()}")
