"""manage.py import_seed: the seed's playlist.json and youtube.txt into Redis."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db

SEED = [
    {"id": "3f2b6a1e-8c47-4d1a-9b7e-2f0c5d9a1e01", "titulo": "Live Session", "artista": "Quantum Crew",
     "bpm": 124.0, "generos": ["house", "latin"],
     "cues": [{"nombre": "cue_0", "inicio": 0.48, "fin": 8.22, "forma": [0.0, 0.17, -0.2]}],
     "fuentes": {"youtube": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}, "notas": "warm-up",
     "creado": "2025-10-03T12:34:56.123456", "actualizado": "2025-10-04T08:00:00"},
    {"id": "9a1c7d55-0b2e-4f6a-8d3c-51e7a2b4c602", "titulo": "Noche de Cumbia", "artista": "Los Ñandúes",
     "bpm": None, "generos": [], "cues": [{"nombre": "intro", "inicio": 0, "fin": 4.5, "forma": []}],
     "fuentes": {}, "notas": None, "creado": "2025-10-05T20:00:00", "actualizado": "2025-10-05T20:00:00"},
]


def run(tmp_path, entries, youtube=None):
    playlist = tmp_path / "playlist.json"
    playlist.write_text(entries if isinstance(entries, str) else json.dumps(entries, ensure_ascii=False),
                        encoding="utf-8")
    args = [str(playlist)]
    if youtube is not None:
        path = tmp_path / "youtube.txt"
        path.write_text(youtube, encoding="utf-8")
        args += ["--youtube", str(path)]
    out = StringIO()
    call_command("import_seed", *args, stdout=out)
    return out.getvalue()


def test_it_keeps_ids_order_fields_and_timestamps(tmp_path, anon):
    output = run(tmp_path, SEED)
    assert "tracks: 2 imported, 0 skipped" in output
    listed = anon.get("/api/tracks/").json()["results"]
    assert [t["id"] for t in listed] == [SEED[0]["id"], SEED[1]["id"]]
    first = anon.get(f"/api/tracks/{SEED[0]['id']}/").json()
    assert first["title"] == "Live Session" and first["artist"] == "Quantum Crew" and first["bpm"] == 124.0
    assert first["genres"] == ["house", "latin"] and first["notes"] == "warm-up"
    assert first["sources"] == {"youtube": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}
    assert first["cues"] == [{"name": "cue_0", "start": 0.48, "end": 8.22, "waveform": [0.0, 0.17, -0.2]}]
    assert first["created"] == "2025-10-03T12:34:56.123Z" and first["updated"] == "2025-10-04T08:00:00.000Z"
    assert first["version"] == 1
    second = anon.get(f"/api/tracks/{SEED[1]['id']}/").json()
    assert second["artist"] == "Los Ñandúes" and second["bpm"] is None and second["cues"][0]["name"] == "intro"


def test_a_second_run_adds_nothing(tmp_path, anon):
    run(tmp_path, SEED, youtube="dQw4w9WgXcQ\n")
    output = run(tmp_path, SEED, youtube="dQw4w9WgXcQ\n")
    assert "tracks: 0 imported, 2 skipped" in output and "already imported" in output
    assert "youtube links: 0 imported" in output
    assert anon.get("/api/tracks/").json()["count"] == 2
    assert anon.get("/api/youtube/").json()["count"] == 1


def test_invalid_tracks_are_skipped_with_the_reason(tmp_path, anon):
    bad = dict(SEED[1], id="not-a-uuid")
    worse = dict(SEED[1], id="5d3c2b1a-0000-4000-8000-000000000001", bpm=900)
    output = run(tmp_path, [SEED[0], bad, worse])
    assert "tracks: 1 imported, 2 skipped" in output
    assert "invalid" in output and "bpm" in output
    assert anon.get("/api/tracks/").json()["count"] == 1


@pytest.mark.parametrize("text", ["[{", "{\"titulo\": 1}", "[1, 2]", ""])
def test_a_malformed_file_is_reported_and_nothing_is_imported(tmp_path, anon, text):
    with pytest.raises(CommandError, match="nothing was imported"):
        run(tmp_path, text)
    assert anon.get("/api/tracks/").json()["count"] == 0


def test_youtube_lines_keep_repeats_and_skip_what_is_not_youtube(tmp_path, anon):
    lines = ("https://www.youtube.com/watch?v=dQw4w9WgXcQ\n\nhttps://youtu.be/9bZkp7q19f0\n"
             "https://www.youtube.com/watch?v=dQw4w9WgXcQ\n   \nnot a youtube link\n")
    output = run(tmp_path, [], youtube=lines)
    assert "not a YouTube link: 'not a youtube link'" in output
    listed = [item["video_id"] for item in anon.get("/api/youtube/").json()["results"]]
    assert listed == ["dQw4w9WgXcQ", "dQw4w9WgXcQ", "9bZkp7q19f0"]


def test_the_seeds_own_sample_files_import(anon):
    from pathlib import Path

    seed = Path(__file__).resolve().parents[3] / "shared" / "samples" / "seed"
    if not seed.exists():
        pytest.skip("shared/samples/seed is not beside this checkout")
    out = StringIO()
    call_command("import_seed", str(seed / "playlist.json"), "--youtube", str(seed / "youtube.txt"), stdout=out)
    assert "tracks: 3 imported, 0 skipped" in out.getvalue()
    assert anon.get("/api/youtube/").json()["count"] == 4
