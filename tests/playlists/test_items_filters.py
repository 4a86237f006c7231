"""A playlist's items with the library's DJ filters and ordering (camelot, compatible_with,
ordering): over the entries' tracks, repeats included, positions the playlist's."""

import pytest

from tests.playlists.test_playlists_api import add, detail, make_playlist, make_track, other  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def playlist(api):
    tracks = {}
    for title, key, bpm in [("a", "8A", 124), ("b", "9A", 120), ("c", "3B", 130), ("d", None, None),
                            ("e", "1m", 126)]:
        tracks[title] = make_track(api, title=title, key=key, bpm=bpm)["id"]
    made = make_playlist(api)
    # entries: e, a, c, a, d, b
    assert add(api, made["id"], [tracks[name] for name in "eacadb"]).status_code == 201
    return made["id"]


def page(client, playlist_id, query):
    answer = client.get(f"{detail(playlist_id)}items/{query}")
    assert answer.status_code == 200, (query, answer.content)
    body = answer.json()
    return [(entry["track"]["title"], entry["position"]) for entry in body["results"]], body


def test_camelot_and_compatible_with_filter_the_entries(api, playlist):
    found, body = page(api, playlist, "?camelot=8A")
    assert found == [("e", 0), ("a", 1), ("a", 3)] and body["count"] == 3
    found, body = page(api, playlist, "?compatible_with=Am")
    assert found == [("e", 0), ("a", 1), ("a", 3), ("b", 5)] and body["count"] == 4


def test_ordering_sorts_the_entries_keeping_their_positions(api, playlist):
    found, body = page(api, playlist, "?ordering=bpm")
    assert found == [("b", 5), ("a", 1), ("a", 3), ("e", 0), ("c", 2), ("d", 4)] and body["count"] == 6
    found, _ = page(api, playlist, "?ordering=-bpm")
    assert found == [("c", 2), ("e", 0), ("a", 1), ("a", 3), ("b", 5), ("d", 4)]
    found, _ = page(api, playlist, "?ordering=key")  # 3B, 8A, 8A, 8A, 9A, no key
    assert found == [("c", 2), ("e", 0), ("a", 1), ("a", 3), ("b", 5), ("d", 4)]
    found, _ = page(api, playlist, "?ordering=-position&limit=2&offset=1")
    assert found == [("d", 4), ("a", 3)]
    found, body = page(api, playlist, "?ordering=title&compatible_with=8A&limit=2")
    assert found == [("a", 1), ("a", 3)] and body["count"] == 4
    assert "ordering=title" in body["next"]
    found, _ = page(api, playlist, "?ordering=position")
    assert [position for _, position in found] == list(range(6))


@pytest.mark.parametrize("query", ["?camelot=", "?camelot=0B", "?compatible_with=", "?ordering=", "?ordering=x"])
def test_bad_values_are_400(api, playlist, query):
    assert api.get(f"{detail(playlist)}items/{query}").status_code == 400


def test_a_private_playlist_stays_404_to_others_with_filters(playlist, other, anon):  # noqa: F811
    for client in (other, anon):
        assert client.get(f"{detail(playlist)}items/?ordering=bpm").status_code == 404
        assert client.get(f"{detail(playlist)}items/?camelot=8A").status_code == 404
