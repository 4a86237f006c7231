"""analysis.sources.store_upload leaves nothing behind when it fails (issue 12, finding 4: a
failed store_upload left its partial file in QL_UPLOAD_DIR for ever), and a path naming a file
that is plainly not audio is refused like any other bad path."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from analysis import sources
from tests.system.servers import ROOT


class FailingUpload(SimpleUploadedFile):
    """An upload whose reading fails after its first chunk (a client gone, an I/O error)."""

    def chunks(self, chunk_size=None):
        yield b"RIFF" + b"\0" * 100_000
        raise ConnectionResetError("the upload could not be read to its end")


def test_an_upload_whose_read_fails_midway_leaves_no_partial_file(settings, tmp_path):
    settings.QL_UPLOAD_DIR = tmp_path / "uploads"
    with pytest.raises(ConnectionResetError):
        sources.store_upload(FailingUpload("x.wav", b""), "upload-1")
    assert os.listdir(settings.QL_UPLOAD_DIR) == []


def test_an_upload_dir_that_cannot_be_made_is_503_and_leaves_nothing(settings, tmp_path):
    (tmp_path / "a-file").write_bytes(b"x")
    settings.QL_UPLOAD_DIR = tmp_path / "a-file" / "uploads"
    with pytest.raises(sources.UploadNotStored) as excinfo:
        sources.store_upload(SimpleUploadedFile("x.wav", b"RIFF" * 100), "upload-2")
    assert excinfo.value.status_code == 503 and str(tmp_path) not in str(excinfo.value.detail)


def test_a_full_disk_midway_removes_the_partial_file(tmp_path):
    """A file-size limit (RLIMIT_FSIZE, in a child process) makes the write fail with EFBIG
    after 64 KB, as a full disk would with ENOSPC."""
    uploads = tmp_path / "uploads"
    code = """
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
from django.core.files.uploadedfile import SimpleUploadedFile
from analysis import sources
try:
    sources.store_upload(SimpleUploadedFile("big.wav", b"RIFF" + bytes(3 * 2**20)), "upload-3")
except sources.UploadNotStored as exc:
    print("not stored", exc.status_code, repr(exc.__cause__))
"""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "quantumlive.settings", "QL_UPLOAD_DIR": str(uploads)}
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr[-800:]
    assert run.stdout.startswith("not stored 503") and "File too large" in run.stdout
    assert os.listdir(uploads) == []


def test_a_stored_upload_is_whole_and_hashed(settings, tmp_path):
    import hashlib

    settings.QL_UPLOAD_DIR = tmp_path / "uploads"
    content = os.urandom(3 * sources.CHUNK + 17)
    path, digest = sources.store_upload(SimpleUploadedFile("a.FLAC", content), "upload-4")
    assert path.name == "upload-4.flac" and path.read_bytes() == content
    assert digest == hashlib.sha256(content).hexdigest()


def test_a_path_to_a_playlist_is_refused_as_not_audio(settings, tmp_path):
    settings.QL_AUDIO_ROOT = tmp_path
    (tmp_path / "list.wav").write_bytes(b"#EXTM3U\n#EXTINF:1,\n/etc/passwd\n")
    with pytest.raises(sources.NotAudioFile, match="HLS"):
        sources.resolve_audio_path("list.wav")
    assert issubclass(sources.NotAudioFile, sources.PathRefused)  # the view's 400 for refused paths
