"""Every Redis key and channel this application uses, in one place.

All live under the deployment's prefix (QL_REDIS_PREFIX, `{p}` below) inside a hash tag
(`{ql}:…`), so two deployments or test runs never collide and multi-key commands and scripts
stay valid on Redis Cluster. A playlist's keys have a hash tag of their own, `{p:pl:<id>}`
(`{ql:pl:<id>}:…`): one script changes them together, and a Cluster spreads playlists over its
masters; no script touches a playlist's keys and the library's together. RQ's keys are named by RQ: they are read from RQ here, never
spelled again.

The names of the current deployment come from the functions below; those that settings.py
needs before Django is set up (`key_under`, `django_cache_prefix`, `analysis_queue_name`)
take the prefix as an argument and then read no setting.

| key | type | what |
| --- | --- | --- |
| `{p}:track:<uuid>` | hash | one track; every field JSON-encoded but `version`, `created`, `updated` |
| `{p}:track:<uuid>:waveform` | hash | the track's copy of the waveform of the analysis it names: `analysis` (that job's id), `data` (analysis/waveform.py's bytes, at most 2^16 pixels); written only while the track names that analysis, deleted with the track (tracks/lua.py) |
| `{p}:playlist` | sorted set | track ids; the score orders the playlist, the rank is `position` |
| `{p}:gen` | string (int) | global generation: +1 on every track write, with an invalidation |
| `{p}:epoch` | string | random id of this Redis's data set; changes if the data is lost |
| `{p}:invalidations` | pub/sub channel | invalidations: `"<gen> t <uuid> <ack token>"` (fields) / `"<gen> o <uuid> <ack token>"` (order); `"<gen> t token:<sha256 of a token> <ack token>"`: that token was deleted (quantumlive/auth.py) |
| `{p}:leases` | sorted set | read leases of the track caches: subscriber session -> expiry (ms, Redis `TIME`) |
| `{p}:ack:<token>` | set | the leased caches one write still waits for (each takes itself out when it has applied the invalidation; expires) |
| `{p}:acked:<token>` | list | gets an item when that set is empty: the writer's wake-up (expires) |
| `{p}:lock:track:<uuid>` | string | write lock of one track (token, expires) |
| `{p}:keyindex` | sorted set | the harmonic index: track id -> `<band> * 1000 + <bpm>`, `band` the Camelot code's (tracks/lua.py `key_band`), bpm 0 when it has none; every track with a key; written by the same scripts that write the tracks |
| `{p}:keyindex:version` | string | the version of the harmonic index's last full build (tracks/suggestions.py); missing: built again on first use |
| `{p}:youtube:list` | list | YouTube video ids in the order added (seed imports may repeat one) |
| `{p}:youtube:added` | hash | video id -> ISO time it was added |
| `{p}:analysis:job:<id>` | hash | analysis job: status, error, result (JSON), created, finished, digest, source, options, queued_at (Redis TIME of its claim: a queued job with no RQ job past a grace is lost), taken_seen (Redis TIME a reader first saw it in RQ's intermediate list: still there past the grace, its worker died) |
| `{p}:analysis:digest:<sha256>` | string | id of the job that analyses this audio + options + analyser version |
| `{p}:analysis:alive:<id>` | string | heartbeat of the work-horse running the job (expires when it dies) |
| `{p}:import:job:<id>` | hash | import of a DJ file run as a job (exchange/jobs.py): status, owner, times, the stored file's path, the report (expires) |
| `{p}:analysis:waveform:<id>` | string (bytes) | a done job's waveform for players (analysis/waveform.py's stored form: 8-bit min/max pairs); set with the job's result, expiring when its record does |
| `{p}:metrics:analysis` | hash | the analysis jobs' counts for /metrics: `submitted`, `finished:<outcome>`, and the run times the workers measured, `duration:<outcome>:<bucket>` and `:sum` (analysis/jobs.py; never expires, a few dozen fields) |
| `{p}:analysis:done:<id>` | pub/sub channel | not a key: a message when the job ends (done or failed), for the submissions waiting for it (analysis/jobs.py wait_finished) |
| `rq:queue:{p}:analysis:intermediate` | RQ list | jobs a worker has taken off the queue but not started yet (RQ's name) |
| `rq:job:<id>` | RQ hash | RQ's job (status, started_at); read only, to tell a lost analysis job |
| `rq:queue:{p}:analysis` and RQ's own keys | RQ | the analysis queue (RQ names its keys itself; the queue name carries the prefix; `rq:queues` lists it) |
| `{p}:backup:<token>:…` | various | scratch keys of one `export_library` / `import_library` run (tracks/backup.py): the export's snapshots of the order, the YouTube list and the analysis job ids; the import's staged tracks, YouTube list and analysis jobs before they are swapped in. Each has a TTL and is deleted when its run ends |
| `{p}:playlists` | sorted set | every playlist id, by creation time (ms) |
| `{p}:playlists:public` | sorted set | the public playlists' ids, by creation time |
| `{p}:playlists:owner:<user id>` | sorted set | one user's playlists' ids, by creation time |
| `{p}:inplaylists:<track id>` | set | the playlists that hold (or held) an entry of this library track; added to only while the track exists (playlists/lua.py REGISTER) |
| `{p:pl:<id>}:meta` | hash | one playlist: id, name, description, public, owner, owner_id, version, created, updated, duration_ms |
| `{p:pl:<id>}:order` | sorted set | its entry ids; gapped scores order them, the rank is `position` |
| `{p:pl:<id>}:entries` | hash | entry id -> `"<track id> <added>"` |
| `{p:pl:<id>}:tracks` | hash | track id -> `"<track version> <duration ms or -> <count> <entry id>,<entry id>…"`: the track's entries here and the duration counted for them |
| `{p:pl:<id>}:lock` | string | write lock of the playlist (token, expires) |
| `{p:pl:<id>}:backup:<token>:order` / `:entries` | sorted set / hash | an export's copy of one playlist's order and entries, taken at one moment (tracks/backup.py; TTL, deleted once the playlist is written) |
| `{p}:login:user:<sha256>` / `{p}:login:address:<sha256>` | sorted set | login attempts in the throttle's window (attempt id -> Redis time, ms) of one username (failures only) or one client address; expires with the window |
| `{p}:cache:…` | strings | Django's cache (throttles), through django-redis |
| `{p}:search:result:<service>:<limit>:<qhash>` | string (JSON) | one service's normalized answer to a normalized query (TTL `QL_SEARCH_CACHE_TTL`) |
| `{p}:search:flight:<service>:<limit>:<qhash>` | string | single flight: the leader's token while its call runs, then `done:<token>:<JSON>` (a failure, for its waiters) for a few seconds |
| `{p}:search:off:<service>` | string | the service is `unavailable` until this expires; the value is the reason |
| `{p}:search:fails:<service>` | string (int) | the service's consecutive failures (circuit breaker) |
| `{p}:search:rate:<service>` | sorted set | calls sent in the rate's window (shared rate limit: iTunes, `QL_ITUNES_RATE`) |
| `{p}:search:units:<service>:<day>:<user id>` | string (int) | quota units a user's calls spent on that Pacific day (YouTube; expires an hour after the day ends) |
"""

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

