"""python manage.py import_library FILE [--replace]   (FILE "-": standard input)"""

import sys

import redis
from django.core.management.base import BaseCommand, CommandError

from quantumlive.redis_conn import REDIS_DOWN_ERRORS
from tracks import backup, store
from tracks.management.progress import progress_bars


class Command(BaseCommand):
    help = ("Load a backup written by export_library. Ids, order, versions and times are kept. "
            "Without --replace, what is missing is added and tracks and playlists that exist with "
            "another version are reported as conflicts and left alone; with --replace the library "
            "and the playlists become the file's. Playlists keep their owner's username; the owner "
            "is the local user of that name, if any (users are not in the backup). A malformed "
            "file changes nothing.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="the backup ('-': standard input)")
        parser.add_argument("--replace", action="store_true",
                            help="replace the library (tracks and playlists not in the file are deleted, the "
                                 "YouTube list swapped)")

    def handle(self, *args, **options):
        path = options["file"]
        try:
            if path == "-":
                report = self._run(sys.stdin.buffer, options["replace"])
            else:
                with open(path, "rb") as stream:
                    report = self._run(stream, options["replace"])
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc}; nothing was changed") from None
        for track_id, version_here, version_in_file in report.conflict_list:
            self.stdout.write(f"conflict: track {track_id} is at version {version_here} here, "
                              f"{version_in_file} in the file: left as it is")
        if report.conflicts > len(report.conflict_list):
            self.stdout.write(f"… and {report.conflicts - len(report.conflict_list)} more conflicts")
        for playlist_id, version_here, version_in_file in report.playlist_conflict_list:
            self.stdout.write(f"conflict: playlist {playlist_id} is at version {version_here} here, "
                              f"{version_in_file} in the file: left as it is")
        if report.playlist_conflicts > len(report.playlist_conflict_list):
            self.stdout.write(f"… and {report.playlist_conflicts - len(report.playlist_conflict_list)} "
                              "more playlist conflicts")
        for playlist_id, owner, owner_id, holder in report.owner_id_taken:
            self.stdout.write(f"owner: playlist {playlist_id} belongs to {owner!r} (user id {owner_id} in the "
                              f"file); there is no user {owner!r} here and id {owner_id} is {holder!r}'s: "
                              "kept as in the file, check it")
        self.stdout.write(report.summary())

    def _run(self, stream, replace: bool) -> backup.ImportReport:
        try:
            return backup.import_library(stream, replace=replace, progress=progress_bars(sys.stderr))
        except (backup.ImportRefused, backup.ImportFailed) as exc:
            raise CommandError(str(exc)) from None
        except REDIS_DOWN_ERRORS as exc:
            raise CommandError(f"Redis went away during the import ({type(exc).__name__}): part of the "
                               "file may have been loaded; run the import again") from None
        except backup.PlaylistLocked as exc:
            raise CommandError(f"playlist {exc} stayed locked by writers: part of the file may have been "
                               "loaded; run the import again") from None
        except store.LockTimeout as exc:
            raise CommandError(f"track {exc} stayed locked by writers: part of the file may have been "
                               "loaded; run the import again") from None
        except redis.exceptions.RedisError as exc:  # (after REDIS_DOWN_ERRORS: e.g. OOM, WRONGTYPE)
            raise CommandError(f"Redis refused a write of the import ({type(exc).__name__}: {str(exc)[:200]}): "
                               "part of the file may have been loaded; run the import again") from None
