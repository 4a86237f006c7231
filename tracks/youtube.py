"""The YouTube link list in Redis: canonical video ids in the order added.

A list holds the ids in order, a hash when each was added. Adds are idempotent and atomic
(Lua), so 20 concurrent adds of one video make one entry. Only seed imports may append an id
that is already listed; `youtube_compact` removes those repeats.
"""

import re
from urllib.parse import parse_qs, urlsplit

from quantumlive import keys
from quantumlive.clock import now_iso
from quantumlive.redis_conn import get_redis
from quantumlive.scripts import Script

MAX_URL = 2048  # longer text is refused before it is parsed
_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_WATCH_HOSTS = {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}
_EMBED_HOSTS = _WATCH_HOSTS | {"youtube-nocookie.com", "www.youtube-nocookie.com"}

# The list and its times: the keys every script of this module names first.
_LIST_KEYS = ("video_list", "video_added")

_ADD = Script(keys=_LIST_KEYS, args=("video_id", "added"), source=r"""
local added = redis.call('HGET', KEYS[2], ARGV[1])
if added then return {0, added} end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {1, ARGV[2]}
""")

# Seed imports: make the id appear `occurrences` times (the seed file's repeats), appending
# only what is missing, so importing the same file twice adds nothing.
_IMPORT = Script(keys=_LIST_KEYS, args=("video_id", "added", "occurrences"), source=r"""
local present = redis.call('LPOS', KEYS[1], ARGV[1], 'COUNT', 0)
local missing = tonumber(ARGV[3]) - #present
for i = 1, missing do redis.call('RPUSH', KEYS[1], ARGV[1]) end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
return math.max(missing, 0)
""")

_DELETE = Script(keys=_LIST_KEYS, args=("video_id",), source=r"""
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('LREM', KEYS[1], 0, ARGV[1])
return 1
""")

_COMPACT = Script(keys=("video_list",), source=r"""
local ids = redis.call('LRANGE', KEYS[1], 0, -1)
local seen, kept = {}, {}
for _, id in ipairs(ids) do
  if not seen[id] then seen[id] = true; kept[#kept + 1] = id end
end
if #kept < #ids then
  redis.call('DEL', KEYS[1])
  for i = 1, #kept, 1000 do
    redis.call('RPUSH', KEYS[1], unpack(kept, i, math.min(i + 999, #kept)))
  end
end
return #ids - #kept
""")


