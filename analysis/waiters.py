"""At most QL_MAX_WAITERS submissions of one instance wait for their job at once (API.md,
"Bad input, bounded"): a `wait` holds a sync web worker, and without a cap eight waiting
submissions stall every endpoint of a 3-worker instance, reads included.

A waiter holds a slot: an exclusive `flock` on one of QL_MAX_WAITERS files in the instance's
folder. The gunicorn workers of one instance are children of one master and share a host, so
the folder is named after the master (the worker's parent pid) and the deployment's prefix.
The kernel drops a flock when its process ends however it ends (SIGKILL, OOM killer,
gunicorn's timeout), so a killed worker never leaks a slot, and taking one costs no network
round trip. (A Redis counter would need a lease and a timeout to recover from a killed
worker, and an instance id to key it by.)
"""

import fcntl
import logging
import os
import stat
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


class Slot:
    """A held waiter slot; release() (or leaving the `with`) frees it."""

    def __init__(self, fd: int):
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the last descriptor drops the lock
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def instance_dir(prefix: str | None = None, master_pid: int | None = None) -> Path:
    """The folder of the slots of this instance: one per deployment prefix and gunicorn
    master (the parent of this web worker)."""
    from django.conf import settings

    prefix = prefix or settings.QL_REDIS_PREFIX
    master = master_pid or os.getppid()
    return Path(tempfile.gettempdir()) / f"quantumlive-waiters-{os.getuid()}" / f"{prefix}-{master}"


def acquire(directory: Path | None = None, capacity: int | None = None) -> Slot | None:
    """A free slot, or None when `capacity` (QL_MAX_WAITERS) waiters already wait. Never
    blocks. A folder that cannot be used is logged and answers None: the submission answers
    202 at once rather than fail."""
    if capacity is None:
        from django.conf import settings

        capacity = settings.QL_MAX_WAITERS
    try:
        if directory is None:
            directory = instance_dir()
            _private_folder(directory.parent)  # $TMPDIR may be shared: the per-user folder first
        _private_folder(directory)
        for index in range(capacity):
            fd = os.open(directory / f"slot-{index}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            except BaseException:
                os.close(fd)
                raise
            return Slot(fd)
    except OSError:
        log.warning("waiter slots in %s cannot be used; answering without waiting", directory, exc_info=True)
    return None


def _private_folder(path: Path) -> None:
    """Creates `path` (mode 0700) unless it exists, then makes sure it is a real folder of this
    user that no one else may write: in a shared /tmp another local user could have made it
    first (theirs, world-writable, or a symlink elsewhere) to hold, swap or redirect the slot
    files. OSError when it is not."""
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise PermissionError(f"{path} is not a folder of uid {os.getuid()} that only it may write")
