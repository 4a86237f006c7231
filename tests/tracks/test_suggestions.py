"""GET /api/tracks/{id}/suggestions/: harmonic relations, BPM with half and double time, the
score, the playlist restriction, and the harmonic index the track scripts keep."""

import uuid

import pytest

from quantumlive import keys
from quantumlive.redis_conn import get_redis

pytestmark = pytest.mark.django_db

TRACKS = "/api/tracks/"


def create(api, title, key=None, bpm=None, **fields):
    answer = api.post(TRACKS, {"title": title, "artist": "A", "key": key, "bpm": bpm, **fields}, format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()


def suggest(client, track_id, query=""):
    return client.get(f"{TRACKS}{track_id}/suggestions/{query}")


def titles(answer):
    assert answer.status_code == 200, answer.content
    return [item["track"]["title"] for item in answer.json()["results"]]


def by_title(answer):
    return {item["track"]["title"]: item for item in answer.json()["results"]}


def test_the_issues_example_keeps_the_compatible_tracks_and_leaves_out_the_others(api, anon):
    seed = create(api, "seed", "8A", 124)
    create(api, "up one", "9A", 126)
    create(api, "relative", "8B", 122)
    create(api, "half time", "8A", 62)
    create(api, "energy boost", "10A", 124)
    create(api, "far key", "3B", 124)
    create(api, "too fast", "8A", 124 * 1.07)
    create(api, "no bpm", "8A")
    create(api, "no key", None, 124)
    answer = suggest(anon, seed["id"])  # anonymous may read
    found = by_title(answer)
    assert set(found) == {"up one", "relative", "half time", "energy boost"}
    assert found["up one"]["relation"] == "+1"
    assert found["relative"]["relation"] == "relative"
    assert found["half time"]["relation"] == "same" and found["half time"]["bpm_delta_pct"] == 0
    assert found["energy boost"]["relation"] == "energy_boost"
    assert found["up one"]["bpm_delta_pct"] == 1.61 and found["relative"]["bpm_delta_pct"] == -1.61
    assert titles(answer) == ["half time", "up one", "relative", "energy boost"]
    # a result's track is as in list results: no cue waveforms, with its position
    item = found["up one"]["track"]
    listed = api.get(f"{TRACKS}?q=up%20one").json()["results"][0]
    assert item == listed


def test_at_equal_bpm_distance_the_relation_orders_the_scores(api):
    seed = create(api, "seed", "8A", 124)
    for title, key in [("energy", "10A"), ("relative", "8B"), ("minus", "7A"), ("plus", "9A"), ("same", "8A")]:
        create(api, title, key, 126)
    answer = suggest(api, seed["id"])
    results = answer.json()["results"]
    assert [item["relation"] for item in results] == ["same", "+1", "-1", "relative", "energy_boost"]
    scores = [item["score"] for item in results]
    assert scores[0] > scores[1] == scores[2] > scores[3] > scores[4]
    assert {item["bpm_delta_pct"] for item in results} == {1.61}


def test_double_time_and_the_closest_of_the_three_bpms_count(api):
    seed = create(api, "seed", "5B", 87)
    create(api, "double", "5B", 170)  # 170 / 2 = 85: -2.3 %
    create(api, "slower", "5B", 84)
    answer = suggest(api, seed["id"], "?bpm_tolerance=4")
    found = by_title(answer)
    assert found["double"]["bpm_delta_pct"] == -2.3 and found["slower"]["bpm_delta_pct"] == -3.45
    assert titles(answer) == ["double", "slower"]


def test_the_wheel_wraps_from_12_to_1(api):
    seed = create(api, "seed", "12A", 120)
    create(api, "one", "1A", 120)
    create(api, "two", "2A", 120)
    create(api, "eleven", "11A", 120)
    found = by_title(suggest(api, seed["id"]))
    assert {name: item["relation"] for name, item in found.items()} == {
        "one": "+1", "two": "energy_boost", "eleven": "-1"}


def test_the_tolerance_bounds_the_bpm_and_zero_keeps_only_the_same_tempo(api):
    seed = create(api, "seed", "8A", 120)
    create(api, "exact", "8A", 120)
    create(api, "at six", "8A", 127.2)
    create(api, "past six", "8A", 127.3)
    assert titles(suggest(api, seed["id"])) == ["exact", "at six"]
    assert titles(suggest(api, seed["id"], "?bpm_tolerance=0")) == ["exact"]
    assert titles(suggest(api, seed["id"], "?bpm_tolerance=20")) == ["exact", "at six", "past six"]


def test_limit_keeps_the_best(api):
    seed = create(api, "seed", "8A", 120)
    for index in range(5):
        create(api, f"t{index}", "8A", 120 + index)
    assert titles(suggest(api, seed["id"], "?limit=2")) == ["t0", "t1"]


@pytest.mark.parametrize("query", [
    "?bpm_tolerance=21", "?bpm_tolerance=-1", "?bpm_tolerance=nan", "?bpm_tolerance=inf", "?bpm_tolerance=",
    "?bpm_tolerance=abc", "?limit=0", "?limit=101", "?limit=", "?limit=2.5", "?playlist=", "?playlist=nope",
])
def test_bad_parameters_are_400(api, query):
    seed = create(api, "seed", "8A", 120)
    answer = suggest(api, seed["id"], query)
    assert answer.status_code == 400, (query, answer.content)


def test_a_track_without_key_or_bpm_is_400_and_an_unknown_one_404(api):
    no_key = create(api, "no key", None, 120)
    no_bpm = create(api, "no bpm", "8A")
    assert suggest(api, no_key["id"]).status_code == 400
    answer = suggest(api, no_bpm["id"])
    assert answer.status_code == 400 and "BPM" in answer.json()["track"][0]
    assert suggest(api, str(uuid.uuid4())).status_code == 404
    assert suggest(api, "not-a-uuid").status_code == 404


def test_the_index_follows_every_write_of_a_track(api):
    seed = create(api, "seed", "8A", 120)
    other = create(api, "other", "3B", 120)
    assert titles(suggest(api, seed["id"])) == []
    api.patch(f"{TRACKS}{other['id']}/", {"key": "1m"}, format="json")  # Open Key 1m = 8A
    assert titles(suggest(api, seed["id"])) == ["other"]
    api.patch(f"{TRACKS}{other['id']}/", {"bpm": 200}, format="json")
    assert titles(suggest(api, seed["id"])) == []
    api.patch(f"{TRACKS}{other['id']}/", {"bpm": 240}, format="json")  # double time
    assert by_title(suggest(api, seed["id"]))["other"]["bpm_delta_pct"] == 0
    api.patch(f"{TRACKS}{other['id']}/", {"key": None}, format="json")
    assert titles(suggest(api, seed["id"])) == []
    api.patch(f"{TRACKS}{other['id']}/", {"key": "8A"}, format="json")
    api.patch(f"{TRACKS}{seed['id']}/", {"bpm": 240}, format="json")  # the seed moves: half time now
    assert titles(suggest(api, seed["id"])) == ["other"]
    api.delete(f"{TRACKS}{other['id']}/")
    assert titles(suggest(api, seed["id"])) == []
    assert get_redis().zscore(keys.track_key_index(), other["id"]) is None


def test_an_index_missing_from_an_older_data_set_is_built_on_first_use(api):
    seed = create(api, "seed", "8A", 120)
    create(api, "mate", "9A", 120)
    redis = get_redis()
    redis.delete(keys.track_key_index(), keys.track_key_index_version())  # as before the index existed
    assert titles(suggest(api, seed["id"])) == ["mate"]
    assert redis.get(keys.track_key_index_version()) is not None
    assert redis.zcard(keys.track_key_index()) == 2
    # built again from scratch, it is the same (idempotent)
    before = redis.zrange(keys.track_key_index(), 0, -1, withscores=True)
    from tracks.suggestions import key_index_build

    assert key_index_build() == 2
    assert redis.zrange(keys.track_key_index(), 0, -1, withscores=True) == before


def test_index_keys_stay_in_the_librarys_slot(settings):
    tag = "{%s}" % settings.QL_REDIS_PREFIX
    assert keys.track_key_index().startswith(tag + ":")
    assert keys.track_key_index_version().startswith(tag + ":")


def test_a_playlist_restricts_the_suggestions_to_its_tracks_once_each(api, anon, client, django_user_model):
    seed = create(api, "seed", "8A", 124)
    inside = create(api, "inside", "9A", 124)
    create(api, "outside", "8A", 124)
    playlist = api.post("/api/playlists/", {"name": "set", "public": False}, format="json").json()
    api.post(f"/api/playlists/{playlist['id']}/items/", {"tracks": [inside["id"], inside["id"], seed["id"]]},
             format="json")
    query = f"?playlist={playlist['id']}"
    assert titles(suggest(api, seed["id"], query)) == ["inside"]
    assert titles(suggest(api, seed["id"])) == ["outside", "inside"]
    # a private playlist of another user is 404, as the playlist API answers it
    assert suggest(anon, seed["id"], query).status_code == 404
    assert suggest(api, seed["id"], f"?playlist={uuid.uuid4()}").status_code == 404
    api.patch(f"/api/playlists/{playlist['id']}/", {"public": True}, format="json")
    assert titles(suggest(anon, seed["id"], query)) == ["inside"]
