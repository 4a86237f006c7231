"""python manage.py analyze FOLDER [--add-to-playlist] [--jobs N] [options]

Analyses every audio file below FOLDER in N processes with a progress bar, skipping what is
already analysed (the same content-hash results the API uses), prints a table of file, BPM,
key and duration, and with --add-to-playlist adds each file as a track (title and artist from
its tags, else from a "Artist - Title" file name) and its location (its path relative to
QL_AUDIO_ROOT, when it is below it). Adding is idempotent: a file's track id is derived from
its content; adding it again only sets the location of a track that had none.

The analysing is analysis/batch.py's; the command lives in the tracks app because it adds to
the library (tracks/services.py), and the analysis app does not depend on tracks.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis.batch import FileAnalysis, audio_files, batch_analyse, batch_options
from tracks.analysis_values import AnalysisUnusable
from tracks.services import audio_location, track_add_analysed


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
        files = audio_files(folder)
        if not files:
            self.stdout.write(f"no audio files below {folder}")
            return
        analysis_options = batch_options(auto_cues=not options["no_auto_cues"],
                                         beats_per_cue=options["beats_per_cue"])
        outcomes = batch_analyse(files, options=analysis_options, processes=options["jobs"], progress=self.stderr)
        statuses = {path: outcome.status for path, outcome in outcomes.items()}
        if options["add_to_playlist"]:
            for path, outcome in outcomes.items():
                statuses[path] += _added_status(path, outcome)
        self._table(folder, files, outcomes, statuses)

    def _table(self, folder: Path, files: list[Path], outcomes: dict[Path, FileAnalysis],
               statuses: dict[Path, str]) -> None:
        names = [str(path.relative_to(folder)) for path in files]
        width = min(60, max(len("file"), *(len(n) for n in names)))
        self.stdout.write(f"{'file':<{width}}  {'BPM':>7}  {'key':<9}  {'duration':>8}  status")
        for path, name in zip(files, names):
            result = outcomes[path].result or {}
            bpm = f"{result['bpm']:.2f}" if result.get("bpm") is not None else "-"
            duration = f"{result['duration']:.1f}s" if result.get("duration") is not None else "-"
            self.stdout.write(f"{name[:width]:<{width}}  {bpm:>7}  {result.get('key') or '-':<9}  "
                              f"{duration:>8}  {statuses[path]}")


def _added_status(path: Path, outcome: FileAnalysis) -> str:
    """What adding an analysed file to the library did, as the table's status says it."""
    if outcome.result is None:
        return ""
    try:
        done = track_add_analysed(path=path, result=outcome.result, audio_sha256=outcome.audio_sha256,
                                  analysis_job_id=outcome.job_id)
    except AnalysisUnusable as exc:
        return f", not added: {exc}"
    status = {"added": ", added", "exists": ", already in the playlist",
              "location set": ", already in the playlist, location set"}[done]
    if done == "added" and audio_location(path) is None:
        status += " (no location: not under QL_AUDIO_ROOT)"
    return status
