"""Reading the seed app's data files (Spanish field names, naive UTC timestamps) into the
track store and the YouTube list. Idempotent: ids already stored are skipped."""

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

from tracks import store, youtube
from tracks.serializers import TrackCreateSerializer

_FIELDS = {"titulo": "title", "artista": "artist", "bpm": "bpm", "generos": "genres",
           "fuentes": "sources", "notas": "notes"}
_CUE_FIELDS = {"nombre": "name", "inicio": "start", "fin": "end", "forma": "waveform"}
_KNOWN = set(_FIELDS) | {"id", "cues", "creado", "actualizado"}


class SeedFileError(ValueError):
    """The file as a whole cannot be read: nothing was imported."""


@dataclass
class Report:
    imported: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _timestamp(value) -> str:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _translate(entry: dict) -> dict:
    unknown = sorted(set(entry) - _KNOWN)
    if unknown:
        raise ValueError(f"unknown fields {unknown}")
    body = {_FIELDS[name]: entry[name] for name in _FIELDS if name in entry}
    cues = entry.get("cues") or []
    if not isinstance(cues, list) or not all(isinstance(c, dict) for c in cues):
        raise ValueError("cues must be a list of objects")
    translated = []
    for cue in cues:
        extra = sorted(set(cue) - set(_CUE_FIELDS))
        if extra:
            raise ValueError(f"unknown cue fields {extra}")
        translated.append({_CUE_FIELDS[name]: value for name, value in cue.items()})
    body["cues"] = translated
    return body


def read_playlist(text: str) -> list:
    try:
        entries = json.loads(text, parse_constant=lambda name: float("nan"))
    except ValueError as exc:
        raise SeedFileError(f"not valid JSON: {exc}") from None
    if not isinstance(entries, list):
        raise SeedFileError("expected a JSON array of tracks")
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise SeedFileError(f"entry {index} is not an object")
    return entries


def import_playlist(entries: list) -> Report:
    """Validates every entry first (as the API would), then stores the valid ones in order."""
    report = Report()
    ready = []
    for index, entry in enumerate(entries):
        label = f"#{index} {entry.get('titulo', '?')!r}"
        try:
            track_id = str(uuid.UUID(str(entry.get("id"))))
            created = _timestamp(entry["creado"]) if entry.get("creado") else None
            updated = _timestamp(entry["actualizado"]) if entry.get("actualizado") else created
            body = TrackCreateSerializer(data=_translate(entry))
            if not body.is_valid():
                raise ValueError(json.dumps(body.errors))
        except (ValueError, TypeError, KeyError) as exc:
            report.skipped.append((label, f"invalid: {exc}"))
            continue
        values = dict(TrackCreateSerializer.DEFAULTS)
        values.update(body.validated_data)
        ready.append((label, track_id, values, created, updated))
    for label, track_id, values, created, updated in ready:
        try:
            store.track_create(values=values, track_id=track_id, created=created, updated=updated)
        except store.TrackExists:
            report.skipped.append((label, f"already imported ({track_id})"))
            continue
        report.imported.append(f"{label} ({track_id})")
    return report


def import_youtube(lines: list[str]) -> Report:
    """One entry a line, as the seed appended them; repeats are kept (see youtube_compact)."""
    report = Report()
    ids = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        try:
            ids.append(youtube.video_id_from(text))
        except ValueError:
            report.skipped.append((f"line {number}", f"not a YouTube link: {text[:80]!r}"))
    for video_id, occurrences in Counter(ids).items():
        added = youtube.youtube_import(video_id=video_id, occurrences=occurrences)
        if added:
            report.imported.append(f"{video_id} (x{added})")
        else:
            report.skipped.append((video_id, "already listed"))
    return report
