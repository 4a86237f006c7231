"""Progress bars of the long management commands: tqdm on a terminal, nothing otherwise."""

from tqdm import tqdm


def progress_bars(stream):
    """A `progress(desc, total)` for tracks/backup.py: tqdm bars on `stream` when it is a
    terminal, bars that draw nothing when it is not (a pipe, a log, cron)."""
    quiet = not (hasattr(stream, "isatty") and stream.isatty())

    def progress(desc: str, total):
        return tqdm(desc=desc, total=total, unit=" tracks", file=stream, disable=quiet, leave=False,
                    mininterval=0.25)

    return progress
