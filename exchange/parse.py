"""Reading the DJ files an import takes: rekordbox XML and M3U/M3U8, told apart by their
content (never their name). Nothing here writes; a file that cannot be read whole is
`BadFile` (400) before anything is written.

XML is read with defusedxml's iterparse: a DTD (so every entity, internal or external) is
refused at once, and a depth counter refuses nesting deeper than MAX_DEPTH at the first
element past it (a 100,000-deep file costs microseconds, never a recursion). Elements are
cleared as they are read, and taken out of their parent (else each would stay in the tree
until its parent ends: COLLECTION holds them all): memory grows with what the file holds
(bounded by the settings QL_IMPORT_MAX_TRACKS and QL_PLAYLIST_MAX_ENTRIES), not with its
markup.
"""

import io
import itertools
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, iterparse
from django.conf import settings

from exchange.text import clean_name, has_control

MAX_DEPTH = 64
MAX_LINE = 8192
NOT_A_DJ_FILE = "The file is neither a rekordbox XML file nor an M3U/M3U8 playlist."


class BadFile(ValueError):
    pass


@dataclass
class FileTrack:
    """A track as the file describes it (raw texts, checked later). `ref`: its TrackID (XML)
    or its line (M3U)."""

    ref: str
    title: str | None = None
    artist: str | None = None
    bpm: str | None = None
    key: str | None = None
    duration: str | None = None
    genre: str | None = None
    path: str | None = None
    url: str | None = None
    marks: list = field(default_factory=list)
    line: int | None = None


@dataclass
class FilePlaylist:
    name: str
    refs: list  # the refs of its tracks, in order (repeats kept)
    key_type: str = "TrackID"


@dataclass
class DJFile:
    kind: str  # "rekordbox" | "m3u"
    tracks: list
    playlists: list
    skipped: list


def _max_tracks() -> int:
    return settings.QL_IMPORT_MAX_TRACKS


def read(handle, *, file_name: str) -> DJFile:
    """The tracks and playlists of the file open in `handle` (binary, seekable). BadFile with
    the reason when it is not a DJ file this import reads."""
    head = handle.read(4096)
    handle.seek(0)
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return read_rekordbox(handle)
    data = handle.read()
    if b"\x00" in data:
        raise BadFile(NOT_A_DJ_FILE)
    return read_m3u(data, file_name=file_name)


def read_bytes(data: bytes, *, file_name: str = "") -> DJFile:
    return read(io.BytesIO(data), file_name=file_name)


# --- rekordbox XML ---------------------------------------------------------------------------
def read_rekordbox(handle) -> DJFile:
    tracks: list[FileTrack] = []
    playlists: list[FilePlaylist] = []
    stack: list[str] = []
    open_elements: list = []  # the elements of `stack` (their attributes are read at "start")
    nodes: list[tuple[str, str, str]] = []  # (type, name, key type) of the NODEs we are in
    current: FileTrack | None = None
    keys: list[str] | None = None
    root_seen = False
    try:
        for event, element in iterparse(handle, events=("start", "end"), forbid_dtd=True,
                                        forbid_entities=True, forbid_external=True):
            tag = element.tag
            if event == "start":
                if len(stack) >= MAX_DEPTH:
                    raise BadFile(f"The XML nests deeper than {MAX_DEPTH} elements.")
                if not stack:
                    if tag != "DJ_PLAYLISTS":
                        raise BadFile("The XML is not a rekordbox file (its root is not DJ_PLAYLISTS).")
                    root_seen = True
                parent = stack[-1] if stack else None
                stack.append(tag)
                open_elements.append(element)
                attributes = element.attrib
                if tag == "TRACK" and parent == "COLLECTION":
                    if len(tracks) >= _max_tracks():
                        raise BadFile(f"The file holds more than {_max_tracks()} tracks (QL_IMPORT_MAX_TRACKS).")
                    current = FileTrack(
                        ref=attributes.get("TrackID", str(len(tracks) + 1)), title=attributes.get("Name"),
                        artist=attributes.get("Artist"), bpm=attributes.get("AverageBpm"),
                        key=attributes.get("Tonality"), duration=attributes.get("TotalTime"),
                        genre=attributes.get("Genre"), path=attributes.get("Location"))
                elif tag == "POSITION_MARK" and parent == "TRACK" and current is not None:
                    if len(current.marks) < 1024:
                        current.marks.append({name: attributes.get(name) for name in ("Name", "Start", "End")})
                elif tag == "NODE" and "PLAYLISTS" in stack:
                    nodes.append((attributes.get("Type", "0"), attributes.get("Name", ""),
                                  attributes.get("KeyType", "0")))
                    if attributes.get("Type") == "1":
                        keys = []
                elif tag == "TRACK" and parent == "NODE" and keys is not None:
                    if len(keys) > settings.QL_PLAYLIST_MAX_ENTRIES:
                        raise BadFile("A playlist of the file holds more than QL_PLAYLIST_MAX_ENTRIES "
                                      f"({settings.QL_PLAYLIST_MAX_ENTRIES}) entries.")
                    keys.append(attributes.get("Key", ""))
                continue
            stack.pop()
            open_elements.pop()
            if tag == "TRACK" and current is not None and stack and stack[-1] == "COLLECTION":
                tracks.append(current)
                current = None
            elif tag == "NODE" and nodes:
                node_type, _, key_type = nodes[-1]
                if node_type == "1" and keys is not None:
                    if len(playlists) >= 1000:
                        raise BadFile("The file holds more than 1,000 playlists.")
                    # folders flattened: "Folder / Sub / Name", the top ROOT node left out
                    names = [name for _, name, _ in nodes[1:]] if nodes[0][1] == "ROOT" else \
                        [name for _, name, _ in nodes]
                    playlists.append(FilePlaylist(" / ".join(names), keys,
                                                  "Location" if key_type == "1" else "TrackID"))
                    keys = None
                nodes.pop()
            element.clear()
            if open_elements:  # its parent lets go of it (its only child left): memory stays flat
                del open_elements[-1][:]
    except BadFile:
        raise
    except ParseError as exc:
        raise BadFile(f"The XML cannot be read: {exc}.") from None
    except DefusedXmlException:
        raise BadFile("The XML has a DTD or entities, which are refused.") from None
    except RecursionError:  # never expected (nothing recurses): still a bad file, not a 500
        raise BadFile(f"The XML nests deeper than {MAX_DEPTH} elements.") from None
    except (LookupError, ValueError):  # an encoding="..." expat cannot use (UnicodeError is a
        # ValueError; so is DefusedXmlException, hence this comes after it)
        raise BadFile("The XML declares an encoding that cannot be read (UTF-8 is expected).") from None
    if not root_seen:
        raise BadFile(NOT_A_DJ_FILE)
    return DJFile("rekordbox", tracks, playlists, [])


