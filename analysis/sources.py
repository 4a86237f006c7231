"""Where analysed audio comes from: a path inside QL_AUDIO_ROOT, or an upload stored under
QL_UPLOAD_DIR until its job is done. Hashing streams the file (never read whole)."""

import contextlib
import errno
import hashlib
import os
from pathlib import Path, PurePosixPath

from django.conf import settings
from rest_framework.exceptions import APIException

from analysis.containers import NotAudio, sniff_path

CHUNK = 1 << 20


class PathRefused(ValueError):
    """The path is absolute, climbs with '..', or leaves QL_AUDIO_ROOT through a link."""


class NotAudioFile(PathRefused):
    """The path names a file that is plainly not audio (sniffed from its first bytes): a
    playlist, a concat list, an image... (400 like any refused path)."""


class UploadNotStored(APIException):
    """QL_UPLOAD_DIR could not take the upload (full, unwritable): nothing is left of it."""

    status_code = 503
    default_detail = "The upload could not be stored on the server; try again later."
    default_code = "upload_not_stored"


def relative_audio_path(relative: str) -> PurePosixPath:
    """`relative` as a path inside QL_AUDIO_ROOT (backslashes read as slashes), checked by its
    text alone: PathRefused when it is empty, holds a NUL byte, is absolute (or names a
    Windows drive) or climbs with '..'."""
    if not relative or "\x00" in relative:
        raise PathRefused("The path is empty or contains a NUL byte.")
    pure = PurePosixPath(relative.replace("\\", "/"))
    if pure.is_absolute() or relative.startswith(("/", "\\")) or (len(relative) > 1 and relative[1] == ":"):
        raise PathRefused("The path must be relative to QL_AUDIO_ROOT.")
    if ".." in pure.parts:
        raise PathRefused("The path may not contain '..'.")
    return pure


def inside_audio_root(pure: PurePosixPath) -> Path:
    """Where `pure` (from relative_audio_path) leads, links resolved: PathRefused when that
    is outside QL_AUDIO_ROOT or the name cannot be used. The file need not exist."""
    root = Path(settings.QL_AUDIO_ROOT).resolve()
    try:
        resolved = root.joinpath(*pure.parts).resolve()
    except (OSError, RuntimeError) as exc:  # a name too long for the file system; a loop of links
        reason = getattr(exc, "strerror", None) or "invalid path"
        raise PathRefused(f"The path cannot be used: {reason}.") from None
    if resolved != root and root not in resolved.parents:
        raise PathRefused("The path leaves QL_AUDIO_ROOT (through a symbolic link).")
    return resolved


def resolve_audio_path(relative: str) -> Path:
    """The file `relative` names inside QL_AUDIO_ROOT. PathRefused for a path that may not be
    read; FileNotFoundError when there is no such file."""
    resolved = inside_audio_root(relative_audio_path(relative))
    try:
        is_file = resolved.is_file()
    except OSError as exc:
        reason = getattr(exc, "strerror", None) or "invalid path"
        raise PathRefused(f"The path cannot be used: {reason}.") from None
    if not is_file:
        raise FileNotFoundError(relative)
    if not os.access(resolved, os.R_OK):
        raise PathRefused("The file cannot be read.")
    try:
        sniff_path(resolved)
    except NotAudio as exc:
        raise NotAudioFile(exc.sentence()) from None
    except OSError:
        raise PathRefused("The file cannot be read.") from None
    return resolved


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def store_upload(uploaded, job_name: str) -> tuple[Path, str]:
    """Copies an uploaded file (Django UploadedFile) to QL_UPLOAD_DIR, hashing it on the way;
    returns (stored path, sha256). On any failure (the upload's read fails, the disk is full,
    the request is cancelled) the partial file is removed before the error goes on; a
    folder that cannot take the file is :class:`UploadNotStored` (503)."""
    folder = Path(settings.QL_UPLOAD_DIR)
    suffix = Path(uploaded.name or "").suffix.lower()[:8]
    if not suffix.replace(".", "").isalnum():
        suffix = ""
    target = folder / f"{job_name}{suffix}"
    digest = hashlib.sha256()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        out = open(target, "xb")  # a new file: never through a link someone left there
    except OSError as exc:
        if _storage_failed(exc):
            raise UploadNotStored() from exc
        raise
    try:
        with out:  # closing flushes: a full disk may only show here
            for chunk in uploaded.chunks(CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(target)
        if _storage_failed(exc):
            raise UploadNotStored() from exc
        raise
    return target, digest.hexdigest()


def _storage_failed(exc: BaseException) -> bool:
    """The storage's own failure (full, read-only, no permission, I/O error), not a bug."""
    return isinstance(exc, OSError) and exc.errno in _STORAGE_ERRORS


_STORAGE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT,
                   errno.ENOTDIR, errno.EFBIG, errno.EIO}


def remove_upload(path: str | os.PathLike) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
