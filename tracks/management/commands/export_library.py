"""python manage.py export_library FILE [--no-analysis]   (FILE "-": standard output)"""

import io
import os
import sys

from django.core.management.base import BaseCommand, CommandError

from quantumlive.redis_conn import REDIS_DOWN_ERRORS
from tracks import backup
from tracks.management.progress import progress_bars


class Command(BaseCommand):
    help = ("Write the whole library (tracks with their order, versions and cues, the YouTube list, "
            "finished analysis results, playlists with their entries) to FILE as one JSON document, "
            "streamed; '-' writes to standard output. Safe while the API serves (see tracks/backup.py "
            "for what a backup taken under writes holds).")

    def add_arguments(self, parser):
        parser.add_argument("file", help="where to write the backup ('-': standard output)")
        parser.add_argument("--no-analysis", action="store_true", help="leave the analysis results out")

    def handle(self, *args, **options):
        path = options["file"]
        to_stdout = path == "-"
        log = self.stderr if to_stdout else self.stdout
        progress = progress_bars(sys.stderr)
        try:
            if to_stdout:
                out = self._stdout_text()
                try:
                    report = backup.export_library(out, analysis=not options["no_analysis"], progress=progress)
                finally:
                    if isinstance(out, io.TextIOWrapper) and out is not self.stdout._out:
                        out.flush()
                        out.detach()  # (else closing the wrapper would close the process's stdout)
            else:
                report = self._to_file(path, analysis=not options["no_analysis"], progress=progress)
        except REDIS_DOWN_ERRORS as exc:
            raise CommandError(f"Redis is unreachable ({type(exc).__name__}); no backup was written") from None
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc}") from None
        log.write(report.summary())

    def _stdout_text(self):
        target = self.stdout._out
        buffer = getattr(target, "buffer", None)
        if buffer is None:
            return target  # a text stream given by the caller (call_command(stdout=...))
        return io.TextIOWrapper(buffer, encoding="utf-8", newline="\n", write_through=False)

    @staticmethod
    def _to_file(path: str, **kwargs) -> backup.ExportReport:
        """Written beside FILE and renamed onto it when complete: a failed export never leaves
        a truncated file under the backup's name."""
        partial = f"{path}.partial"
        try:
            with open(partial, "w", encoding="utf-8", newline="\n") as out:
                report = backup.export_library(out, **kwargs)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, path)
        except BaseException:
            try:
                os.unlink(partial)
            except OSError:
                pass
            raise
        return report
