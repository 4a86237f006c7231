"""manage.py export_library / import_library (API.md, "Backup and restore")."""

import base64
import io
import json
import sys
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from analysis import jobs, waveform
from quantumlive import keys
from quantumlive.redis_conn import get_binary_redis, get_redis
from tests.conftest import delete_own_keys
from tracks.cache import reset_process_cache

pytestmark = pytest.mark.django_db

WAVE = [0.0, 0.25, 0.5, 1.0, 0.125]
RESULT = {"bpm": 124.0, "key": "A minor", "camelot": "8A", "duration": 301.2, "sample_rate": 22050,
          "beats": [0.48, 0.96, 1.44], "waveform": [0.0, 0.3, 0.9],
          "cues": [{"name": "cue_0", "start": 0.48, "end": 8.22, "waveform": [0.1, 0.2]}]}


def waveform_bytes(seconds: float = 2.0, amplitude: float = 0.5) -> bytes:
    """A waveform in analysis/waveform.py's stored form (a sine, 8 kHz)."""
    import numpy as np

    from analysis.waveform import WaveformBuilder

    builder = WaveformBuilder(8000)
    t = np.arange(int(8000 * seconds)) / 8000
    builder.add((amplitude * np.sin(2 * np.pi * 3 * t)).astype(np.float32))
    return builder.result()


WAVEFORM = waveform_bytes()


