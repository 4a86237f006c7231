"""Import of a DJ file into the library and the caller's playlists (API.md, "Export, import,
and DJ tools"): `import_check` reads and validates everything (nothing is written when the
file is bad), `import_apply` writes.

Matching, per track of the file: the library track with the same `location`, else one with
the same artist and title (case-insensitive) whose duration is within 2 s (or both unknown),
else a new track (validated by TrackCreateSerializer: a track the API would refuse is skipped
with the reason). A matched track is left as it is. Each playlist of the file becomes a
playlist of the caller: one of theirs with the same name has its entries replaced, unless they
already are the file's (then nothing is written: a second import of the same file changes
nothing).

Two imports at once (two workers, or a job and a web request) may both check a file before
either writes, and both find its tracks missing. A track an import creates therefore has an
id derived from what it is matched by (`_import_ids`: its location, else its artist and
title), and the store creates a track only under an id no track has: the later import finds
the track there, and matches it when it is the same by the rule above. A radio edit and an
extended mix of one title, two minutes apart, are two tracks: the later one takes the next id
of the series (eight; past them an id of its own, which two imports at once may both
create).
"""

import bisect
import json
import math
import uuid
from dataclasses import dataclass

from django.conf import settings
from rest_framework.exceptions import ValidationError

from playlists import store as playlists
from playlists.serializers import MAX_NAME
from tracks import store as library
from tracks.serializers import TrackCreateSerializer

from exchange.locations import Refused, imported_location
from exchange.parse import DJFile, FileTrack
from exchange.text import clean_name

DURATION_SLACK = 2.0
MAX_CUE_NAME = 64
_PAGE = 500
_IMPORTED = uuid.UUID("6f1d3b0e-2c53-4a8e-9d55-1f3b8c2a7e41")  # the namespace of imported tracks' ids
_IMPORT_IDS = 8  # ids of an imported track's series tried before one of its own (_create)


@dataclass
class Checked:
    """A file read and validated: per track of the file its ref and the values of a new
    track (None: skipped), the playlists, and what was skipped so far."""

    kind: str
    tracks: list  # (ref, values of a new track | None, id of the library track it matches | None)
    playlists: list  # (name, [ref, ...])
    skipped: list
    index: "_Library"


def _where(track: FileTrack) -> dict:
    return {"line": track.line} if track.line is not None else {"track": track.ref}


def _number(text: str | None, what: str) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise Refused(f"{what}: not a number.") from None
    if not math.isfinite(value):
        raise Refused(f"{what}: not a finite number.")
    return value