# The deployment's hash tag, read once per process (hot path: settings are lazy objects) and
# dropped when a test overrides the prefix.
_tag: str | None = None


@receiver(setting_changed)
def _forget_tag(setting, **kwargs):
    global _tag
    if setting == "QL_REDIS_PREFIX":
        _tag = None


def key_under(prefix: str, *parts: str) -> str:
    """A key of the deployment with this prefix: key_under("ql", "track", id) ->
    "{ql}:track:<id>". Reads no setting."""
    return ":".join(("{%s}" % prefix, *parts))


def key(*parts: str) -> str:
    """A key of this deployment (QL_REDIS_PREFIX): key("track", id) -> "{ql}:track:<id>"."""
    global _tag
    tag = _tag
    if tag is None:
        tag = _tag = key_under(settings.QL_REDIS_PREFIX)
    return ":".join((tag, *parts))


def _prefix(prefix: str | None) -> str:
    return settings.QL_REDIS_PREFIX if prefix is None else prefix


# --- tracks ----------------------------------------------------------------------------------
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


def ack_pending(token: str) -> str:
    return key("ack", token)


def ack_done(token: str) -> str:
    return key("acked", token)


def track_lock(track_id: str) -> str:
    return key("lock", "track", track_id)


def track_waveform(track_id: str) -> str:
    """Hash of the track's copy of the waveform of the analysis last applied to it: `analysis`
    (that job's id) and `data` (analysis/waveform.py's bytes). Deleted with the track."""
    return key("track", track_id, "waveform")


