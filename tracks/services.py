"""Library use cases that take more than one store call or another app's output, as
`<entity>_<action>` functions (the store's track_create/update/move/delete are the plain ones)."""

import uuid
from pathlib import Path

from django.conf import settings

from analysis import waveform
from analysis.jobs import job_waveform, job_waveform_exists
from tracks import store
from tracks.analysis_values import analysis_values, values_from_result
from tracks.serializers import MAX_LOCATION, TrackCreateSerializer

#: The namespace of the ids of tracks made from audio files: uuid5 of the audio's sha-256.
ANALYSED_TRACK_NAMESPACE = uuid.UUID("5b0f3c1e-6a51-4d8e-9a43-0c1d5e7f9a21")


def track_add(*, values: dict, position: int | None, analysis_job_id: str | None) -> dict:
    """Adds a track at `position` (None: at the end) and returns it: the fields a new track
    starts with, then those of the finished analysis job `analysis_job_id` (when not None),
    then `values`, which win. AnalysisUnusable when the job cannot fill a track: nothing is
    added."""
    fields = dict(TrackCreateSerializer.DEFAULTS)
    analysis = None
    if analysis_job_id is not None:
        found = analysis_values(analysis_job_id)
        analysis = found["analysis"]  # the job's canonical id
        fields.update(found)
    fields.update(values)
    track = store.track_create(values=fields, position=position)
    if analysis is not None:
        track_waveform_copy(track_id=track["id"], analysis_job_id=analysis)
    return track


def track_add_analysed(*, path: Path, result: dict, audio_sha256: str, analysis_job_id: str | None = None) -> str:
    """Adds an analysed audio file to the library: the analysis's fields, title and artist from
    the file's tags (else from an "Artist - Title" file name), and its `location` when the file
    is under QL_AUDIO_ROOT. The track's id is derived from the audio's content, so adding a
    file again adds nothing (it only sets the location of a track that has none).
    `analysis_job_id`, the done job holding the result, gives a new track its waveform. Answers
    "added", "location set" or "exists". AnalysisUnusable when the analysis does not fit a
    track."""
    values = dict(TrackCreateSerializer.DEFAULTS)
    values.update(values_from_result(result))
    title, artist = title_and_artist(path)
    values.update(title=title, artist=artist, location=audio_location(path), analysis=analysis_job_id)
    track_id = str(uuid.uuid5(ANALYSED_TRACK_NAMESPACE, audio_sha256))
    try:
        store.track_create(values=values, track_id=track_id)
        if analysis_job_id is not None:
            track_waveform_copy(track_id=track_id, analysis_job_id=analysis_job_id)
        return "added"
    except store.TrackExists:
        pass
    current = store.track_get(track_id=track_id)
    if values["location"] is None or current is None or current["location"] is not None:
        return "exists"
    try:
        store.track_update(track_id=track_id, values={"location": values["location"]},
                           expected_version=current["version"])
    except (store.TrackNotFound, store.VersionMismatch):
        return "exists"  # deleted or changed meanwhile: left as it is
    return "location set"


def audio_location(path: Path) -> str | None:
    """`path` relative to QL_AUDIO_ROOT (with '/'), or None when it is not under it or its
    name is too long to be a track's location."""
    try:
        relative = path.resolve().relative_to(Path(settings.QL_AUDIO_ROOT).resolve()).as_posix()
    except (ValueError, OSError, RuntimeError):
        return None
    return relative if 0 < len(relative) <= MAX_LOCATION else None


