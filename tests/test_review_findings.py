"""Inputs a review found that once answered 500 or slipped past a limit: each is a 4xx now."""

import pytest

pytestmark = pytest.mark.django_db


def test_deeply_nested_json_is_400(api):
    body = b"[" * 100000 + b"]" * 100000
    response = api.generic("POST", "/api/tracks/", body, content_type="application/json")
    assert response.status_code == 400 and "detail" in response.json()


def test_a_charset_that_is_no_text_codec_is_400(api):
    response = api.generic("POST", "/api/tracks/", b'{"title": "a", "artist": "b"}',
                           content_type="application/json; charset=rot13")
    assert response.status_code == 400


def test_an_integer_too_large_for_a_float_in_a_waveform_is_400(api):
    body = b'{"title": "a", "artist": "b", "cues": [{"start": 0, "end": 1, "waveform": [1' + b"0" * 400 + b"]}]}"
    response = api.generic("POST", "/api/tracks/", body, content_type="application/json")
    assert response.status_code == 400 and "cues" in response.json()


def test_an_oversized_list_is_refused_before_its_items_are_validated(api):
    response = api.post("/api/tracks/", {"title": "a", "artist": "b", "cues": [{"start": -1}] * 20000},
                        format="json")
    assert response.status_code == 400
    assert response.json() == {"cues": ["Ensure this field has no more than 512 elements."]}


def test_a_spoofed_x_forwarded_for_does_not_escape_the_anonymous_throttle(anon, settings):
    settings.QL_THROTTLE_ANON = "2/min"
    statuses = [anon.get("/api/tracks/", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").status_code for n in range(3)]
    assert statuses == [200, 200, 429]


def test_an_analysis_with_more_cues_than_a_track_holds_is_400(api):
    from analysis import jobs

    job_id, _ = jobs.claim(digest="c" * 64, source={"path": "/x.wav"}, options={})
    cues = [{"name": f"cue_{i}", "start": float(i), "end": i + 1.0, "waveform": []} for i in range(600)]
    jobs.finish(job_id, result={"bpm": 120.0, "key": "A minor", "camelot": "8A", "duration": 601.0,
                                "sample_rate": 22050, "beats": [], "waveform": [], "cues": cues})
    response = api.post("/api/tracks/", {"title": "a", "artist": "b", "analysis": job_id}, format="json")
    assert response.status_code == 400 and "512" in response.json()["analysis"][0]


def test_a_running_job_whose_worker_died_does_not_hold_its_audio():
    from analysis import jobs

    first, new = jobs.claim(digest="d" * 64, source={"path": "/x.wav"}, options={})
    assert new
    jobs.mark_running(first)
    assert jobs.claim(digest="d" * 64, source={"path": "/x.wav"}, options={}) == (first, False)
    from quantumlive import keys
    from quantumlive.redis_conn import get_redis

    get_redis().delete(keys.analysis_alive(first))  # its work-horse stopped beating
    second, new = jobs.claim(digest="d" * 64, source={"path": "/x.wav"}, options={})
    assert new and second != first


def test_a_loop_of_links_under_the_audio_root_is_400(api, settings, tmp_path):
    settings.QL_AUDIO_ROOT = tmp_path
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    response = api.post("/api/analysis/", {"path": "loop/x.wav"}, format="json")
    assert response.status_code == 400 and "path" in response.json()