# --- M3U / M3U8 ------------------------------------------------------------------------------
def _text(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # M3U (not -8) is Windows' code page


_LINES_AT_ONCE = 1 << 16  # characters split at a time


def _lines(text: str):
    """text.splitlines(), a piece at a time: no list of every line (8 bytes each: a file of
    blank lines would take 8 times its size). Pieces end just after a "\n", which ends a line
    in splitlines too, so the lines are the same."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + _LINES_AT_ONCE)
        end = len(text) if end < 0 else end + 1
        yield from text[start:end].splitlines()
        start = end


# A line of a plain M3U (no #EXTM3U): a URL, or a path with a folder or an extension.
_LOOKS_LIKE_FILE = re.compile(r"^https?://|[/\\]|\.[A-Za-z0-9]{1,5}$", re.IGNORECASE)
_EXTINF = re.compile(r"#EXTINF:\s*(-?\d+(?:\.\d+)?)[^,]*,(.*)", re.IGNORECASE)


def playlist_name(file_name: str) -> str:
    """An M3U's playlist name: its file name without folders and extension, made one line."""
    from playlists.serializers import MAX_NAME

    base = (file_name or "").replace("\\", "/").rsplit("/", 1)[-1]
    stem = PurePosixPath(base).stem if "." in base else base
    return clean_name(stem, MAX_NAME) or "Imported playlist"


def read_m3u(data: bytes, *, file_name: str) -> DJFile:
    lines = _lines(_text(data))
    first = next(lines, None)
    extended = first is not None and first.strip().upper() == "#EXTM3U"
    if first is not None:
        lines = itertools.chain([first], lines)
    tracks: list[FileTrack] = []
    skipped: list[dict] = []
    pending: tuple[str, str] | None = None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            found = _EXTINF.match(line)
            if found:
                pending = (found.group(1), found.group(2).strip())
            continue
        if len(line) > MAX_LINE or has_control(line):
            if not extended:
                raise BadFile(NOT_A_DJ_FILE)
            skipped.append({"line": number, "reason": "The line is too long or holds control characters."})
            pending = None
            continue
        if len(tracks) >= _max_tracks():
            raise BadFile(f"The file holds more than {_max_tracks()} tracks (QL_IMPORT_MAX_TRACKS).")
        if not extended and not _LOOKS_LIKE_FILE.search(line):
            raise BadFile(NOT_A_DJ_FILE)
        track = FileTrack(ref=str(number), line=number)
        if re.match(r"https?://", line, re.IGNORECASE):
            track.url = line
        else:
            track.path = line
        if pending is not None:
            seconds, display = pending
            track.duration = seconds
            if " - " in display:
                track.artist, track.title = (part.strip() for part in display.split(" - ", 1))
            else:
                track.title = display
        tracks.append(track)
        pending = None
    if not tracks and not extended:
        raise BadFile(NOT_A_DJ_FILE)
    name = playlist_name(file_name)
    return DJFile("m3u", tracks, [FilePlaylist(name, [track.ref for track in tracks])], skipped)
