"""Tracks carry what an analysis found beyond BPM and key (API.md, "Analysis, second version"):
server-owned `beatgrid`, `mix_in`, `mix_out` and `loudness`, filled by `apply-analysis` and by
`POST /api/tracks/` with `analysis` under the `overwrite` rule of `bpm`; the list filters
`lufs_min`/`lufs_max`; `GET /api/tracks/{id}/waveform.json` serves the waveform of the analysis
last applied."""

import hashlib
import json

import numpy as np
import pytest

from analysis import jobs
from analysis.waveform import WaveformBuilder, parse
from quantumlive import keys
from quantumlive.redis_conn import get_binary_redis, get_redis
from tracks.cache import reset_process_cache
from tracks.services import TRACK_WAVEFORM_MAX_PIXELS, track_waveform_copy

pytestmark = pytest.mark.django_db

GRID = {"bpm": 124.0, "first_beat": 0.48, "first_downbeat": 2.42, "beats_per_bar": 4}
LOUD = {"integrated_lufs": -8.9, "range_lu": 5.1, "true_peak_dbtp": -0.3, "replay_gain_db": -9.1}
RESULT = {"bpm": 124.0, "key": "A minor", "camelot": "8A", "open_key": "1m", "duration": 30.0,
          "sample_rate": 22050, "beats": [0.48, 0.96], "waveform": [0.1], "downbeats": [2.42],
          "beatgrid": GRID, "mix_in": 2.42, "mix_out": 25.6, "loudness": LOUD,
          "cues": [{"name": "cue_0", "start": 2.42, "end": 10.0, "waveform": [0.5]}]}
RATE = 44100


def waveform_blob(seconds: float = 30.0, amplitude: float = 0.5) -> bytes:
    builder = WaveformBuilder(RATE)
    t = np.arange(int(RATE * seconds)) / RATE
    builder.add((amplitude * np.sin(2 * np.pi * 2 * t)).astype(np.float32))
    return builder.result()


def done_job(result: dict = RESULT, *, waveform: bytes | None = None) -> str:
    """A done analysis job (claimed and finished here: no worker) with `result` and a waveform."""
    digest = hashlib.sha256(json.dumps([result, waveform is None]).encode() + (waveform or b"")).hexdigest()
    job_id, new = jobs.claim(digest=digest, source={"path": "/nowhere.wav"}, options={})
    assert new and jobs.mark_running(job_id)
    assert jobs.finish(job_id, result=result, expected=("running",),
                       waveform=waveform_blob() if waveform is None else waveform)
    return job_id


