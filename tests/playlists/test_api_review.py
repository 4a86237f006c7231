"""A hostile review of the Playlists API (API.md "Playlists", "Bad input, bounded"): answers
to values at the edges that once gave a 500 or an inconsistent status."""

import uuid

import pytest

from tests.playlists.test_playlists_api import (  # noqa: F401  (fixtures)
    add,
    detail,
    make_playlist,
    make_track,
    other,
    version_of,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("offset", ["100000000000000000", "1000000000000000000", "9" * 30, "9" * 999])
def test_an_entry_page_far_past_the_end_is_an_empty_page(api, anon, offset):
    """`offset` >= 0 has no upper bound (API.md): one past every playlist's length gives an
    empty page, like the playlists list, not a 500 from Redis's range arguments."""
    playlist = make_playlist(api, public=True)
    track = make_track(api)
    add(api, playlist["id"], [track["id"]] * 3)
    anon.raise_request_exception = False
    response = anon.get(f"{detail(playlist['id'])}items/", {"offset": offset, "limit": 50})
    assert response.status_code == 200, response.content[:200]
    page = response.json()
    assert page["count"] == 3 and page["results"] == [] and page["next"] is None
    assert f"offset={int(offset) - 50}" in page["previous"]


def test_an_entry_page_at_the_largest_useful_offset_still_reads_the_entries(api):
    playlist = make_playlist(api)
    track = make_track(api)
    add(api, playlist["id"], [track["id"]] * 3)
    page = api.get(f"{detail(playlist['id'])}items/", {"offset": 2, "limit": 500}).json()
    assert [entry["position"] for entry in page["results"]] == [2]


def test_a_non_owner_deleting_an_entry_of_a_public_playlist_is_403_whatever_the_entry_id(api, other):
    """403 comes before anything about the entry, as for a well-formed unknown entry id."""
    playlist = make_playlist(api, public=True)
    for entry_id in ("not-an-entry", str(uuid.uuid4())):
        response = other.delete(f"{detail(playlist['id'])}items/{entry_id}/")
        assert response.status_code == 403, (entry_id, response.content)
    assert version_of(playlist["id"]) == 1


def test_a_malformed_entry_id_of_a_private_playlist_answers_as_a_missing_playlist(api, other):
    """Someone else's private playlist and no playlist at all answer alike, whatever the entry id."""
    private = make_playlist(api)
    answers = {other.delete(f"{detail(playlist_id)}items/not-an-entry/").content
               for playlist_id in (private["id"], str(uuid.uuid4()))}
    assert answers == {b'{"detail":"No playlist with this id."}'}
    assert api.delete(f"{detail(private['id'])}items/not-an-entry/").json() == {
        "detail": "No entry with this id in this playlist."}


def test_a_bad_entry_id_in_a_remove_is_named_in_english(api):
    playlist = make_playlist(api)
    response = api.post(f"{detail(playlist['id'])}items/remove/", {"entries": ["x"]}, format="json")
    assert response.json() == {"entries": ["Not an entry id: 'x'."]}
    response = add(api, playlist["id"], ["y"])
    assert response.json() == {"tracks": ["Not a track id: 'y'."]}


@pytest.mark.parametrize("tag", ['"\u0661"', 'W/"\u0661"', '"\uff11"', '"1"\u00a0'])
def test_an_if_match_with_digits_other_than_ascii_never_matches(api, tag):
    """A version is ASCII digits: "١" (Arabic-Indic one) or "１" (full-width) name no tag."""
    playlist = make_playlist(api)
    response = api.patch(detail(playlist["id"]), {"name": "x"}, format="json", HTTP_IF_MATCH=tag)
    assert response.status_code == 412
    assert version_of(playlist["id"]) == 1
    response = api.get(detail(playlist["id"]), HTTP_IF_NONE_MATCH=tag)
    assert response.status_code == 200


@pytest.mark.parametrize("schema, field", [("EntriesAddRequest", "tracks"), ("EntriesRemoveRequest", "entries")])
def test_the_document_says_ids_in_bodies_are_uuids(anon, schema, field):
    """A generated client (or schemathesis) learns that only UUIDs, at most 45 characters as
    written, are ids: any other string is 400."""
    document = anon.get("/api/schema/?format=json").json()
    items = document["components"]["schemas"][schema]["properties"][field]["items"]
    assert items["type"] == "string" and items["format"] == "uuid" and items["maxLength"] == 45
