"""Prometheus metrics (API.md, "Browser clients and observability"): `GET /metrics` in the
text format, for the whole instance.

gunicorn runs several worker processes: with PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py
sets it for every instance, to a directory of its own emptied at start), each worker writes
its counts to files there (prometheus_client's multiprocess mode) and a scrape, whichever
worker answers it, sums them all. Without it (tests, manage.py) the counts are this
process's.

What is counted where:
- requests and their latency: MetricsMiddleware (listed right after the request id's, so it
  sees every answer, the early ones included), by route template (the URL pattern, never the
  path: ids do not make new label values), method and status;
- track and playlist cache outcomes: where the views learn them (`cache_read`);
- search: every service's answer (`search_answer`) and each upstream call's latency
  (`search_upstream`);
- Redis errors turned into 503 (quantumlive/errors.py);
- analysis jobs: read from Redis at scrape time (AnalysisCollector): they run in worker
  processes that may be on other machines, which record the durations in Redis
  (analysis/jobs.py, `job_stats_*`). These are the deployment's figures: every instance
  reports the same ones.

`/metrics` answers only to a peer address (REMOTE_ADDR, never X-Forwarded-For, which a client
writes) in QL_METRICS_ALLOW, and refuses a request that came through a proxy (one with
X-Forwarded-For: its peer is the proxy, so the address says nothing of the client): 403.
deploy/nginx.conf does not pass /metrics on; Prometheus scrapes each instance directly.
"""

import ipaddress
import logging
import os
import time
from functools import lru_cache

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.urls import get_resolver
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

log = logging.getLogger(__name__)


def _pid_kept_across_forks() -> None:
    """In multiprocess mode prometheus_client asks os.getpid() at every increment, to notice
    a fork (then it writes to new files of the child's pid): a system call per increment, ~30 %
    of an increment's cost here. The pid is kept instead, and renewed in the child of every
    fork (os.register_at_fork): the same pid, the same files, without the calls."""
    from prometheus_client import values

    pid = [os.getpid()]
    os.register_at_fork(after_in_child=lambda: pid.__setitem__(0, os.getpid()))
    values.ValueClass = values.MultiProcessValue(process_identifier=lambda: pid[0])


if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _pid_kept_across_forks()

# Every metric of the application; in multiprocess mode a scrape reads the workers' files
# instead (the objects here only write them).
REGISTRY = CollectorRegistry(auto_describe=True)

# The label of requests that matched no URL pattern (a 404 before any view).
UNMATCHED = "<unmatched>"
# Methods outside this set are counted as "other" (a client may send any token as a method).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
# Set on a request answered before URL resolution by a middleware that knows its route
# (tracks/middleware.py): the route template to count it under.
ROUTE_ATTRIBUTE = "ql_metrics_route"

# Seconds: the hot read takes ~0.1 ms of CPU, an analysis submission may wait 30 s.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0, 60.0)
UPSTREAM_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)

REQUESTS = Counter("ql_http_requests", "HTTP requests answered, by route template, method and status.",
                   ("route", "method", "status"), registry=REGISTRY)
LATENCY = Histogram("ql_http_request_duration_seconds",
                    "Time from the request reaching Django to its answer, by route template and method.",
                    ("route", "method"), buckets=LATENCY_BUCKETS, registry=REGISTRY)
CACHE_READS = Counter("ql_cache_reads", "Reads of the per-process track cache, by what they read (track: one "
                      "track; playlist: a page of entries) and outcome (hit: memory under the read lease; "
                      "checked: memory after one round trip; miss: Redis; off: no cache).",
                      ("cache", "outcome"), registry=REGISTRY)
SEARCH_ANSWERS = Counter("ql_search_answers", "Search answers per service, by status and whether they came "
                         "from the shared cache.", ("provider", "status", "cached"), registry=REGISTRY)
SEARCH_UPSTREAM = Histogram("ql_search_upstream_duration_seconds", "Calls sent to a search service, by service.",
                            ("provider",), buckets=UPSTREAM_BUCKETS, registry=REGISTRY)
REDIS_ERRORS = Counter("ql_redis_errors", "Requests answered 503 because of Redis: unreachable (down) or "
                       "refusing writes for memory (full).", ("kind",), registry=REGISTRY)


# QL_METRICS=0 (the benchmark's "off"): no middleware (settings.py) and no counting here.
ON = settings.QL_METRICS


# --- counting (hot paths: one dict lookup, then prometheus_client's inc) -----------------------
class _Children(dict):
    """Label values -> the metric's child, made on first use (labels() takes a lock and
    checks its arguments on every call; a dict lookup does not). Bounded: every label value
    comes from a closed set."""

    def __init__(self, metric):
        super().__init__()
        self.metric = metric

    def __missing__(self, labels):
        child = self[labels] = self.metric.labels(*labels)
        return child


_cache_reads = _Children(CACHE_READS)
_search_answers = _Children(SEARCH_ANSWERS)
_search_upstream = _Children(SEARCH_UPSTREAM)
_redis_errors = _Children(REDIS_ERRORS)
CACHE_OUTCOMES = ("hit", "checked", "miss", "off")


def cache_read(cache: str, outcome: str) -> None:
    """A read of the track cache: `cache` "track" or "playlist", `outcome` as the store says."""
    if ON and outcome in CACHE_OUTCOMES:
        _cache_reads[cache, outcome].inc()


def search_answer(provider: str, status: str, cached: bool) -> None:
    if ON:
        _search_answers[provider, status, "true" if cached else "false"].inc()


def search_upstream(provider: str, seconds: float) -> None:
    if ON:
        _search_upstream[(provider,)].observe(seconds)


