"""API.md's Playlists table, the entry calls row by row: list the entries, add, delete one,
remove several, reorder; bad input changing nothing; the library's deletions reaching every
playlist; a busy playlist answering 503."""

import pytest

from quantumlive import keys
from quantumlive.redis_conn import get_redis
from tests.playlists.test_playlists_api import (  # noqa: F401  (fixtures)
    MISSING,
    add,
    detail,
    make_playlist,
    make_track,
    other,
    version_of,
)

pytestmark = pytest.mark.django_db


def items(playlist_id: str) -> str:
    return f"{detail(playlist_id)}items/"


def all_entries(client, playlist_id: str) -> list[dict]:
    response = client.get(items(playlist_id), {"limit": 500})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def order(client, playlist_id: str) -> list[str]:
    """The track titles of the playlist, in order (the tracks are named by title)."""
    entries = all_entries(client, playlist_id)
    assert [entry["position"] for entry in entries] == list(range(len(entries)))  # contiguous
    return [entry["track"]["title"] for entry in entries]


@pytest.fixture
def library(api):
    """Tracks "a" .. "e", 60 s each, by title."""
    return {title: make_track(api, title=title, duration=60.0)["id"] for title in "abcde"}


@pytest.fixture
def playlist(api):
    return make_playlist(api)


def fill(api, playlist: dict, library: dict, titles: str) -> list[str]:
    """Adds these tracks (by title) and answers their entry ids."""
    response = add(api, playlist["id"], [library[title] for title in titles])
    assert response.status_code == 201, response.content
    return [entry["entry"] for entry in response.json()["entries"]]


# --- add ---------------------------------------------------------------------------------
def test_add_answers_the_version_and_the_new_entries(api, playlist, library):
    response = add(api, playlist["id"], [library["a"], library["b"], library["a"]])
    assert response.status_code == 201
    assert response["ETag"] == '"2"'
    body = response.json()
    assert set(body) == {"version", "entries"} and body["version"] == 2
    entries = body["entries"]
    assert [entry["position"] for entry in entries] == [0, 1, 2]
    assert [entry["track"]["title"] for entry in entries] == ["a", "b", "a"]
    assert len({entry["entry"] for entry in entries}) == 3  # a repeat is a new entry
    assert all(set(entry) == {"entry", "position", "added", "track"} for entry in entries)
    assert entries[0]["added"].endswith("Z")
    assert all_entries(api, playlist["id"]) == entries
    got = api.get(detail(playlist["id"])).json()
    assert got["tracks"] == 3 and got["duration"] == 180.0 and got["version"] == 2


def test_an_entrys_track_is_the_library_list_result_without_its_position(api, playlist):
    track = make_track(api, bpm=124, key="am", genres=["house"], notes="n",
                       cues=[{"start": 0, "end": 7.5, "waveform": [0.1, 0.2]}])
    make_track(api, title="second")
    listed = api.get("/api/tracks/").json()["results"][0]
    entry = add(api, playlist["id"], [track["id"]]).json()["entries"][0]
    assert listed["cues"] == [{"name": "cue_0", "start": 0.0, "end": 7.5}]  # no waveform
    assert entry["track"] == {name: value for name, value in listed.items() if name != "position"}
    assert all_entries(api, playlist["id"])[0]["track"] == entry["track"]


def test_add_at_a_position_inserts_there_in_the_order_given(api, playlist, library):
    fill(api, playlist, library, "abc")
    response = add(api, playlist["id"], [library["d"], library["e"]], position=1)
    assert [entry["position"] for entry in response.json()["entries"]] == [1, 2]
    assert order(api, playlist["id"]) == ["a", "d", "e", "b", "c"]
    add(api, playlist["id"], [library["e"]], position=0)
    add(api, playlist["id"], [library["a"]], position=99)  # past the end: appended
    assert order(api, playlist["id"]) == ["e", "a", "d", "e", "b", "c", "a"]
    add(api, playlist["id"], [library["b"]], position=7)  # at the length: appended
    assert order(api, playlist["id"])[-1] == "b"


def test_add_takes_500_ids_and_ids_in_any_uuid_spelling(api, playlist, library):
    response = add(api, playlist["id"], [library["a"]] * 499 + [library["b"].upper()])
    assert response.status_code == 201
    assert response.json()["entries"][-1]["track"]["id"] == library["b"]
    assert api.get(detail(playlist["id"])).json()["tracks"] == 500


def test_an_unknown_track_is_400_naming_it_and_nothing_is_added(api, playlist, library):
    fill(api, playlist, library, "a")
    response = add(api, playlist["id"], [library["b"], MISSING, library["c"]])
    assert response.status_code == 400
    assert response.json() == {"tracks": [f"No track with id {MISSING} in the library; nothing was added."]}
    assert order(api, playlist["id"]) == ["a"] and version_of(playlist["id"]) == 2