def add(api, **fields) -> dict:
    response = api.post("/api/tracks/", {"title": "t", "artist": "a", **fields}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def apply(api, track: dict, job_id: str, **options) -> dict:
    response = api.post(f"/api/tracks/{track['id']}/apply-analysis/", {"analysis": job_id, **options},
                        format="json")
    assert response.status_code == 200, response.content
    return response.json()


# --- the fields --------------------------------------------------------------------------------
def test_a_new_track_has_the_analysis_fields_null(api):
    track = add(api)
    assert (track["beatgrid"], track["mix_in"], track["mix_out"], track["loudness"]) == (None, None, None, None)
    assert api.get(f"/api/tracks/{track['id']}/").json()["loudness"] is None


def test_a_track_added_with_an_analysis_takes_its_grid_mix_points_and_loudness(api):
    track = add(api, analysis=done_job())
    assert track["beatgrid"] == GRID
    assert (track["mix_in"], track["mix_out"]) == (2.42, 25.6)
    assert track["loudness"] == LOUD
    listed = api.get("/api/tracks/").json()["results"][0]
    assert (listed["beatgrid"], listed["mix_in"], listed["mix_out"], listed["loudness"]) == (GRID, 2.42, 25.6, LOUD)


def test_the_fields_are_server_owned_a_client_cannot_write_them(api):
    track = add(api, beatgrid={"bpm": 1}, mix_in=1.0, loudness={"integrated_lufs": 0})
    assert (track["beatgrid"], track["mix_in"], track["loudness"]) == (None, None, None)
    patched = api.patch(f"/api/tracks/{track['id']}/", {"notes": "x", "mix_out": 3.0, "loudness": None},
                        format="json")
    assert patched.status_code == 200 and patched.json()["mix_out"] is None


def test_apply_without_overwrite_fills_only_what_the_track_lacks(api):
    first = done_job()
    track = apply(api, add(api), first)
    assert track["loudness"] == LOUD and track["beatgrid"] == GRID

    louder = {**RESULT, "loudness": {**LOUD, "integrated_lufs": -6.0}, "mix_in": 4.0, "bpm": 125.0}
    second = done_job(louder)
    kept = apply(api, track, second)
    assert (kept["loudness"], kept["mix_in"], kept["bpm"]) == (LOUD, 2.42, 124.0)

    replaced = apply(api, track, second, overwrite=True)
    assert (replaced["loudness"]["integrated_lufs"], replaced["mix_in"], replaced["bpm"]) == (-6.0, 4.0, 125.0)


def test_an_earlier_analysers_result_leaves_the_new_fields_as_they_are(api):
    track = apply(api, add(api), done_job())
    older = {name: value for name, value in RESULT.items()
             if name not in ("downbeats", "beatgrid", "mix_in", "mix_out", "loudness", "open_key")}
    again = apply(api, track, done_job({**older, "bpm": 126.0}), overwrite=True)
    assert again["bpm"] == 126.0
    assert (again["beatgrid"], again["mix_in"], again["loudness"]) == (GRID, 2.42, LOUD)


def test_a_track_stored_before_the_fields_existed_reads_them_as_null(api):
    track = add(api)
    for name in ("beatgrid", "mix_in", "mix_out", "loudness", "analysis"):
        get_redis().hdel(keys.track(track["id"]), name)
    reset_process_cache()
    read = api.get(f"/api/tracks/{track['id']}/").json()
    assert (read["beatgrid"], read["mix_in"], read["mix_out"], read["loudness"]) == (None, None, None, None)
    assert api.get(f"/api/tracks/{track['id']}/waveform.json").status_code == 404


# --- lufs_min / lufs_max -------------------------------------------------------------------------
def loudness_library(api) -> dict:
    tracks = {}
    for lufs in (-14.0, -9.0, -6.5):
        result = {**RESULT, "loudness": {**LOUD, "integrated_lufs": lufs}}
        tracks[lufs] = add(api, title=f"at {lufs}", analysis=done_job(result))["id"]
    tracks[None] = add(api, title="never analysed")["id"]
    return tracks


def titles(api, query: str) -> list[str]:
    response = api.get(f"/api/tracks/?{query}")
    assert response.status_code == 200, response.content
    return [track["title"] for track in response.json()["results"]]


def test_lufs_filters_keep_the_tracks_whose_integrated_loudness_is_in_range(api):
    loudness_library(api)
    assert titles(api, "lufs_min=-10") == ["at -9.0", "at -6.5"]
    assert titles(api, "lufs_max=-9") == ["at -14.0", "at -9.0"]
    assert titles(api, "lufs_min=-10&lufs_max=-7") == ["at -9.0"]
    assert len(titles(api, "")) == 4  # without the filter the unanalysed track is there


@pytest.mark.parametrize("query", ["lufs_min=loud", "lufs_max=", "lufs_min=nan", "lufs_min=-5&lufs_max=-9"])
def test_a_bad_lufs_filter_is_400(api, query):
    response = api.get(f"/api/tracks/?{query}")
    assert response.status_code == 400
    assert set(response.json()) & {"lufs_min", "lufs_max"}


# --- the track's waveform ------------------------------------------------------------------------
def test_a_tracks_waveform_is_that_of_the_analysis_last_applied(api, anon):
    job = done_job()
    track = add(api)
    assert anon.get(f"/api/tracks/{track['id']}/waveform.json").status_code == 404
    apply(api, track, job)

    response = anon.get(f"/api/tracks/{track['id']}/waveform.json?samples_per_pixel=1024")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.content == anon.get(f"/api/analysis/{job}/waveform.json?samples_per_pixel=1024").content
    tag = response["ETag"]
    assert anon.get(f"/api/tracks/{track['id']}/waveform.json?samples_per_pixel=1024",
                    HTTP_IF_NONE_MATCH=tag).status_code == 304

    other = done_job(waveform=waveform_blob(amplitude=0.25))
    apply(api, track, other, overwrite=True)
    changed = anon.get(f"/api/tracks/{track['id']}/waveform.json?samples_per_pixel=1024")
    assert changed["ETag"] != tag and max(json.loads(changed.content)["data"]) == 32
    assert anon.get(f"/api/tracks/{track['id']}/waveform.json?samples_per_pixel=1024",
                    HTTP_IF_NONE_MATCH=tag).status_code == 200


def test_a_tracks_waveform_outlives_the_analysis_job(api, anon):
    job = done_job()
    track = add(api, analysis=job)
    get_redis().delete(keys.analysis_job(job), keys.analysis_waveform(job))  # the job expired
    assert anon.get(f"/api/analysis/{job}/waveform.json").status_code == 404
    response = anon.get(f"/api/tracks/{track['id']}/waveform.json")
    assert response.status_code == 200 and json.loads(response.content)["sample_rate"] == RATE


def test_a_long_tracks_waveform_is_kept_coarser_and_bounded(api, anon):
    job = done_job(waveform=waveform_blob(seconds=20 * 60))  # 52.9 M samples: 827k pixels at 64
    track = add(api, analysis=job)
    stored = get_redis().hget(keys.track_waveform(track["id"]), "analysis")
    assert stored == job
    blob = get_binary_redis().hget(keys.track_waveform(track["id"]), "data")
    rate, base, samples, mins, _ = parse(blob)
    assert (rate, samples) == (RATE, 20 * 60 * RATE) and len(mins) <= TRACK_WAVEFORM_MAX_PIXELS
    body = json.loads(anon.get(f"/api/tracks/{track['id']}/waveform.json?samples_per_pixel=4096").content)
    assert body["length"] == -(-20 * 60 * RATE // 4096) and max(body["data"]) == 64


def test_an_analysis_without_a_waveform_leaves_the_track_without_one(api, anon):
    track = add(api, analysis=done_job(waveform=b""))
    assert anon.get(f"/api/tracks/{track['id']}/waveform.json").status_code == 404


def test_a_deleted_tracks_waveform_goes_with_it(api):
    track = add(api, analysis=done_job())
    assert get_redis().exists(keys.track_waveform(track["id"]))
    assert api.delete(f"/api/tracks/{track['id']}/").status_code == 204
    assert not get_redis().exists(keys.track_waveform(track["id"]))


def test_a_copy_for_an_analysis_no_longer_applied_is_not_written(api):
    first, second = done_job(), done_job(waveform=waveform_blob(amplitude=0.25))
    track = add(api, analysis=second)
    assert track_waveform_copy(track_id=track["id"], analysis_job_id=first) is False
    assert get_redis().hget(keys.track_waveform(track["id"]), "analysis") == second


@pytest.mark.parametrize("query", ["?samples_per_pixel=10", "?samples_per_pixel=abc"])
def test_a_bad_resolution_is_400(api, anon, query):
    track = add(api, analysis=done_job())
    assert anon.get(f"/api/tracks/{track['id']}/waveform.json{query}").status_code == 400


def test_an_unknown_track_has_no_waveform(anon):
    assert anon.get("/api/tracks/6f1c1d2e-0000-4000-8000-000000000000/waveform.json").status_code == 404
    assert anon.get("/api/tracks/not-a-uuid/waveform.json").status_code == 404


@pytest.mark.parametrize("spelling", [str.upper, lambda job: job.replace("-", ""), lambda job: "{%s}" % job,
                                      lambda job: "urn:uuid:" + job])
def test_an_analysis_named_in_another_uuid_spelling_is_kept_by_its_canonical_id(api, anon, spelling):
    """The job is found whatever the UUID's spelling; the track names it canonically (a backup
    refuses any other spelling) and its waveform copy is that job's."""
    job = done_job()
    added = add(api, analysis=spelling(job))
    applied = apply(api, add(api, title="later"), spelling(job))
    for track in (added, applied):
        assert get_redis().hget(keys.track(track["id"]), "analysis") == json.dumps(job)
        assert get_redis().hget(keys.track_waveform(track["id"]), "analysis") == job
        response = anon.get(f"/api/tracks/{track['id']}/waveform.json")
        assert response.status_code == 200 and response["ETag"] == f'"{job}.512"'


def test_if_none_match_answers_304_only_for_a_waveform_there_is(api, anon):
    """As for a job's: `*` (or the tag) on a track whose analysis has no waveform is its 404,
    not a 304 for a representation that does not exist."""
    track = add(api, analysis=done_job(waveform=b""))
    url = f"/api/tracks/{track['id']}/waveform.json"
    assert anon.get(url, HTTP_IF_NONE_MATCH="*").status_code == 404
    assert anon.get(url, HTTP_IF_NONE_MATCH=f'"{track_analysis(track)}.512"').status_code == 404
    with_one = add(api, analysis=done_job())
    assert anon.get(f"/api/tracks/{with_one['id']}/waveform.json", HTTP_IF_NONE_MATCH="*").status_code == 304


def track_analysis(track: dict) -> str:
    return json.loads(get_redis().hget(keys.track(track["id"]), "analysis"))


def test_a_copy_on_its_way_is_answered_as_the_copy_will_be(api, anon):
    """Between an apply and its copy the track's answer comes from the job: the same tag must
    mean the same bytes, so it is the job's waveform as the copy keeps it (coarser when long)."""
    job = done_job(waveform=waveform_blob(seconds=3 * 60))  # 124k pixels at 64: the copy is coarser
    track = add(api, analysis=job)
    url = f"/api/tracks/{track['id']}/waveform.json?samples_per_pixel=64"
    with_copy = anon.get(url)
    get_redis().hset(keys.track_waveform(track["id"]), "analysis", "00000000-0000-4000-8000-000000000000")
    on_its_way = anon.get(url)
    assert on_its_way.status_code == with_copy.status_code == 200
    assert on_its_way["ETag"] == with_copy["ETag"]
    assert on_its_way.content == with_copy.content


def test_without_overwrite_an_analysis_that_filled_something_becomes_the_tracks(api, anon):
    """The waveform is that of the analysis last applied: one that filled a field (here the
    grid and loudness an earlier analyser did not give) is applied, one that filled nothing
    is not."""
    older = {name: value for name, value in RESULT.items()
             if name not in ("downbeats", "beatgrid", "mix_in", "mix_out", "loudness", "open_key")}
    first = done_job(older)
    track = apply(api, add(api), first)
    tag = anon.get(f"/api/tracks/{track['id']}/waveform.json")["ETag"]
    assert tag.startswith(f'"{first}.')

    second = done_job(waveform=waveform_blob(amplitude=0.25))
    filled = apply(api, track, second)  # fills beatgrid, mix points, loudness only
    assert filled["bpm"] == RESULT["bpm"] and filled["loudness"] == LOUD
    assert anon.get(f"/api/tracks/{track['id']}/waveform.json")["ETag"].startswith(f'"{second}.')

    third = done_job({**RESULT, "bpm": 90.0}, waveform=waveform_blob(amplitude=0.125))
    unchanged = apply(api, track, third)  # nothing left to fill
    assert unchanged["bpm"] == RESULT["bpm"]
    assert anon.get(f"/api/tracks/{track['id']}/waveform.json")["ETag"].startswith(f'"{second}.')
