"""The library depends on nothing of the playlists app (playlists -> tracks is the allowed
direction; the library speaks through tracks/signals.py): no module of tracks/ imports
playlists, at its top or inside a function — but the backup of the whole deployment
(tracks/backup.py and the commands that run it), which writes and reads every app's data."""

from pathlib import Path

from tests.analysis.test_import_direction import imported_modules

TRACKS = Path(__file__).resolve().parents[2] / "tracks"
WHOLE_DEPLOYMENT = {"tracks/backup.py"}


def test_no_module_of_tracks_but_the_backup_imports_playlists():
    offenders = {
        str(path.relative_to(TRACKS.parent)): sorted(name for name in imported_modules(path.read_text())
                                                     if name == "playlists" or name.startswith("playlists."))
        for path in sorted(TRACKS.rglob("*.py"))
    }
    assert {path: names for path, names in offenders.items() if names and path not in WHOLE_DEPLOYMENT} == {}