@pytest.mark.parametrize("body, field, named", [
    ({"tracks": ["not-a-uuid"]}, "tracks", "not-a-uuid"),
    ({"tracks": ["{a}", 5]}, "tracks", "{a}"),
    ({"tracks": [5]}, "tracks", "number"),
    ({"tracks": [None]}, "tracks", "null"),
    ({"tracks": [["x"]]}, "tracks", "list"),
    ({"tracks": ["x" * 5000]}, "tracks", "x" * 64),
    ({"tracks": []}, "tracks", None),
    ({"tracks": "6f1c2d4e-8b7a-4c3d-9e2f-0a1b2c3d4e5f"}, "tracks", None),
    ({"tracks": {"a": 1}}, "tracks", None),
    ({"tracks": None}, "tracks", None),
    ({}, "tracks", None),
    ({"tracks": [MISSING] * 501}, "tracks", "500"),
    ({"tracks": [MISSING], "position": -1}, "position", None),
    ({"tracks": [MISSING], "position": "1"}, "position", None),
    ({"tracks": [MISSING], "position": 1.5}, "position", None),
    ({"tracks": [MISSING], "position": True}, "position", None),
    ({"tracks": [MISSING], "position": None}, "position", None),
    ({"tracks": [MISSING], "colour": "red"}, "colour", None),
])
def test_add_refuses_bad_bodies_and_changes_nothing(api, playlist, library, body, field, named):
    fill(api, playlist, library, "a")
    body = {key: ([library["b"] if item == MISSING else item for item in value] if key == "tracks"
                  and isinstance(value, list) else value) for key, value in body.items()}
    response = api.post(items(playlist["id"]), body, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()
    assert field in errors
    if named is not None:
        assert named in str(errors[field])
    assert order(api, playlist["id"]) == ["a"] and version_of(playlist["id"]) == 2


def test_a_playlist_holds_at_most_the_configured_entries(api, playlist, library, settings):
    settings.QL_PLAYLIST_MAX_ENTRIES = 3
    fill(api, playlist, library, "ab")
    response = add(api, playlist["id"], [library["c"], library["d"]])
    assert response.status_code == 400
    assert response.json() == {"tracks": ["A playlist holds at most 3 entries; nothing was added."]}
    assert order(api, playlist["id"]) == ["a", "b"] and version_of(playlist["id"]) == 2
    assert add(api, playlist["id"], [library["c"]]).status_code == 201


def test_add_to_an_unknown_or_malformed_playlist_is_404(api, library):
    assert add(api, MISSING, [library["a"]]).status_code == 404
    assert add(api, "nope", [library["a"]]).status_code == 404


# --- list the entries --------------------------------------------------------------------
def test_entries_page_in_order_with_links(anon, api, library):
    playlist = make_playlist(api, public=True)
    fill(api, playlist, library, "abcde")
    first = anon.get(items(playlist["id"]), {"limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert page["count"] == 5 and page["previous"] is None
    assert [entry["track"]["title"] for entry in page["results"]] == ["a", "b"]
    assert "offset=2" in page["next"] and "limit=2" in page["next"]
    second = anon.get(page["next"]).json()
    assert [(entry["position"], entry["track"]["title"]) for entry in second["results"]] == [(2, "c"), (3, "d")]
    assert "offset=0" in second["previous"]
    last = anon.get(second["next"]).json()
    assert [entry["track"]["title"] for entry in last["results"]] == ["e"] and last["next"] is None
    default = anon.get(items(playlist["id"])).json()
    assert default["count"] == 5 and len(default["results"]) == 5 and default["next"] is None
    assert anon.get(items(playlist["id"]), {"offset": 10}).json()["results"] == []


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 501}, {"limit": "x"}, {"offset": -1},
                                   {"offset": ""}, {"limit": "2.5"}])
def test_entries_refuse_bad_query_values(api, playlist, query):
    response = api.get(items(playlist["id"]), query)
    assert response.status_code == 400 and set(response.json()) == set(query)


def test_entries_of_an_unknown_or_malformed_playlist_are_404(api):
    assert api.get(items(MISSING)).status_code == 404
    assert api.get(items("nope")).status_code == 404


# --- delete one entry ---------------------------------------------------------------------
def test_delete_an_entry_renumbers_the_rest(api, playlist, library):
    entries = fill(api, playlist, library, "abca")
    response = api.delete(f"{items(playlist['id'])}{entries[1]}/")
    assert response.status_code == 204 and not response.content
    assert order(api, playlist["id"]) == ["a", "c", "a"]
    assert [entry["entry"] for entry in all_entries(api, playlist["id"])] == [entries[0], entries[2], entries[3]]
    got = api.get(detail(playlist["id"])).json()
    assert got["version"] == 3 and got["tracks"] == 3 and got["duration"] == 180.0
    assert response["ETag"] == '"3"'  # the version the removal made


