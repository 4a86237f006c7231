"""Expiring Redis locks with a token: the one way a write takes the lock of what it changes
(a track, a playlist). The token fences the write: its Lua script lands only while the token
still holds the lock (tracks/lua.py, playlists/lua.py), so a writer whose lock expired under
it changes nothing."""

import random
import time
import uuid

from django.conf import settings

from quantumlive.redis_conn import get_redis
from quantumlive.scripts import Script


_RELEASE = Script(keys=("lock",), args=("token",), source=r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""")


class LockTimeout(Exception):
    """The lock could not be had in time (heavy contention): nothing changed."""


def lock_acquire(lock_key: str, *, what: str, token: str | None = None) -> str:
    """Takes the lock at `lock_key` (expires after QL_LOCK_TTL), waiting up to QL_LOCK_WAIT
    with a jittered backoff; returns its token, or raises LockTimeout(what) (`what`: the id of
    what the lock guards)."""
    redis = get_redis()
    token = token or uuid.uuid4().hex
    ttl_ms = int(settings.QL_LOCK_TTL * 1000)
    deadline = time.monotonic() + settings.QL_LOCK_WAIT
    pause = 0.002
    while True:
        if redis.set(lock_key, token, nx=True, px=ttl_ms):
            return token
        if time.monotonic() + pause > deadline:
            raise LockTimeout(what)
        time.sleep(pause * (0.5 + random.random()))
        pause = min(pause * 1.5, 0.05)


def lock_release(client, lock_key: str, *, token: str) -> None:
    """Deletes the lock at `lock_key` if `token` still holds it (on a pipeline: queued)."""
    _RELEASE(client, lock=lock_key, token=token)
