"""Every Redis key and channel this application uses, in one place.

All live under the deployment's prefix inside a hash tag (`{ql}:…`), so two deployments or
test runs never collide and multi-key commands and scripts stay valid on Redis Cluster.

| key | type | what |
| --- | --- | --- |
| `{p}:track:<uuid>` | hash | one track; every field JSON-encoded but `version`, `created`, `updated` |
| `{p}:playlist` | sorted set | track ids; the score orders the playlist, the rank is `position` |
| `{p}:gen` | string (int) | global generation: +1 on every track write, with an invalidation |
| `{p}:epoch` | string | random id of this Redis's data set; changes if the data is lost |
| `{p}:inval` | pub/sub channel | invalidations: `"<gen> t <uuid>"` (fields) / `"<gen> o <uuid>"` (order) |
| `{p}:lock:track:<uuid>` | string | write lock of one track (token, expires) |
| `{p}:youtube:list` | list | YouTube video ids in the order added (seed imports may repeat one) |
| `{p}:youtube:added` | hash | video id -> ISO time it was added |
| `{p}:analysis:job:<id>` | hash | analysis job: status, error, result (JSON), created, finished |
| `{p}:cache:…` | strings | Django's cache (throttles), through django-redis |
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
    return key("inval")


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
