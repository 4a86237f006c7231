"""Which audio container a file holds, read from its first bytes (never from its name).

Only the containers API.md lists are accepted: WAV, AIFF, FLAC, MP3, Ogg (Vorbis/Opus) and
MP4/M4A. Everything else (HLS/M3U playlists, FFmpeg concat lists, DASH manifests, images,
video containers, text) is refused with :class:`NotAudio` before any decoder sees the
file, so FFmpeg never probes an unknown file and never picks a demuxer that opens other
files or URLs (hls, concat, image2, ...). Pure Python, bounded reads (a few KiB, plus
one read after each ID3 tag).
"""

from __future__ import annotations

from typing import BinaryIO, NamedTuple

from .audio import AudioError

__all__ = ["Container", "NotAudio", "ALLOWED", "sniff", "sniff_path"]

HEAD = 4096  # bytes read at the start of the file
MPEG_SCAN = 4096  # after ID3 tags, how far the first MPEG frame may lie
MAX_ID3_TAGS = 8  # consecutive ID3v2 tags skipped at most
#: MP4: the most bytes of sample tables (every track's stbl together). FFmpeg's mov demuxer
#: holds ~28 bytes per sample they list (4-bit stz2: 2 samples a byte), so 10 MB of tables
#: cost ~800 MB; 30 min of AAC needs ~0.3 MB of them, 4 hours ~2.5 MB.
MAX_MP4_SAMPLE_TABLES = 4 * 2**20
#: Box headers read at most while looking for the sample tables (~0.1 s); a file with more
#: is refused, so padding cannot hide its tables (a 30-min fragmented M4A has ~2,000).
MAX_MP4_BOXES = 65_536

ALLOWED = "WAV, AIFF, FLAC, MP3, Ogg (Vorbis/Opus), MP4/M4A (AAC/ALAC)"


class NotAudio(AudioError):
    """The bytes are not one of the allowed audio containers (whatever the file's name)."""

    def sentence(self) -> str:
        """The message as an API error: capitalised, with a full stop."""
        text = str(self)
        return text[:1].upper() + text[1:] + "."


class Container(NamedTuple):
    """An allowed container: how it is opened, and which codecs it may carry."""

    name: str  # wav, aiff, flac, mp3, ogg, mp4
    soundfile: bool  # libsndfile reads it (PyAV with ``demuxer`` only as a fallback)
    demuxer: str  # FFmpeg's demuxer, always named explicitly
    codecs: frozenset[str] | None  # canonical FFmpeg codec names allowed (None: any the demuxer reads)


WAV = Container("wav", True, "wav", None)
AIFF = Container("aiff", True, "aiff", None)
FLAC = Container("flac", True, "flac", frozenset({"flac"}))
OGG = Container("ogg", True, "ogg", frozenset({"vorbis", "opus"}))
MP3 = Container("mp3", False, "mp3", frozenset({"mp3"}))
MP4 = Container("mp4", False, "mp4", frozenset({"aac", "alac"}))

# ISO base media brands that are images, not audio (HEIF/HEIC, AVIF, JPEG 2000, Canon raw).
_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis",
                 b"jp2 ", b"jpx ", b"crx "}