def test_delete_an_unknown_or_malformed_entry_is_404_and_changes_nothing(api, playlist, library):
    entries = fill(api, playlist, library, "ab")
    other_playlist = make_playlist(api)
    foreign = fill(api, other_playlist, library, "c")[0]
    for entry in (MISSING, "nope", foreign):
        response = api.delete(f"{items(playlist['id'])}{entry}/")
        assert response.status_code == 404, entry
        assert response.json() == {"detail": "No entry with this id in this playlist."}
    api.delete(f"{items(playlist['id'])}{entries[0]}/")
    assert api.delete(f"{items(playlist['id'])}{entries[0]}/").status_code == 404  # already gone
    assert order(api, playlist["id"]) == ["b"] and version_of(playlist["id"]) == 3
    assert api.delete(f"{items(MISSING)}{entries[1]}/").status_code == 404


# --- remove several ------------------------------------------------------------------------
def test_remove_takes_them_all_out_and_answers_the_playlist(api, playlist, library):
    entries = fill(api, playlist, library, "abcde")
    response = api.post(f"{items(playlist['id'])}remove/", {"entries": [entries[3], entries[0], entries[3]]},
                        format="json")
    assert response.status_code == 200
    assert response["ETag"] == '"3"'
    body = response.json()
    assert body["tracks"] == 3 and body["version"] == 3 and body["duration"] == 180.0
    assert body == api.get(detail(playlist["id"])).json()
    assert order(api, playlist["id"]) == ["b", "c", "e"]


def test_remove_with_one_unknown_entry_removes_none(api, playlist, library):
    entries = fill(api, playlist, library, "abc")
    response = api.post(f"{items(playlist['id'])}remove/", {"entries": [entries[0], MISSING]}, format="json")
    assert response.status_code == 400
    assert response.json() == {"entries": [f"No entry with id {MISSING} in this playlist; nothing was removed."]}
    assert order(api, playlist["id"]) == ["a", "b", "c"] and version_of(playlist["id"]) == 2


@pytest.mark.parametrize("body, named", [
    ({"entries": []}, None), ({"entries": ["nope"]}, "nope"), ({"entries": [1]}, "number"),
    ({"entries": "x"}, None), ({}, None), ({"entries": [MISSING] * 501}, "500"),
])
def test_remove_refuses_bad_bodies_and_changes_nothing(api, playlist, library, body, named):
    fill(api, playlist, library, "ab")
    response = api.post(f"{items(playlist['id'])}remove/", body, format="json")
    assert response.status_code == 400 and "entries" in response.json()
    if named is not None:
        assert named in str(response.json()["entries"])
    assert order(api, playlist["id"]) == ["a", "b"] and version_of(playlist["id"]) == 2


def test_remove_refuses_unknown_fields(api, playlist, library):
    entries = fill(api, playlist, library, "ab")
    response = api.post(f"{items(playlist['id'])}remove/", {"entries": entries[:1], "all": True}, format="json")
    assert response.status_code == 400 and "all" in response.json()
    assert order(api, playlist["id"]) == ["a", "b"]


def test_remove_takes_500_entries(api, playlist, library):
    response = add(api, playlist["id"], [library["a"]] * 500)
    fill(api, playlist, library, "b")
    entries = [entry["entry"] for entry in response.json()["entries"]]
    answer = api.post(f"{items(playlist['id'])}remove/", {"entries": entries[:500]}, format="json")
    assert answer.status_code == 200 and answer.json()["tracks"] == 1
    assert order(api, playlist["id"]) == ["b"]


# --- reorder -----------------------------------------------------------------------------
@pytest.mark.parametrize("body, expected", [
    ({"range_start": 0, "insert_before": 5}, "bcdea"),
    ({"range_start": 4, "insert_before": 0}, "eabcd"),
    ({"range_start": 1, "range_length": 2, "insert_before": 5}, "adebc"),
    ({"range_start": 3, "range_length": 2, "insert_before": 1}, "adebc"),
    ({"range_start": 0, "range_length": 2, "insert_before": 3}, "cabde"),
    ({"range_start": 1, "range_length": 2, "insert_before": 2}, "abcde"),  # into itself: no move
    ({"range_start": 0, "range_length": 5, "insert_before": 0}, "abcde"),
])
def test_reorder_moves_a_range_before_an_entry_as_spotify_does(api, playlist, library, body, expected):
    entries = fill(api, playlist, library, "abcde")
    response = api.post(f"{detail(playlist['id'])}reorder/", body, format="json")
    assert response.status_code == 200, response.content
    assert response["ETag"] == '"3"'
    assert response.json() == api.get(detail(playlist["id"])).json()
    assert response.json()["version"] == 3 and response.json()["tracks"] == 5
    assert "".join(order(api, playlist["id"])) == expected
    assert {entry["entry"] for entry in all_entries(api, playlist["id"])} == set(entries)  # ids kept


