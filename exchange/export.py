"""Export of a playlist or of the whole library as M3U8 or rekordbox XML (API.md, "Export,
import, and DJ tools").

Memory stays flat whatever the size: the tracks are read from the store in pages
(PAGE tracks at a time) and written at once into spooled temporary files (in memory up to
SPOOL_MEMORY bytes, then on disk); the answer streams those files. Writing first and answering
after has two merits: rekordbox's `COLLECTION Entries=` must come before the tracks, and it
counts exactly the tracks written, each from one read (a track deleted while the export
reads is in neither the collection nor the playlist node: the file is consistent); and a
failure (Redis away) is an error answer, not a file cut in the middle.

What is read: the library's order at one moment (its ids), then the tracks in pages; a
playlist's entries as one snapshot taken at one moment (playlists/store.py backup_snapshot),
then their tracks in pages.
"""

import tempfile
import uuid
from collections.abc import Iterable, Iterator

from playlists import store as playlists
from quantumlive.musical_keys import TONICS
from tracks import store as library

from exchange.locations import file_url, joined
from exchange.text import has_control, one_line, xml_attribute

PAGE = 500
SPOOL_MEMORY = 1 << 20
CHUNK = 1 << 16
PRODUCT_VERSION = "1.0"
FORMATS = {"m3u8": ("audio/x-mpegurl; charset=utf-8", "m3u8"),
           "rekordbox": ("application/xml; charset=utf-8", "xml")}
# How long the snapshot of a playlist's entries may live (it is dropped when the read ends).
SNAPSHOT_TTL_MS = 10 * 60 * 1000


# --- what is exported ------------------------------------------------------------------------
def library_tracks() -> Iterator[dict]:
    """The library's tracks (summaries: cues without waveforms) in library order; the order
    is read once, a track deleted since is left out."""
    order = library.track_ids()
    for start in range(0, len(order), PAGE):
        batch = order[start:start + PAGE]
        found = library.track_summaries(batch)
        for track_id in batch:
            if track_id in found:
                yield found[track_id]


def playlist_tracks(playlist_id: str) -> Iterator[dict]:
    """The playlist's entries' tracks in entry order (repeats kept), from a snapshot of its
    entries taken at one moment; an entry whose track has left the library is left out."""
    token = uuid.uuid4().hex
    if playlists.backup_snapshot(playlist_id=playlist_id, token=token, ttl_ms=SNAPSHOT_TTL_MS) is None:
        return
    try:
        start = 0
        while True:
            rows = playlists.backup_entries(playlist_id=playlist_id, token=token, start=start,
                                            stop=start + PAGE - 1)
            if not rows:
                break
            found = library.track_summaries(list(dict.fromkeys(track_id for _, track_id, _ in rows)))
            for _, track_id, _ in rows:
                if track_id in found:
                    yield found[track_id]
            start += PAGE
    finally:
        playlists.backup_drop(playlist_id=playlist_id, token=token)


# --- the files -------------------------------------------------------------------------------
def _spool():
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY, mode="w+b")


def _chunks(spool) -> Iterator[bytes]:
    spool.seek(0)
    while chunk := spool.read(CHUNK):
        yield chunk


class Export:
    """A written export: its parts (bytes and spooled files) in order, their total length, and
    the stream of its bytes (which closes the spools when it ends). Iterable, with `close()`:
    a StreamingHttpResponse closes it when the response is closed, read to its end or not."""

    def __init__(self, parts: list):
        self.parts = parts
        self.length = 0
        for part in parts:
            if isinstance(part, bytes):
                self.length += len(part)
            else:
                part.seek(0, 2)
                self.length += part.tell()

    def __iter__(self) -> Iterator[bytes]:
        return self.stream()

    def stream(self) -> Iterator[bytes]:
        try:
            for part in self.parts:
                if isinstance(part, bytes):
                    yield part
                else:
                    yield from _chunks(part)
        finally:
            self.close()

    def close(self) -> None:
        for part in self.parts:
            if not isinstance(part, bytes):
                part.close()


def _display(track: dict) -> str:
    return one_line(f"{track['artist']} - {track['title']}")


