"""One Redis client per process, made on first use (so after gunicorn forks), never before.

Every call is bounded by socket timeouts so a Redis that is down answers within seconds
(API.md: 503 within two seconds), and the client reconnects by itself when Redis is back.
"""

import os
import threading

import redis
from django.conf import settings
from django_redis.exceptions import ConnectionInterrupted

_lock = threading.Lock()
_clients: dict[tuple[int, str], redis.Redis] = {}

# What "Redis is unreachable" looks like to redis-py.
REDIS_DOWN_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, ConnectionInterrupted)


def get_redis() -> redis.Redis:
    """The process's client for settings.REDIS_URL (a new one after fork or a URL change)."""
    key = (os.getpid(), settings.REDIS_URL)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = make_client(settings.REDIS_URL)
                _clients.clear()
                _clients[key] = client
    return client


def make_client(url: str, **overrides) -> redis.Redis:
    options = dict(
        socket_connect_timeout=settings.QL_REDIS_CONNECT_TIMEOUT,
        socket_timeout=settings.QL_REDIS_SOCKET_TIMEOUT,
        health_check_interval=30,
        retry_on_timeout=False,
        max_connections=64,
        decode_responses=True,
    )
    options.update(overrides)
    client = redis.Redis.from_url(url, **options)
    # No silent retries: a call on a dead Redis fails once, fast.
    client.connection_pool.connection_kwargs["retry"] = redis.retry.Retry(redis.backoff.NoBackoff(), 0)
    return client


def key(*parts: str) -> str:
    """A key under this deployment's prefix, inside a hash tag so multi-key calls stay valid on
    Redis Cluster: key("track", id) -> "{ql}:track:<id>"."""
    return ":".join(("{%s}" % settings.QL_REDIS_PREFIX, *parts))
