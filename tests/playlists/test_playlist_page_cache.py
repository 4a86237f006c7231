"""Pages of entries kept in the per-process cache: read again from memory, dropped by every
write of the playlist before the write returns, and never kept past PAGE_MAX_AGE (a writer
that died between its script and its invalidation), nor past a refused If-Match."""

import time

import pytest

from playlists import lua, store
from quantumlive import keys
from quantumlive.clock import now_iso
from quantumlive.locks import lock_acquire
from tests.playlists.test_playlist_store import make_tracks, new_playlist
from tests.system.servers import wait_until
from tests.tracks.test_track_cache import ready_cache
from tracks import store as library

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def subscribed_cache():
    """This process's cache subscribed (a page read before that is not kept)."""
    ready_cache()


def titles(page) -> list[str]:
    return [entry["track"]["title"] for entry in page[1]]


def kept_page(playlist_id: str, **page):
    """Reads the page until this process's memory answers it (the first reads after a write
    load it; one read before the subscriber applied that write's invalidation is dropped by
    it), and returns it."""
    return wait_until(lambda: (found := store.entries_page(playlist_id=playlist_id, **page)).source in
                      ("hit", "checked") and found, timeout=3, what="the page kept")


def test_a_page_read_again_comes_from_memory_and_a_write_drops_it():
    tracks = make_tracks(3)
    playlist = new_playlist()
    store.entries_add(playlist_id=playlist["id"], track_ids=tracks)
    first = store.entries_page(playlist_id=playlist["id"], offset=0, limit=50)
    assert first.source == "miss"
    again = kept_page(playlist["id"], offset=0, limit=50)
    assert titles(again) == titles(first) == ["t0", "t1", "t2"]
    store.entries_reorder(playlist_id=playlist["id"], range_start=0, range_length=1, insert_before=3)
    after = store.entries_page(playlist_id=playlist["id"], offset=0, limit=50)
    assert after.source == "miss" and titles(after) == ["t1", "t2", "t0"]
    assert after[0]["version"] == 3
    # another page of the same playlist is dropped by the same write
    kept_page(playlist["id"], offset=1, limit=1)
    store.entries_remove(playlist_id=playlist["id"], entry_ids=[after[1][0]["entry"]])
    assert titles(store.entries_page(playlist_id=playlist["id"], offset=1, limit=1)) == ["t0"]


def test_the_library_changing_under_a_playlist_drops_its_pages():
    a, b = make_tracks(2)
    playlist = new_playlist()
    store.entries_add(playlist_id=playlist["id"], track_ids=[a, b, a])
    assert kept_page(playlist["id"])[0]["tracks"] == 3
    library.track_delete(track_id=a)
    page = store.entries_page(playlist_id=playlist["id"])
    assert page[0]["tracks"] == 1 and titles(page) == ["t1"]


def unpublished_reorder(playlist_id: str) -> None:
    """A reorder whose writer died after its script, before it published the invalidation."""
    token = lock_acquire(keys.playlist_lock(playlist_id), what=playlist_id)
    written = lua.entries_reorder(playlist_id=playlist_id, expected_version=None, lock_token=token,
                                  updated=now_iso(), start=0, length=1, before=2)
    assert written.status == "ok"


def test_a_page_is_not_kept_past_its_max_age(monkeypatch):
    monkeypatch.setattr(store, "PAGE_MAX_AGE", 0.3)
    tracks = make_tracks(2)
    playlist = new_playlist()
    store.entries_add(playlist_id=playlist["id"], track_ids=tracks)
    kept_page(playlist["id"])
    unpublished_reorder(playlist["id"])
    assert titles(store.entries_page(playlist_id=playlist["id"])) == ["t0", "t1"]  # kept, for now
    time.sleep(0.4)
    assert titles(store.entries_page(playlist_id=playlist["id"])) == ["t1", "t0"]


def test_a_refused_if_match_drops_the_pages_it_may_have_been_read_from():
    tracks = make_tracks(2)
    playlist = new_playlist()
    version, entries = store.entries_add(playlist_id=playlist["id"], track_ids=tracks)
    kept_page(playlist["id"])
    unpublished_reorder(playlist["id"])
    with pytest.raises(store.VersionMismatch):
        store.entries_remove(playlist_id=playlist["id"], entry_ids=[entries[0]["entry"]], expected_version=version)
    page = store.entries_page(playlist_id=playlist["id"])
    assert titles(page) == ["t1", "t0"] and page[0]["version"] == version + 1