def _stem(track: FileTrack, location: str | None) -> str:
    name = (location or track.url or "").rstrip("/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


def _cues(marks: list, duration: float | None) -> list[dict]:
    """POSITION_MARKs as cues: each from its Start to its End, else to the next mark's
    start, else to the end of the track (a mark with no room left is left out)."""
    starts = []
    for mark in marks:
        start = _number(mark.get("Start"), "POSITION_MARK Start")
        if start is None:
            raise Refused("POSITION_MARK without Start.")
        starts.append((start, _number(mark.get("End"), "POSITION_MARK End"), (mark.get("Name") or "")[:MAX_CUE_NAME]))
    starts.sort(key=lambda item: item[0])
    values = [start for start, _, _ in starts]
    cues = []
    for start, end, name in starts:
        if end is None or end <= start:
            later = bisect.bisect_right(values, start)  # the first later start (linear in all)
            end = values[later] if later < len(values) else duration
        if end is None or end <= start:
            continue
        cue = {"start": start, "end": end}
        if name.strip():
            cue["name"] = name.strip()
        cues.append(cue)
    return cues


def _errors_text(errors) -> str:
    def flat(value, prefix=""):
        if isinstance(value, dict):
            for name, inner in value.items():
                yield from flat(inner, f"{prefix}{name}: " if name != "non_field_errors" else prefix)
        elif isinstance(value, list):
            for inner in value:
                yield from flat(inner, prefix)
        else:
            yield f"{prefix}{value}"

    return "; ".join(dict.fromkeys(flat(errors)))


def track_validator() -> TrackCreateSerializer:
    """One serializer that validates every track of an import: a new serializer per track
    would copy its fields each time (about 3 ms)."""
    return TrackCreateSerializer()


def track_fields(track: FileTrack, *, root: str | None) -> dict:
    """The fields of a library track from a track of the file, as the file gives them (not
    validated yet: `track_values`); Refused with the reason when its path cannot be a
    location."""
    location = imported_location(track.path, root) if track.path and track.path.strip() else None
    duration = _number(track.duration, "duration")
    if duration is not None and duration <= 0:
        duration = None  # rekordbox's 0, M3U's -1: unknown
    bpm = _number(track.bpm, "AverageBpm")
    if bpm is not None and bpm <= 0:
        bpm = None
    stem = _stem(track, location)
    title, artist = (track.title or "").strip(), (track.artist or "").strip()
    if not title or not artist:
        if " - " in stem:
            stem_artist, stem_title = (part.strip() for part in stem.split(" - ", 1))
        else:
            stem_artist, stem_title = "", stem.strip()
        title = title or stem_title
        artist = artist or stem_artist or "Unknown artist"
    data = {"title": title, "artist": artist, "bpm": bpm, "duration": duration,
            "key": track.key.strip() if track.key and track.key.strip() else None,
            "genres": [track.genre.strip()] if track.genre and track.genre.strip() else [],
            "location": location, "cues": _cues(track.marks, duration)}
    if track.url:
        data["sources"] = {"url": track.url}
    return data


def track_values(data: dict, *, validator: TrackCreateSerializer | None = None) -> dict:
    """The values of a new library track from `track_fields`, validated as POST /api/tracks/
    validates them. Refused with the reason."""
    try:
        validated = (validator or track_validator()).run_validation(data)
    except ValidationError as exc:
        raise Refused(_errors_text(exc.detail)) from None
    values = dict(TrackCreateSerializer.DEFAULTS)
    values.update(validated)
    return values


class _Library:
    """The library's tracks by location and by (artist, title), read once (in pages), kept
    up to date with the tracks this import creates."""

    def __init__(self):
        self.by_location: dict[str, str] = {}
        self.by_name: dict[tuple[str, str], list[tuple[str, float | None]]] = {}
        order = library.track_ids()
        for start in range(0, len(order), _PAGE):
            for summary in library.track_summaries(order[start:start + _PAGE]).values():
                self.add(summary["id"], summary)

    def add(self, track_id: str, values: dict) -> None:
        if values.get("location"):
            self.by_location.setdefault(values["location"], track_id)
        self.by_name.setdefault(_name_key(values), []).append((track_id, values.get("duration")))

    def match(self, values: dict) -> str | None:
        if values.get("location") and values["location"] in self.by_location:
            return self.by_location[values["location"]]
        for track_id, other in self.by_name.get(_name_key(values), []):
            if _same_length(values.get("duration"), other):
                return track_id
        return None


def _name_key(values: dict) -> tuple[str, str]:
    return values["artist"].casefold(), values["title"].casefold()


def _same_length(one: float | None, other: float | None) -> bool:
    return (one is None and other is None) or (
        one is not None and other is not None and abs(one - other) <= DURATION_SLACK)


def _same_track(values: dict, track: dict) -> bool:
    """Whether the library's `track` is the one `values` describe, by the matching rule
    (`_Library.match`'s, for one track)."""
    if values.get("location") and values["location"] == track.get("location"):
        return True
    return _name_key(values) == _name_key(track) and _same_length(values.get("duration"), track.get("duration"))


def _import_ids(values: dict) -> list[str]:
    """The ids an import tries, in order, for the track `values` describe: the same series for
    every import of it (UUID 5s of its location, else its artist and title, and a count)."""
    what = ["location", values["location"]] if values.get("location") else ["name", *_name_key(values)]
    return [str(uuid.uuid5(_IMPORTED, json.dumps([*what, k]))) for k in range(_IMPORT_IDS)]


def _create(values: dict) -> tuple[str, bool]:
    """(the track's id, whether this import created it). Tried under each of its import ids
    in turn: created there, or matched when another import created it there first; an id a
    track that is not this one holds (another length of the same title, a track whose
    location has changed since) passes to the next. Past them, an id of its own."""
    for track_id in _import_ids(values):
        for _attempt in range(2):  # once more when the track there is deleted meanwhile
            try:
                library.track_create(values=values, track_id=track_id)
                return track_id, True
            except library.TrackExists:
                there = library.track_summaries([track_id]).get(track_id)
            if there is not None:
                if _same_track(values, there):
                    return track_id, False
                break
    return library.track_create(values=values)["id"], True


def import_check(dj_file: DJFile, *, root: str | None) -> Checked:
    """Everything the import will write, validated; nothing is written. A track the library
    already holds (matched) needs no validation: only those to be created are validated."""
    skipped = list(dj_file.skipped)
    tracks = []
    validator = track_validator()
    index = _Library()
    for track in dj_file.tracks:
        values = matched = None
        try:
            fields = track_fields(track, root=root)
            matched = index.match(fields)
            if matched is None:
                values = track_values(fields, validator=validator)
        except Refused as exc:
            skipped.append({**_where(track), "reason": str(exc)})
        tracks.append((track.ref, values, matched))
    by_location = {track.path: track.ref for track in dj_file.tracks if track.path}
    known = {track.ref for track in dj_file.tracks}
    found_playlists, names = [], set()
    for playlist in dj_file.playlists:
        name = clean_name(playlist.name, MAX_NAME)
        if not name:
            skipped.append({"playlist": playlist.name, "reason": "The playlist has no name."})
            continue
        if name in names:
            skipped.append({"playlist": name, "reason": "Another playlist of the file has the same name."})
            continue
        names.add(name)
        refs = []
        for key in playlist.refs:
            ref = by_location.get(key) if playlist.key_type == "Location" else key
            if ref is None or ref not in known:
                skipped.append({"track": key, "reason": f"Playlist {name!r} names a track the COLLECTION "
                                                        "does not hold."})
                continue
            refs.append(ref)
        if len(refs) > settings.QL_PLAYLIST_MAX_ENTRIES:
            skipped.append({"playlist": name, "reason": "A playlist holds at most "
                                                        f"{settings.QL_PLAYLIST_MAX_ENTRIES} entries."})
            continue
        found_playlists.append((name, refs))
    return Checked(dj_file.kind, tracks, found_playlists, skipped, index)


# --- writing ---------------------------------------------------------------------------------
def _own_playlists(owner_id: int) -> dict[str, dict]:
    """The caller's playlists by name (the oldest of those sharing a name)."""
    found: dict[str, dict] = {}
    offset = 0
    while True:
        count, page = playlists.playlist_list(viewer_id=owner_id, owner_id=owner_id, offset=offset, limit=_PAGE)
        for playlist in page:
            found.setdefault(playlist["name"], playlist)
        offset += _PAGE
        if offset >= count or not page:
            return found


def _entries(playlist_id: str) -> tuple[dict | None, list[str], list[str]]:
    """(the playlist, its entries' ids, their tracks' ids), in order."""
    entry_ids, track_ids, playlist, offset = [], [], None, 0
    while True:
        page = playlists.entries_page(playlist_id=playlist_id, offset=offset, limit=_PAGE)
        if page is None:
            return None, [], []
        playlist, entries = page
        entry_ids += [entry["entry"] for entry in entries]
        track_ids += [entry["track"]["id"] for entry in entries]
        offset += _PAGE
        if offset >= playlist["tracks"]:
            return playlist, entry_ids, track_ids


def _replace(playlist_id: str, wanted: list[str]) -> str:
    """Makes the playlist's entries `wanted`: "unchanged" when they are, else "replaced"."""
    for _ in range(3):
        playlist, entry_ids, current = _entries(playlist_id)
        if playlist is None:
            raise playlists.PlaylistNotFound(playlist_id)
        if current == wanted and len(entry_ids) == playlist["tracks"]:
            return "unchanged"
        try:
            version = playlist["version"]
            if entry_ids:
                version = playlists.entries_remove(playlist_id=playlist_id, entry_ids=entry_ids,
                                                   expected_version=version)["version"]
            if wanted:
                playlists.entries_add(playlist_id=playlist_id, track_ids=wanted, expected_version=version)
            return "replaced"
        except (playlists.VersionMismatch, playlists.UnknownEntry):
            continue  # changed meanwhile: read it again
    raise playlists.VersionMismatch(None)


def import_apply(checked: Checked, *, owner_id: int, owner: str) -> dict:
    """Writes what `checked` holds; answers the report."""
    index = checked.index
    created = matched = 0
    library_ids: dict[str, str] = {}
    for ref, values, track_id in checked.tracks:
        if values is None and track_id is None:
            continue
        if track_id is None:
            track_id = index.match(values)  # (one made by this import, from the same file)
        if track_id is None:
            track_id, new = _create(values)
            index.add(track_id, values)
            created += new
            matched += not new
        else:
            matched += 1
        library_ids[ref] = track_id
    skipped = list(checked.skipped)
    report_playlists = []
    own = _own_playlists(owner_id)
    for name, refs in checked.playlists:
        wanted = [library_ids[ref] for ref in refs if ref in library_ids]
        try:
            existing = own.get(name)
            if existing is None:
                playlist = playlists.playlist_create(owner_id=owner_id, owner=owner, name=name)
                if wanted:
                    playlists.entries_add(playlist_id=playlist["id"], track_ids=wanted)
                status, playlist_id = "created", playlist["id"]
            else:
                status, playlist_id = _replace(existing["id"], wanted), existing["id"]
        except playlists.TooManyEntries as exc:
            skipped.append({"playlist": name, "reason": f"A playlist holds at most {exc.limit} entries."})
            continue
        except playlists.UnknownTracks:
            skipped.append({"playlist": name, "reason": "A track left the library during the import."})
            continue
        except (playlists.VersionMismatch, playlists.PlaylistNotFound):
            skipped.append({"playlist": name, "reason": "The playlist changed during the import; import again."})
            continue
        except playlists.LockTimeout:
            skipped.append({"playlist": name, "reason": "The playlist stayed busy (other writers); import again."})
            continue
        report_playlists.append({"id": playlist_id, "name": name, "entries": len(wanted), "status": status})
    return {"tracks_created": created, "tracks_matched": matched, "playlists": report_playlists,
            "skipped": skipped}