def redis_error(kind: str) -> None:
    """A 503 made of a Redis error: kind "down" or "full"."""
    if ON:
        _redis_errors[(kind,)].inc()


class MetricsMiddleware:
    """Counts every request and times it, by route template, method and status. Listed
    right after the request id's middleware (settings.py), so that the answers given early
    by the middleware after it (the hot track read, 503 while Redis is down) are counted too.

    Per request: a perf_counter pair, one dict lookup for the children of these labels, a
    counter increment and a histogram observation."""

    def __init__(self, get_response):
        self.get_response = get_response
        # (route pattern, method, status) -> (requests child, latency child); bounded: patterns
        # and statuses come from the code, unknown methods share "other"
        self.children: dict[tuple, tuple] = {}

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        match = request.resolver_match
        route = match.route if match is not None else getattr(request, ROUTE_ATTRIBUTE, None)
        if route is None:
            route = self.route_of(request, response)
        method = request.method
        key = (route, method, response.status_code)
        children = self.children.get(key)
        if children is None:
            children = self.children_for(key)
        children[0].inc()
        children[1].observe(elapsed)
        return response

    def children_for(self, key: tuple) -> tuple:
        route, method, status = key
        label = route if route == UNMATCHED else "/" + route
        if method not in METHODS:
            method = "other"
            key = (route, method, status)  # every unknown method shares one entry
            if key in self.children:
                return self.children[key]
        children = (REQUESTS.labels(label, method, str(status)), LATENCY.labels(label, method))
        self.children[key] = children
        return children

    @staticmethod
    def route_of(request, response) -> str:
        """The route of a request answered before URL resolution (a refused host, a preflight)
        or that matched nothing (404)."""
        if response.status_code == 404:
            return UNMATCHED
        try:
            return get_resolver(getattr(request, "urlconf", None)).resolve(request.path_info).route
        except Exception:  # Resolver404, or a path the resolver refuses
            return UNMATCHED


# --- the scrape --------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def allowed_networks(allow: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(item, strict=False) for item in allow)


def address_allowed(request) -> bool:
    """The peer (REMOTE_ADDR) is in QL_METRICS_ALLOW and the request did not come through a
    proxy."""
    if "HTTP_X_FORWARDED_FOR" in request.META:
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", "").split("%", 1)[0])
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in allowed_networks(tuple(settings.QL_METRICS_ALLOW)))


class _ThisProcess:
    """The metrics of this process (without PROMETHEUS_MULTIPROC_DIR)."""

    def collect(self):
        return REGISTRY.collect()


class AnalysisCollector:
    """The analysis jobs, read from Redis at scrape time in one round trip (analysis/jobs.py):
    jobs waiting and running, jobs finished and their durations. Nothing when Redis is down
    (the rest of the scrape still answers)."""

    def collect(self):
        from analysis.jobs import JOB_DURATION_BUCKETS, job_stats

        try:
            stats = job_stats()
        except Exception as exc:  # Redis down or refusing: the scrape still answers
            log.warning("metrics: analysis figures not read (%s)", type(exc).__name__)
            return
        jobs = GaugeMetricFamily("ql_analysis_jobs", "Analysis jobs now queued (waiting, or taken by a worker "
                                 "and not started) and running.", labels=("state",))
        jobs.add_metric(("queued",), stats["queued"])
        jobs.add_metric(("running",), stats["running"])
        yield jobs
        yield GaugeMetricFamily("ql_analysis_queue_depth", "Analysis jobs waiting in the queue for a worker.",
                                value=stats["waiting"])
        submitted = CounterMetricFamily("ql_analysis_jobs_submitted", "Analysis jobs created (a submission of "
                                        "audio already analysed or in analysis joins its job: not counted).")
        submitted.add_metric((), stats["submitted"])
        yield submitted
        finished = CounterMetricFamily("ql_analysis_jobs_finished", "Analysis jobs finished, by outcome.",
                                       labels=("outcome",))
        durations = HistogramMetricFamily("ql_analysis_job_duration_seconds", "Run time of the analysis jobs "
                                          "the workers ran (from the start of the task to its end), by outcome.",
                                          labels=("outcome",))
        for outcome in ("done", "failed"):
            finished.add_metric((outcome,), stats["finished"][outcome])
            counts, total = stats["durations"][outcome]
            buckets, running_count = [], 0
            for bound, count in zip(JOB_DURATION_BUCKETS, counts):
                running_count += count
                buckets.append((_bound(bound), running_count))
            buckets.append(("+Inf", running_count + counts[-1]))
            durations.add_metric((outcome,), buckets, total)
        yield finished
        yield durations


def _bound(value: float) -> str:
    return repr(float(value))


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition() -> bytes:
    """The whole text of a scrape."""
    registry = CollectorRegistry(auto_describe=False)
    path = multiprocess_dir()
    if path:
        from prometheus_client.multiprocess import MultiProcessCollector

        MultiProcessCollector(registry, path=path)
    else:
        registry.register(_ThisProcess())
    registry.register(AnalysisCollector())
    return generate_latest(registry)


@csrf_exempt
def metrics_view(request):
    if not settings.QL_METRICS:
        raise Http404("Metrics are off (QL_METRICS=0).")
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse({"detail": f'Method "{request.method}" not allowed.'}, status=405)
        response["Allow"] = "GET, HEAD"
        return response
    if not address_allowed(request):
        return JsonResponse({"detail": "Metrics are served only to the addresses in QL_METRICS_ALLOW, "
                                       "directly (not through a proxy)."}, status=403)
    # The classic text format (0.0.4), which every Prometheus reads; the names here need
    # nothing newer.
    response = HttpResponse(exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
    response["Cache-Control"] = "no-store"
    return response