def video_id_from(text: str) -> str:
    """The 11-character video id of a YouTube URL in any accepted form, or a bare id.
    ValueError for anything else (text over MAX_URL characters unread)."""
    if len(text) > MAX_URL:
        raise ValueError(f"Not a YouTube URL: longer than {MAX_URL} characters.")
    text = text.strip()
    if _ID.fullmatch(text):
        return text
    candidate = text if "://" in text else "https://" + text
    try:
        parts = urlsplit(candidate)
        host = (parts.hostname or "").lower()
    except ValueError:
        raise ValueError("Not a YouTube URL.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("Not a YouTube URL.")
    segments = [s for s in parts.path.split("/") if s]
    found = None
    if host == "youtu.be" and len(segments) == 1:
        found = segments[0]
    elif host in _WATCH_HOSTS and segments == ["watch"]:
        values = parse_qs(parts.query).get("v", [])
        found = values[0] if len(values) == 1 else None
    elif host in _WATCH_HOSTS and len(segments) == 2 and segments[0] == "shorts":
        found = segments[1]
    elif host in _EMBED_HOSTS and len(segments) == 2 and segments[0] == "embed":
        found = segments[1]
    if found is None or not _ID.fullmatch(found):
        raise ValueError(
            "Not a YouTube video URL: expected youtube.com/watch?v=ID, youtu.be/ID, "
            "/shorts/ID, /embed/ID or an 11-character video id."
        )
    return found


def is_video_id(text: str) -> bool:
    return bool(_ID.fullmatch(text))


def canonical_url(video_id: str) -> str:
    return f"https://www.youtube.com/watch?v={video_id}"


def _item(video_id: str, added: str) -> dict:
    return {"video_id": video_id, "url": canonical_url(video_id), "added": added}


def _list_keys() -> dict:
    return dict(video_list=keys.youtube_list(), video_added=keys.youtube_added())


def youtube_add(*, video_id: str) -> tuple[dict, bool]:
    """(item, created): the new item, or the one already listed."""
    created, added = _ADD(get_redis(), **_list_keys(), video_id=video_id, added=now_iso())
    return _item(video_id, added), bool(created)


def youtube_import(*, video_id: str, occurrences: int) -> int:
    """Makes the id appear `occurrences` times, as in a seed file; returns how many were added."""
    return int(_IMPORT(get_redis(), **_list_keys(), video_id=video_id, added=now_iso(), occurrences=occurrences))


def youtube_delete(*, video_id: str) -> bool:
    return bool(_DELETE(get_redis(), **_list_keys(), video_id=video_id))


def youtube_list() -> list[dict]:
    pipe = get_redis().pipeline(transaction=True)
    pipe.lrange(keys.youtube_list(), 0, -1)
    pipe.hgetall(keys.youtube_added())
    ids, added = pipe.execute()
    return [_item(video_id, added.get(video_id, "")) for video_id in ids]


def youtube_compact() -> int:
    """Removes repeated entries (keeping the first); returns how many went."""
    return int(_COMPACT(get_redis(), video_list=keys.youtube_list()))


# --- backup and restore (tracks/backup.py) --------------------------------------------------
# Add the staged items `start`..`stop` (list indexes) to the list: an id the list held before
# this import began (one not in `seen`) is skipped; the others are appended, with their
# repeats, and their added time (if the file gave one: an item without one stays without).
# An id is listed when it has a time or is in `before` (the list's ids, collected by the first
# batch: an item may have no time). Returns {added, skipped}.
_MERGE_STAGED = Script(
    keys=(*_LIST_KEYS, "staged_list", "staged_added", "seen", "before"), args=("start", "stop", "ttl_ms"),
    source=r"""
if ARGV[1] == '0' then
  local listed = redis.call('LRANGE', KEYS[1], 0, -1)
  for i = 1, #listed, 1000 do redis.call('SADD', KEYS[6], unpack(listed, i, math.min(i + 999, #listed))) end
  redis.call('PEXPIRE', KEYS[6], ARGV[3])
end
local ids = redis.call('LRANGE', KEYS[3], ARGV[1], ARGV[2])
local added, skipped = 0, 0
for _, id in ipairs(ids) do
  local listed = redis.call('HEXISTS', KEYS[2], id) == 1 or redis.call('SISMEMBER', KEYS[6], id) == 1
  if listed and redis.call('SISMEMBER', KEYS[5], id) == 0 then
    skipped = skipped + 1
  else
    redis.call('RPUSH', KEYS[1], id)
    local at = redis.call('HGET', KEYS[4], id)
    if at then redis.call('HSETNX', KEYS[2], id, at) end
    redis.call('SADD', KEYS[5], id)
    added = added + 1
  end
end
redis.call('PEXPIRE', KEYS[5], ARGV[3])
return {added, skipped}
""")

# The staged list and times replace the live ones at once. Returns the new length.
_REPLACE_STAGED = Script(keys=(*_LIST_KEYS, "staged_list", "staged_added"), source=r"""
for i = 1, 2 do
  if redis.call('EXISTS', KEYS[i + 2]) == 1 then
    redis.call('RENAME', KEYS[i + 2], KEYS[i])
    redis.call('PERSIST', KEYS[i])
  else
    redis.call('DEL', KEYS[i])
  end
end
return redis.call('LLEN', KEYS[1])
""")


def youtube_snapshot_into(pipe, *, list_target: str, added_target: str, ttl_ms: int) -> None:
    """Queues on `pipe` (a MULTI) a copy of the list and its times into scratch keys."""
    for source, target in ((keys.youtube_list(), list_target), (keys.youtube_added(), added_target)):
        pipe.copy(source, target, replace=True)
        pipe.pexpire(target, ttl_ms)


def youtube_snapshot_items(*, list_key: str, added_key: str, start: int, stop: int) -> list[tuple[str, str]]:
    """(video id, added) of the snapshot's items `start`..`stop` (inclusive)."""
    redis = get_redis()
    ids = redis.lrange(list_key, start, stop)
    if not ids:
        return []
    added = redis.hmget(added_key, ids)
    return [(video_id, when or "") for video_id, when in zip(ids, added)]


def youtube_stage(pipe, *, list_key: str, added_key: str, video_id: str, added: str, ttl_ms: int) -> None:
    """Queues one item of an import's YouTube list into its staging keys (an empty `added`:
    the item had no time, none is staged)."""
    pipe.rpush(list_key, video_id)
    if added:
        pipe.hsetnx(added_key, video_id, added)
    pipe.pexpire(list_key, ttl_ms)
    pipe.pexpire(added_key, ttl_ms)


def youtube_restore_staged(*, list_key: str, added_key: str, seen_key: str, before_key: str, replace: bool,
                           batch: int = 1000, ttl_ms: int = 3_600_000) -> tuple[int, int]:
    """Brings the staged list in: with `replace` it becomes the list (one atomic swap); else
    the ids not listed yet are appended in the staged order. Returns (added, skipped)."""
    redis = get_redis()
    if replace:
        return int(_REPLACE_STAGED(redis, **_list_keys(), staged_list=list_key, staged_added=added_key)), 0
    total = redis.llen(list_key)
    added = skipped = 0
    for start in range(0, total, batch):
        got, left = _MERGE_STAGED(redis, **_list_keys(), staged_list=list_key, staged_added=added_key,
                                  seen=seen_key, before=before_key, start=start, stop=start + batch - 1,
                                  ttl_ms=ttl_ms)
        added += int(got)
        skipped += int(left)
    return added, skipped