def track_apply_analysis(*, track_id: str, analysis_job_id: str, overwrite: bool,
                         expected_version: int | None = None) -> dict:
    """Fills a track from the finished analysis job `analysis_job_id`: every field the analysis
    gives with `overwrite`, else only the fields the track has no value for. The job becomes
    the track's analysis (whose waveform it serves) unless it filled nothing of a track that
    has one.
    store.TrackNotFound when there is no such track, AnalysisUnusable (with a clear message)
    when the job cannot fill a track; the store's VersionMismatch and LockTimeout as any
    write."""
    if store.track_get(track_id=track_id) is None:
        raise store.TrackNotFound(track_id)
    found = analysis_values(analysis_job_id)

    def fill(current: dict) -> dict:
        if overwrite:
            return found
        filled = {name: value for name, value in found.items()
                  if name != "analysis" and current[name] in (None, [])}
        if filled or current["analysis"] is None:  # it contributed: the track's analysis now
            filled["analysis"] = found["analysis"]
        return filled

    track = store.track_apply(track_id=track_id, fill=fill, expected_version=expected_version)
    if track["analysis"] == found["analysis"]:  # the job's canonical id
        track_waveform_copy(track_id=track_id, analysis_job_id=found["analysis"])
    return track


#: The most pixels a track's waveform copy keeps (8-bit min/max pairs: 128 KiB): a longer
#: track's copy is coarser than its analysis job's (which keeps up to 2^20 pixels at 64 samples
#: per pixel), so a library of 10,000 tracks stays under about 1.3 GB of waveforms.
TRACK_WAVEFORM_MAX_PIXELS = 1 << 16


def track_waveform_copy(*, track_id: str, analysis_job_id: str) -> bool:
    """Copies the waveform of the analysis job `analysis_job_id` to the track, which keeps it
    after the job has expired (coarser when long: TRACK_WAVEFORM_MAX_PIXELS); a job without
    one removes the track's. Lands only while the job is the analysis last applied to the
    track (of two applies at once, the later one's waveform stays): whether it landed."""
    blob = _job_waveform_as_copy(analysis_job_id)
    return store.track_waveform_put(track_id=track_id, analysis_job_id=analysis_job_id, blob=blob or b"")


def track_waveform_blob(*, track_id: str, analysis_job_id: str) -> bytes | None:
    """The stored waveform a track answers for the analysis `analysis_job_id` (the one it
    names): its copy, or while that copy is on its way (or was never made) the job's, as the
    copy keeps it (coarser when long), so one ETag is one answer. None when there is none."""
    copied_from, blob = store.track_waveform_get(track_id=track_id)
    if copied_from == analysis_job_id:
        return blob
    return _job_waveform_as_copy(analysis_job_id)


def track_waveform_exists(*, track_id: str, analysis_job_id: str) -> bool:
    """Whether :func:`track_waveform_blob` has a waveform for this analysis, without reading it
    (what a conditional GET needs to answer 304)."""
    return (store.track_waveform_source(track_id=track_id) == analysis_job_id
            or job_waveform_exists(analysis_job_id))


def _job_waveform_as_copy(analysis_job_id: str) -> bytes | None:
    """The job's waveform as a track's copy keeps it (coarser when long); None when the job has
    none (or not a stored waveform)."""
    blob = job_waveform(analysis_job_id)
    try:
        return waveform.coarsened(blob, TRACK_WAVEFORM_MAX_PIXELS) if blob else None
    except waveform.WaveformError:
        return None


def title_and_artist(path: Path) -> tuple[str, str]:
    """An audio file's title and artist: its tags', else an "Artist - Title" file name's, else
    the file name and "Unknown artist"; each at most 300 characters."""
    try:
        import mutagen

        tags = mutagen.File(path, easy=True)
    except Exception:
        tags = None
    title = artist = None
    if tags is not None and tags.tags is not None:
        title = (tags.get("title") or [None])[0]
        artist = (tags.get("artist") or [None])[0]
    if not title or not artist:
        stem = path.stem.replace("_", " ").strip()
        if " - " in stem:
            name_artist, name_title = (part.strip() for part in stem.split(" - ", 1))
        else:
            name_artist, name_title = "Unknown artist", stem
        title = title or name_title or path.name
        artist = artist or name_artist
    return title[:300], artist[:300]
