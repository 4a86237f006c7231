"""Token authentication without a database query per request, and token revocation that
reaches every process within a second.

DRF's TokenAuthentication reads the token table on every request. The hot read path
(GET a track, the request a live set makes most) must cost no more than the store's read, so
each process remembers tokens it has verified, for at most QL_TOKEN_CACHE_SECONDS (default
30; 0: no memory).

Revocation: deleting a token (logout, the admin, `manage.py`, a user's deletion: a
post_delete signal of Token), or deactivating its user (post_save), publishes
`token:<sha256 of the key>` on the invalidation channel of the track caches
(tracks.store.cache_invalidate: a generation like any track write, acknowledged by the leased
caches before it returns), once the deletion is committed. Each process's track-cache
subscriber hands it to `_revoked` (tracks/cache/subscriber.py NAMED_LISTENERS), which forgets
the token. The token itself is never in a key, a message or a log line: only its SHA-256.

A remembered token is trusted only while the subscriber vouches that no revocation can have
passed it by (`Subscriber.vouch`: its session, and when it last applied everything that had
arrived): the entry was verified under the subscriber's current session (subscribed before the
database was read), and the subscriber has drained its socket within VOUCH_SECONDS. A
subscriber that lost its connection, is reconnecting, or is stuck vouches for nothing: every
token is then read from the database again. A verification that overlaps a revocation applied
here is not remembered (the revocation may have come before the entry). So a token deleted
on any instance stops working everywhere within VOUCH_SECONDS plus the channel's latency.

Without a track cache (QL_TRACK_CACHE=0) there is no subscriber to vouch: tokens are read
from the database on every request.
"""

import functools
import hashlib
import logging
import os
import threading
import time

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.authtoken.models import Token

import tracks.cache as track_cache
from tracks.cache import process_cache

log = logging.getLogger(__name__)

_lock = threading.Lock()
# key -> (user, token, expires (monotonic), subscriber session it was verified under)
_verified: dict[str, tuple[object, object, float, str]] = {}
_by_digest: dict[str, str] = {}  # sha256 of a remembered key -> the key
_MAX_ENTRIES = 10000
# Revocations applied in this process: a verification during which one was applied is not
# remembered (its entry could be older than the revocation).
_revocations = 0

# How recently the subscriber must have applied everything that had arrived for a remembered
# token to be trusted (its loop turns every 0.1 s; a second is the promise).
VOUCH_SECONDS = 0.5
# A process's first moments (the FIRST_SUBSCRIPTION_WINDOW seconds after its subscriber
# started, until it is first subscribed): a verification waits up to FIRST_SUBSCRIPTION_WAIT
# for the subscription, so the token is remembered from the first requests on. (gunicorn
# workers are subscribed before they serve: gunicorn.conf.py warms the cache.)
FIRST_SUBSCRIPTION_WAIT = 0.5
FIRST_SUBSCRIPTION_WINDOW = 2.0
# What the invalidation of a revoked token is named (tracks/cache/subscriber.py NAMED_LISTENERS).
REVOKED_PREFIX = "token:"


def token_digest(key: str) -> str:
    """What names a token anywhere outside the database: its SHA-256 (hex)."""
    return hashlib.sha256(key.encode()).hexdigest()


# This process's id, kept up to date across forks: os.getpid() is a system call, and the hot
# read checks the subscriber on every request.
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def _subscriber():
    """This process's track-cache subscriber (started if need be), or None without a cache."""
    cache = track_cache._cache  # (the common case without process_cache's os.getpid())
    if cache is None or cache.pid != _pid:
        cache = process_cache()
    return cache.subscriber if cache is not None else None


def _vouching_session(subscriber, now: float) -> str | None:
    vouch = subscriber.vouch if subscriber is not None else None
    if vouch is None or now - vouch[1] > VOUCH_SECONDS:
        return None
    return vouch[0]


