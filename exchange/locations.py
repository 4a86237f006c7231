"""Where a track's file is on the DJ's machine, both ways.

Out: `root` (the DJ's music folder, POSIX `/Users/dj/Music` or Windows `C:\\Users\\dj\\Music`)
+ `/` + the track's `location` (relative to QL_AUDIO_ROOT, '/'-separated), as a plain path
(M3U8) or a `file://localhost/` URL (rekordbox).

In: a path or URL from a DJ file becomes a location relative to QL_AUDIO_ROOT: a `file://`
URL is decoded, backslashes read as slashes; an absolute path under the import's `root`, or
under QL_AUDIO_ROOT's own absolute path, loses that prefix; a relative path is relative to the
root already. What stays absolute, or climbs with '..', is refused (the track is skipped).
"""

import re
from urllib.parse import quote, unquote

from django.conf import settings

MAX_ROOT = 1024
_DRIVE = re.compile(r"[A-Za-z]:")


class Refused(ValueError):
    pass


def _slashes(path: str) -> str:
    return path.replace("\\", "/")


def is_windows(path: str) -> bool:
    return _DRIVE.match(path) is not None or path.startswith("\\\\")


def default_root() -> str:
    return str(settings.QL_AUDIO_ROOT.resolve() if hasattr(settings.QL_AUDIO_ROOT, "resolve")
               else settings.QL_AUDIO_ROOT)


def check_root(root: str) -> str:
    """A root sent by a client: absolute (POSIX or a Windows drive), at most 1,024
    characters, no control character; trailing separators dropped (but "/" stays "/"). Refused
    otherwise."""
    if len(root) > MAX_ROOT:
        raise Refused(f"At most {MAX_ROOT} characters.")
    if any(ord(char) < 32 or ord(char) == 127 for char in root):
        raise Refused("No control characters.")
    if not (root.startswith("/") or (_DRIVE.match(root) and root[2:3] in ("/", "\\"))):
        raise Refused("An absolute folder: /Users/dj/Music or C:\\Users\\dj\\Music.")
    if ".." in _slashes(root).split("/"):
        raise Refused("The folder may not contain '..'.")
    return root.rstrip("/\\") or "/"  # "/" itself stays: it is not "no root"


def joined(root: str, location: str) -> str:
    """The file's path on the DJ's machine: root + "/" + location (API.md)."""
    return root.rstrip("/\\") + "/" + location


def file_url(root: str, location: str) -> str:
    """The file's `file://localhost/` URL (rekordbox's Location): '/' separators, every other
    byte that is not unreserved percent-encoded as UTF-8 (spaces %20, '#' %23); a Windows
    drive stays `C:`."""
    path = _slashes(joined(root, location)).lstrip("/")
    drive = ""
    if _DRIVE.match(path):
        drive, path = path[:2], path[2:]
    return "file://localhost/" + drive + quote(path, safe="/")


def _from_url(text: str) -> str:
    rest = text[len("file:"):]
    if rest.startswith("//"):
        host, _, path = rest[2:].partition("/")
        if host.lower() not in ("", "localhost"):
            raise Refused("A file URL on another host.")
        rest = "/" + path
    path = unquote(rest, errors="strict")
    if re.match(r"/[A-Za-z]:[/\\]", path):  # /C:/Users/...
        path = path[1:]
    return path


def _under(path: str, base: str) -> str | None:
    """`path` relative to `base` (both '/'-separated), or None when it is not under it.
    Windows paths compare without case, as Windows does."""
    base = base.rstrip("/")
    if not base:
        return path.lstrip("/")
    windows = is_windows(base)
    folded_path, folded_base = (path.casefold(), base.casefold()) if windows else (path, base)
    if folded_path.startswith(folded_base + "/"):
        return path[len(base) + 1:]
    return None


def imported_location(text: str, root: str | None) -> str:
    """The location (relative to QL_AUDIO_ROOT, '/'-separated) of a path or file URL from a
    DJ file. Refused, with the reason, when it cannot be one."""
    text = text.strip()
    if not text:
        raise Refused("No path.")
    if text.lower().startswith("file:"):
        try:
            text = _from_url(text)
        except UnicodeDecodeError:
            raise Refused("The file URL is not UTF-8.") from None
    if "\x00" in text:
        raise Refused("The path contains a NUL byte.")
    path = _slashes(text)
    if path.startswith("/") or _DRIVE.match(path):
        for base in ([_slashes(root)] if root else []) + [_slashes(default_root())]:
            relative = _under(path, base)
            if relative is not None:
                path = relative
                break
        else:
            raise Refused("The path is not under the import's root or QL_AUDIO_ROOT: "
                          "send root=<the music folder of the machine that wrote the file>.")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise Refused("The path may not contain '..'.")
    if not parts:
        raise Refused("No file name.")
    return "/".join(parts)