@pytest.mark.parametrize("body, field", [
    ({"range_start": 5, "insert_before": 0}, "non_field_errors"),
    ({"range_start": 4, "range_length": 2, "insert_before": 0}, "non_field_errors"),
    ({"range_start": 0, "insert_before": 6}, "non_field_errors"),
    ({"range_start": -1, "insert_before": 0}, "range_start"),
    ({"range_start": 0, "range_length": 0, "insert_before": 1}, "range_length"),
    ({"range_start": 0, "insert_before": -1}, "insert_before"),
    ({"range_start": "0", "insert_before": 1}, "range_start"),
    ({"range_start": 0, "insert_before": 1.5}, "insert_before"),
    ({"range_start": 0, "range_length": True, "insert_before": 1}, "range_length"),
    ({"range_start": 0, "range_length": None, "insert_before": 1}, "range_length"),
    ({"insert_before": 1}, "range_start"),
    ({"range_start": 0}, "insert_before"),
    ({"range_start": 0, "insert_before": 1, "snapshot_id": "x"}, "snapshot_id"),
])
def test_reorder_refuses_bad_and_out_of_range_values_and_changes_nothing(api, playlist, library, body, field):
    fill(api, playlist, library, "abcde")
    response = api.post(f"{detail(playlist['id'])}reorder/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert "".join(order(api, playlist["id"])) == "abcde" and version_of(playlist["id"]) == 2


def test_reorder_of_an_empty_playlist_is_out_of_range(api, playlist):
    response = api.post(f"{detail(playlist['id'])}reorder/", {"range_start": 0, "insert_before": 0}, format="json")
    assert response.status_code == 400
    assert "0 entries" in response.json()["non_field_errors"][0]


# --- the library's deletions ---------------------------------------------------------------
def test_deleting_a_library_track_removes_its_entries_from_every_playlist(api, other, library):
    mine = make_playlist(api)
    theirs = make_playlist(other, public=True)
    fill(api, mine, library, "abab")
    assert add(other, theirs["id"], [library["b"], library["c"]]).status_code == 201
    versions = (version_of(mine["id"]), version_of(theirs["id"]))
    assert api.delete(f"/api/tracks/{library['b']}/").status_code == 204
    assert order(api, mine["id"]) == ["a", "a"]
    assert order(other, theirs["id"]) == ["c"]
    got_mine, got_theirs = api.get(detail(mine["id"])).json(), other.get(detail(theirs["id"])).json()
    assert (got_mine["version"], got_theirs["version"]) == (versions[0] + 1, versions[1] + 1)
    assert got_mine["tracks"] == 2 and got_mine["duration"] == 120.0
    assert add(api, mine["id"], [library["b"]]).status_code == 400  # no longer in the library


def test_a_tracks_new_duration_counts_in_the_playlist(api, playlist, library):
    fill(api, playlist, library, "aa")
    assert api.patch(f"/api/tracks/{library['a']}/", {"duration": 90}, format="json").status_code == 200
    got = api.get(detail(playlist["id"])).json()
    assert got["duration"] == 180.0 and got["version"] == 3
    assert all_entries(api, playlist["id"])[0]["track"]["duration"] == 90.0


# --- a busy playlist -----------------------------------------------------------------------
@pytest.mark.parametrize("write", ["patch", "add", "reorder", "remove", "delete entry", "delete"])
def test_a_write_that_cannot_get_the_lock_is_503_with_retry_after_and_changes_nothing(
        api, playlist, library, settings, write):
    from tests.playlists.test_playlists_api import write_as

    entries = fill(api, playlist, library, "ab")
    settings.QL_LOCK_WAIT = 0.05
    get_redis().set(keys.playlist_lock(playlist["id"]), "someone else", px=10_000)
    target = {"playlist": playlist["id"], "track": library["c"], "entry": entries[0]}
    response = write_as(api, write, target)
    assert response.status_code == 503, response.content
    assert int(response["Retry-After"]) >= 1
    assert response.json() == {"detail": "The playlist is busy; nothing changed. Retry shortly."}
    get_redis().delete(keys.playlist_lock(playlist["id"]))
    assert order(api, playlist["id"]) == ["a", "b"] and version_of(playlist["id"]) == 2
