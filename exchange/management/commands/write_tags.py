"""python manage.py write_tags [--dry-run] [--key-notation musical|camelot|open-key] [PLAYLIST]

Writes each track's BPM and key into the audio file its `location` names under QL_AUDIO_ROOT
(exchange/file_tags.py says which tags), for the whole library or for the tracks of PLAYLIST
(its id, or its exact name). Files whose tags already hold the values are left untouched, so
a second run writes nothing. With --dry-run it prints what it would change and writes
nothing. A location that is missing, leaves QL_AUDIO_ROOT (through a link made since) or is
not an audio file mutagen can tag is reported and skipped.
"""

import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from analysis.sources import PathRefused, inside_audio_root, relative_audio_path
from exchange.file_tags import NOTATIONS, NotTaggable, key_text, open_tags
from playlists import store as playlists
from tracks import store as library

_BATCH = 200


def _files(count: int) -> str:
    return f"{count} file{'' if count == 1 else 's'}"


class Command(BaseCommand):
    help = "Write tracks' BPM and key into their audio files' tags (ID3, Vorbis comments, MP4)."

    def add_arguments(self, parser):
        parser.add_argument("playlist", nargs="?", help="a playlist's id or exact name (default: the whole library)")
        parser.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
        parser.add_argument("--key-notation", choices=NOTATIONS, default="musical",
                            help="how the key is written: musical (Am, the default), camelot (8A), open-key (1m)")

    def handle(self, *args, **options):
        track_ids = self._track_ids(options["playlist"])
        dry_run = options["dry_run"]
        written = untouched = skipped = 0
        with tqdm(total=len(track_ids), desc="tagging", unit="track", file=self.stderr, leave=False) as bar:
            for start in range(0, len(track_ids), _BATCH):
                batch = track_ids[start:start + _BATCH]
                summaries = library.track_summaries(batch)
                for track_id in batch:
                    bar.update()
                    track = summaries.get(track_id)
                    if track is None or track["location"] is None:
                        continue
                    outcome = self._tag(track, options["key_notation"], dry_run)
                    written += outcome == "written"
                    untouched += outcome == "untouched"
                    skipped += outcome == "skipped"
        verb = "would be written" if dry_run else "written"
        self.stdout.write(f"{_files(written)} {verb}, {untouched} already tagged, {skipped} skipped")

    def _tag(self, track: dict, notation: str, dry_run: bool) -> str:
        location = track["location"]
        if track["bpm"] is None and track["key"] is None:
            self.stdout.write(f"{location}: no BPM or key, skipped")
            return "skipped"
        try:
            path = inside_audio_root(relative_audio_path(location))
        except PathRefused as exc:
            self.stdout.write(f"{location}: refused: {exc}")
            return "skipped"
        if not path.is_file():
            self.stdout.write(f"{location}: missing")
            return "skipped"
        try:
            tagger = open_tags(Path(path))
            key = key_text(track["key"], notation) if track["key"] else None
            changes = tagger.changes(track["bpm"], key)
            if not changes:
                return "untouched"
            self.stdout.write(f"{location}: " + ", ".join(str(change) for change in changes))
            if not dry_run:
                tagger.apply(changes)
        except NotTaggable as exc:
            self.stdout.write(f"{location}: not a taggable audio file ({exc}), skipped")
            return "skipped"
        except Exception as exc:  # mutagen's errors while writing a damaged file, OSError
            self.stdout.write(f"{location}: not a taggable audio file ({type(exc).__name__}: {exc}), skipped")
            return "skipped"
        return "written"

    def _track_ids(self, playlist: str | None) -> list[str]:
        if playlist is None:
            return library.track_ids()
        playlist_id = self._playlist_id(playlist)
        track_ids, offset = [], 0
        while True:
            page = playlists.entries_page(playlist_id=playlist_id, offset=offset, limit=500)
            if page is None:
                raise CommandError(f"no playlist {playlist!r}")
            _, entries = page
            track_ids += [entry["track"]["id"] for entry in entries]
            if len(entries) < 500:
                return list(dict.fromkeys(track_ids))
            offset += 500

    @staticmethod
    def _playlist_id(playlist: str) -> str:
        try:
            candidate = str(uuid.UUID(playlist))
        except ValueError:
            candidate = None
        if candidate is not None and playlists.playlist_get(playlist_id=candidate) is not None:
            return candidate
        named = [found["id"] for found in playlists.playlists_get(playlists.playlist_ids()) if found["name"] == playlist]
        if not named:
            raise CommandError(f"no playlist {playlist!r} (give its id or exact name)")
        if len(named) > 1:
            raise CommandError(f"{len(named)} playlists are named {playlist!r}: give one of their ids: "
                               + ", ".join(named))
        return named[0]
