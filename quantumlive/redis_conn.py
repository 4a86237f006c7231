"""One Redis client per process, made on first use (so after gunicorn forks), never before.

Every call is bounded by socket timeouts so a Redis that is down answers within seconds
(API.md: 503 within two seconds), and the client reconnects by itself when Redis is back.
"""

import os
import threading

import redis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django_redis.exceptions import ConnectionInterrupted

_lock = threading.Lock()
# (pid, client) for settings.REDIS_URL, made once per process and dropped when a test
# overrides a setting it depends on.
_client: tuple[int, redis.Redis] | None = None

# What "Redis is unreachable" looks like to redis-py.
REDIS_DOWN_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, ConnectionInterrupted)


def get_redis() -> redis.Redis:
    """The process's client for settings.REDIS_URL (a new one after fork)."""
    global _client
    current = _client
    if current is not None and current[0] == os.getpid():
        return current[1]
    with _lock:
        if _client is None or _client[0] != os.getpid():
            _client = (os.getpid(), make_client(settings.REDIS_URL))
        return _client[1]


_binary: tuple[int, str, redis.Redis] | None = None


def get_binary_redis() -> redis.Redis:
    """The process's client that answers bytes (waveforms), for settings.REDIS_URL."""
    global _binary
    current = _binary
    if current is None or current[0] != os.getpid() or current[1] != settings.REDIS_URL:
        with _lock:
            current = _binary = (os.getpid(), settings.REDIS_URL, make_client(settings.REDIS_URL, decode_responses=False))
    return current[2]


@receiver(setting_changed)
def _forget(setting, **kwargs):
    global _client, _binary
    if setting in ("REDIS_URL", "QL_REDIS_CONNECT_TIMEOUT", "QL_REDIS_SOCKET_TIMEOUT"):
        _client = None
        _binary = None


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