def make_library(api, count=5):
    """Tracks with every kind of field, moved, patched; two YouTube links; a done, a failed
    and a queued analysis job. The last track added (first in the order) was added with an
    analysis that had a waveform (WAVEFORM), and that job has since expired: the track's copy
    of the waveform is the only one. Returns the track ids in playlist order."""
    ids = []
    analysed = finished_job("9" * 64, waveform=WAVEFORM)
    for i in range(count):
        body = {"title": f"Track {i}", "artist": "Quantum Crew", "bpm": 120 + i, "key": "am",
                "duration": 300.5, "genres": ["house", "Latin"], "notes": "ñandú ☃" if i % 2 else None,
                "sources": {"youtube": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"},
                "cues": [{"name": "drop", "start": 1, "end": 2.5, "waveform": WAVE}, {"start": 3, "end": 4}]}
        if i == count - 1:
            body["analysis"] = analysed
        response = api.post("/api/tracks/", body, format="json")
        assert response.status_code == 201
        ids.append(response.json()["id"])
    assert get_binary_redis().hget(keys.track_waveform(ids[-1]), "data") == WAVEFORM
    forget_job(analysed, "9" * 64)
    assert api.post(f"/api/tracks/{ids[-1]}/move/", {"position": 0}, format="json").status_code == 200
    assert api.patch(f"/api/tracks/{ids[1]}/", {"notes": "edited"}, format="json").status_code == 200
    for url in ("https://youtu.be/9bZkp7q19f0", "dQw4w9WgXcQ"):
        assert api.post("/api/youtube/", {"url": url}, format="json").status_code == 201
    done = finished_job("a" * 64)
    failed, _ = jobs.claim(digest="b" * 64, source={"path": "/x"}, options={"auto_cues": True})
    jobs.finish(failed, error="not audio")
    jobs.claim(digest="c" * 64, source={"path": "/y"}, options={"auto_cues": True})
    return [ids[-1], *ids[:-1]], done


def finished_job(digest: str, waveform: bytes | None = None) -> str:
    options = {"auto_cues": True, "beats_per_cue": 16, "intervals": None, "max_cue_samples": 2048,
               "bpm_range": [70.0, 180.0]}
    job_id, new = jobs.claim(digest=digest, source={"path": "/audio.wav"}, options=options)
    assert new
    assert jobs.finish(job_id, result=RESULT, waveform=waveform)
    return job_id


def forget_job(job_id: str, digest: str) -> None:
    """The job expired (its record, its waveform and its digest go)."""
    get_redis().delete(keys.analysis_job(job_id), keys.analysis_waveform(job_id), keys.analysis_digest(digest))


def export(tmp_path, name="backup.json", *args) -> tuple[dict, str]:
    path = tmp_path / name
    out = io.StringIO()
    call_command("export_library", str(path), *args, stdout=out)
    return json.loads(path.read_text(encoding="utf-8")), out.getvalue()


def run_import(path, *args) -> str:
    out = io.StringIO()
    call_command("import_library", str(path), *args, stdout=out)
    return out.getvalue()


@contextmanager
def other_prefix(settings_fixture):
    """Redis under another prefix of this test run (empty at first; its keys deleted after)."""
    original = settings.QL_REDIS_PREFIX
    reset_process_cache()
    settings_fixture.QL_REDIS_PREFIX = original + "-restore"
    try:
        delete_own_keys()
        yield
    finally:
        reset_process_cache()
        delete_own_keys()
        settings_fixture.QL_REDIS_PREFIX = original
        reset_process_cache()


def without_time(document: dict) -> dict:
    return {name: value for name, value in document.items() if name != "exported"}


def scratch_keys() -> list:
    return list(get_redis().scan_iter(match=keys.backup_temp_pattern("*")))


def library_state(anon) -> tuple:
    listing = anon.get("/api/tracks/?limit=500").json()["results"]
    tracks = [anon.get(f"/api/tracks/{t['id']}/").json() for t in listing]
    return tracks, anon.get("/api/youtube/").json()


# --- export -----------------------------------------------------------------------------------
def test_export_writes_every_track_in_order_with_versions_times_and_cue_waveforms(tmp_path, api, anon):
    order, done = make_library(api)
    document, output = export(tmp_path)
    assert list(document) == ["format", "version", "exported", "tracks", "youtube", "analysis", "playlists"]
    assert document["format"] == "quantumlive-library" and document["version"] == 1
    assert document["exported"].endswith("Z") and document["playlists"] == []
    assert [t["id"] for t in document["tracks"]] == order
    for record in document["tracks"]:
        shown = anon.get(f"/api/tracks/{record['id']}/").json()
        expected = {name: shown[name] for name in record if name not in ("analysis", "waveform")}
        assert {name: value for name, value in record.items() if name not in ("analysis", "waveform")} == expected
        assert set(record) == {"id", "title", "artist", "bpm", "key", "duration", "genres", "sources", "notes",
                               "location", "beatgrid", "mix_in", "mix_out", "loudness", "analysis", "cues",
                               "version", "created", "updated", "waveform"}
    assert document["tracks"][0]["waveform"] == base64.b64encode(WAVEFORM).decode()
    assert document["tracks"][0]["analysis"] is not None
    assert [record["waveform"] for record in document["tracks"][1:]] == [None] * 4
    assert document["tracks"][2]["version"] == 2 and document["tracks"][0]["version"] == 2  # patched, moved
    assert document["tracks"][1]["cues"][0] == {"name": "drop", "start": 1.0, "end": 2.5, "waveform": WAVE}
    assert document["youtube"] == [{"video_id": v["video_id"], "added": v["added"]}
                                   for v in anon.get("/api/youtube/").json()["results"]]
    assert [v["video_id"] for v in document["youtube"]] == ["9bZkp7q19f0", "dQw4w9WgXcQ"]
    assert [job["id"] for job in document["analysis"]] == [done]  # failed and queued ones are left out
    job = document["analysis"][0]
    assert job["result"] == RESULT and job["digest"] == "a" * 64 and job["options"]["beats_per_cue"] == 16
    assert job["created"] and job["finished"]
    assert ("exported 5 tracks, 2 YouTube links, 1 analysis results, 0 playlists with 0 entries in" in output
            and "tracks/s" in output)
    assert scratch_keys() == []


def test_no_analysis_leaves_the_results_out(tmp_path, api):
    make_library(api, count=2)
    document, output = export(tmp_path, "b.json", "--no-analysis")
    assert document["analysis"] == [] and len(document["tracks"]) == 2
    assert "0 analysis results" in output


def test_export_to_standard_output_writes_only_the_document(api, capsys):
    make_library(api, count=2)
    out, err = io.StringIO(), io.StringIO()
    call_command("export_library", "-", stdout=out, stderr=err)
    document = json.loads(out.getvalue())
    assert len(document["tracks"]) == 2
    assert "exported 2 tracks" in err.getvalue()


def test_an_empty_library_exports_and_imports(tmp_path, settings):
    document, _ = export(tmp_path)
    assert without_time(document) == {"format": "quantumlive-library", "version": 1, "tracks": [],
                                      "youtube": [], "analysis": [], "playlists": []}
    assert "tracks 0 created" in run_import(tmp_path / "backup.json")


def test_a_failed_export_leaves_no_file_under_the_backups_name(tmp_path, api, settings):
    make_library(api, count=2)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    with pytest.raises(CommandError, match="Redis is unreachable"):
        call_command("export_library", str(tmp_path / "b.json"), stdout=io.StringIO())
    assert list(tmp_path.iterdir()) == []


# --- round trip -------------------------------------------------------------------------------
def test_export_import_export_gives_the_same_document(tmp_path, api, anon, settings):
    make_library(api)
    first, _ = export(tmp_path, "first.json")
    assert first["tracks"][0]["waveform"] is not None  # a track with its waveform copy
    with other_prefix(settings):
        output = run_import(tmp_path / "first.json")
        assert "tracks 5 created" in output and "YouTube links 2 added" in output
        assert "analysis results 1 added" in output
        second, _ = export(tmp_path, "second.json")
        assert scratch_keys() == []
    assert without_time(second) == without_time(first)


def test_a_backup_written_before_locations_existed_imports_with_none(tmp_path, api, anon, settings):
    make_library(api, count=2)
    document, _ = export(tmp_path, "old.json")
    for record in document["tracks"]:
        del record["location"]
    (tmp_path / "old.json").write_text(json.dumps(document), encoding="utf-8")
    with other_prefix(settings):
        assert "tracks 2 created" in run_import(tmp_path / "old.json")
        assert [t["location"] for t in anon.get("/api/tracks/").json()["results"]] == [None, None]


# --- waveform copies ------------------------------------------------------------------------------
def test_a_tracks_waveform_copy_round_trips_and_answers_the_same_bytes(tmp_path, api, anon, settings):
    order, _ = make_library(api, count=2)
    url = f"/api/tracks/{order[0]}/waveform.json?samples_per_pixel=64"
    before = anon.get(url)
    assert before.status_code == 200
    document, _ = export(tmp_path)
    assert base64.b64decode(document["tracks"][0]["waveform"], validate=True) == WAVEFORM
    with other_prefix(settings):
        assert anon.get(url).status_code == 404
        assert "tracks 2 created" in run_import(tmp_path / "backup.json")
        after = anon.get(url)
        assert after.status_code == 200
        assert after.content == before.content and after.headers["ETag"] == before.headers["ETag"]
        stored = get_binary_redis().hmget(keys.track_waveform(order[0]), ["analysis", "data"])
        assert stored == [document["tracks"][0]["analysis"].encode(), WAVEFORM]
        assert get_redis().ttl(keys.track_waveform(order[0])) == -1  # restored, not staged: no TTL
        assert not get_redis().exists(keys.track_waveform(order[1]))
        assert anon.get(f"/api/tracks/{order[1]}/waveform.json").status_code == 404
        assert scratch_keys() == []


def test_a_copy_made_from_another_analysis_than_the_tracks_is_not_exported(tmp_path, api):
    """A copy on its way (the track names an analysis applied a moment ago, the copy is the
    previous one's) is not the track's waveform: the record holds null."""
    order, _ = make_library(api, count=2)
    get_redis().hset(keys.track_waveform(order[0]), "analysis", "00000000-0000-4000-8000-000000000000")
    document, _ = export(tmp_path)
    assert document["tracks"][0]["analysis"] is not None and document["tracks"][0]["waveform"] is None


def test_a_file_without_waveforms_still_loads_its_tracks_without_copies(tmp_path, api, anon, settings):
    order, _ = make_library(api, count=2)
    document, _ = export(tmp_path, "old.json")
    for record in document["tracks"]:
        del record["waveform"]  # a file written before waveforms were in backups
    (tmp_path / "old.json").write_text(json.dumps(document), encoding="utf-8")
    with other_prefix(settings):
        assert "tracks 2 created" in run_import(tmp_path / "old.json")
        assert anon.get(f"/api/tracks/{order[0]}/").json()["title"] == "Track 1"
        assert not get_redis().exists(keys.track_waveform(order[0]))
        assert anon.get(f"/api/tracks/{order[0]}/waveform.json").status_code == 404


def test_replace_puts_the_files_waveform_and_a_merge_leaves_the_librarys(tmp_path, api, anon, settings):
    order, _ = make_library(api, count=2)
    document, _ = export(tmp_path)
    in_file = document["tracks"][0]["analysis"]
    # after the backup, another analysis (another waveform) is applied to both tracks
    quieter = waveform_bytes(amplitude=0.25)
    later = finished_job("8" * 64, waveform=quieter)
    for track_id in order:
        response = api.post(f"/api/tracks/{track_id}/apply-analysis/", {"analysis": later, "overwrite": True},
                            format="json")
        assert response.status_code == 200
    copies = [keys.track_waveform(track_id) for track_id in order]
    assert [get_binary_redis().hget(key, "data") for key in copies] == [quieter, quieter]

    output = run_import(tmp_path / "backup.json")  # conflicts: the library's copies stay
    assert "2 conflicts" in output
    assert [get_binary_redis().hget(key, "data") for key in copies] == [quieter, quieter]

    output = run_import(tmp_path / "backup.json", "--replace")
    assert "0 created, 2 replaced" in output
    assert get_binary_redis().hmget(copies[0], ["analysis", "data"]) == [in_file.encode(), WAVEFORM]
    assert not get_redis().exists(copies[1])  # the file's track has no copy: the library's goes
    assert anon.get(f"/api/tracks/{order[1]}/waveform.json").status_code == 404
    shown = anon.get(f"/api/tracks/{order[0]}/waveform.json?samples_per_pixel=64")
    assert shown.status_code == 200 and shown.headers["ETag"] == f'"{in_file}.64"'
    assert scratch_keys() == []


def test_the_largest_copy_a_track_keeps_loads_under_the_smallest_body_limit(tmp_path, api, anon, settings):
    """A copy of TRACK_WAVEFORM_MAX_PIXELS pixels (175 KB of base64) in an indented file, with
    QL_MAX_BODY_MB at its least: the reader's bound for a track leaves room for it."""
    from tracks.services import TRACK_WAVEFORM_MAX_PIXELS

    order, _ = make_library(api, count=2)
    document, _ = export(tmp_path)
    pixels = TRACK_WAVEFORM_MAX_PIXELS
    largest = stored_waveform(pixels=pixels, pairs=bytes(range(256)) * (2 * pixels // 256))
    document["tracks"][0]["waveform"] = base64.b64encode(largest).decode()
    (tmp_path / "largest.json").write_text(json.dumps(document, indent=4), encoding="utf-8")
    settings.QL_MAX_BODY_MB = 1
    with other_prefix(settings):
        assert "tracks 2 created" in run_import(tmp_path / "largest.json")
        assert get_binary_redis().hget(keys.track_waveform(order[0]), "data") == largest
        shown = anon.get(f"/api/tracks/{order[0]}/waveform.json?samples_per_pixel=64")
        assert shown.status_code == 200 and json.loads(shown.content)["length"] == pixels


def test_a_staged_waveform_goes_with_its_track_or_is_dropped_when_the_track_is_left_alone(api):
    """Without --replace, in the script that swaps the track in: a free id takes the staged
    copy (RENAME), an existing track (unchanged or a conflict) keeps its own and the staged
    copy is deleted."""
    import uuid

    from tracks import store

    redis = get_redis()
    existing = api.post("/api/tracks/", {"title": "here", "artist": "a"}, format="json").json()
    redis.hset(keys.track_waveform(existing["id"]), mapping={"analysis": "x", "data": b"library's"})
    free = str(uuid.uuid4())
    values = {"title": "t", "artist": "a", "bpm": None, "key": None, "duration": None, "genres": [],
              "sources": {}, "notes": None, "cues": []}
    staged = []
    for track_id in (existing["id"], free):
        fields = store.restore_fields(track_id=track_id, values=values, version=7, created=store.now_iso(),
                                      updated=store.now_iso())
        track_key = keys.backup_temp("swap", "track", track_id)
        copy_key = keys.backup_temp("swap", "track", track_id, "waveform")
        redis.hset(track_key, mapping=dict(zip(fields[::2], fields[1::2])))
        redis.hset(copy_key, mapping={"analysis": "y", "data": b"file's " + track_id.encode()})
        redis.pexpire(copy_key, 60_000)
        staged.append((track_id, track_key, copy_key, len(staged)))
    outcomes = store.tracks_swap_in(staged=staged, replace=False)
    assert outcomes == [f"conflict:{existing['version']}:7", "created"]
    assert redis.hgetall(keys.track_waveform(existing["id"])) == {"analysis": "x", "data": "library's"}
    assert redis.hgetall(keys.track_waveform(free)) == {"analysis": "y", "data": f"file's {free}"}
    assert redis.ttl(keys.track_waveform(free)) == -1
    assert scratch_keys() == []


V3_RESULT = {**RESULT, "open_key": "1m", "downbeats": [0.5, 2.44],
             "beatgrid": {"bpm": 124.0, "first_beat": 0.5, "first_downbeat": 0.5, "beats_per_bar": 4},
             "mix_in": 0.5, "mix_out": 280.1,
             "loudness": {"integrated_lufs": -8.9, "range_lu": 5.1, "true_peak_dbtp": -0.3, "replay_gain_db": -9.1}}


def test_a_third_version_analysis_and_the_fields_it_gave_a_track_round_trip(tmp_path, api, anon, settings):
    job_id, new = jobs.claim(digest="e" * 64, source={"path": "/audio.wav"}, options={"auto_cues": True})
    assert new and jobs.finish(job_id, result=V3_RESULT)
    track = api.post("/api/tracks/", {"title": "t", "artist": "a", "analysis": job_id}, format="json").json()
    assert track["loudness"] == V3_RESULT["loudness"]
    export(tmp_path)
    with other_prefix(settings):
        assert "tracks 1 created" in run_import(tmp_path / "backup.json")
        restored = anon.get(f"/api/tracks/{track['id']}/").json()
        assert {name: restored[name] for name in ("beatgrid", "mix_in", "mix_out", "loudness")} == {
            name: V3_RESULT[name] for name in ("beatgrid", "mix_in", "mix_out", "loudness")}
        assert anon.get(f"/api/analysis/{job_id}/").json()["result"] == V3_RESULT


def test_a_result_whose_later_fields_are_malformed_is_refused(tmp_path, api, anon, settings):
    job_id, _ = jobs.claim(digest="f" * 64, source={"path": "/audio.wav"}, options={"auto_cues": True})
    jobs.finish(job_id, result=V3_RESULT)
    document, _ = export(tmp_path)
    for bad in ({"open_key": "8A"}, {"loudness": {"integrated_lufs": "loud"}}, {"beatgrid": {"bpm": 124.0}},
                {"mix_in": -1}, {"downbeats": ["x"]}):
        document["analysis"][0]["result"] = {**V3_RESULT, **bad}
        (tmp_path / "bad.json").write_text(json.dumps(document), encoding="utf-8")
        with other_prefix(settings):
            with pytest.raises(CommandError, match="result"):
                run_import(tmp_path / "bad.json")
            assert anon.get(f"/api/analysis/{job_id}/").status_code == 404


def test_restored_tracks_answer_through_the_api_with_their_etags_and_jobs(tmp_path, api, anon, settings):
    order, done = make_library(api, count=3)
    before, youtube_before = library_state(anon)
    export(tmp_path)
    with other_prefix(settings):
        run_import(tmp_path / "backup.json")
        after, youtube_after = library_state(anon)
        assert after == before and youtube_after == youtube_before
        response = anon.get(f"/api/tracks/{order[0]}/")
        assert response.headers["ETag"] == f'"{before[0]["version"]}"'
        job = anon.get(f"/api/analysis/{done}/").json()
        assert job["status"] == "done" and job["result"] == RESULT
        assert get_redis().get(keys.analysis_digest("a" * 64)) == done
        assert 0 < get_redis().ttl(keys.analysis_job(done)) <= settings.QL_ANALYSIS_TTL
        assert get_redis().ttl(keys.track(order[0])) == -1  # staged keys expire; restored ones do not
        # a restored track takes writes like any other
        patched = api.patch(f"/api/tracks/{order[0]}/", {"bpm": 99}, format="json",
                            HTTP_IF_MATCH=f'"{before[0]["version"]}"')
        assert patched.status_code == 200 and patched.json()["version"] == before[0]["version"] + 1


def test_seed_repeats_in_the_youtube_list_survive_the_round_trip(tmp_path, settings):
    from tracks import youtube

    youtube.youtube_import(video_id="dQw4w9WgXcQ", occurrences=2)
    youtube.youtube_add(video_id="9bZkp7q19f0")
    first, _ = export(tmp_path, "first.json")
    assert [v["video_id"] for v in first["youtube"]] == ["dQw4w9WgXcQ", "dQw4w9WgXcQ", "9bZkp7q19f0"]
    with other_prefix(settings):
        run_import(tmp_path / "first.json")
        second, _ = export(tmp_path, "second.json")
    assert second["youtube"] == first["youtube"]


# --- merge and replace ------------------------------------------------------------------------
def test_without_replace_missing_tracks_are_added_and_conflicts_reported(tmp_path, api, anon):
    order, _ = make_library(api, count=3)
    export(tmp_path)
    # after the backup: one track edited (another version), one deleted, one added
    assert api.patch(f"/api/tracks/{order[0]}/", {"title": "changed"}, format="json").status_code == 200
    assert api.delete(f"/api/tracks/{order[1]}/").status_code == 204
    extra = api.post("/api/tracks/", {"title": "new", "artist": "x"}, format="json").json()["id"]
    assert api.delete("/api/youtube/9bZkp7q19f0/").status_code == 204
    output = run_import(tmp_path / "backup.json")
    assert f"conflict: track {order[0]} is at version 3 here, 2 in the file" in output
    assert "tracks 1 created, 0 replaced, 1 unchanged, 1 conflicts, 0 removed" in output
    assert "YouTube links 1 added, 1 already listed" in output
    assert "analysis results 0 added, 1 unchanged" in output
    listed = [t["id"] for t in anon.get("/api/tracks/").json()["results"]]
    assert listed == [order[0], order[2], extra, order[1]]  # the missing one is added last
    assert anon.get(f"/api/tracks/{order[0]}/").json()["title"] == "changed"  # conflict left alone
    restored = anon.get(f"/api/tracks/{order[1]}/").json()
    assert restored["version"] == 1 and restored["title"] == "Track 0"
    assert [v["video_id"] for v in anon.get("/api/youtube/").json()["results"]] == ["dQw4w9WgXcQ", "9bZkp7q19f0"]
    again = run_import(tmp_path / "backup.json")
    assert "tracks 0 created, 0 replaced, 2 unchanged, 1 conflicts" in again


def test_replace_makes_the_library_the_files(tmp_path, api, anon):
    make_library(api, count=3)
    first, _ = export(tmp_path, "first.json")
    before, youtube_before = library_state(anon)
    order = [t["id"] for t in first["tracks"]]
    assert api.patch(f"/api/tracks/{order[0]}/", {"title": "changed"}, format="json").status_code == 200
    assert api.delete(f"/api/tracks/{order[1]}/").status_code == 204
    assert api.post(f"/api/tracks/{order[2]}/move/", {"position": 0}, format="json").status_code == 200
    api.post("/api/tracks/", {"title": "new", "artist": "x"}, format="json")
    api.post("/api/youtube/", {"url": "https://youtu.be/aaaaaaaaaaa"}, format="json")
    api.delete("/api/youtube/dQw4w9WgXcQ/")
    output = run_import(tmp_path / "first.json", "--replace")
    assert "tracks 1 created, 2 replaced, 0 unchanged, 0 conflicts, 1 removed" in output
    after, youtube_after = library_state(anon)
    assert after == before and youtube_after == youtube_before
    second, _ = export(tmp_path, "second.json")
    assert without_time(second) == without_time(first)


# --- caches stay exact --------------------------------------------------------------------------
def test_import_invalidates_what_this_process_has_cached(tmp_path, api, anon):
    order, _ = make_library(api, count=3)
    export(tmp_path)
    assert api.patch(f"/api/tracks/{order[0]}/", {"title": "changed"}, format="json").status_code == 200
    assert api.delete(f"/api/tracks/{order[1]}/").status_code == 204
    for _ in range(3):  # warm this process's cache: the track, the list, the order
        assert anon.get(f"/api/tracks/{order[0]}/").json()["title"] == "changed"
        assert anon.get("/api/tracks/").json()["count"] == 2
        assert anon.get(f"/api/tracks/{order[1]}/").status_code == 404
    run_import(tmp_path / "backup.json", "--replace")
    shown = anon.get(f"/api/tracks/{order[0]}/").json()
    assert shown["title"] == "Track 2" and shown["version"] == 2
    assert anon.get(f"/api/tracks/{order[1]}/").status_code == 200
    assert [t["id"] for t in anon.get("/api/tracks/").json()["results"]] == order
    assert [t["title"] for t in anon.get("/api/tracks/?q=track").json()["results"]] == ["Track 2", "Track 0", "Track 1"]


def test_import_bumps_the_generation_and_publishes_one_invalidation_per_written_track(tmp_path, api):
    make_library(api, count=3)
    export(tmp_path)
    redis = get_redis()
    pubsub = redis.pubsub()
    pubsub.subscribe(keys.invalidation_channel())
    pubsub.get_message(timeout=1)
    generation = int(redis.get(keys.generation()))
    run_import(tmp_path / "backup.json", "--replace")
    messages = []
    for _ in range(50):
        message = pubsub.get_message(timeout=0.2)
        if message is None:
            break
        messages.append(message["data"])
    pubsub.close()
    assert int(redis.get(keys.generation())) == generation + 3
    assert [int(m.split()[0]) for m in messages] == [generation + 1, generation + 2, generation + 3]
    assert all(m.split()[1] == "o" for m in messages)


@pytest.mark.parametrize("step", ["swap in", "drop absent"])
def test_an_import_step_answers_only_after_every_leased_cache_applied_it(step):
    """As a single write: a cache under a read lease answers from memory without asking Redis,
    so the import's writes wait for its acknowledgement (here a lease of no real cache, and
    its acknowledgement given by hand)."""
    import threading
    import time
    import uuid

    from tracks import store

    redis = get_redis()
    track_id = str(uuid.uuid4())
    values = {"title": "t", "artist": "a", "bpm": None, "key": None, "duration": None, "genres": [],
              "sources": {}, "notes": None, "cues": []}
    fields = store.restore_fields(track_id=track_id, values=values, version=1, created=store.now_iso(),
                                  updated=store.now_iso())
    staged = [(track_id, keys.backup_temp("leased", "track", track_id),
               keys.backup_temp("leased", "track", track_id, "waveform"), 0)]
    redis.hset(staged[0][1], mapping=dict(zip(fields[::2], fields[1::2])))
    if step == "swap in":
        def run():
            return store.tracks_swap_in(staged=staged, replace=False)
    else:
        store.tracks_swap_in(staged=staged, replace=False)

        def run():
            return store.tracks_drop_absent(track_ids=[track_id], kept=keys.backup_temp("leased", "kept"))
    seconds, micros = redis.time()
    redis.zadd(keys.leases(), {"slow-worker": seconds * 1000 + micros // 1000 + 20000})
    pubsub = redis.pubsub()
    pubsub.subscribe(keys.invalidation_channel())
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(answer=run(), at=time.monotonic()))
    thread.start()
    message = pubsub.get_message(timeout=5)
    pubsub.close()
    assert message and message["type"] == "message"
    token = message["data"].split(" ")[3]
    time.sleep(0.5)
    assert thread.is_alive(), "the import answered before the leased cache acknowledged it"
    acknowledged = time.monotonic()
    # what that cache does once it has applied the invalidation (tracks/lua.py ACK)
    redis.srem(keys.ack_pending(token), "slow-worker")
    redis.rpush(keys.ack_done(token), "1")
    thread.join(timeout=10)
    assert not thread.is_alive() and outcome["answer"] in (["created"], 1)
    assert outcome["at"] - acknowledged < 10  # answered on the acknowledgement, not when the lease ran out


# --- malformed files change nothing -------------------------------------------------------------
def malformed_documents(good: dict) -> dict:
    text = json.dumps(good)
    track = good["tracks"][0]

    def with_track(**changes):
        return json.dumps(dict(good, tracks=[dict(track, **changes), *good["tracks"][1:]]))

    assert track["waveform"] and track["analysis"]  # (make_library: the first track has a copy)

    return {
        "truncated": text[: len(text) // 2],
        "truncated at the end": text[:-1],
        "empty": "",
        "not an object": "[]",
        "wrong format": json.dumps(dict(good, format="something-else")),
        "wrong version": json.dumps(dict(good, version=2)),
        "version as a string": json.dumps(dict(good, version="1")),
        "no tracks": json.dumps({k: v for k, v in good.items() if k != "tracks"}),
        "unknown field": json.dumps(dict(good, extra=1)),
        "bad bpm": with_track(bpm=900),
        "genre too long": with_track(genres=["x" * 65]),
        "source not http": with_track(sources={"web": "ftp://example.com/a"}),
        "unknown track field": with_track(colour="red"),
        "missing track field": json.dumps(dict(good, tracks=[{k: v for k, v in track.items() if k != "notes"}])),
        "bad id": with_track(id="not-a-uuid"),
        "upper-case id": with_track(id=track["id"].upper()),
        "version zero": with_track(version=0),
        "bad time": with_track(created="yesterday"),
        "cue without end": with_track(cues=[{"start": 1}]),
        "waveform too long": with_track(cues=[{"start": 0, "end": 1, "waveform": [0.0] * 16385}]),
        "duplicate ids": json.dumps(dict(good, tracks=[track, dict(track)])),
        "duplicate key in a track": text.replace('"title":', '"title": "x", "title":', 1),
        "bad youtube id": json.dumps(dict(good, youtube=[{"video_id": "short", "added": "2026-01-01T00:00:00.000Z"}])),
        "bad analysis result": json.dumps(dict(good, analysis=[dict(good["analysis"][0],
                                                                    result=dict(RESULT, bpm="fast"))])),
        "playlists": json.dumps(dict(good, playlists=[{"id": "x"}])),
        "trailing content": text + " {}",
        "NaN": text.replace('"bpm": 120.0', '"bpm": NaN', 1),
        "waveform not base64": with_track(waveform="not base64!"),
        "waveform base64 with a line break": with_track(waveform=track["waveform"][:8] + "\n" + track["waveform"][8:]),
        "waveform not a string": with_track(waveform=[1, 2, 3]),
        "waveform not a waveform": with_track(waveform=base64.b64encode(b"QLW1 but not a waveform").decode()),
        "waveform of too many pixels": with_track(waveform=base64.b64encode(too_many_pixels()).decode()),
        "waveform without analysis": with_track(analysis=None),
    }


def stored_waveform(*, pixels: int, rate: int = 44100, base: int = 64, samples: int | None = None,
                    pairs: bytes | None = None) -> bytes:
    """A stored waveform as analysis/waveform.py writes it: its header (`samples` claimed,
    `base` samples per pixel by default), then `pairs` (min/max bytes; zeros by default)."""
    samples = base * pixels if samples is None else samples
    return waveform._HEADER.pack(waveform._MAGIC, rate, base, samples) + (bytes(2 * pixels) if pairs is None else pairs)


def too_many_pixels() -> bytes:
    """A well-formed stored waveform of 2^16 + 1 pixels (a track keeps at most 2^16)."""
    from tracks.services import TRACK_WAVEFORM_MAX_PIXELS

    pixels = TRACK_WAVEFORM_MAX_PIXELS + 1
    return stored_waveform(pixels=pixels)


def test_malformed_files_change_nothing(tmp_path, api, anon):
    order, _ = make_library(api, count=2)
    good, _ = export(tmp_path, "good.json")
    # the library now differs from the file (an import would change it)
    api.patch(f"/api/tracks/{order[0]}/", {"title": "changed"}, format="json")
    api.delete(f"/api/tracks/{order[1]}/")
    api.delete("/api/youtube/dQw4w9WgXcQ/")
    before = library_state(anon)
    generation = get_redis().get(keys.generation())
    documents = malformed_documents(good)
    for case, text in documents.items():
        path = tmp_path / "bad.json"
        path.write_text(text, encoding="utf-8")
        for args in ((), ("--replace",)):
            with pytest.raises(CommandError, match="nothing was changed"):
                run_import(path, *args)
            assert library_state(anon) == before, case
            assert get_redis().get(keys.generation()) == generation, case
            assert scratch_keys() == [], case


def test_the_refusal_names_the_record_and_the_problem(tmp_path, api):
    make_library(api, count=2)
    good, _ = export(tmp_path, "good.json")
    second_id = good["tracks"][1]["id"]
    good["tracks"][1]["bpm"] = 900
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(good))
    with pytest.raises(CommandError, match=r"tracks\[1\] \(id [0-9a-f-]{36}\): .*bpm.*400"):
        run_import(path)
    good["tracks"][1] = good["tracks"][0]
    path.write_text(json.dumps(good))
    with pytest.raises(CommandError, match=r"tracks\[1\].*given twice"):
        run_import(path)
    good["tracks"][1] = dict(good["tracks"][0], id=second_id, analysis=None)
    path.write_text(json.dumps(good))
    with pytest.raises(CommandError, match=r"tracks\[1\] \(id [0-9a-f-]{36}\): waveform: .*analysis"):
        run_import(path)
    good["tracks"][1] = dict(good["tracks"][0], id=second_id,
                          waveform=base64.b64encode(too_many_pixels()).decode())
    path.write_text(json.dumps(good))
    with pytest.raises(CommandError, match=r"tracks\[1\] \(id [0-9a-f-]{36}\): waveform: .*65536 pixels"):
        run_import(path)


def test_a_track_larger_than_the_api_accepts_is_refused(tmp_path, api, anon, settings):
    make_library(api, count=2)
    good, _ = export(tmp_path, "good.json")
    settings.QL_MAX_BODY_MB = 1
    cues = [{"name": f"c{i}", "start": i, "end": i + 1, "waveform": [0.123456789] * 16384} for i in range(8)]
    good["tracks"][0]["cues"] = cues  # ~2.5 MB: every cue valid, the track too large
    path = tmp_path / "big.json"
    path.write_text(json.dumps(good))
    before = library_state(anon)
    with pytest.raises(CommandError, match="larger than"):
        run_import(path, "--replace")
    assert library_state(anon) == before and scratch_keys() == []


def test_a_value_far_larger_than_any_track_stops_the_reading_early(tmp_path, api, settings):
    """The parser never holds more than about a track's worth of the file."""
    from tracks import backup

    settings.QL_MAX_BODY_MB = 1
    huge = '{"format":"quantumlive-library","version":1,"exported":"2026-01-01T00:00:00Z","tracks":[{"notes":"'
    reads = []

    class Stream(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            reads.append(len(buffer))
            data = (huge.encode() if len(reads) == 1 else b"x" * len(buffer))[: len(buffer)]
            buffer[: len(data)] = data
            return len(data)

    with pytest.raises(backup.ImportRefused, match=r"tracks\[0\].*larger than"):
        backup.import_library(io.BufferedReader(Stream()))
    assert sum(reads) < 4 * 2**20


# --- the commands' output --------------------------------------------------------------------------
def test_no_progress_bar_when_not_a_terminal_and_a_summary_line(tmp_path, api, capfd):
    make_library(api, count=3)
    call_command("export_library", str(tmp_path / "b.json"))
    call_command("import_library", str(tmp_path / "b.json"))
    out, err = capfd.readouterr()
    assert err == ""  # no bar drawn into a pipe
    lines = out.strip().splitlines()
    assert lines[0].startswith("exported 3 tracks") and lines[-1].startswith("imported: tracks 0 created")
    assert lines[-1].endswith("tracks/s)") and " s (" in lines[-1]


def test_a_progress_bar_on_a_terminal():
    from tracks.management.progress import progress_bars

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    bar = progress_bars(screen)("export", 10)
    bar.update(10)
    bar.close()
    assert "export" in screen.getvalue() and "/10" in screen.getvalue()


def test_import_reads_standard_input(tmp_path, api, settings, monkeypatch):
    make_library(api, count=2)
    export(tmp_path)
    data = (tmp_path / "backup.json").read_bytes()
    with other_prefix(settings):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        assert "tracks 2 created" in run_import("-")


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read .*nothing was changed"):
        run_import(tmp_path / "nope.json")


# --- under concurrent writes ----------------------------------------------------------------------
def test_a_track_deleted_or_written_during_the_export_is_left_out_or_whole(tmp_path, api, monkeypatch):
    """Writes land between the order's snapshot and the reading of the tracks (injected into
    the export's read of its first batch): a deleted track is left out and counted, a patched
    one appears whole at one version."""
    from tracks import store

    order, _ = make_library(api, count=3)
    read_records = store.track_records

    def write_then_read(track_ids):
        if order[1] in track_ids:
            assert api.delete(f"/api/tracks/{order[1]}/").status_code == 204
            patched = api.patch(f"/api/tracks/{order[2]}/", {"title": "during", "bpm": 99}, format="json")
            assert patched.status_code == 200
        return read_records(track_ids)

    monkeypatch.setattr(store, "track_records", write_then_read)
    document, output = export(tmp_path)
    assert [t["id"] for t in document["tracks"]] == [order[0], order[2]]
    written = document["tracks"][1]
    assert (written["title"], written["bpm"], written["version"]) == ("during", 99.0, 3)
    assert "exported 2 tracks (1 deleted during the export left out)" in output


def test_a_track_analysed_again_during_the_export_appears_with_the_waveform_of_its_analysis(
        tmp_path, api, monkeypatch):
    """An apply of another analysis lands (the track, then its copy) between the snapshot and
    the reading of the track: the record names the new analysis and holds the new copy."""
    from tracks import store

    order, _ = make_library(api, count=2)
    quieter = waveform_bytes(amplitude=0.25)
    later = finished_job("7" * 64, waveform=quieter)
    read_records = store.track_records

    def analyse_then_read(track_ids):
        if order[0] in track_ids:
            response = api.post(f"/api/tracks/{order[0]}/apply-analysis/", {"analysis": later, "overwrite": True},
                                format="json")
            assert response.status_code == 200
        return read_records(track_ids)

    monkeypatch.setattr(store, "track_records", analyse_then_read)
    document, _ = export(tmp_path)
    record = document["tracks"][0]
    assert record["analysis"] == later and base64.b64decode(record["waveform"]) == quieter


def test_replace_waits_for_a_track_lock_held_by_a_writer(tmp_path, api, anon):
    order, _ = make_library(api, count=2)
    export(tmp_path)
    api.patch(f"/api/tracks/{order[0]}/", {"title": "changed"}, format="json")
    get_redis().set(keys.track_lock(order[0]), "a-writer", px=300)  # a write in flight
    assert "1 replaced" in run_import(tmp_path / "backup.json", "--replace")
    assert anon.get(f"/api/tracks/{order[0]}/").json()["title"] == "Track 1"
    assert get_redis().get(keys.track_lock(order[0])) is None


def test_replace_gives_up_on_a_lock_that_stays_held(tmp_path, api, anon, settings):
    order, _ = make_library(api, count=2)
    export(tmp_path)
    settings.QL_LOCK_WAIT = 0.2
    get_redis().set(keys.track_lock(order[1]), "a-stuck-writer", px=60_000)
    with pytest.raises(CommandError, match=f"track {order[1]} stayed locked"):
        run_import(tmp_path / "backup.json", "--replace")
    assert get_redis().get(keys.track_lock(order[1])) == "a-stuck-writer"  # not ours: left alone
    assert get_redis().get(keys.track_lock(order[0])) is None  # ours: released
    assert scratch_keys() == []


# --- memory flat in the library's size -------------------------------------------------------------
def seed_tracks(count: int) -> None:
    """`count` tracks; every other one with a waveform copy (2.5 KB) of the analysis it names."""
    from tracks import lua, store

    redis = get_redis()
    copy = waveform_bytes(seconds=10)
    for start in range(0, count, 500):
        pipe = redis.pipeline(transaction=False)
        for i in range(start, min(count, start + 500)):
            track_id = f"{i:08d}-0000-4000-8000-000000000000"
            analysis = f"{i:08d}-0000-4000-8000-00000000000a" if i % 2 else None
            values = {"title": f"Track {i}", "artist": "a", "bpm": 120.0, "key": None, "duration": None,
                      "genres": [], "sources": {}, "notes": "n" * 200, "analysis": analysis, "cues": [
                          {"name": "c", "start": 0.0, "end": 1.0, "waveform": [0.5] * 256}]}
            fields = store.restore_fields(track_id=track_id, values=values, version=1, created=store.now_iso(),
                                          updated=store.now_iso())
            lua.create_track(pipe, track_id=track_id, ack="-", position=None, fields=fields)
            if analysis:
                pipe.hset(keys.track_waveform(track_id), mapping={"analysis": analysis, "data": copy})
        pipe.execute()


def traced_peak(run) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_export_and_import_memory_does_not_grow_with_the_library(tmp_path, settings):
    """Peak Python memory of an export and of an import, 300 tracks against 3,000 (ratio)."""
    from tracks import backup

    peaks = {}
    for count in (300, 3000):
        delete_own_keys()
        seed_tracks(count)
        path = tmp_path / f"{count}.json"
        with open(path, "w", encoding="utf-8") as out:
            export_peak = traced_peak(lambda: backup.export_library(out))
        with other_prefix(settings):
            with open(path, "rb") as stream:
                import_peak = traced_peak(lambda: backup.import_library(stream))
            assert sum(1 for line in open(path, encoding="utf-8") if '"waveform":"' in line) == count // 2
        peaks[count] = (export_peak, import_peak)
    print(peaks)
    assert peaks[3000][0] <= 1.5 * peaks[300][0]
    assert peaks[3000][1] <= 1.5 * peaks[300][1]


@pytest.mark.slow
def test_the_commands_pipe_into_each_other_as_processes(tmp_path, api, settings):
    """`export_library - | import_library -` between real processes: the document on stdout
    only (summary on stderr), read from stdin by the import."""
    import os
    import subprocess
    from pathlib import Path

    make_library(api, count=2)
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, QL_REDIS_PREFIX=settings.QL_REDIS_PREFIX, REDIS_URL=settings.REDIS_URL,
               DJANGO_SETTINGS_MODULE="quantumlive.settings")
    exported = subprocess.run([sys.executable, "manage.py", "export_library", "-"], cwd=root, env=env,
                              capture_output=True, timeout=120, check=True)
    assert len(json.loads(exported.stdout)["tracks"]) == 2
    assert exported.stderr.decode().strip().startswith("exported 2 tracks")
    env["QL_REDIS_PREFIX"] = settings.QL_REDIS_PREFIX + "-restore"
    try:
        imported = subprocess.run([sys.executable, "manage.py", "import_library", "-"], cwd=root, env=env,
                                  input=exported.stdout, capture_output=True, timeout=120, check=True)
        assert "tracks 2 created" in imported.stdout.decode() and imported.stderr == b""
    finally:
        with other_prefix(settings):
            pass  # deletes the keys under the other prefix


# --- review (h12-backup-review) -------------------------------------------------------------------
def test_a_youtube_item_without_its_time_is_added_without_replace(tmp_path, settings):
    """The importer accepts `"added": ""` (the list shows "" for an item without a time): the
    merge must add it, not fail half-way after the tracks were swapped in."""
    document = {"format": "quantumlive-library", "version": 1, "exported": "2026-12-06T21:00:00.000Z",
                "tracks": [], "youtube": [{"video_id": "dQw4w9WgXcQ", "added": ""},
                                          {"video_id": "9bZkp7q19f0", "added": "2026-12-01T10:00:00.000Z"}],
                "analysis": [], "playlists": []}
    path = tmp_path / "no-time.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with other_prefix(settings):
        assert "YouTube links 2 added" in run_import(path)
        assert [item["video_id"] for item in get_youtube_list()] == ["dQw4w9WgXcQ", "9bZkp7q19f0"]
        assert "YouTube links 0 added, 2 already listed" in run_import(path)
        assert scratch_keys() == []


def get_youtube_list():
    from tracks import youtube

    return youtube.youtube_list()


def seed_sized(ids: list[str], points: int) -> None:
    """Tracks with 8 cues of `points` waveform points each (0: a small track), appended."""
    from tracks import lua, store

    redis = get_redis()
    pipe = redis.pipeline(transaction=False)
    for track_id in ids:
        values = {"title": "t", "artist": "a", "bpm": 120.0, "key": None, "duration": None, "genres": [],
                  "sources": {}, "notes": None,
                  "cues": [{"name": "c", "start": 0.0, "end": 1.0, "waveform": [0.123456] * points}
                           for _ in range(8 if points else 0)]}
        fields = store.restore_fields(track_id=track_id, values=values, version=1, created=store.now_iso(),
                                      updated=store.now_iso())
        lua.create_track(pipe, track_id=track_id, ack="-", position=None, fields=fields)
    pipe.execute()


def test_export_memory_stays_bounded_when_large_tracks_follow_small_ones(tmp_path, monkeypatch):
    """Batches are sized from the previous batch: after many small tracks a batch of the
    largest (up to MAX_BATCH x QL_MAX_BODY_MB) must not be read at once. Peak Python memory
    of an export with 10 large tracks after 300 small ones against 40 large ones (ratio)."""
    from tracks import backup

    monkeypatch.setattr(backup, "BATCH_BYTES", 128 * 1024)
    peaks = {}
    for large in (10, 40):
        delete_own_keys()
        seed_sized([f"{i:08d}-0000-4000-8000-000000000000" for i in range(300)], 0)
        seed_sized([f"{i:08d}-0000-4000-8000-000000000001" for i in range(large)], 2048)  # ~150 KB each
        with open(tmp_path / f"{large}.json", "w", encoding="utf-8") as out:
            peaks[large] = traced_peak(lambda: backup.export_library(out, analysis=False))
        assert json.loads((tmp_path / f"{large}.json").read_text())["tracks"][-1]["id"].endswith("1")
    print(peaks)
    assert peaks[40] <= 1.5 * peaks[10]


def test_replace_releases_the_lock_of_a_track_whose_staged_copy_is_gone(api):
    """A staged copy that expired (or was removed) during --replace: the import stops with
    'gone', and must not leave that track locked for QL_LOCK_TTL (writers would wait)."""
    from tracks import store

    response = api.post("/api/tracks/", {"title": "kept", "artist": "a"}, format="json")
    track_id = response.json()["id"]
    missing = keys.backup_temp("0" * 32, "track", track_id)
    missing_copy = keys.backup_temp("0" * 32, "track", track_id, "waveform")
    assert store.tracks_swap_in(staged=[(track_id, missing, missing_copy, 0)], replace=True) == ["gone"]
    assert get_redis().get(keys.track_lock(track_id)) is None
    assert api.patch(f"/api/tracks/{track_id}/", {"title": "x"}, format="json").status_code == 200


def test_a_restored_job_leaves_the_digest_to_a_live_job_and_takes_it_from_a_failed_one(tmp_path, settings):
    done = finished_job("d" * 64)
    finished_job("e" * 64)
    export(tmp_path)
    with other_prefix(settings):
        live, _ = jobs.claim(digest="d" * 64, source={"path": "/z"}, options={"auto_cues": True})
        failed, _ = jobs.claim(digest="e" * 64, source={"path": "/z"}, options={"auto_cues": True})
        jobs.finish(failed, error="not audio")
        assert "analysis results 2 added" in run_import(tmp_path / "backup.json")
        redis = get_redis()
        assert redis.get(keys.analysis_digest("d" * 64)) == live
        restored = redis.get(keys.analysis_digest("e" * 64))
        assert restored not in (None, failed)
        assert jobs.job_record(restored)["result"] == RESULT
        assert jobs.job_record(done)["status"] == "done"


def test_of_two_restored_jobs_with_one_digest_the_first_in_the_file_keeps_it(tmp_path, settings):
    """The second job of a batch sees the first, restored a moment before in the same script,
    as the digest's live holder."""
    first = finished_job("f" * 64)
    get_redis().delete(keys.analysis_digest("f" * 64))  # expired: the same audio analysed again
    second = finished_job("f" * 64)
    data, _ = export(tmp_path)
    in_file = [job["id"] for job in data["analysis"]]
    assert sorted(in_file) == sorted([first, second])
    with other_prefix(settings):
        assert "analysis results 2 added" in run_import(tmp_path / "backup.json")
        assert get_redis().get(keys.analysis_digest("f" * 64)) == in_file[0]
        assert jobs.job_record(in_file[1])["status"] == "done"


def test_redis_refusing_the_swap_is_a_clear_error(tmp_path, api, settings):
    """Any error Redis answers while the import writes (here WRONGTYPE: a key of another type
    where a track's hash should be) is a CommandError saying what may have been loaded, not a
    traceback."""
    order, _ = make_library(api, count=2)
    export(tmp_path)
    with other_prefix(settings):
        get_redis().set(keys.track(order[1]), "not a hash")  # the file's second track
        with pytest.raises(CommandError, match="run the import again"):
            run_import(tmp_path / "backup.json")
        assert scratch_keys() == []
        # the script refused its batch before writing anything: no track of it landed unannounced
        assert not get_redis().exists(keys.track(order[0]))
        assert get_redis().zcard(keys.playlist()) == 0


def test_a_track_given_its_analysis_in_upper_case_restores(tmp_path, api, anon, settings):
    job = finished_job("d" * 64, waveform=WAVEFORM)
    response = api.post("/api/tracks/", {"title": "t", "artist": "a", "analysis": job.upper()}, format="json")
    assert response.status_code == 201
    document, _ = export(tmp_path)
    assert document["tracks"][0]["analysis"] == job
    with other_prefix(settings):
        assert "tracks 1 created" in run_import(tmp_path / "backup.json")
        assert anon.get(f"/api/tracks/{response.json()['id']}/waveform.json").status_code == 200


@pytest.mark.parametrize("rate, base, samples", [
    (8000, 2**31, 2**31 * 512),  # 512 stored pixels spanning 1.7 years: 2^34 pixels at 64
    (4_000_000_000, 64, 64 * 512),  # a rate no audio the server decodes has
    (0, 64, 64 * 512),
])
def test_a_waveform_spanning_more_than_the_server_analyses_is_refused(tmp_path, api, anon, settings,
                                                                     rate, base, samples):
    """A copy's pixels are few, but what GET …/waveform.json?samples_per_pixel=64 builds grows
    with the samples its header claims: a copy the analyser could not have made is refused."""
    make_library(api, count=2)
    good, _ = export(tmp_path, "good.json")
    pixels = -(-samples // base)
    blob = stored_waveform(pixels=pixels, rate=rate, base=base, samples=samples)
    good["tracks"][0]["waveform"] = base64.b64encode(blob).decode()
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(good))
    with other_prefix(settings):
        with pytest.raises(CommandError, match=r"tracks\[0\] \(id [0-9a-f-]{36}\): waveform: .*nothing was changed"):
            run_import(path)
        assert anon.get("/api/tracks/").json()["count"] == 0