def track_key_index() -> str:
    """The harmonic index: a sorted set of track ids scored by Camelot band and BPM."""
    return key("keyindex")


def track_key_index_version() -> str:
    return key("keyindex", "version")


def youtube_list() -> str:
    return key("youtube", "list")


def youtube_added() -> str:
    return key("youtube", "added")


# --- playlists -------------------------------------------------------------------------------
def playlists_all() -> str:
    return key("playlists")


def playlists_public() -> str:
    return key("playlists", "public")


def playlists_of_owner(user_id) -> str:
    return key("playlists", "owner", str(user_id))


def track_in_playlists(track_id: str) -> str:
    return key("inplaylists", track_id)


def _playlist_tag(playlist_id: str) -> str:
    return "{%s:pl:%s}" % (settings.QL_REDIS_PREFIX, playlist_id)


def playlist_meta(playlist_id: str) -> str:
    return _playlist_tag(playlist_id) + ":meta"


def playlist_order(playlist_id: str) -> str:
    return _playlist_tag(playlist_id) + ":order"


def playlist_entries(playlist_id: str) -> str:
    return _playlist_tag(playlist_id) + ":entries"


def playlist_tracks(playlist_id: str) -> str:
    return _playlist_tag(playlist_id) + ":tracks"


def playlist_lock(playlist_id: str) -> str:
    return _playlist_tag(playlist_id) + ":lock"


def playlist_backup_copy(playlist_id: str, token: str, part: str) -> str:
    """An export's copy of one playlist's `order` or `entries` (under the playlist's tag: the
    script that copies them stays in one slot)."""
    return _playlist_tag(playlist_id) + ":backup:%s:%s" % (token, part)


def playlist_keys(playlist_id: str) -> dict:
    """Every key of one playlist, by the name its scripts give it."""
    return dict(meta=playlist_meta(playlist_id), order=playlist_order(playlist_id),
                entries=playlist_entries(playlist_id), tracks=playlist_tracks(playlist_id),
                lock=playlist_lock(playlist_id))


def playlist_pattern_under(prefix: str) -> str:
    """SCAN pattern of every key of every playlist of the deployment with this prefix."""
    return "{%s:pl:*" % prefix


# --- backup and restore ----------------------------------------------------------------------
def backup_temp(token: str, *parts: str) -> str:
    """A scratch key of one backup or restore run (tracks/backup.py)."""
    return key("backup", token, *parts)


def backup_temp_pattern(token: str) -> str:
    """SCAN pattern of every scratch key of one backup or restore run."""
    return key("backup", token, "*")


# --- analysis --------------------------------------------------------------------------------
def analysis_job(job_id: str) -> str:
    return key("analysis", "job", job_id)


def analysis_job_pattern() -> str:
    """SCAN pattern of every analysis job record."""
    return key("analysis", "job", "*")


def analysis_digest(digest: str) -> str:
    return key("analysis", "digest", digest)


def analysis_alive(job_id: str) -> str:
    return key("analysis", "alive", job_id)


def analysis_waveform(job_id: str) -> str:
    return key("analysis", "waveform", job_id)


def analysis_done_channel(job_id: str) -> str:
    """Pub/sub channel on which the job's end is announced (to submissions waiting for it)."""
    return key("analysis", "done", job_id)


def analysis_queue_name(prefix: str | None = None) -> str:
    """The RQ queue's name (RQ keys it as rq:queue:<name>) for the deployment with this prefix
    (default: this one's)."""
    return key_under(_prefix(prefix), "analysis")


