"""python manage.py import_seed PLAYLIST_JSON [--youtube YOUTUBE_TXT]"""

from django.core.management.base import BaseCommand, CommandError

from tracks import seed


class Command(BaseCommand):
    help = "Import the seed app's data/playlist.json (and data/youtube.txt). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("playlist", help="the seed's playlist.json")
        parser.add_argument("--youtube", help="the seed's youtube.txt")

    def handle(self, *args, **options):
        try:
            with open(options["playlist"], encoding="utf-8") as handle:
                entries = seed.read_playlist(handle.read())
            lines = None
            if options["youtube"]:
                with open(options["youtube"], encoding="utf-8") as handle:
                    lines = handle.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read: {exc}") from None
        except seed.SeedFileError as exc:
            raise CommandError(f"{options['playlist']}: {exc}; nothing was imported") from None
        self._print("tracks", seed.import_playlist(entries))
        if lines is not None:
            self._print("youtube links", seed.import_youtube(lines))

    def _print(self, what: str, report: seed.Report) -> None:
        self.stdout.write(f"{what}: {len(report.imported)} imported, {len(report.skipped)} skipped")
        for item in report.imported:
            self.stdout.write(f"  imported {item}")
        for item, why in report.skipped:
            self.stdout.write(f"  skipped  {item}: {why}")
