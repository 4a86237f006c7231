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