def m3u8(tracks: Iterable[dict], *, root: str) -> Export:
    """Extended M3U in UTF-8 without a byte-order mark: `#EXTM3U`, then per track `#EXTINF:`
    (whole seconds, -1 when unknown) and its path (root + "/" + location), else its first
    source URL; a track with neither is one comment line."""
    out = _spool()
    try:
        out.write(b"#EXTM3U\n")
        for track in tracks:
            location, sources = track.get("location"), track.get("sources") or {}
            if location and not has_control(location):
                target = joined(root, location)
            else:
                target = next((url for url in sources.values() if not has_control(url)), None)
            if target is None:
                out.write(f"# {_display(track)} (no file or URL)\n".encode())
                continue
            duration = track.get("duration")
            seconds = -1 if duration is None else int(round(duration))
            out.write(f"#EXTINF:{seconds},{_display(track)}\n{target}\n".encode())
    except BaseException:
        out.close()
        raise
    return Export([out])


def tonality(key: str | None) -> str:
    """A canonical key as rekordbox writes it: "Am", "F#m", "C", "Eb"."""
    if not key:
        return ""
    tonic, mode = key.split(" ")
    assert tonic in TONICS
    return tonic + ("m" if mode == "minor" else "")


def _track_xml(track: dict, track_id: int, root: str) -> str:
    duration = track.get("duration")
    bpm = track.get("bpm")
    location = track.get("location")
    genres = track.get("genres") or []
    attributes = [
        ("TrackID", str(track_id)), ("Name", track["title"]), ("Artist", track["artist"]),
        ("Genre", genres[0] if genres else ""),
        ("TotalTime", str(int(round(duration))) if duration is not None else "0"),
        ("AverageBpm", f"{bpm:.2f}" if bpm is not None else "0.00"),
        ("Tonality", tonality(track.get("key"))),
        ("Location", file_url(root, location) if location else ""),
    ]
    head = "    <TRACK " + " ".join(f'{name}="{xml_attribute(value)}"' for name, value in attributes)
    children = []
    grid = track.get("beatgrid")
    if isinstance(grid, dict) and grid.get("bpm") and grid.get("first_downbeat") is not None:
        # the track's BPM when it has one (a DJ may have corrected it): AverageBpm agrees
        grid_bpm = float(bpm if bpm is not None else grid["bpm"])
        metre = f'{int(grid.get("beats_per_bar") or 4)}/4'  # 4/4, or a waltz's 3/4
        children.append(f'      <TEMPO Inizio="{float(grid["first_downbeat"]):.3f}" '
                        f'Bpm="{grid_bpm:.2f}" Metro="{metre}" Battito="1"/>')
    for cue in track.get("cues") or []:
        children.append(f'      <POSITION_MARK Name="{xml_attribute(cue["name"])}" Type="0" '
                        f'Start="{float(cue["start"]):.3f}" Num="-1"/>')
    if not children:
        return head + "/>\n"
    return head + ">\n" + "\n".join(children) + "\n    </TRACK>\n"


def rekordbox(tracks: Iterable[dict], *, root: str, playlist_name: str | None) -> Export:
    """rekordbox's XML exchange file: the COLLECTION (each distinct track once, TrackID 1, 2,
    ... in order of first appearance), then PLAYLISTS: the ROOT node with, for a playlist, one
    playlist node whose TRACK Key= follow the entries (repeats kept). The library's export
    has no playlist node (`playlist_name` None)."""
    collection, keys = _spool(), _spool()
    try:
        numbers: dict[str, int] = {}
        entries = 0
        for track in tracks:
            number = numbers.get(track["id"])
            if number is None:
                number = numbers[track["id"]] = len(numbers) + 1
                collection.write(_track_xml(track, number, root).encode())
            if playlist_name is not None:
                keys.write(f'        <TRACK Key="{number}"/>\n'.encode())
                entries += 1
        head = ('<?xml version="1.0" encoding="UTF-8"?>\n<DJ_PLAYLISTS Version="1.0.0">\n'
                f'  <PRODUCT Name="QuantumLive" Version="{PRODUCT_VERSION}" Company="QuantumLive"/>\n'
                f'  <COLLECTION Entries="{len(numbers)}">\n')
        if playlist_name is None:
            middle = '  </COLLECTION>\n  <PLAYLISTS>\n    <NODE Type="0" Name="ROOT" Count="0">\n'
        else:
            middle = ('  </COLLECTION>\n  <PLAYLISTS>\n    <NODE Type="0" Name="ROOT" Count="1">\n'
                      f'      <NODE Name="{xml_attribute(playlist_name)}" Type="1" KeyType="0" '
                      f'Entries="{entries}">\n')
        tail = ("      </NODE>\n" if playlist_name is not None else "") + \
            "    </NODE>\n  </PLAYLISTS>\n</DJ_PLAYLISTS>\n"
    except BaseException:
        collection.close()
        keys.close()
        raise
    return Export([head.encode(), collection, middle.encode(), keys, tail.encode()])
