"""Where analysed audio comes from: a path inside QL_AUDIO_ROOT, or an upload stored under
QL_UPLOAD_DIR until its job is done. Hashing streams the file (never read whole)."""

import hashlib
import os
import shutil
from pathlib import Path, PurePosixPath

from django.conf import settings

CHUNK = 1 << 20


class PathRefused(ValueError):
    """The path is absolute, climbs with '..', or leaves QL_AUDIO_ROOT through a link."""


def resolve_audio_path(relative: str) -> Path:
    """The file `relative` names inside QL_AUDIO_ROOT. PathRefused for a path that may not be
    read; FileNotFoundError when there is no such file."""
    if not relative or "\x00" in relative:
        raise PathRefused("The path is empty or contains a NUL byte.")
    pure = PurePosixPath(relative.replace("\\", "/"))
    if pure.is_absolute() or relative.startswith(("/", "\\")) or (len(relative) > 1 and relative[1] == ":"):
        raise PathRefused("The path must be relative to QL_AUDIO_ROOT.")
    if ".." in pure.parts:
        raise PathRefused("The path may not contain '..'.")
    root = Path(settings.QL_AUDIO_ROOT).resolve()
    candidate = root.joinpath(*pure.parts)
    try:
        resolved = candidate.resolve()
        if resolved != root and root not in resolved.parents:
            raise PathRefused("The path leaves QL_AUDIO_ROOT (through a symbolic link).")
        if not resolved.is_file():
            raise FileNotFoundError(relative)
    except (FileNotFoundError, PathRefused):
        raise
    except (OSError, RuntimeError) as exc:  # a name too long for the file system; a loop of links
        reason = getattr(exc, "strerror", None) or "invalid path"
        raise PathRefused(f"The path cannot be used: {reason}.") from None
    if not os.access(resolved, os.R_OK):
        raise PathRefused("The file cannot be read.")
    return resolved


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def store_upload(uploaded, job_name: str) -> tuple[Path, str]:
    """Copies an uploaded file (Django UploadedFile) to QL_UPLOAD_DIR, hashing it on the way;
    returns (stored path, sha256)."""
    folder = Path(settings.QL_UPLOAD_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = Path(uploaded.name or "").suffix.lower()[:8]
    if not suffix.replace(".", "").isalnum():
        suffix = ""
    target = folder / f"{job_name}{suffix}"
    digest = hashlib.sha256()
    with open(target, "wb") as out:
        for chunk in uploaded.chunks(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return target, digest.hexdigest()


def move_upload(path: Path, job_id: str) -> Path:
    target = path.with_name(job_id + path.suffix)
    shutil.move(str(path), target)
    return target


def remove_upload(path: str | os.PathLike) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
