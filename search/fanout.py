"""The fan-out: every requested service's answer within one deadline (QL_SEARCH_DEADLINE).

What Redis already knows (cached answers, switched-off services) is read in one round trip
by the calling thread; the rest runs on the process's thread pool (search/pool.py) and is
waited for until the deadline, never longer: a service still running then is reported
`timeout` (its call goes on in its thread and, if it succeeds, fills the cache).
No HTTP request objects in here.
"""

import logging
import time
from concurrent.futures import wait

from django.conf import settings

from quantumlive import keys, metrics
from quantumlive.redis_conn import REDIS_DOWN_ERRORS, get_redis
from search import pool
from search.cache import decode_items
from search.lookup import outcome, provider_answer
from search.providers import PROVIDERS
from search.query import normalize_query, query_hash

log = logging.getLogger(__name__)


def fanout_search(*, query: str, services: list[str], limit: int, user_id=None) -> dict[str, dict]:
    """{service: {status, cached, elapsed_ms, [error], results}} for each of `services`, in
    their order. Items keep their internal `isrc` (see search/service.py). Quota units of
    calls sent upstream are charged to `user_id` (None: to nobody)."""
    started = time.monotonic()
    deadline_at = started + settings.QL_SEARCH_DEADLINE
    normalized = normalize_query(query)
    qhash = query_hash(normalized)

    answers: dict[str, dict] = {}
    configured = []
    for name in services:
        provider = PROVIDERS[name]
        if provider.configured():
            configured.append(provider)
        else:
            answers[name] = entry(outcome("not_configured", error="not configured"), 0.0)

    pending = []
    if configured:
        known = _known_answers(configured, limit=limit, query_hash=qhash)
        elapsed = time.monotonic() - started
        for provider in configured:
            if provider.name in known:
                answers[provider.name] = entry(known[provider.name], elapsed)
            else:
                pending.append(provider)

    if pending:
        futures = {
            pool.submit(_timed, provider=provider, query=normalized, query_hash=qhash,
                        limit=limit, deadline_at=deadline_at, user_id=user_id): provider.name
            for provider in pending
        }
        done, _ = wait(futures, timeout=max(0.0, deadline_at - time.monotonic()))
        for future, name in futures.items():
            if future in done:
                result, finished = _result(future, name)
                answers[name] = entry(result, finished - started)
            else:
                answers[name] = entry(outcome("timeout", error="timed out"),
                                      time.monotonic() - started)
    for name, answer in answers.items():
        metrics.search_answer(name, answer["status"], answer["cached"])
    return {name: answers[name] for name in services}


def entry(result: dict, elapsed_seconds: float) -> dict:
    """A service entry of the answer, in API.md's field order."""
    body = {"status": result["status"], "cached": result["cached"],
            "elapsed_ms": int(round(elapsed_seconds * 1000))}
    if result["status"] != "ok":
        body["error"] = result["error"]
    body["results"] = result["results"]
    return body


def _known_answers(providers, *, limit: int, query_hash: str) -> dict[str, dict]:
    """Outcomes Redis already holds: cached answers first, then switched-off services."""
    names = [keys.search_result(p.name, limit, query_hash) for p in providers]
    names += [keys.search_off(p.name) for p in providers]
    values = get_redis().mget(names)
    cached, off = values[: len(providers)], values[len(providers):]
    known = {}
    for provider, raw, reason in zip(providers, cached, off):
        items = decode_items(raw)
        if items is not None:
            known[provider.name] = outcome("ok", results=items, cached=True)
        elif reason is not None:
            known[provider.name] = outcome("unavailable", error=reason)
    return known


def _timed(**kwargs) -> tuple[dict, float]:
    """The provider's outcome and when it was known."""
    return provider_answer(**kwargs), time.monotonic()


def _result(future, name: str) -> tuple[dict, float]:
    try:
        return future.result()
    except REDIS_DOWN_ERRORS:
        raise
    except Exception as exc:  # a bug in one provider never fails the request
        log.error("search %s: unexpected %s", name, type(exc).__name__)
        return outcome("error", error="internal error"), time.monotonic()
