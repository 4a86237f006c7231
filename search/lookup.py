"""One service's answer to one query, as a pool thread finds it: the shared cache, the
switch-off state, single flight, the rate limit, the user's share of the quota and — for the
leader only — the upstream call, whose outcome feeds the breaker (a query the service
refuses, 400/404, is not counted). Redis errors propagate (the view answers 503)."""

import json
import logging
import time
import uuid

from django.conf import settings

from quantumlive import keys, metrics
from quantumlive.redis_conn import REDIS_DOWN_ERRORS, get_redis
from search import pool
from search.breaker import breaker_record_failure, breaker_record_success, service_switch_off
from search.cache import decode_items, encode_items
from search.flight import flight_finish, flight_join, flight_release
from search.providers.base import Provider, ProviderError, ProviderQueryError, ProviderUnavailable
from search.quota import USER_QUOTA_EXCEEDED, user_units_charge
from search.ratelimit import rate_limit_admit

log = logging.getLogger(__name__)

POLL_SECONDS = 0.01
LEASE_MARGIN_SECONDS = 2.0


def outcome(status: str, *, results: list | None = None, cached: bool = False,
            error: str | None = None) -> dict:
    return {"status": status, "cached": cached, "results": results or [], "error": error}


class _UserShareSpent(Exception):
    """The leader's user has not enough of its share of the quota left for the call."""


def provider_answer(*, provider: Provider, query: str, query_hash: str, limit: int,
                    deadline_at: float, user_id=None) -> dict:
    """The outcome for `provider` (status, cached, results, error), waiting on another
    caller's flight at most until `deadline_at` (time.monotonic()). A call sent upstream is
    charged to `user_id` (None: to nobody), a cached answer or another's flight is free."""
    where = dict(service=provider.name, limit=limit, query_hash=query_hash)
    token = uuid.uuid4().hex
    lease_ms = int((provider.call_timeout() + LEASE_MARGIN_SECONDS) * 1000)
    seen = ""
    steps = int(max(0.0, deadline_at - time.monotonic()) / POLL_SECONDS) + 3
    for _ in range(steps):
        kind, value = flight_join(**where, token=token, seen=seen, lease_ms=lease_ms)
        if kind == "cached":
            items = decode_items(value)
            if items is not None:
                return outcome("ok", results=items, cached=True)
            get_redis().delete(keys.search_result(**where))  # unreadable: drop it, and look again
            continue
        if kind == "off":
            return outcome("unavailable", error=value)
        if kind == "done":
            failure = json.loads(value)
            return outcome(failure["status"], error=failure["error"])
        if kind == "lead":
            return _lead(provider, query=query, query_hash=query_hash, limit=limit, token=token, user_id=user_id)
        seen = value
        remaining = deadline_at - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(POLL_SECONDS, remaining))
    return outcome("timeout", error="timed out")


def _lead(provider: Provider, *, query: str, query_hash: str, limit: int, token: str, user_id) -> dict:
    where = dict(service=provider.name, limit=limit, query_hash=query_hash)
    try:
        result = _call(provider, query=query, limit=limit, user_id=user_id)
    except REDIS_DOWN_ERRORS:
        raise
    except _UserShareSpent:
        # Not an answer to hand to this flight's waiters (other users): they lead instead.
        flight_release(**where, token=token)
        return outcome("unavailable", error=USER_QUOTA_EXCEEDED)
    except Exception as exc:  # a bug must still end the flight, for the waiters
        log.error("search %s: unexpected %s", provider.name, type(exc).__name__)
        result = outcome("error", error="internal error")
    finish = dict(**where, token=token,
                  cache_ttl=settings.QL_SEARCH_CACHE_TTL,
                  done_ttl_ms=int((settings.QL_SEARCH_DEADLINE + 1) * 1000))
    if result["status"] == "ok":
        flight_finish(**finish, items_json=encode_items(result["results"]))
    else:
        flight_finish(**finish, failure={"status": result["status"], "error": result["error"]})
    return result


def _call(provider: Provider, *, query: str, limit: int, user_id) -> dict:
    """The upstream call (within the rate limit and the user's share), its outcome recorded
    by the breaker. Raises _UserShareSpent when the user may not spend the call's units."""
    rate = provider.rate_limit
    if rate is not None:
        calls, seconds = rate
        if not rate_limit_admit(service=provider.name, calls=calls, seconds=seconds):
            return outcome("unavailable", error="rate limited")
    if not _charge(provider, user_id=user_id):
        raise _UserShareSpent()
    try:
        items = _upstream(provider, query=query, limit=limit)
    except ProviderUnavailable as exc:
        log.warning("search %s unavailable for %ss: %s", provider.name, exc.cooldown, exc.message)
        service_switch_off(service=provider.name, reason=exc.message, seconds=exc.cooldown)
        return outcome("unavailable", error=exc.message)
    except ProviderQueryError as exc:
        log.info("search %s refused the query: %s", provider.name, exc.message)
        return outcome(exc.status, error=exc.message)
    except ProviderError as exc:
        log.warning("search %s failed: %s", provider.name, exc.message)
        if breaker_record_failure(service=provider.name):
            log.warning("search %s switched off after repeated failures", provider.name)
        return outcome(exc.status, error=exc.message)
    breaker_record_success(service=provider.name)
    return outcome("ok", results=items)


def _upstream(provider: Provider, *, query: str, limit: int) -> list:
    """The provider's call, its latency counted for /metrics whatever it ends with."""
    started = time.monotonic()
    try:
        return provider.search(pool.session(), query=query, limit=limit)
    finally:
        metrics.search_upstream(provider.name, time.monotonic() - started)


def _charge(provider: Provider, *, user_id) -> bool:
    """Spends the call's units from the user's share of the day (search/quota.py); False,
    spending nothing, when not enough is left. Calls of no user or of a provider without
    units cost nothing."""
    cap = provider.user_units_cap()
    if user_id is None or not provider.units_per_call or cap is None:
        return True
    return user_units_charge(service=provider.name, user_id=user_id, units=provider.units_per_call,
                           cap=cap)