# Recognised refusals, for a clear message: (prefix, what it is).
_KNOWN = (
    (b"#EXTM3U", "an HLS/M3U playlist"),
    (b"ffconcat", "an FFmpeg concat list"),
    (b"[playlist]", "a PLS playlist"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"BM", "a BMP image"),
    (b"%PDF", "a PDF document"),
    (b"\x1a\x45\xdf\xa3", "a Matroska/WebM file"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x00\x00\x01\xba", "an MPEG program stream"),
    (b"\x00\x00\x01\xb3", "an MPEG video stream"),
    (b"FLV", "an FLV file"),
    (b"0&\xb2u\x8ef\xcf\x11", "an ASF/WMA file"),
)


def _refuse(what: str) -> NotAudio:
    return NotAudio(f"the file is {what}, not audio in an accepted format ({ALLOWED})")


def sniff_path(path) -> Container:
    """The container of the file at ``path`` (see :func:`sniff`)."""
    with open(path, "rb") as handle:
        return sniff(handle)


def sniff(handle: BinaryIO) -> Container:
    """The container of the seekable binary file ``handle``, read from its current position,
    which is restored. Raises :class:`NotAudio` naming what it is otherwise."""
    start = handle.tell()
    try:
        return _sniff(handle, start)
    finally:
        handle.seek(start)


def _sniff(handle: BinaryIO, start: int) -> Container:
    head = handle.read(HEAD)
    if not head:
        raise _refuse("empty")
    if head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return WAV
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        raise _refuse("a WebP image")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        raise _refuse("an AVI video")
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return AIFF
    if head[:4] == b"fLaC":
        return FLAC
    if head[:4] == b"OggS":
        return _ogg(head)
    if head[4:8] == b"ftyp":
        return _iso_media(handle, start, head)
    if head[:3] == b"ID3":
        return _mp3_after_id3(handle, start, head)
    if _mpeg_frames_at(head, 0):
        return MP3
    for prefix, what in _KNOWN:
        if head.startswith(prefix):
            raise _refuse(what)
    text = head.lstrip(b"\xef\xbb\xbf\xff\xfe \t\r\n").lower()
    if text.startswith((b"<?xml", b"<mpd", b"<smil", b"<asx", b"<html", b"<!doctype")):
        raise _refuse("an XML/HTML document (a DASH or other manifest?)")
    if _looks_like_text(head):
        raise _refuse("text (a playlist, a list of files or a manifest?)")
    raise _refuse("of an unrecognised type")


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not merely a character cut at the end
            return False
    return b"\x00" not in head


def _ogg(head: bytes) -> Container:
    """Ogg whose first logical stream is Vorbis or Opus (its first page's first packet)."""
    if len(head) < 27:
        raise _refuse("a truncated Ogg file")
    segments = head[26]
    packet = head[27 + segments: 27 + segments + 8]
    if packet[:7] == b"\x01vorbis" or packet[:8] == b"OpusHead":
        return OGG
    if packet[:5] == b"\x7fFLAC":
        raise _refuse("Ogg FLAC (send it as plain FLAC)")
    if packet[:7] == b"\x80theora" or packet[:8] == b"fishead\x00":
        raise _refuse("an Ogg video or Ogg skeleton stream")
    raise _refuse("an Ogg stream of another codec")


def _iso_media(handle: BinaryIO, start: int, head: bytes) -> Container:
    """ISO base media (MP4/M4A/MOV) starting with its ftyp box; HEIF/AVIF images refused, and
    sample tables over MAX_MP4_SAMPLE_TABLES (a memory bomb for the demuxer). Whether it
    holds an AAC or ALAC audio track (not only video) is checked on opening."""
    size = int.from_bytes(head[:4], "big")
    if size < 16 and size != 1:
        raise _refuse("a malformed MP4 file")
    if head[8:12] in _IMAGE_BRANDS:
        raise _refuse("an image (HEIF/AVIF/JPEG 2000)")
    handle.seek(0, 2)
    budget = [MAX_MP4_BOXES]
    tables = _sample_table_bytes(handle, start, handle.tell(), path=(b"moov", b"trak", b"mdia", b"minf"),
                                 budget=budget)
    if budget[0] <= 0:
        raise _refuse(f"an MP4 of more than {MAX_MP4_BOXES} boxes")
    if tables > MAX_MP4_SAMPLE_TABLES:
        raise _refuse(f"an MP4 whose sample tables take {tables} bytes, more than the "
                      f"{MAX_MP4_SAMPLE_TABLES} accepted")
    return MP4


def _boxes(handle: BinaryIO, begin: int, end: int, budget: list[int]):
    """(type, body start, body end) of the ISO boxes between ``begin`` and ``end``, reading
    only their headers; stops at a malformed box or when ``budget[0]`` headers are read."""
    at = begin
    while at + 8 <= end and budget[0] > 0:
        budget[0] -= 1
        handle.seek(at)
        header = handle.read(16)
        if len(header) < 8:
            return
        size, kind, body = int.from_bytes(header[:4], "big"), header[4:8], at + 8
        if size == 1:
            if len(header) < 16:
                return
            size, body = int.from_bytes(header[8:16], "big"), at + 16
        elif size == 0:
            size = end - at
        if size < body - at:
            return
        yield kind, body, min(at + size, end)
        at += size


def _sample_table_bytes(handle: BinaryIO, begin: int, end: int, *, path: tuple[bytes, ...],
                        budget: list[int]) -> int:
    """Bytes of the stbl boxes under moov/trak/mdia/minf (summed over every track)."""
    total = 0
    for kind, body, box_end in _boxes(handle, begin, end, budget):
        if path and kind == path[0]:
            total += _sample_table_bytes(handle, body, box_end, path=path[1:], budget=budget)
        elif not path and kind == b"stbl":
            total += box_end - body
    return total


# --- MPEG audio ---------------------------------------------------------------------------

_BITRATES = {  # kbit/s by (MPEG-1?, index) for Layer III
    True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame(data: bytes, at: int) -> tuple[int, int, int] | None:
    """(frame length, version bits, sample rate index) of an MPEG Layer III frame header at
    ``at``, or None when there is none."""
    if at + 4 > len(data) or data[at] != 0xFF or data[at + 1] & 0xE0 != 0xE0:
        return None
    version = (data[at + 1] >> 3) & 3
    layer = (data[at + 1] >> 1) & 3
    bitrate_index = data[at + 2] >> 4
    rate_index = (data[at + 2] >> 2) & 3
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _BITRATES[mpeg1][bitrate_index] * 1000
    rate = _RATES[version][rate_index]
    padding = (data[at + 2] >> 1) & 1
    length = (144 if mpeg1 else 72) * bitrate // rate + padding
    return length, version, rate_index


def _mpeg_frames_at(data: bytes, at: int) -> bool:
    """A Layer III frame at ``at`` followed by a matching one (or by the end of ``data``
    when the buffer holds no second frame)."""
    first = _mpeg_frame(data, at)
    if first is None:
        return False
    nxt = at + first[0]
    if nxt + 4 > len(data):  # a file too short for a second frame
        return True
    second = _mpeg_frame(data, nxt)
    return second is not None and second[1:] == first[1:]


def _id3_size(tag: bytes) -> int | None:
    """Whole size of the ID3v2 tag starting ``tag`` (header, footer included); None if malformed."""
    if len(tag) < 10 or tag[:3] != b"ID3" or any(b & 0x80 for b in tag[6:10]):
        return None
    size = (tag[6] << 21) | (tag[7] << 14) | (tag[8] << 7) | tag[9]
    return 10 + size + (10 if tag[5] & 0x10 else 0)


def _mp3_after_id3(handle: BinaryIO, start: int, head: bytes) -> Container:
    """ID3v2 tags, then MPEG Layer III frames (within ``MPEG_SCAN`` bytes after the tags)."""
    offset = 0
    data = head
    for _ in range(MAX_ID3_TAGS):
        size = _id3_size(data[:10])
        if size is None:
            break
        offset += size
        handle.seek(start + offset)
        data = handle.read(MPEG_SCAN + 2048)
    else:
        raise _refuse("a chain of ID3 tags without audio")
    if data[:3] == b"ID3":
        raise _refuse("a malformed ID3 tag")
    for at in range(min(MPEG_SCAN, len(data))):
        if data[at] == 0xFF and _mpeg_frames_at(data, at):
            return MP3
    raise _refuse("an ID3 tag without MPEG audio after it")