def _session_for_verification() -> str | None:
    """The subscriber session a verification starting now may be remembered under, or None.
    In the process's first moments, waits (bounded) for its first subscription."""
    if settings.QL_TOKEN_CACHE_SECONDS <= 0:
        return None
    subscriber = _subscriber()
    session = _vouching_session(subscriber, time.monotonic())
    if (session is None and subscriber is not None and subscriber.sessions == 0 and subscriber.running()
            and time.monotonic() - subscriber.started_at < FIRST_SUBSCRIPTION_WINDOW):
        deadline = time.monotonic() + FIRST_SUBSCRIPTION_WAIT
        while session is None and time.monotonic() < deadline:
            time.sleep(0.002)
            session = _vouching_session(subscriber, time.monotonic())
    return session


class CachedTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        found = remembered(key)
        if found is not None:
            return found
        session = _session_for_verification()  # before the database is read
        seen = _revocations
        user, token = super().authenticate_credentials(key)
        if session is not None:
            with _lock:
                if _revocations == seen:
                    if len(_verified) >= _MAX_ENTRIES:
                        _verified.clear()
                        _by_digest.clear()
                    _verified[key] = (user, token, time.monotonic() + settings.QL_TOKEN_CACHE_SECONDS, session)
                    _by_digest[token_digest(key)] = key
        return user, token


def remembered(key: str):
    """(user, token) of a token this process verified recently and may still trust, else None."""
    entry = _verified.get(key)
    if entry is None:
        return None
    now = time.monotonic()
    if entry[2] < now:
        with _lock:
            if _verified.get(key) is entry:
                del _verified[key]
                _by_digest.pop(token_digest(key), None)
        return None
    if _vouching_session(_subscriber(), now) != entry[3]:
        return None  # the subscriber cannot vouch that no revocation passed it by
    return entry[0], entry[1]


def known_token_user(request):
    """The user of a recently verified `Authorization: Token <key>` header, else None (no
    header, another scheme, or a token this process has not verified lately)."""
    parts = get_authorization_header(request).split()
    if len(parts) != 2 or parts[0].lower() != b"token":
        return None
    try:
        found = remembered(parts[1].decode())
    except UnicodeError:
        return None
    return found[0] if found else None


def forget_all() -> None:
    with _lock:
        _verified.clear()
        _by_digest.clear()


# --- revocation -------------------------------------------------------------------------------
def _revoked(digest: str) -> None:
    """A token was deleted somewhere (the subscriber applies its invalidation): forget it."""
    global _revocations
    with _lock:
        _revocations += 1
        key = _by_digest.pop(digest, None)
        if key is not None:
            _verified.pop(key, None)


def token_revoke_publish(key: str) -> None:
    """Tells every process that this token is deleted (this one at once); returns once every
    leased track cache has applied it (the others apply it within their next turn, 0.1 s).
    Raises the Redis error when Redis cannot be reached."""
    from tracks.store import cache_invalidate

    digest = token_digest(key)
    _revoked(digest)  # this process: at once
    cache_invalidate(groups=[REVOKED_PREFIX + digest])


def _publish_after_commit(key: str) -> None:
    try:
        token_revoke_publish(key)
    except Exception as exc:
        # The token is gone from the database; a process still connected to Redis keeps it
        # for at most QL_TOKEN_CACHE_SECONDS. (Its key is not logged.)
        log.warning("token revocation not published (%s): processes forget it within "
                    "QL_TOKEN_CACHE_SECONDS", type(exc).__name__)


@receiver(post_delete, sender=Token, dispatch_uid="quantumlive.auth.token_deleted")
def _token_deleted(sender, instance, **kwargs):
    """Every deletion of a token (logout, the admin, manage.py, a user deleted) is published
    once its transaction has committed: a process that read the token before the commit and
    remembered it afterwards would otherwise keep it."""
    transaction.on_commit(functools.partial(_publish_after_commit, instance.key))


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="quantumlive.auth.user_saved")
def _user_saved(sender, instance, created, **kwargs):
    """A user deactivated: their tokens stop working everywhere too (they stay in the
    database, and work again if the user is reactivated)."""
    if created or instance.is_active:
        return
    for key in Token.objects.filter(user=instance).values_list("key", flat=True):
        transaction.on_commit(functools.partial(_publish_after_commit, key))


def _register() -> None:
    from tracks.cache.subscriber import NAMED_LISTENERS

    NAMED_LISTENERS[REVOKED_PREFIX] = _revoked


_register()
