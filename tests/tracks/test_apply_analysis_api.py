"""POST /api/tracks/{id}/apply-analysis/: a 400 on `analysis` speaks of the analysis only;
what goes wrong with the track's own record is not the client's analysis id."""

import pytest

from quantumlive import keys
from quantumlive.redis_conn import get_redis
from tracks.cache import reset_process_cache

pytestmark = pytest.mark.django_db

UNKNOWN_JOB = "6f1c1d2e-0000-4000-8000-000000000000"


def test_a_damaged_track_record_is_a_server_error_not_a_bad_analysis(api):
    track = api.post("/api/tracks/", {"title": "t", "artist": "a"}, format="json").json()
    get_redis().hset(keys.track(track["id"]), "genres", "{not JSON")
    reset_process_cache()  # the next read is Redis's record, not this process's copy
    api.raise_request_exception = False

    response = api.post(f"/api/tracks/{track['id']}/apply-analysis/", {"analysis": UNKNOWN_JOB}, format="json")

    assert response.status_code == 500


def test_an_unknown_analysis_of_a_sound_track_is_a_400_on_analysis(api):
    track = api.post("/api/tracks/", {"title": "t", "artist": "a"}, format="json").json()

    response = api.post(f"/api/tracks/{track['id']}/apply-analysis/", {"analysis": UNKNOWN_JOB}, format="json")

    assert response.status_code == 400
    assert response.json() == {"analysis": ["Unknown analysis job."]}
