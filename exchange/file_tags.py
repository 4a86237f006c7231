"""BPM and key written into an audio file's own tags, the way DJ software reads them.

| container | BPM | key |
| --- | --- | --- |
| MP3, WAV, AIFF (ID3v2) | `TBPM` (whole number, as ID3 defines it) | `TKEY` |
| FLAC, Ogg Vorbis, Opus (Vorbis comments) | `BPM` (up to 2 decimals) | `INITIALKEY` |
| MP4/M4A | `tmpo` (whole number) | `----:com.apple.iTunes:initialkey` |

The key is written in the notation asked for: musical as ID3 defines `TKEY` ("Am", "F#",
"Ebm"), Camelot ("8A") or Open Key ("1m"). Only what differs is written: a file whose tags
already say it is not opened for writing, so a second run changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mutagen
from mutagen.aiff import AIFF
from mutagen.flac import FLAC
from mutagen.id3 import TBPM, TKEY
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4, MP4FreeForm, MP4Tags
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from quantumlive.musical_keys import camelot, open_key

NOTATIONS = ("musical", "camelot", "open-key")
_MP4_KEY = "----:com.apple.iTunes:initialkey"


class NotTaggable(Exception):
    """Not an audio file mutagen can tag (or a damaged one)."""


@dataclass(frozen=True)
class TagChange:
    tag: str
    old: str | None
    new: str

    def __str__(self) -> str:
        old = "(none)" if self.old is None else repr(self.old)
        return f"{self.tag}: {old} -> {self.new!r}"


def key_text(key: str, notation: str = "musical") -> str:
    """A canonical key ("A minor") in a tag's notation: "Am", "8A" or "1m"."""
    if notation == "camelot":
        return camelot(key)
    if notation == "open-key":
        return open_key(key)
    tonic, mode = key.split(" ")
    return tonic + ("m" if mode == "minor" else "")


def _decimal(bpm: float) -> str:
    return f"{bpm:.2f}".rstrip("0").rstrip(".")


def _first(values) -> str | None:
    return str(values[0]) if values else None


class _Tagger:
    """The tags of one opened file, and the change that would set BPM and key."""

    def __init__(self, audio):
        self.audio = audio

    def changes(self, bpm: float | None, key: str | None) -> list[TagChange]:
        raise NotImplementedError

    def apply(self, changes: list[TagChange]) -> None:
        raise NotImplementedError

    @staticmethod
    def _diff(pairs) -> list[TagChange]:
        return [TagChange(tag, old, new) for tag, old, new in pairs if new is not None and old != new]


class _ID3Tagger(_Tagger):
    def changes(self, bpm, key):
        tags = self.audio.tags
        old_bpm = _first(tags["TBPM"].text) if tags is not None and "TBPM" in tags else None
        old_key = _first(tags["TKEY"].text) if tags is not None and "TKEY" in tags else None
        return self._diff([("TBPM", old_bpm, None if bpm is None else str(round(bpm))),
                           ("TKEY", old_key, key)])

    def apply(self, changes):
        if self.audio.tags is None:
            self.audio.add_tags()
        frames = {"TBPM": TBPM, "TKEY": TKEY}
        for change in changes:
            self.audio.tags.setall(change.tag, [frames[change.tag](encoding=3, text=[change.new])])
        self.audio.save()


class _VorbisTagger(_Tagger):
    def changes(self, bpm, key):
        tags = self.audio.tags
        old_bpm = _first(tags.get("BPM", [])) if tags is not None else None
        old_key = _first(tags.get("INITIALKEY", [])) if tags is not None else None
        return self._diff([("BPM", old_bpm, None if bpm is None else _decimal(bpm)),
                           ("INITIALKEY", old_key, key)])

    def apply(self, changes):
        if self.audio.tags is None:
            self.audio.add_tags()
        for change in changes:
            self.audio.tags[change.tag] = [change.new]
        self.audio.save()


class _MP4Tagger(_Tagger):
    def changes(self, bpm, key):
        tags = self.audio.tags
        old_bpm = _first(tags.get("tmpo", [])) if tags is not None else None
        old_key = None
        if tags is not None and tags.get(_MP4_KEY):
            old_key = bytes(tags[_MP4_KEY][0]).decode("utf-8", "replace")
        return self._diff([("tmpo", old_bpm, None if bpm is None else str(round(bpm))),
                           (_MP4_KEY, old_key, key)])

    def apply(self, changes):
        if self.audio.tags is None:
            self.audio.tags = MP4Tags()
        for change in changes:
            if change.tag == "tmpo":
                self.audio.tags["tmpo"] = [int(change.new)]
            else:
                self.audio.tags[_MP4_KEY] = [MP4FreeForm(change.new.encode("utf-8"))]
        self.audio.save()


def open_tags(path: Path) -> _Tagger:
    """The tagger for the audio file at `path`. NotTaggable for anything else."""
    try:
        audio = mutagen.File(path)
    except Exception as exc:  # mutagen's own errors for damaged files, and OSError
        raise NotTaggable(str(exc) or type(exc).__name__) from None
    for kinds, tagger in _TAGGERS:
        if isinstance(audio, kinds):
            return tagger(audio)
    raise NotTaggable("unknown format" if audio is None else f"{type(audio).__name__} files are not tagged")


_TAGGERS = (
    ((MP3, WAVE, AIFF), _ID3Tagger),
    ((FLAC, OggVorbis, OggOpus), _VorbisTagger),
    ((MP4,), _MP4Tagger),
)