# --- RQ's names (RQ spells them; these ask RQ) -----------------------------------------------
def rq_job(job_id: str) -> str:
    """RQ's hash of one job (not under our prefix: RQ keys a job by its id alone)."""
    from rq.job import Job

    return Job.key_for(job_id)


def rq_queue(prefix: str | None = None) -> str:
    """RQ's list of the analysis queue's waiting job ids."""
    from rq.queue import Queue

    return Queue.redis_queue_namespace_prefix + analysis_queue_name(prefix)


def rq_intermediate_queue() -> str:
    """RQ's list of the jobs a worker has taken from the queue and not started yet."""
    from rq.intermediate_queue import IntermediateQueue

    return IntermediateQueue.get_intermediate_queue_key(rq_queue())


def rq_queue_workers(prefix: str | None = None) -> str:
    """RQ's set of the keys of the workers that listen on the analysis queue."""
    from rq.worker_registration import WORKERS_BY_QUEUE_KEY

    return WORKERS_BY_QUEUE_KEY % analysis_queue_name(prefix)


def rq_started_registry() -> str:
    """RQ's sorted set of the analysis jobs a work-horse runs now (score: when its claim expires)."""
    from rq.registry import StartedJobRegistry

    return StartedJobRegistry.key_template.format(analysis_queue_name())


def metrics_analysis() -> str:
    return key("metrics", "analysis")


def rq_queue_registry() -> str:
    """RQ's set of every queue's key (`rq_queue()` is a member once the queue was used)."""
    from rq.queue import Queue

    return Queue.redis_queues_keys


# --- search ----------------------------------------------------------------------------------
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


# --- login (issue 17) ------------------------------------------------------------------------
def login_attempts(kind: str, digest: str) -> str:
    """The login attempts of one username or address (`kind`: "user" or "address"), named by
    the SHA-256 of it (quantumlive/throttles.py LoginAttempt)."""
    return key("login", kind, digest)


# --- Django ----------------------------------------------------------------------------------
def django_cache_prefix(prefix: str) -> str:
    """KEY_PREFIX of Django's cache (settings.CACHES) for the deployment with this prefix."""
    return key_under(prefix, "cache")


# --- the whole deployment (clean-ups of test and benchmark runs) -----------------------------
def prefix_pattern() -> str:
    """SCAN pattern matching every key of this deployment under its prefix."""
    return key("*")


def keys_of_prefix(client, prefix: str) -> list[str]:
    """Every key of the deployment (or test run) with this prefix: those under its tag, RQ's
    keys named after its queue, and its RQ jobs' (RQ keys a job by id alone; the job's
    `origin` names the queue). For clean-ups of test and benchmark runs."""
    from rq.defaults import RQ_KEY_PREFIX
    from rq.job import Job
    from rq.results import Result

    queue = analysis_queue_name(prefix)
    # One pass per pattern over the whole keyspace: a large COUNT keeps it to a few round trips
    # when the Redis is shared with other (large) data sets.
    found = list(client.scan_iter(match=key_under(prefix, "*"), count=10000))
    found += client.scan_iter(match=playlist_pattern_under(prefix), count=10000)
    # the queue's lists and registries: RQ names each `rq:<kind>:<queue name>[:…]`
    found += client.scan_iter(match="%s:*%s*" % (RQ_KEY_PREFIX, key_under(prefix)), count=10000)
    job_keys = list(client.scan_iter(match=Job.redis_job_namespace_prefix + "*", count=10000))
    pipe = client.pipeline(transaction=False)
    for name in job_keys:
        pipe.hget(name, "origin")
    for name, origin in zip(job_keys, pipe.execute()):
        name = name.decode() if isinstance(name, bytes) else name
        origin = origin.decode() if isinstance(origin, bytes) else origin
        if origin == queue:
            job_id = name[len(Job.redis_job_namespace_prefix):]
            found += [name, Result.get_key(job_id)]
    return found


# --- imports of DJ files (exchange/jobs.py) ---------------------------------------------------
def import_job(job_id: str) -> str:
    """Hash of one import job: status, owner_id, owner, created, started, finished, path,
    file_name, root, report (JSON), error (expires QL_IMPORT_JOB_TTL after it was made)."""
    return key("import", "job", job_id)
