"""Every Redis key and channel this application uses, in one place.

All live under the deployment's prefix inside a hash tag (`{ql}:…`), so two deployments or
test runs never collide and multi-key commands and scripts stay valid on Redis Cluster.

| key | type | what |
| --- | --- | --- |
| `{p}:track:<uuid>` | hash | one track; every field JSON-encoded but `version`, `created`, `updated` |
| `{p}:playlist` | sorted set | track ids; the score orders the playlist, the rank is `position` |
| `{p}:gen` | string (int) | global generation: +1 on every track write, with an invalidation |
| `{p}:epoch` | string | random id of this Redis's data set; changes if the data is lost |
| `{p}:invalidations` | pub/sub channel | invalidations: `"<gen> t <uuid> <ack token>"` (fields) / `"<gen> o <uuid> <ack token>"` (order). (Renamed from `{p}:inval` with the ack token: a worker of the old code, mid rolling deploy, hears nothing, so its generation check fails and it reads Redis.) |
| `{p}:leases` | sorted set | read leases of the track caches: subscriber session -> expiry (ms, Redis `TIME`) |
| `{p}:ack:<token>` | set | the leased caches one write still waits for (each takes itself out when it has applied the invalidation; expires) |
| `{p}:acked:<token>` | list | gets an item when that set is empty: the writer's wake-up (expires) |
| `{p}:lock:track:<uuid>` | string | write lock of one track (token, expires) |
| `{p}:youtube:list` | list | YouTube video ids in the order added (seed imports may repeat one) |
| `{p}:youtube:added` | hash | video id -> ISO time it was added |
| `{p}:analysis:job:<id>` | hash | analysis job: status, error, result (JSON), created, finished, digest, source, options, queued_at (Redis TIME of its claim: a queued job with no RQ job past a grace is lost), taken_seen (Redis TIME a reader first saw it in RQ's intermediate list: still there past the grace, its worker died) |
| `{p}:analysis:digest:<sha256>` | string | id of the job that analyses this audio + options + analyser version |
| `{p}:analysis:alive:<id>` | string | heartbeat of the work-horse running the job (expires when it dies) |
| `rq:queue:{p}:analysis:intermediate` | RQ list | jobs a worker has taken off the queue but not started yet (RQ's name) |
| `rq:job:<id>` | RQ hash | RQ's job (status, started_at); read only, to tell a lost analysis job |
| `rq:queue:{p}:analysis` and RQ's own keys | RQ | the analysis queue (RQ names its keys itself; the queue name carries the prefix) |
| `{p}:backup:<token>:…` | various | scratch keys of one `export_library` / `import_library` run (tracks/backup.py): the export's snapshots of the order, the YouTube list and the analysis job ids; the import's staged tracks, YouTube list and analysis jobs before they are swapped in. Each has a TTL and is deleted when its run ends |
| `{p}:cache:…` | strings | Django's cache (throttles), through django-redis |
| `{p}:search:result:<service>:<limit>:<qhash>` | string (JSON) | one service's normalized answer to a normalized query (TTL `QL_SEARCH_CACHE_TTL`) |
| `{p}:search:flight:<service>:<limit>:<qhash>` | string | single flight: the leader's token while its call runs, then `done:<token>:<JSON>` (a failure, for its waiters) for a few seconds |
| `{p}:search:off:<service>` | string | the service is `unavailable` until this expires; the value is the reason |
| `{p}:search:fails:<service>` | string (int) | the service's consecutive failures (circuit breaker) |
| `{p}:search:rate:<service>` | sorted set | calls sent in the rate's window (shared rate limit: iTunes, `QL_ITUNES_RATE`) |
| `{p}:search:units:<service>:<day>:<user id>` | string (int) | quota units a user's calls spent on that Pacific day (YouTube; expires an hour after the day ends) |
"""

from quantumlive.redis_conn import key


def track(track_id: str) -> str:
    return key("track", track_id)


def playlist() -> str:
    return key("playlist")


def generation() -> str:
    return key("gen")


def epoch() -> str:
    return key("epoch")


def invalidation_channel() -> str:
    return key("invalidations")


def leases() -> str:
    return key("leases")


def ack_wanted(token: str) -> str:
    return key("ack", token)


def ack_done(token: str) -> str:
    return key("acked", token)


def track_lock(track_id: str) -> str:
    return key("lock", "track", track_id)


def youtube_list() -> str:
    return key("youtube", "list")


def youtube_added() -> str:
    return key("youtube", "added")


def prefix_pattern() -> str:
    """SCAN pattern matching every key of this deployment."""
    return key("*")


def analysis_job(job_id: str) -> str:
    return key("analysis", "job", job_id)


def analysis_digest(digest: str) -> str:
    return key("analysis", "digest", digest)


def analysis_alive(job_id: str) -> str:
    return key("analysis", "alive", job_id)


def rq_keys_of_prefix(client, prefix: str) -> list[str]:
    """RQ's keys that belong to the deployment (or test run) with this prefix: those named
    after its queue, and its jobs' (RQ keys a job by id alone; its `origin` names the queue).
    For clean-ups of test and benchmark runs."""
    queue = "{%s}:analysis" % prefix
    found = list(client.scan_iter(match="rq:*{%s}*" % prefix, count=1000))
    for name in client.scan_iter(match="rq:job:*", count=1000):
        name = name.decode() if isinstance(name, bytes) else name
        origin = client.hget(name, "origin")
        origin = origin.decode() if isinstance(origin, bytes) else origin
        if origin == queue:
            found += [name, "rq:results:" + name.rsplit(":", 1)[1]]
    return found


def analysis_job_pattern() -> str:
    """SCAN pattern of every analysis job record."""
    return key("analysis", "job", "*")


def backup_temp(token: str, *parts: str) -> str:
    """A scratch key of one backup or restore run (tracks/backup.py)."""
    return key("backup", token, *parts)


def backup_temp_pattern(token: str) -> str:
    """SCAN pattern of every scratch key of one backup or restore run."""
    return key("backup", token, "*")


def analysis_queue_name() -> str:
    """The RQ queue's name (RQ keys it as rq:queue:<name>)."""
    return key("analysis")


def rq_job(job_id: str) -> str:
    """RQ's hash of one job (RQ's name for it: rq:job:<id>; not under our prefix)."""
    from rq.job import Job

    return Job.key_for(job_id)


def rq_queue() -> str:
    """RQ's list of the analysis queue's waiting job ids."""
    from rq.queue import Queue

    return Queue.redis_queue_namespace_prefix + analysis_queue_name()


def rq_intermediate_queue() -> str:
    """RQ's list of the jobs a worker has taken from the queue and not started yet."""
    from rq.intermediate_queue import IntermediateQueue

    return IntermediateQueue.get_intermediate_queue_key(rq_queue())


def search_result(service: str, limit: int, query_hash: str) -> str:
    return key("search", "result", service, str(limit), query_hash)


def search_flight(service: str, limit: int, query_hash: str) -> str:
    return key("search", "flight", service, str(limit), query_hash)


def search_off(service: str) -> str:
    return key("search", "off", service)


def search_failures(service: str) -> str:
    return key("search", "fails", service)


def search_rate(service: str) -> str:
    return key("search", "rate", service)


def search_user_units(service: str, day: str, user_id: str) -> str:
    return key("search", "units", service, day, str(user_id))
