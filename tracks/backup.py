"""Backup and restore of the library: `export_library` writes everything the API stores in
Redis as one JSON document, streamed; `import_library` loads such a document back. Plain
functions, no HTTP (manage.py export_library / import_library call them).

The document (API.md, "Backup and restore"):

    {"format": "quantumlive-library", "version": 1, "exported": "<ISO time>",
     "tracks": [TRACK, ...],        playlist order; id, the writable fields (cues with their
                                    waveforms), the server-owned beatgrid, mix_in, mix_out,
                                    loudness, analysis (the id of the analysis last applied),
                                    version, created, updated and "waveform": the track's
                                    waveform copy (keys.track_waveform: analysis/waveform.py's
                                    bytes, at most TRACK_WAVEFORM_MAX_PIXELS pixels) in base64
                                    (standard alphabet, padded, one line), or null when it has
                                    none (or only one of another analysis); a file written
                                    before these fields were exported leaves them out: null
     "youtube": [{"video_id", "added"}, ...],          in the order added (repeats kept)
     "analysis": [{"id", "digest", "options", "created", "finished", "result"}, ...],
                                    finished (done) jobs, by id; [] with --no-analysis
     "playlists": [PLAYLIST, ...]}  every playlist, oldest first: id, name, description, public,
                                    owner (username), owner_id, version, created, updated and
                                    "entries": [{"entry", "track", "added"}, ...] in order
                                    (track: a library track id); a file written before
                                    playlists were exported holds [] and still loads

Export. Memory stays flat in the library's size: the order, the YouTube list and the job ids
are snapshotted into scratch keys in Redis (COPY in one MULTI; SCAN for the jobs), then paged
in batches (ZRANGE/LRANGE + HGETALL, batches sized to about BATCH_BYTES from the lengths of
the stored fields and waveform copies, read before the records) and written record by record;
the stored JSON of each field is written as it is (no decoding).
What a backup taken while the API writes holds:
- the playlist order and the YouTube list are those of one instant (the snapshot's MULTI);
- each track is its hash and its waveform copy at the moment they are read (a batch's hashes
  and copies in one MULTI, so never half of a write), some time between the snapshot and the
  end of the export: a track written meanwhile appears with the version before or after that
  write, never a mix; a track deleted after the snapshot is left out (counted), one created
  after it is not in the backup. A copy is written only when it was made from the analysis
  the track names: a track read between an apply of an analysis and the copy of its waveform
  (two steps, tracks/services.py) is written with null, not with the previous one's waveform;
- each playlist is one record of one moment: its order and entries are copied (COPY, in one
  script, to scratch keys under the playlist's own hash tag) and then paged, so its version
  is that of its entries however long it is and whatever is written to it meanwhile;
  entries of tracks the file does not hold (created after the snapshot of the order, or
  deleted before they were read) are left out (counted), so the file always loads;
- it is not a point-in-time image of the whole library (two tracks written one after the
  other during the export may appear one before and one after its write). For that, take it
  while writes are stopped, or rely on Redis's own AOF/RDB.

Import. The file is read once, streamed (ijson), every record validated as the API's
serializers validate a request (and each track no larger than QL_MAX_BODY_MB; its waveform
copy, when not null, base64 that decodes strictly to a stored waveform of at most
TRACK_WAVEFORM_MAX_PIXELS pixels, at most MAX_SAMPLE_RATE and QL_MAX_AUDIO_SECONDS long, in a
record whose analysis is not null), and staged in
scratch keys of Redis (a track's waveform copy beside its hash); only when the whole file has
been read and found valid is the staged data moved into the library (RENAME: no copy), batch
by batch, through the store's scripts: the tracks' locks (with --replace), a new generation
and an invalidation per written track, and the wait for the leased caches' acknowledgements,
like any write, so every web worker's cache stays exact. A track's waveform copy moves in the
same script as the track: a track written takes the file's copy, or loses its own when the
file has none for it; a track left alone keeps its own. A malformed file, or a failure while
staging (Redis full, Redis down), changes nothing: the scratch keys are deleted (and expire
anyway).
Without --replace: tracks whose id is free are added (after the existing ones, in the file's
order), a track that exists is left alone: "unchanged" when it has the file's version and
update time, else a conflict (reported); YouTube ids not listed yet are appended; finished
jobs whose id is free are added. With --replace: every track of the file is written over what
is there, in the file's order, the tracks the library held when the import began and the
file does not are deleted, and the YouTube list is swapped for the file's in one step.
Analysis jobs not in the file are kept (they are a cache of results by audio, and queued or
running jobs belong to the workers).

Playlists. A record is read field by field and its entries one at a time (a playlist of any
length is never held whole: they are staged in Redis), each checked as the API checks it
(name 1-200 characters, description at most 2,000, ids UUIDs, times, at most
QL_PLAYLIST_MAX_ENTRIES entries, entry ids and playlist ids unique). Every track an entry
names must be in the file or, without --replace (which deletes the others), in the library:
else the file is refused. They are written after the tracks, each playlist in one script
under its lock (meta, order, entries and its per-track records at once; playlists/store.py
playlist_restore), with its version, times and entry ids kept, and the indexes (every
playlist, public ones, the owner's, each track's inplaylists set) set as a create and an
add set them. Without --replace a playlist whose id is free is created; one that exists is
left alone: "unchanged" when it has the file's version and update time, else a conflict
(reported). With --replace the file's playlists are written over those with the same ids
and the playlists the library held when the import began and the file does not are deleted.
Users are not in the backup (they live in Django's database): a playlist's owner is the
local user with its username when there is one (that user's id), else its owner_id is kept
as the file has it (counted in the summary).
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import BinaryIO, Callable, Iterator, TextIO

import ijson
from django.conf import settings
from rest_framework.exceptions import ValidationError

from analysis import jobs
from analysis import waveform as waveforms
from analysis.audio import MAX_SAMPLE_RATE
from playlists import store as playlists
from quantumlive import keys
from quantumlive.clock import now_iso
from quantumlive.fields import BoundedListField, NumberListField, StringField
from quantumlive.locks import LockTimeout
from quantumlive.musical_keys import camelot, canonical_key, open_key
from quantumlive.redis_conn import get_redis
from tracks import store, youtube
from playlists.serializers import PlaylistCreateSerializer
from tracks.serializers import AnalysisFieldsSerializer, CueSerializer, TrackCreateSerializer, TrackFieldsSerializer
from tracks.services import TRACK_WAVEFORM_MAX_PIXELS

FORMAT = "quantumlive-library"
VERSION = 1
SECTIONS = ("tracks", "youtube", "analysis", "playlists")
# About how many bytes of records one batch reads from Redis (and holds in memory).
BATCH_BYTES = 4 * 2**20
MAX_BATCH = 256
# Scratch keys: an export refreshes its snapshot's TTL every batch; an import's staged data
# must outlive the whole import (it is deleted at the end, however the import ends).
EXPORT_TTL_MS = 3_600_000
STAGE_TTL_MS = 24 * 3_600_000
# The importer reads the file CHUNK bytes at a time, and at most about this much of it for
# one value before it refuses it (the parser holds one record at a time): SMALL_VALUE for a
# header field, a YouTube item or a job's options; for a track 2 x QL_MAX_BODY_MB + 1 MB and
# its waveform copy (WAVEFORM_TEXT) and for an analysis result 2 x QL_MAX_RESULT_MB + 1 MB
# (_read_section: the file may be indented).
CHUNK = 65536
SMALL_VALUE = 65536
# The longest base64 text of a track's waveform copy: its min/max pairs and a header (20 bytes;
# 64 here), at most TRACK_WAVEFORM_MAX_PIXELS pixels (175 KB).
WAVEFORM_TEXT = (2 * TRACK_WAVEFORM_MAX_PIXELS + 64 + 2) // 3 * 4


class ImportRefused(ValueError):
    """The file is not a backup this application loads: nothing was changed."""


class ImportFailed(RuntimeError):
    """Staging failed (Redis refused or went away): nothing was changed."""


class PlaylistLocked(LockTimeout):
    """A playlist stayed locked by writers while the import wrote it (its id)."""


def _no_progress(desc: str, total: int | None):
    return _NoBar()


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


Progress = Callable[[str, "int | None"], object]


# --- export ---------------------------------------------------------------------------------
@dataclass
class ExportReport:
    tracks: int = 0
    youtube: int = 0
    analysis: int = 0
    deleted_meanwhile: int = 0
    playlists: int = 0
    entries: int = 0
    playlists_deleted_meanwhile: int = 0
    entries_left_out: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        gone = f" ({self.deleted_meanwhile} deleted during the export left out)" if self.deleted_meanwhile else ""
        playlists_gone = (f" ({self.playlists_deleted_meanwhile} deleted during the export left out)"
                          if self.playlists_deleted_meanwhile else "")
        entries_gone = (f" ({self.entries_left_out} of tracks not in the backup left out)"
                        if self.entries_left_out else "")
        return (f"exported {self.tracks} tracks{gone}, {self.youtube} YouTube links, "
                f"{self.analysis} analysis results, {self.playlists} playlists{playlists_gone} with "
                f"{self.entries} entries{entries_gone} {_pace(self.tracks, self.seconds)}")


def _pace(tracks: int, seconds: float) -> str:
    """How long a backup or restore took, as its summary says it: "in 1.5 s (6667 tracks/s)"."""
    rate = tracks / seconds if seconds else 0.0
    return f"in {seconds:.1f} s ({rate:.0f} tracks/s)"


def _pages(fetch_ids: Callable[[int, int], list], read: Callable[[list], list], touch: Callable[[], None],
           sizes: Callable[[list], list] | None = None) -> Iterator[list]:
    """Batches of records: ids `start`..`stop` from `fetch_ids`, their records from `read`;
    each batch sized so that it holds about BATCH_BYTES (from the previous batch's size), and,
    given `sizes` (each record's bytes, measured before it is read), never more than BATCH_BYTES
    but for a single record: large records after small ones are not read MAX_BATCH at once."""
    start, size = 0, 16
    while True:
        ids = fetch_ids(start, start + size - 1)
        if not ids:
            return
        if sizes is not None:
            ids = ids[:_within_budget(sizes(ids))]
        records = read(ids)
        yield records
        start += len(ids)
        held = sum(len(record) for record in records if record) or 1
        size = max(1, min(MAX_BATCH, int(BATCH_BYTES * len(ids) / held)))
        touch()


def _within_budget(sizes: list[int]) -> int:
    """How many of the first records fit in BATCH_BYTES (at least one)."""
    held = 0
    for count, size in enumerate(sizes):
        held += size
        if held > BATCH_BYTES and count:
            return count
    return len(sizes)


def export_library(out: TextIO, *, analysis: bool = True, progress: Progress = _no_progress) -> ExportReport:
    """Writes the library to `out` as one JSON document (see the module's docstring)."""
    started = time.monotonic()
    redis = get_redis()
    token = uuid.uuid4().hex
    order, yt_list, yt_added, job_ids, playlist_ids = (
        keys.backup_temp(token, name) for name in ("order", "youtube-list", "youtube-added", "jobs", "playlists"))
    report = ExportReport()
    left_out: set[str] = set()  # tracks of the snapshot deleted before they were read
    try:
        pipe = redis.pipeline(transaction=True)
        store.order_snapshot_into(pipe, target=order, ttl_ms=EXPORT_TTL_MS)
        youtube.youtube_snapshot_into(pipe, list_target=yt_list, added_target=yt_added, ttl_ms=EXPORT_TTL_MS)
        pipe.copy(keys.playlists_all(), playlist_ids, replace=True)
        pipe.pexpire(playlist_ids, EXPORT_TTL_MS)
        pipe.zcard(order)
        total = pipe.execute()[-1]
        jobs_total = jobs.job_ids_snapshot(target=job_ids, ttl_ms=EXPORT_TTL_MS) if analysis else 0

        def touch(*names):
            def refresh():
                pipe = redis.pipeline(transaction=False)
                for name in names:
                    pipe.pexpire(name, EXPORT_TTL_MS)
                pipe.execute()
            return refresh

        def read_tracks(ids):
            records = store.track_records(ids)
            left_out.update(track_id for track_id, record in zip(ids, records) if record is None)
            return records

        out.write('{"format":"%s","version":%d,"exported":%s,\n"tracks":['
                  % (FORMAT, VERSION, json.dumps(now_iso())))
        bar = progress("export", total)
        sep = "\n"
        for records in _pages(lambda a, b: redis.zrange(order, a, b), read_tracks,
                              touch(order, playlist_ids), store.track_record_sizes):
            for record in records:
                if record is None:
                    report.deleted_meanwhile += 1
                    continue
                out.write(sep + record)
                sep = ",\n"
                report.tracks += 1
            bar.update(len(records))
        bar.close()

        out.write('\n],\n"youtube":[')
        sep = "\n"
        for items in _pages(lambda a, b: youtube.youtube_snapshot_items(list_key=yt_list, added_key=yt_added,
                                                                         start=a, stop=b),
                            lambda items: items, touch(yt_list, yt_added, order, playlist_ids)):
            for video_id, added in items:
                out.write(sep + json.dumps({"video_id": video_id, "added": added}, separators=(",", ":")))
                sep = ",\n"
                report.youtube += 1

        out.write('\n],\n"analysis":[')
        sep = "\n"
        if jobs_total:
            for records in _pages(lambda a, b: redis.zrange(job_ids, a, b), jobs.finished_job_records,
                                  touch(job_ids, order, playlist_ids), jobs.job_record_sizes):
                for record in records:
                    if record is not None:
                        out.write(sep + record)
                        sep = ",\n"
                        report.analysis += 1
        out.write('\n],\n"playlists":[')
        _export_playlists(out, token, order, left_out, playlist_ids, report, progress)
        out.write('\n]}\n')
        out.flush()
    finally:
        _drop_scratch(token)
    report.seconds = time.monotonic() - started
    return report


# Entries an export reads (and holds) at a time.
ENTRY_PAGE = 1000


def _export_playlists(out: TextIO, token: str, order: str, left_out: set[str], playlist_ids: str,
                      report: "ExportReport", progress: Progress) -> None:
    """Writes each playlist of the snapshot `playlist_ids` as one record, from a copy of its
    entries taken at one moment (so its version is that of its entries), read in pages;
    entries of tracks the file does not hold (added or deleted during the export) are left
    out, and counted."""
    redis = get_redis()
    total = redis.zcard(playlist_ids)
    bar = progress("playlists", total)
    sep = "\n"
    for start in range(0, total, 100):
        for playlist_id in redis.zrange(playlist_ids, start, start + 99):
            try:
                record = playlists.backup_snapshot(playlist_id=playlist_id, token=token, ttl_ms=EXPORT_TTL_MS)
                if record is None:
                    report.playlists_deleted_meanwhile += 1
                    continue
                head = json.dumps(record, separators=(",", ":"))
                out.write(sep + head[:-1] + ',"entries":[')
                sep = ",\n"
                first = ""
                for offset in itertools.count(0, ENTRY_PAGE):
                    rows = playlists.backup_entries(playlist_id=playlist_id, token=token, start=offset,
                                                    stop=offset + ENTRY_PAGE - 1)
                    if not rows:
                        break
                    distinct = list(dict.fromkeys(track_id for _, track_id, _ in rows))
                    in_file = {track_id for track_id, score in zip(distinct, redis.zmscore(order, distinct))
                               if score is not None and track_id not in left_out}
                    for entry_id, track_id, added in rows:
                        if track_id not in in_file:
                            report.entries_left_out += 1
                            continue
                        out.write(first + json.dumps({"entry": entry_id, "track": track_id, "added": added},
                                                     separators=(",", ":")))
                        first = ","
                        report.entries += 1
                out.write("]}")
                report.playlists += 1
            finally:
                playlists.backup_drop(playlist_id=playlist_id, token=token)
            bar.update(1)
        redis.pexpire(order, EXPORT_TTL_MS)
        redis.pexpire(playlist_ids, EXPORT_TTL_MS)
    bar.close()


def _drop_scratch(token: str) -> None:
    """Deletes one run's scratch keys (they expire anyway)."""
    try:
        redis = get_redis()
        batch = list(redis.scan_iter(match=keys.backup_temp_pattern(token), count=1000))
        for start in range(0, len(batch), 500):
            redis.unlink(*batch[start:start + 500])
    except Exception:
        pass


# --- validation of one record -----------------------------------------------------------------
class _Bad(ValueError):
    pass


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_TRACK_KEYS = frozenset(store.RECORD_FIELDS)
# Track fields a record may leave out (files written before they existed): null.
_TRACK_OPTIONAL = frozenset(("location", *store.ANALYSIS_OWNED, "analysis", "waveform"))
_JOB_KEYS = frozenset(("id", "digest", "options", "created", "finished", "result"))
_RESULT_KEYS = frozenset(("bpm", "key", "camelot", "duration", "sample_rate", "beats", "waveform", "cues"))
# What results of later analyser versions add (API.md, "Analysis, second version").
_RESULT_LATER_KEYS = frozenset(("open_key", "downbeats", "beatgrid", "mix_in", "mix_out", "loudness"))
_OPTION_KEYS = frozenset(("auto_cues", "beats_per_cue", "intervals", "max_cue_samples", "bpm_range"))
_YOUTUBE_KEYS = frozenset(("video_id", "added"))


def _keys_of(obj, expected: frozenset, optional: frozenset = frozenset()) -> None:
    if not isinstance(obj, dict):
        raise _Bad("expected an object")
    unknown = sorted(set(obj) - expected)
    if unknown:
        raise _Bad(f"unknown fields {unknown[:5]}")
    missing = sorted(expected - optional - set(obj))
    if missing:
        raise _Bad(f"missing fields {missing}")


def _timestamp(value, what: str) -> datetime:
    if not isinstance(value, str) or len(value) > 32 or not _TIMESTAMP.fullmatch(value):
        raise _Bad(f"{what}: expected an ISO 8601 UTC time such as 2026-11-28T23:30:00.000Z")
    try:
        return datetime.fromisoformat(value[:-1]).replace(tzinfo=timezone.utc)
    except ValueError:
        raise _Bad(f"{what}: not a valid time") from None


def _uuid(value, what: str) -> str:
    if not isinstance(value, str) or len(value) != 36:
        raise _Bad(f"{what}: expected a UUID")
    try:
        if str(uuid.UUID(value)) == value:
            return value
    except ValueError:
        pass
    raise _Bad(f"{what}: expected a UUID in canonical form (lower case, with dashes)")


def _errors(errors) -> str:
    text = json.dumps(errors, ensure_ascii=False)
    return text if len(text) <= 300 else text[:300] + "…"


def _encoded_size(fields: list[str]) -> int:
    return sum(len(item.encode("utf-8")) for item in fields)


@functools.cache
def _track_validator() -> TrackFieldsSerializer:
    """One serializer for every record, as DRF's own list fields reuse their child: its fields
    are built (deep-copied) once, not once a track."""
    return TrackFieldsSerializer()


def _track(obj) -> tuple[str, list[str], tuple[str, bytes] | None]:
    """(id, the hash's fields, (analysis id, bytes) of its waveform copy or None) of a valid
    track record; _Bad says what is wrong."""
    _keys_of(obj, _TRACK_KEYS, _TRACK_OPTIONAL)
    track_id = _uuid(obj["id"], "id")
    version = obj["version"]
    if type(version) is not int or not 1 <= version <= 2**53:
        raise _Bad("version: expected an integer >= 1")
    _timestamp(obj["created"], "created")
    _timestamp(obj["updated"], "updated")
    try:
        validated = _track_validator().run_validation({name: obj[name] for name in store.WRITABLE if name in obj})
        owned = AnalysisFieldsSerializer(data={name: obj[name] for name in store.ANALYSIS_OWNED if name in obj},
                                         partial=True)
        owned.is_valid(raise_exception=True)
    except ValidationError as exc:
        raise _Bad(_errors(exc.detail)) from None
    values = dict(TrackCreateSerializer.DEFAULTS)
    values.update(validated)
    values.update(owned.validated_data)
    if obj.get("analysis") is not None:
        values["analysis"] = _uuid(obj["analysis"], "analysis")
    copy = _track_waveform(obj.get("waveform"), values.get("analysis"))
    fields = store.restore_fields(track_id=track_id, values=values, version=version, created=obj["created"],
                                  updated=obj["updated"])
    if _encoded_size(fields) > settings.QL_MAX_BODY_MB * 2**20:
        raise _Bad(f"larger than QL_MAX_BODY_MB ({settings.QL_MAX_BODY_MB} MB): the API would refuse it")
    return track_id, fields, copy


def _track_waveform(text, analysis: str | None) -> tuple[str, bytes] | None:
    """(analysis id, bytes) of a record's waveform copy, None when it has none: base64 text
    (standard alphabet, padded, nothing else) of a stored waveform (analysis/waveform.py) of
    at most TRACK_WAVEFORM_MAX_PIXELS pixels, from the analysis the record names."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise _Bad("waveform: expected base64 text or null")
    if analysis is None:
        raise _Bad("waveform: given for a track whose analysis is null (a copy is of the analysis applied)")
    too_many = f"waveform: more than {TRACK_WAVEFORM_MAX_PIXELS} pixels, the most a track keeps"
    if len(text) > WAVEFORM_TEXT:
        raise _Bad(too_many)
    try:
        blob = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        blob = None
    if blob is None or base64.b64encode(blob).decode("ascii") != text:
        raise _Bad("waveform: not base64 (standard alphabet, padded, on one line)")
    try:
        rate, _, samples, mins, _ = waveforms.parse(blob)
    except waveforms.WaveformError:
        raise _Bad("waveform: not a stored waveform (analysis/waveform.py's format)") from None
    if len(mins) > TRACK_WAVEFORM_MAX_PIXELS:
        raise _Bad(too_many)
    # What a request builds from it grows with the samples it spans (samples / 64 pixels at
    # samples_per_pixel=64), not with its pixels: only what the analyser could have made.
    if not 1 <= rate <= MAX_SAMPLE_RATE or samples > rate * settings.QL_MAX_AUDIO_SECONDS:
        raise _Bad(f"waveform: a sample rate over {MAX_SAMPLE_RATE} Hz or longer than QL_MAX_AUDIO_SECONDS "
                   f"({settings.QL_MAX_AUDIO_SECONDS} s): not one the analyser makes")
    return analysis, blob


def _youtube(obj) -> tuple[str, str]:
    _keys_of(obj, _YOUTUBE_KEYS)
    video_id, added = obj["video_id"], obj["added"]
    if not isinstance(video_id, str) or len(video_id) != 11 or not youtube.is_video_id(video_id):
        raise _Bad("video_id: expected an 11-character YouTube video id")
    if added != "":  # (a list item without its time: kept as the list showed it)
        _timestamp(added, "added")
    return video_id, added


def _max_result_points() -> int:
    return int(getattr(settings, "QL_MAX_RESULT_POINTS", 262_144))


def _max_result_bytes() -> int:
    return int(getattr(settings, "QL_MAX_RESULT_MB", 4)) * 2**20


def _number(value, what: str, *, low: float, high: float, allow_none: bool = False):
    if value is None and allow_none:
        return
    if type(value) not in (int, float) or not low <= value <= high:
        raise _Bad(f"{what}: expected a number from {low:g} to {high:g}")


def _result(result) -> None:
    """An analysis result as the analyser makes it, within the API's bounds."""
    _keys_of(result, _RESULT_KEYS | _RESULT_LATER_KEYS, _RESULT_LATER_KEYS)
    _result_later_fields(result)
    _number(result["bpm"], "result.bpm", low=1, high=400, allow_none=True)
    _number(result["duration"], "result.duration", low=0, high=86_400)
    rate = result["sample_rate"]
    if type(rate) is not int or not 1 <= rate <= 768_000:
        raise _Bad("result.sample_rate: expected an integer")
    key = result["key"]
    if key is not None:
        if not isinstance(key, str) or len(key) > 32:
            raise _Bad("result.key: expected a key")
        try:
            canonical = canonical_key(key)
        except ValueError:
            canonical = None
        if canonical != key:
            raise _Bad("result.key: expected a key in canonical form, e.g. 'A minor'")
    if result["camelot"] != (camelot(key) if key is not None else None):
        raise _Bad("result.camelot: does not match the key")
    points = _max_result_points()
    for name in ("beats", "waveform"):
        try:
            NumberListField(max_length=points).to_internal_value(result[name])
        except Exception as exc:
            raise _Bad(f"result.{name}: {_errors(getattr(exc, 'detail', str(exc)))}") from None
    cues = BoundedListField(child=CueSerializer(), max_length=512)
    try:
        cues.to_internal_value(result["cues"])
    except Exception as exc:
        raise _Bad(f"result.cues: {_errors(getattr(exc, 'detail', str(exc)))}") from None
    total = len(result["beats"]) + len(result["waveform"]) + sum(len(c.get("waveform", [])) for c in result["cues"])
    if total > points:
        raise _Bad(f"result: {total} numbers, over QL_MAX_RESULT_POINTS ({points})")


def _result_later_fields(result: dict) -> None:
    """The fields of analyser version 3 on, when the result has them, as a track takes them."""
    if "open_key" in result and result["open_key"] != (open_key(result["key"]) if result["key"] else None):
        raise _Bad("result.open_key: does not match the key")
    try:
        if "downbeats" in result:
            NumberListField(max_length=_max_result_points()).to_internal_value(result["downbeats"])
        AnalysisFieldsSerializer(data={name: result[name] for name in AnalysisFieldsSerializer.FIELDS
                                       if name in result}, partial=True).is_valid(raise_exception=True)
    except (ValidationError, TypeError) as exc:
        raise _Bad(f"result: {_errors(getattr(exc, 'detail', str(exc)))}") from None


def _job(obj, now: float) -> tuple[str, str, list[str], int] | None:
    """(id, digest, the record's fields, expires at) of a valid finished job; None when its
    time is already over (QL_ANALYSIS_TTL after it was created)."""
    _keys_of(obj, _JOB_KEYS)
    job_id = _uuid(obj["id"], "id")
    digest = obj["digest"]
    if not isinstance(digest, str) or len(digest) != 64 or not _DIGEST.fullmatch(digest):
        raise _Bad("digest: expected 64 hexadecimal digits")
    created = _timestamp(obj["created"], "created")
    _timestamp(obj["finished"], "finished")
    options = obj["options"]
    if not isinstance(options, dict) or set(options) - _OPTION_KEYS:
        raise _Bad(f"options: expected an object with {sorted(_OPTION_KEYS)}")
    if len(json.dumps(options)) > SMALL_VALUE:
        raise _Bad("options: too large")
    _result(obj["result"])
    fields = jobs.restore_fields(digest=digest, options=options, created=obj["created"],
                                 finished=obj["finished"], result=obj["result"])
    if _encoded_size(fields) > _max_result_bytes() + SMALL_VALUE:
        raise _Bad("result: larger than QL_MAX_RESULT_MB")
    expires_at = int(created.timestamp()) + int(settings.QL_ANALYSIS_TTL)
    if expires_at <= now + 60:
        return None
    return job_id, digest, fields, expires_at


# --- reading the file -------------------------------------------------------------------------
class _TooLarge(Exception):
    pass


class _CountingReader:
    """The file as the parser reads it, refusing to read more than `cap` bytes (plus one
    chunk) for the value being read since `limit` was last called: the parser never holds a
    value larger than what the API would accept."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.total = 0
        self.start = 0
        self.cap = SMALL_VALUE
        self.what = "the document"

    def limit(self, cap: int, what: str) -> None:
        self.start, self.cap, self.what = self.total, cap, what

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # (ijson asks for nothing first, to learn whether the stream gives bytes)
            return b""
        if self.total - self.start > self.cap + CHUNK:
            raise _TooLarge(self.what)
        data = self.stream.read(size if size and size > 0 else CHUNK)
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.total += len(data)
        return data


MAX_DEPTH = 8
MAX_KEYS = 64
MAX_ITEMS = 16_384


def _build(events, event: str, value):
    """The value that starts with (`event`, `value`), from the parser's events, bounded in
    depth, keys per object and items per list (the largest list the API takes is 16,384; the
    reader's cap bounds what a list or object holds before its end is seen)."""
    if event != "start_map" and event != "start_array":
        return value
    root = {} if event == "start_map" else []
    stack = []  # (container, is_list, pending key) of the enclosing levels
    parent, is_list, name = root, event == "start_array", None
    for event, value in events:
        if event == "number" or event == "string" or event == "null" or event == "boolean":
            if is_list:
                parent.append(value)
            elif name in parent:
                raise _Bad(f"field {name!r} given twice")
            else:
                parent[name] = value
        elif event == "map_key":
            name = value
        elif event == "end_array" or event == "end_map":
            if len(parent) > (MAX_ITEMS if is_list else MAX_KEYS):
                raise _Bad(f"a list longer than {MAX_ITEMS} items" if is_list
                           else f"an object with more than {MAX_KEYS} fields")
            if not stack:
                return root
            parent, is_list, name = stack.pop()
        else:  # start_map, start_array
            if len(stack) >= MAX_DEPTH:
                raise _Bad(f"nested deeper than {MAX_DEPTH}")
            item = {} if event == "start_map" else []
            if is_list:
                parent.append(item)
            elif name in parent:
                raise _Bad(f"field {name!r} given twice")
            else:
                parent[name] = item
            stack.append((parent, is_list, name))
            parent, is_list, name = item, event == "start_array", None
    raise _Bad("the document ends inside a value")


@dataclass
class _Stage:
    """An import's staging keys and what it has staged so far."""

    token: str
    tracks: int = 0
    youtube: int = 0
    jobs: int = 0
    playlists: int = 0
    expired_jobs: int = 0
    header: dict = field(default_factory=dict)
    batch: list = field(default_factory=list)
    batch_bytes: int = 0
    youtube_batch: list = field(default_factory=list)

    def key(self, *parts: str) -> str:
        return keys.backup_temp(self.token, *parts)

    # tracks: staged hashes and waveform copies, their order (a list) and ids (a hash:
    # duplicates show)
    def add_track(self, track_id: str, fields: list[str], copy: tuple[str, bytes] | None, label: str) -> None:
        self.batch.append((track_id, fields, copy, label))
        self.batch_bytes += _encoded_size(fields) + (len(copy[1]) if copy else 0)
        if self.batch_bytes >= BATCH_BYTES or len(self.batch) >= MAX_BATCH:
            self.flush()

    def track_keys(self, track_id: str) -> tuple[str, str]:
        """A staged track's hash and its staged waveform copy."""
        return self.key("track", track_id), self.key("track", track_id, "waveform")

    def add_youtube(self, video_id: str, added: str) -> None:
        self.youtube_batch.append((video_id, added))
        if len(self.youtube_batch) >= 1000:
            self.flush_youtube()

    def flush_youtube(self) -> None:
        if not self.youtube_batch:
            return
        pipe = get_redis().pipeline(transaction=False)
        for video_id, added in self.youtube_batch:
            youtube.youtube_stage(pipe, list_key=self.key("youtube-list"), added_key=self.key("youtube-added"),
                                  video_id=video_id, added=added, ttl_ms=STAGE_TTL_MS)
        pipe.execute()
        self.youtube += len(self.youtube_batch)
        self.youtube_batch = []

    def flush(self) -> None:
        if not self.batch:
            return
        pipe = get_redis().pipeline(transaction=False)
        for track_id, *_ in self.batch:
            pipe.hsetnx(self.key("ids"), track_id, "1")
        for track_id, fields, copy, _ in self.batch:
            staged, staged_copy = self.track_keys(track_id)
            pipe.execute_command("HSET", staged, *fields)
            pipe.pexpire(staged, STAGE_TTL_MS)
            if copy is not None:
                store.waveform_stage_into(pipe, target=staged_copy, analysis_job_id=copy[0], blob=copy[1],
                                          ttl_ms=STAGE_TTL_MS)
        pipe.rpush(self.key("order"), *[track_id for track_id, *_ in self.batch])
        pipe.pexpire(self.key("order"), STAGE_TTL_MS)
        pipe.pexpire(self.key("ids"), STAGE_TTL_MS)
        replies = pipe.execute()
        for index, (track_id, *_, label) in enumerate(self.batch):
            if not replies[index]:
                raise ImportRefused(f"{label}: the id {track_id} is given twice; nothing was changed")
        self.tracks += len(self.batch)
        self.batch, self.batch_bytes = [], 0


def _read_document(stream: BinaryIO, stage: _Stage, bar) -> None:
    """Validates and stages the whole file; ImportRefused for the first problem found."""
    reader = _CountingReader(stream)
    events = iter(ijson.basic_parse(reader, buf_size=CHUNK, use_float=True))
    first = next(events, None)
    if first is None:
        raise _Bad("the file is empty")
    if first[0] != "start_map":
        raise _Bad("expected a JSON object")
    seen = set()
    now = time.time()
    for event, name in events:
        if event == "end_map":
            break
        if name in seen:
            raise _Bad(f"{name!r} is given twice")
        seen.add(name)
        reader.limit(SMALL_VALUE, name)
        event, value = next(events, (None, None))
        if name in SECTIONS:
            if event != "start_array":
                raise _Bad(f"{name}: expected a list")
            _read_section(name, events, reader, stage, bar, now)
        elif name == "format":
            if value != FORMAT:
                raise _Bad(f"format: expected {FORMAT!r}, found {_short(value)}")
        elif name == "version":
            if type(value) is not int or value != VERSION:
                raise _Bad(f"version: this application reads version {VERSION}, found {_short(value)}")
        elif name == "exported":
            _timestamp(_build(events, event, value), "exported")
        else:
            raise _Bad(f"unknown field {name[:64]!r}")
    missing = [name for name in ("format", "version", "exported", *SECTIONS) if name not in seen]
    if missing:
        raise _Bad(f"missing {missing}")
    for _ in events:
        raise _Bad("content after the document")
    stage.flush()


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text[:40]


def _read_section(name: str, events, reader: _CountingReader, stage: _Stage, bar, now: float) -> None:
    caps = {"tracks": 2 * settings.QL_MAX_BODY_MB * 2**20 + 2**20 + WAVEFORM_TEXT,
            "analysis": 2 * _max_result_bytes() + 2**20}
    cap = caps.get(name, SMALL_VALUE)
    index = 0
    reader.limit(cap, f"{name}[0]")
    for event, value in events:
        if event == "end_array":
            stage.flush_youtube()
            return
        label = f"{name}[{index}]"
        record = None
        try:
            if name == "playlists":
                _stage_playlist(events, event, reader, stage, label)
                index += 1
                reader.limit(cap, f"{name}[{index}]")
                continue
            record = _build(events, event, value)
            if name == "tracks":
                stage.add_track(*_track(record), label)
                bar.update(1)
            elif name == "youtube":
                stage.add_youtube(*_youtube(record))
            else:
                _stage_job(record, stage, now, label)
        except _Bad as exc:
            which = record.get("id") if isinstance(record, dict) else None
            which = f" (id {which[:40]})" if isinstance(which, str) else ""
            raise ImportRefused(f"{label}{which}: {exc}; nothing was changed") from None
        index += 1
        reader.limit(cap, f"{name}[{index}]")
    raise _Bad(f"{name}: the list does not end")


_PLAYLIST_KEYS = frozenset(("id", "name", "description", "public", "owner", "owner_id", "version", "created",
                            "updated", "entries"))
_ENTRY_KEYS = frozenset(("entry", "track", "added"))
ENTRY_BATCH = 1000


@functools.cache
def _playlist_fields() -> tuple[PlaylistCreateSerializer, StringField]:
    """The API's checks of a playlist's name, description and public (API.md, "Playlists":
    the name trimmed, only spaces refused), and the owner's username as Django bounds it."""
    return PlaylistCreateSerializer(), StringField(min_length=1, max_length=150, trim_whitespace=False)


def _playlist_meta(obj: dict) -> dict:
    """The fields of a playlist record but its entries, checked (the name as the API stores
    it); _Bad says what is wrong."""
    _uuid(obj["id"], "id")
    fields, owner = _playlist_fields()
    try:
        values = fields.run_validation({name: obj[name] for name in ("name", "description", "public")})
    except ValidationError as exc:
        raise _Bad(_errors(exc.detail)) from None
    try:
        owner.run_validation(obj["owner"])
    except ValidationError as exc:
        raise _Bad(f"owner: {_errors(exc.detail)}") from None
    if type(obj["public"]) is not bool:
        raise _Bad("public: expected true or false")
    obj = dict(obj, name=values["name"])
    for what in ("owner_id", "version"):
        if type(obj[what]) is not int or not 1 <= obj[what] <= 2**53:
            raise _Bad(f"{what}: expected an integer >= 1")
    _timestamp(obj["created"], "created")
    _timestamp(obj["updated"], "updated")
    return obj


def _entry(obj) -> tuple[str, str, str]:
    _keys_of(obj, _ENTRY_KEYS)
    _timestamp(obj["added"], "added")
    return _uuid(obj["entry"], "entry"), _uuid(obj["track"], "track"), obj["added"]


def _stage_playlist(events, event: str, reader: _CountingReader, stage: "_Stage", label: str) -> None:
    """Validates one playlist record, read field by field (its entries one at a time: a
    playlist of any length is never held whole), and stages it: its fields as JSON, its
    entries in a list, the tracks they name in a set (checked once the file is read)."""
    if event != "start_map":
        raise _Bad("expected an object")
    index = stage.playlists
    fields: dict = {}
    entries_key = stage.key("pl", str(index), "entries")
    seen: set[str] = set()
    batch: list[tuple[str, str, str]] = []
    limit = settings.QL_PLAYLIST_MAX_ENTRIES

    def flush():
        if not batch:
            return
        pipe = get_redis().pipeline(transaction=False)
        pipe.rpush(entries_key, *[f"{entry} {track} {added}" for entry, track, added in batch])
        pipe.pexpire(entries_key, STAGE_TTL_MS)
        pipe.sadd(stage.key("pl-tracks"), *{track for _, track, _ in batch})
        pipe.pexpire(stage.key("pl-tracks"), STAGE_TTL_MS)
        pipe.execute()
        batch.clear()

    try:
        for event, name in events:
            if event == "end_map":
                break
            if name in fields:
                raise _Bad(f"field {name!r} given twice")
            if name not in _PLAYLIST_KEYS:
                raise _Bad(f"unknown fields [{name[:64]!r}]")
            reader.limit(SMALL_VALUE, f"{label}.{name}")
            event, value = next(events, (None, None))
            if name != "entries":
                fields[name] = _build(events, event, value)
                continue
            if event != "start_array":
                raise _Bad("entries: expected a list")
            fields[name] = None
            for event, value in events:
                if event == "end_array":
                    break
                where = f"entries[{len(seen)}]"
                reader.limit(SMALL_VALUE, f"{label}.{where}")
                try:
                    entry = _entry(_build(events, event, value))
                except _Bad as exc:
                    raise _Bad(f"{where}: {exc}") from None
                if entry[0] in seen:
                    raise _Bad(f"{where}: the entry id {entry[0]} is given twice")
                seen.add(entry[0])
                if len(seen) > limit:
                    raise _Bad(f"entries: more than QL_PLAYLIST_MAX_ENTRIES ({limit})")
                batch.append(entry)
                if len(batch) >= ENTRY_BATCH:
                    flush()
            else:
                raise _Bad("the document ends inside a value")
        else:
            raise _Bad("the document ends inside a value")
        _keys_of(fields, _PLAYLIST_KEYS)
        meta = _playlist_meta(fields)
    except _Bad as exc:
        which = fields.get("id")
        which = f" (id {which[:40]})" if isinstance(which, str) else ""
        raise ImportRefused(f"{label}{which}: {exc}; nothing was changed") from None
    flush()
    meta = dict(meta, entries=len(seen))
    pipe = get_redis().pipeline(transaction=False)
    pipe.hsetnx(stage.key("pl-ids"), meta["id"], str(index))
    pipe.rpush(stage.key("pl-records"), json.dumps(meta, separators=(",", ":")))
    pipe.sadd(stage.key("pl-owners"), f"{meta['owner_id']} {meta['owner']}")
    for name in ("pl-ids", "pl-records", "pl-owners"):
        pipe.pexpire(stage.key(name), STAGE_TTL_MS)
    if not pipe.execute()[0]:
        raise ImportRefused(f"{label}: the playlist id {meta['id']} is given twice; nothing was changed")
    stage.playlists += 1


def _check_playlist_tracks(stage: "_Stage", replace: bool) -> None:
    """Every track an entry names is in the file, or (without --replace, which deletes the
    others) in the library; else the file is refused."""
    redis = get_redis()
    missing: list[str] = []
    found = redis.sscan_iter(stage.key("pl-tracks"), count=1000)
    while batch := list(itertools.islice(found, 1000)):
        pipe = redis.pipeline(transaction=False)
        for track_id in batch:
            pipe.hexists(stage.key("ids"), track_id)
            if not replace:
                pipe.exists(keys.track(track_id))
        replies = pipe.execute()
        step = 1 if replace else 2
        for position, track_id in enumerate(batch):
            if not any(replies[position * step:(position + 1) * step]):
                missing.append(track_id)
    if missing:
        where = "in the file" if replace else "in the file or the library"
        raise ImportRefused(f"playlists: entries name tracks that are not {where} "
                            f"({len(missing)}: {', '.join(sorted(missing)[:5])}); nothing was changed")


def _stage_job(record, stage: _Stage, now: float, label: str) -> None:
    found = _job(record, now)
    if found is None:
        stage.expired_jobs += 1
        return
    job_id, digest, fields, expires_at = found
    redis = get_redis()
    pipe = redis.pipeline(transaction=False)
    pipe.hsetnx(stage.key("job-ids"), job_id, "1")
    staged = stage.key("job", job_id)
    pipe.execute_command("HSET", staged, *fields)
    pipe.pexpire(staged, STAGE_TTL_MS)
    pipe.rpush(stage.key("jobs"), f"{job_id} {digest} {expires_at}")
    for name in ("job-ids", "jobs"):
        pipe.pexpire(stage.key(name), STAGE_TTL_MS)
    if not pipe.execute()[0]:
        raise ImportRefused(f"{label}: the job id {job_id} is given twice; nothing was changed")
    stage.jobs += 1


# --- import -----------------------------------------------------------------------------------
@dataclass
class ImportReport:
    tracks_created: int = 0
    tracks_replaced: int = 0
    tracks_unchanged: int = 0
    tracks_removed: int = 0
    conflicts: int = 0
    conflict_list: list[tuple[str, int, int]] = field(default_factory=list)
    youtube_added: int = 0
    youtube_skipped: int = 0
    analysis_added: int = 0
    analysis_unchanged: int = 0
    analysis_conflicts: int = 0
    analysis_expired: int = 0
    playlists_created: int = 0
    playlists_replaced: int = 0
    playlists_unchanged: int = 0
    playlist_conflicts: int = 0
    playlist_conflict_list: list[tuple[str, int, int]] = field(default_factory=list)
    playlists_removed: int = 0
    entries_left_out: int = 0
    owners_not_here: int = 0
    owner_id_taken: list[tuple[str, str, int, str]] = field(default_factory=list)
    seconds: float = 0.0

    # conflicts listed one by one in the report (all are counted)
    MAX_LISTED = 1000

    def summary(self) -> str:
        tracks = self.tracks_created + self.tracks_replaced + self.tracks_unchanged
        return (f"imported: tracks {self.tracks_created} created, {self.tracks_replaced} replaced, "
                f"{self.tracks_unchanged} unchanged, {self.conflicts} conflicts, {self.tracks_removed} removed; "
                f"YouTube links {self.youtube_added} added, {self.youtube_skipped} already listed; "
                f"analysis results {self.analysis_added} added, {self.analysis_unchanged} unchanged, "
                f"{self.analysis_conflicts} conflicts, {self.analysis_expired} expired; "
                f"playlists {self.playlists_created} created, {self.playlists_replaced} replaced, "
                f"{self.playlists_unchanged} unchanged, {self.playlist_conflicts} conflicts, "
                f"{self.playlists_removed} removed{self._playlist_notes()}; "
                f"{_pace(tracks, self.seconds)}")

    def _playlist_notes(self) -> str:
        notes = []
        if self.entries_left_out:
            notes.append(f"{self.entries_left_out} entries of tracks deleted meanwhile left out")
        if self.owners_not_here:
            notes.append(f"{self.owners_not_here} owned by usernames with no user here (owner id kept)")
        return f" ({'; '.join(notes)})" if notes else ""


def import_library(stream: BinaryIO, *, replace: bool = False, progress: Progress = _no_progress) -> ImportReport:
    """Loads a backup (see the module's docstring). ImportRefused (a malformed file) and
    ImportFailed (staging failed) mean nothing was changed."""
    started = time.monotonic()
    stage = _Stage(token=uuid.uuid4().hex)
    report = ImportReport()
    try:
        bar = progress("check", None)
        try:
            _read_document(stream, stage, bar)
            _check_playlist_tracks(stage, replace)
            _resolve_owners(stage)
        except _Bad as exc:
            raise ImportRefused(f"{exc}; nothing was changed") from None
        except _TooLarge as exc:
            raise ImportRefused(f"{exc}: larger than the API accepts; nothing was changed") from None
        except ijson.JSONError as exc:
            detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "invalid"
            raise ImportRefused(f"not valid JSON ({detail}); nothing was changed") from None
        except ImportRefused:
            raise
        except Exception as exc:
            raise ImportFailed(f"staging failed ({type(exc).__name__}: {str(exc)[:200]}); nothing was changed") from exc
        finally:
            bar.close()
        report.analysis_expired = stage.expired_jobs
        _swap_tracks(stage, replace, report, progress)
        report.youtube_added, report.youtube_skipped = youtube.youtube_restore_staged(
            list_key=stage.key("youtube-list"), added_key=stage.key("youtube-added"),
            seen_key=stage.key("youtube-seen"), before_key=stage.key("youtube-before"), replace=replace,
            ttl_ms=STAGE_TTL_MS)
        _swap_jobs(stage, replace, report)
        _swap_playlists(stage, replace, report, progress)
    finally:
        _drop_scratch(stage.token)
    report.seconds = time.monotonic() - started
    return report


SWAP_BATCH = 200


def _swap_tracks(stage: _Stage, replace: bool, report: ImportReport, progress: Progress) -> None:
    redis = get_redis()
    old = stage.key("old-order")
    if replace:  # what the library held when the swap began: the tracks not in the file go
        pipe = redis.pipeline(transaction=True)
        store.order_snapshot_into(pipe, target=old, ttl_ms=STAGE_TTL_MS)
        pipe.execute()
    bar = progress("write", stage.tracks)
    for start in range(0, stage.tracks, SWAP_BATCH):
        ids = redis.lrange(stage.key("order"), start, start + SWAP_BATCH - 1)
        staged = [(track_id, *stage.track_keys(track_id), start + offset) for offset, track_id in enumerate(ids)]
        for track_id, outcome in zip(ids, store.tracks_swap_in(staged=staged, replace=replace)):
            if outcome == "created":
                report.tracks_created += 1
            elif outcome == "replaced":
                report.tracks_replaced += 1
            elif outcome == "unchanged":
                report.tracks_unchanged += 1
            elif outcome.startswith("conflict:"):
                _, version_here, version_in_file = outcome.split(":")
                report.conflicts += 1
                if len(report.conflict_list) < report.MAX_LISTED:
                    report.conflict_list.append((track_id, int(version_here), int(version_in_file)))
            else:
                raise ImportFailed(f"track {track_id}: its staged copy expired during the import")
        bar.update(len(ids))
    bar.close()
    if replace:
        total = redis.zcard(old)
        for start in range(0, total, SWAP_BATCH):
            ids = redis.zrange(old, start, start + SWAP_BATCH - 1)
            report.tracks_removed += store.tracks_drop_absent(track_ids=ids, kept=stage.key("ids"))


def _swap_jobs(stage: _Stage, replace: bool, report: ImportReport) -> None:
    redis = get_redis()
    for start in range(0, stage.jobs, SWAP_BATCH):
        entries = [entry.split(" ") for entry in redis.lrange(stage.key("jobs"), start, start + SWAP_BATCH - 1)]
        staged = [(job_id, stage.key("job", job_id), digest, int(at)) for job_id, digest, at in entries]
        for outcome in jobs.jobs_swap_in(staged=staged, replace=replace):
            if outcome in ("created", "replaced"):
                report.analysis_added += 1
            elif outcome == "unchanged":
                report.analysis_unchanged += 1
            elif outcome == "conflict":
                report.analysis_conflicts += 1
            else:
                raise ImportFailed("an analysis job's staged copy expired during the import")


def _swap_playlists(stage: _Stage, replace: bool, report: ImportReport, progress: Progress) -> None:
    """Writes the staged playlists, each in one fenced step under its lock (playlists/store.py
    playlist_restore); with --replace then deletes the playlists the library held when this
    began and the file does not."""
    redis = get_redis()
    old = stage.key("old-playlists")
    if replace:
        redis.copy(keys.playlists_all(), old, replace=True)
        redis.pexpire(old, STAGE_TTL_MS)
    owners = _Owners(stage)
    score = None  # the last restored playlist's place: the file's order is kept
    bar = progress("playlists", stage.playlists)
    for start in range(0, stage.playlists, 100):
        for offset, text in enumerate(redis.lrange(stage.key("pl-records"), start, start + 99)):
            record = json.loads(text)
            if not replace:
                found = playlists.playlist_exists(playlist_id=record["id"])
                if found is not None:
                    _playlist_exists(report, record, found)
                    bar.update(1)
                    continue
            record["owner_id"] = owners.local_id(record["id"], record["owner"], record["owner_id"], report)
            rows = [tuple(item.split(" ", 2))
                    for item in redis.lrange(stage.key("pl", str(start + offset), "entries"), 0, -1)]
            if len(rows) != record["entries"]:
                raise ImportFailed(f"playlist {record['id']}: its staged entries expired during the import")
            score = playlists.restore_score(record["created"], score)
            try:
                outcome, left_out = playlists.playlist_restore(record=record, entries=rows, replace=replace,
                                                               score=score)
            except LockTimeout as exc:
                raise PlaylistLocked(record["id"]) from exc
            report.entries_left_out += left_out
            if outcome == "created":
                report.playlists_created += 1
            elif outcome == "replaced":
                report.playlists_replaced += 1
            else:
                _playlist_exists(report, record, playlists.playlist_exists(playlist_id=record["id"]))
            bar.update(1)
    bar.close()
    if replace:
        total = redis.zcard(old)
        for start in range(0, total, SWAP_BATCH):
            ids = redis.zrange(old, start, start + SWAP_BATCH - 1)
            pipe = redis.pipeline(transaction=False)
            for playlist_id in ids:
                pipe.hexists(stage.key("pl-ids"), playlist_id)
            for playlist_id, kept in zip(ids, pipe.execute()):
                if kept:
                    continue
                try:
                    playlists.playlist_delete(playlist_id=playlist_id)
                    report.playlists_removed += 1
                except playlists.PlaylistNotFound:
                    pass
                except LockTimeout as exc:
                    raise PlaylistLocked(playlist_id) from exc


def _playlist_exists(report: ImportReport, record: dict, found: tuple[int, str] | None) -> None:
    """A playlist of the file whose id the library holds (an import without --replace)."""
    version, updated = found or (0, "")
    if version == record["version"] and updated == record["updated"]:
        report.playlists_unchanged += 1
        return
    report.playlist_conflicts += 1
    if len(report.playlist_conflict_list) < report.MAX_LISTED:
        report.playlist_conflict_list.append((record["id"], version, record["version"]))


def _resolve_owners(stage: _Stage) -> None:
    """The users table is not in the backup: a playlist's owner is the local user of its
    username when there is one (their id here), else the file's owner_id is kept (counted,
    and named when that id is another local user's). Looked up before anything is written
    (a database that fails changes nothing), into the staged hashes `pl-owner-ids` (username
    -> local id) and `pl-owner-taken` (a kept owner_id -> the local username that has it)."""
    from django.contrib.auth import get_user_model

    redis = get_redis()
    users = get_user_model().objects
    found = redis.sscan_iter(stage.key("pl-owners"), count=500)
    while batch := list(itertools.islice(found, 500)):
        pairs = [item.split(" ", 1) for item in batch]
        local = dict(users.filter(username__in={name for _, name in pairs}).values_list("username", "id"))
        kept = {int(owner_id) for owner_id, name in pairs if name not in local}
        taken = dict(users.filter(id__in=kept).values_list("id", "username")) if kept else {}
        pipe = redis.pipeline(transaction=False)
        for name, mapping in (("pl-owner-ids", local), ("pl-owner-taken", taken)):
            if mapping:
                pipe.hset(stage.key(name), mapping=mapping)
                pipe.pexpire(stage.key(name), STAGE_TTL_MS)
        pipe.execute()


class _Owners:
    """The local ids of the file's owners (_resolve_owners), a bounded number at a time."""

    MAX_CACHED = 10_000

    def __init__(self, stage: _Stage):
        self.stage = stage
        self.found: dict[str, int | None] = {}

    def local_id(self, playlist_id: str, username: str, owner_id: int, report: ImportReport) -> int:
        if username not in self.found:
            if len(self.found) >= self.MAX_CACHED:
                self.found.clear()
            local = get_redis().hget(self.stage.key("pl-owner-ids"), username)
            self.found[username] = None if local is None else int(local)
        local = self.found[username]
        if local is not None:
            return local
        report.owners_not_here += 1
        holder = get_redis().hget(self.stage.key("pl-owner-taken"), str(owner_id))
        if holder is not None and len(report.owner_id_taken) < report.MAX_LISTED:
            report.owner_id_taken.append((playlist_id, username, owner_id, holder))
        return owner_id
