"""python manage.py analyze FOLDER [--add-to-playlist] [--jobs N] [options]

Analyses every audio file below FOLDER in N processes with a progress bar, skipping what is
already analysed (the same content-hash results the API uses), prints a table of file, BPM,
key and duration, and with --add-to-playlist adds each file as a track (title and artist from
its tags, else from a "Artist - Title" file name). Adding is idempotent: a file's track id is
derived from its content.
"""

import threading
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from analysis import jobs
from analysis.audio import MAX_RESULT_POINTS
from analysis.sources import sha256_of_file

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".m4a", ".aac", ".aif", ".aiff", ".opus"}
TRACK_NAMESPACE = uuid.UUID("5b0f3c1e-6a51-4d8e-9a43-0c1d5e7f9a21")


def _analyse_file(path: str, options: dict, max_seconds: int, max_result_bytes: int) -> dict:
    """Runs in a pool process: plain decode + analyse, no Redis. A result over
    ``max_result_bytes`` as stored JSON is ResultTooLarge (QL_MAX_RESULT_MB), as in the API."""
    from analysis import audio

    y, sr = audio.decode(path, max_seconds=max_seconds)
    result = audio.analyse(y, sr, **options)
    audio.result_json(result, max_bytes=max_result_bytes)
    return result


def _heartbeat(job_ids: set, stop: threading.Event) -> None:
    while not stop.wait(settings.QL_ANALYSIS_HEARTBEAT):
        for job_id in list(job_ids):
            try:
                jobs.beat(job_id)
            except Exception:
                pass  # Redis away for a moment: the next beat


def _error_text(exc: BaseException) -> str:
    from analysis.audio import AudioError

    if isinstance(exc, (AudioError, ValueError)):
        return str(exc)
    return f"{type(exc).__name__}: cannot analyse"


def title_and_artist(path: Path) -> tuple[str, str]:
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


class Command(BaseCommand):
    help = "Analyse every audio file below FOLDER (BPM, key, cues), optionally adding them as tracks."

    def add_arguments(self, parser):
        parser.add_argument("folder")
        parser.add_argument("--jobs", type=int, default=1, help="processes to analyse with (default 1)")
        parser.add_argument("--add-to-playlist", action="store_true")
        parser.add_argument("--beats-per-cue", type=int, default=16)
        parser.add_argument("--no-auto-cues", action="store_true")

    def handle(self, *args, **options):
        folder = Path(options["folder"])
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder")
        if not 1 <= options["jobs"] <= 64:
            raise CommandError("--jobs must be 1-64")
        if not 1 <= options["beats_per_cue"] <= 256:
            raise CommandError("--beats-per-cue must be 1-256")
        analysis_options = {"auto_cues": not options["no_auto_cues"], "beats_per_cue": options["beats_per_cue"],
                            "intervals": None, "max_cue_samples": 2048, "bpm_range": [70.0, 180.0]}
        if settings.QL_MAX_RESULT_POINTS != MAX_RESULT_POINTS:  # as AnalysisSubmitSerializer does
            analysis_options["max_result_points"] = settings.QL_MAX_RESULT_POINTS
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
        if not files:
            self.stdout.write(f"no audio files below {folder}")
            return
        rows: dict[Path, dict] = {}
        pending: dict[Path, tuple[str, str]] = {}
        for path in files:
            audio_sha = sha256_of_file(path)
            digest = jobs.digest_of(audio_sha256=audio_sha, options=analysis_options)
            job_id, new = jobs.claim(digest=digest, source={"path": str(path)}, options=analysis_options)
            record = jobs.job_record(job_id)
            if not new and record["status"] == "done":
                rows[path] = {"result": record["result"], "status": "cached", "sha": audio_sha}
            else:
                pending[path] = (job_id if new and jobs.mark_running(job_id) else "", audio_sha)

        # This command runs its jobs itself (not through RQ): they are `running` with a
        # heartbeat while it works, so that readers do not take them for lost, and fail when
        # the command dies.
        beating = {job_id for job_id, _ in pending.values() if job_id}
        stop_beating = threading.Event()
        try:
            self._analyse(pending, rows, files, analysis_options, options, beating, stop_beating)
        finally:
            stop_beating.set()

        if options["add_to_playlist"]:
            self._add(rows)
        self._table(folder, files, rows)

    def _analyse(self, pending, rows, files, analysis_options, options, beating, stop_beating) -> None:
        with ProcessPoolExecutor(max_workers=options["jobs"]) as pool, \
                tqdm(total=len(files), initial=len(rows), unit="file", desc="analysing", file=self.stderr) as bar:
            futures = {pool.submit(_analyse_file, str(path), analysis_options, settings.QL_MAX_AUDIO_SECONDS,
                                   int(settings.QL_MAX_RESULT_MB * 2**20)): path
                       for path in pending}
            # started after the pool has forked its processes (a thread must not be forked)
            threading.Thread(target=_heartbeat, args=(beating, stop_beating), daemon=True).start()
            for future in as_completed(futures):
                path = futures[future]
                job_id, audio_sha = pending[path]
                try:
                    result = future.result()
                except Exception as exc:
                    error = _error_text(exc)
                    if job_id:
                        beating.discard(job_id)
                        jobs.finish(job_id, error=error, expected=("running",))
                    rows[path] = {"result": None, "status": f"failed: {error}", "sha": audio_sha}
                else:
                    if job_id:
                        beating.discard(job_id)
                        jobs.finish(job_id, result=result, expected=("running",))
                    rows[path] = {"result": result, "status": "analysed", "sha": audio_sha}
                bar.update(1)

    def _add(self, rows: dict[Path, dict]) -> None:
        from tracks import store
        from tracks.analysis_values import values_from_result
        from tracks.serializers import TrackCreateSerializer

        for path, row in rows.items():
            if row["result"] is None:
                continue
            title, artist = title_and_artist(path)
            values = dict(TrackCreateSerializer.DEFAULTS)
            try:
                values.update(values_from_result(row["result"]))
            except ValueError as exc:
                row["status"] += f", not added: {exc}"
                continue
            values.update(title=title, artist=artist)
            track_id = str(uuid.uuid5(TRACK_NAMESPACE, row["sha"]))
            try:
                store.track_create(values=values, track_id=track_id)
                row["status"] += ", added"
            except store.TrackExists:
                row["status"] += ", already in the playlist"

    def _table(self, folder: Path, files: list[Path], rows: dict[Path, dict]) -> None:
        names = [str(path.relative_to(folder)) for path in files]
        width = min(60, max(len("file"), *(len(n) for n in names)))
        self.stdout.write(f"{'file':<{width}}  {'BPM':>7}  {'key':<9}  {'duration':>8}  status")
        for path, name in zip(files, names):
            row = rows[path]
            result = row["result"] or {}
            bpm = f"{result['bpm']:.2f}" if result.get("bpm") is not None else "-"
            duration = f"{result['duration']:.1f}s" if result.get("duration") is not None else "-"
            self.stdout.write(f"{name[:width]:<{width}}  {bpm:>7}  {result.get('key') or '-':<9}  "
                              f"{duration:>8}  {row['status']}")
