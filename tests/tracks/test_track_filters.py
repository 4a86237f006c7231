"""The library list's DJ filters and ordering: camelot, compatible_with, ordering."""

import pytest

pytestmark = pytest.mark.django_db

TRACKS = "/api/tracks/"


@pytest.fixture
def library(api):
    """Tracks in this position order: title, artist, key, bpm."""
    rows = [
        ("delta", "Zed", "8A", 124),
        ("Alpha", "bee", "9A", 126),
        ("charlie", "Ann", "8B", None),
        ("bravo", "ann", None, 120),
        ("echo", "Cat", "7A", 124),
        ("foxtrot", "dan", "3B", 100),
        ("golf", "Eve", "1m", 130),  # Open Key 1m = 8A
        ("hotel", "fay", "10A", 124),
        ("india", "gus", "12A", 90),
        ("juliet", "hal", "1A", 90),
    ]
    ids = []
    for title, artist, key, bpm in rows:
        answer = api.post(TRACKS, {"title": title, "artist": artist, "key": key, "bpm": bpm}, format="json")
        assert answer.status_code == 201
        ids.append(answer.json()["id"])
    return ids


def titles(client, query):
    answer = client.get(TRACKS + query)
    assert answer.status_code == 200, (query, answer.content)
    body = answer.json()
    return [track["title"] for track in body["results"]], body


@pytest.mark.parametrize("code", ["8A", "8a", "1m", "A minor", "Am", "08A"])
def test_camelot_matches_the_key_in_any_notation(anon, library, code):
    found, body = titles(anon, f"?camelot={code.replace(' ', '%20')}")
    assert found == ["delta", "golf"] and body["count"] == 2


def test_compatible_with_keeps_same_plus_minus_one_and_relative(anon, library):
    found, _ = titles(anon, "?compatible_with=8A")
    assert found == ["delta", "Alpha", "charlie", "echo", "golf"]
    wrapped, _ = titles(anon, "?compatible_with=12A")  # 11A, 12A, 1A, 12B
    assert wrapped == ["india", "juliet"]
    assert titles(anon, "?compatible_with=1d")[0] == titles(anon, "?compatible_with=8B")[0]


def test_filters_combine_with_and(anon, library):
    found, _ = titles(anon, "?compatible_with=8A&bpm_min=125")
    assert found == ["Alpha", "golf"]
    assert titles(anon, "?camelot=8A&key=9A")[0] == []


def test_ordering_by_title_and_artist_is_case_insensitive(anon, library):
    assert titles(anon, "?ordering=title")[0][:3] == ["Alpha", "bravo", "charlie"]
    assert titles(anon, "?ordering=-title")[0][:2] == ["juliet", "india"]
    # equal artists (Ann, ann) keep their position order in both directions
    assert titles(anon, "?ordering=artist")[0][:3] == ["charlie", "bravo", "Alpha"]
    assert titles(anon, "?ordering=-artist")[0] == [
        "delta", "juliet", "india", "hotel", "golf", "foxtrot", "echo", "Alpha", "charlie", "bravo"]


def test_ordering_by_bpm_puts_tracks_without_one_last_both_ways_and_ties_by_position(anon, library):
    up, _ = titles(anon, "?ordering=bpm")
    assert up == ["india", "juliet", "foxtrot", "bravo", "delta", "echo", "hotel", "Alpha", "golf", "charlie"]
    down, _ = titles(anon, "?ordering=-bpm")
    assert down == ["golf", "Alpha", "delta", "echo", "hotel", "bravo", "foxtrot", "india", "juliet", "charlie"]


def test_ordering_by_key_follows_the_camelot_wheel(anon, library):
    up, _ = titles(anon, "?ordering=key")
    # 1A, 3B, 7A, 8A (delta, golf), 8B, 9A, 10A, 12A, then no key
    assert up == ["juliet", "foxtrot", "echo", "delta", "golf", "charlie", "Alpha", "hotel", "india", "bravo"]
    down, _ = titles(anon, "?ordering=-key")
    assert down == ["india", "hotel", "Alpha", "charlie", "delta", "golf", "echo", "foxtrot", "juliet", "bravo"]


def test_ordering_by_position_times_and_pages(api, anon, library):
    assert titles(anon, "?ordering=-position")[0][:2] == ["juliet", "india"]
    listed, _ = titles(anon, "?ordering=position")
    assert listed == titles(anon, "")[0]
    api.patch(f"{TRACKS}{library[3]}/", {"notes": "x"}, format="json")
    assert titles(anon, "?ordering=-updated")[0][0] == "bravo"
    assert titles(anon, "?ordering=created")[0] == listed
    assert titles(anon, "?ordering=-created")[0] == listed[::-1]
    page, body = titles(anon, "?ordering=bpm&compatible_with=8A&limit=2&offset=1")
    assert page == ["echo", "Alpha"] and body["count"] == 5
    assert "ordering=bpm" in body["next"] and "compatible_with=8A" in body["next"]
    # positions are the library's, whatever the order
    results = anon.get(TRACKS + "?ordering=-position&limit=1").json()["results"]
    assert results[0]["position"] == 9


@pytest.mark.parametrize("query", [
    "?camelot=", "?camelot=13A", "?camelot=8C", "?camelot=H", "?compatible_with=", "?compatible_with=0A",
    "?ordering=", "?ordering=name", "?ordering=--bpm", "?ordering=BPM", "?ordering=+bpm", "?camelot=" + "8" * 40,
])
def test_bad_values_are_400(anon, library, query):
    answer = anon.get(TRACKS + query)
    assert answer.status_code == 400, (query, answer.content)
