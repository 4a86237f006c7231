"""The harmonic index through a restore (manage.py import_library): the swap-in indexes the
tracks it writes, --replace takes the tracks it drops out of the index."""

import pytest

from quantumlive import keys
from quantumlive.redis_conn import get_redis
from tests.tracks.test_backup import export, run_import

pytestmark = pytest.mark.django_db


def create(api, title, key, bpm):
    answer = api.post("/api/tracks/", {"title": title, "artist": "A", "key": key, "bpm": bpm}, format="json")
    assert answer.status_code == 201
    return answer.json()["id"]


def indexed() -> dict:
    return dict(get_redis().zrange(keys.track_key_index(), 0, -1, withscores=True))


def test_a_restore_keeps_the_index_exact_without_a_rebuild(tmp_path, api):
    seed = create(api, "seed", "8A", 120)
    mate = create(api, "mate", "9A", 121)
    assert api.get(f"/api/tracks/{seed}/suggestions/").json()["results"]  # the index is built
    export(tmp_path)
    full = indexed()
    assert set(full) == {seed, mate} and full[mate] == 18 * 1000 + 121

    api.delete(f"/api/tracks/{mate}/")
    api.patch(f"/api/tracks/{seed}/", {"key": "3B"}, format="json")
    extra = create(api, "extra", "8A", 120)
    run_import(tmp_path / "backup.json", "--replace")  # mate back, seed replaced, extra dropped
    assert get_redis().get(keys.track_key_index_version()) is not None  # no rebuild was needed
    assert indexed() == full and extra not in indexed()
    results = api.get(f"/api/tracks/{seed}/suggestions/").json()["results"]
    assert [item["track"]["id"] for item in results] == [mate]

    api.delete(f"/api/tracks/{mate}/")
    run_import(tmp_path / "backup.json")  # added back where its id is free
    assert indexed() == full
