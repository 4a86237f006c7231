"""exchange imports tracks and playlists, never the reverse: no module of tracks/ or
playlists/ imports exchange."""

from pathlib import Path

from tests.analysis.test_import_direction import imported_modules

ROOT = Path(__file__).resolve().parents[2]


def test_neither_the_library_nor_the_playlists_import_exchange():
    offenders = {
        str(path.relative_to(ROOT)): names
        for app in ("tracks", "playlists")
        for path in sorted((ROOT / app).rglob("*.py"))
        if (names := sorted(name for name in imported_modules(path.read_text())
                            if name == "exchange" or name.startswith("exchange.")))
    }
    assert offenders == {}
