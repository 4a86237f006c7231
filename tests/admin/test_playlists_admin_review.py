"""A review of the admin's Playlists pages for answers other than a clear 4xx: malformed,
huge and non-ASCII values in every field of every form, missing fields, playlists and
tracks that go away between the page and the write, permissions per action, CSRF."""

import pytest
from django.test import Client

from playlists import store
from tests.admin.conftest import new_track
from tests.admin.test_playlists_admin import (LIST, action_url, change_url, entries, note, order,
                                              with_tracks)
from tracks import store as library

pytestmark = pytest.mark.django_db

from tests.admin.test_playlists_admin import curator, owner, staff  # noqa: E402,F401  (fixtures)

BAD_NUMBERS = ["", " ", "-1", "0", "x", "1.5", "1e3", "²", "٣", "9" * 19, "9" * 400, "\x00", "0x10", "+1"]


def delete_url(playlist):
    return f"{LIST}{playlist['id']}/delete/"


def assert_no_change(playlist, titles):
    got = store.playlist_get(playlist_id=playlist["id"])
    assert got["version"] == playlist["version"] and order(playlist) == titles


@pytest.mark.parametrize("version", BAD_NUMBERS)
def test_a_malformed_version_is_a_400_on_every_form(staff, owner, version):
    playlist, tracks = with_tracks(owner, "A", "B")
    first = entries(playlist)[0]
    posts = {
        change_url(playlist): {"name": "New", "description": "", "version": version},
        action_url(playlist, "remove"): {"entry": first["entry"], "position": "0", "version": version},
        action_url(playlist, "move"): {"entry": first["entry"], "position": "0", "to": "1", "version": version},
        action_url(playlist, "add"): {"track": tracks[0]["id"], "version": version},
        delete_url(playlist): {"version": version, "post": "yes"},
    }
    for url, data in posts.items():
        response = staff.post(url, data)
        assert response.status_code in (400, 409), (url, response.status_code)
    assert_no_change(playlist, ["A", "B"])


@pytest.mark.parametrize("value", BAD_NUMBERS + ["999999999", " 1 "])
def test_any_position_or_target_is_a_4xx_or_a_move_never_a_500(staff, owner, value):
    playlist, tracks = with_tracks(owner, "A", "B", "C")
    first = entries(playlist)[0]
    version = str(playlist["version"])
    for url, data in [
        (action_url(playlist, "move"), {"entry": first["entry"], "position": value, "to": "1", "version": version}),
        (action_url(playlist, "move"), {"entry": first["entry"], "position": "0", "to": value, "version": version}),
        (action_url(playlist, "remove"), {"entry": first["entry"], "position": value, "version": version}),
        (action_url(playlist, "add"), {"track": tracks[0]["id"], "to": value, "version": version}),
    ]:
        response = staff.post(url, data)
        assert response.status_code in (302, 400, 409), (data, response.status_code)
        playlist = store.playlist_get(playlist_id=playlist["id"])
        version = str(playlist["version"])
        first = entries(playlist)[0]


@pytest.mark.parametrize("value", ["", "junk", "x" * 100_000, "00000000-0000-0000-0000-000000000000", "\x00",
                                   "{4f8b2f5e-93c4-4e59-a4a5-0c1e2b3d4f50}"])
def test_any_entry_or_track_id_is_a_4xx_never_a_500(staff, owner, value):
    playlist, _ = with_tracks(owner, "A")
    version = str(playlist["version"])
    for url, data in [
        (action_url(playlist, "remove"), {"entry": value, "version": version}),
        (action_url(playlist, "move"), {"entry": value, "position": "0", "to": "0", "version": version}),
        (action_url(playlist, "add"), {"track": value, "version": version}),
    ]:
        response = staff.post(url, data)
        assert response.status_code == 400, (url, response.status_code)
    assert_no_change(playlist, ["A"])


def test_missing_fields_are_a_400(staff, owner):
    playlist, _ = with_tracks(owner, "A")
    for url in (change_url(playlist), action_url(playlist, "remove"), action_url(playlist, "move"),
                action_url(playlist, "add"), delete_url(playlist)):
        response = staff.post(url, {})
        assert response.status_code == 400, url
    assert_no_change(playlist, ["A"])


@pytest.mark.parametrize("object_id", ["x", "1" * 5000, "%00", "..", "4f8b2f5e93c44e59a4a50c1e2b3d4f50",
                                       "urn:uuid:4f8b2f5e-93c4-4e59-a4a5-0c1e2b3d4f50"])
def test_odd_playlist_ids_are_a_404_or_a_message(staff, object_id):
    for suffix in ("change/", "delete/", "history/", "entries/move/"):
        response = staff.get(f"{LIST}{object_id}/{suffix}")
        assert response.status_code in (302, 404, 405), (suffix, response.status_code)
        response = staff.post(f"{LIST}{object_id}/{suffix}", {"version": "1"})
        assert response.status_code in (302, 400, 404), (suffix, response.status_code)


def test_a_page_number_in_a_form_that_is_not_one_falls_back(staff, owner):
    playlist, _ = with_tracks(owner, "A", "B")
    first = entries(playlist)[0]
    for page in ("0", "-1", "²", "9" * 30, "x"):
        response = staff.post(action_url(playlist, "move"), {"entry": first["entry"], "position": "0", "to": "1",
                                                              "version": str(playlist["version"]), "p": page})
        assert response.status_code in (302, 400), page
        playlist = store.playlist_get(playlist_id=playlist["id"])
        first = entries(playlist)[0]


def test_a_track_deleted_before_the_add_is_a_400(staff, owner):
    playlist, _ = with_tracks(owner, "A")
    doomed = new_track(title="Doomed")
    library.track_delete(track_id=doomed["id"])
    response = staff.post(action_url(playlist, "add"), {"track": doomed["id"], "version": str(playlist["version"])})
    assert response.status_code == 400 and "not in the library" in note(response)
    assert_no_change(playlist, ["A"])


def test_a_playlist_deleted_under_any_form_is_a_message(staff, owner):
    playlist, tracks = with_tracks(owner, "A", "B")
    first = entries(playlist)[0]
    version = str(playlist["version"])
    store.playlist_delete(playlist_id=playlist["id"])
    for url, data in [
        (change_url(playlist), {"name": "x", "version": version}),
        (action_url(playlist, "remove"), {"entry": first["entry"], "version": version}),
        (action_url(playlist, "move"), {"entry": first["entry"], "position": "0", "to": "1", "version": version}),
        (action_url(playlist, "add"), {"track": tracks[0]["id"], "version": version}),
        (delete_url(playlist), {"version": version}),
    ]:
        response = staff.post(url, data)
        assert response.status_code == 302 and response["Location"].endswith(LIST), url
    assert store.playlist_get(playlist_id=playlist["id"]) is None


def test_a_playlist_deleted_between_the_check_and_the_write_is_a_message(staff, owner, monkeypatch):
    playlist, tracks = with_tracks(owner, "A", "B")
    real = store.entries_add

    def deleted_first(**arguments):
        store.playlist_delete(playlist_id=playlist["id"])
        return real(**arguments)

    monkeypatch.setattr(store, "entries_add", deleted_first)
    response = staff.post(action_url(playlist, "add"), {"track": tracks[0]["id"], "version": str(playlist["version"])})
    assert response.status_code == 302 and response["Location"].endswith(LIST)


@pytest.mark.parametrize("codenames, allowed", [
    (["view_playlist"], set()),
    (["view_playlist", "change_playlist"], {"remove", "move", "add", "change"}),
    (["view_playlist", "delete_playlist"], {"delete"}),
])
def test_each_action_needs_its_permission(client, django_user_model, owner, codenames, allowed):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("limited", password="pw-limited-123456", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="playlists", codename__in=codenames))
    client.force_login(user)
    playlist, tracks = with_tracks(owner, "A", "B")
    first = entries(playlist)[0]
    version = str(playlist["version"])
    posts = {
        "change": (change_url(playlist), {"name": "Renamed", "description": "", "version": version}),
        "remove": (action_url(playlist, "remove"), {"entry": first["entry"], "position": "0", "version": version}),
        "move": (action_url(playlist, "move"), {"entry": first["entry"], "position": "0", "to": "1",
                                                "version": version}),
        "add": (action_url(playlist, "add"), {"track": tracks[0]["id"], "version": version}),
        "delete": (delete_url(playlist), {"version": version, "post": "yes"}),
    }
    for action, (url, data) in posts.items():
        if action in allowed:
            continue
        assert client.post(url, data).status_code == 403, action
    assert_no_change(playlist, ["A", "B"])
    assert client.post(f"{LIST}add/", {"name": "New", "owner": owner.username}).status_code == 403
    assert store.playlist_ids() == [playlist["id"]]


def test_every_form_needs_the_csrf_token(curator, owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(curator)
    playlist, tracks = with_tracks(owner, "A", "B")
    first = entries(playlist)[0]
    version = str(playlist["version"])
    for url, data in [
        (f"{LIST}add/", {"name": "New", "owner": owner.username}),
        (change_url(playlist), {"name": "Renamed", "description": "", "version": version}),
        (action_url(playlist, "remove"), {"entry": first["entry"], "position": "0", "version": version}),
        (action_url(playlist, "move"), {"entry": first["entry"], "position": "0", "to": "1", "version": version}),
        (action_url(playlist, "add"), {"track": tracks[0]["id"], "version": version}),
        (delete_url(playlist), {"version": version, "post": "yes"}),
    ]:
        assert client.post(url, data).status_code == 403, url
    assert_no_change(playlist, ["A", "B"])
    assert store.playlist_ids() == [playlist["id"]]


@pytest.mark.parametrize("name", ["", "x" * 201, "a\x00b"])
def test_a_bad_name_on_add_or_change_is_a_400(staff, owner, name):
    playlist, _ = with_tracks(owner, "A")
    assert staff.post(f"{LIST}add/", {"name": name, "owner": owner.username}).status_code == 400
    assert staff.post(change_url(playlist), {"name": name, "version": str(playlist["version"])}).status_code == 400
    assert store.playlist_ids() == [playlist["id"]]
    assert_no_change(playlist, ["A"])


@pytest.mark.parametrize("owner_name", ["", "nobody", "x" * 151, "\x00"])
def test_an_unknown_owner_is_a_400(staff, owner, owner_name):
    assert staff.post(f"{LIST}add/", {"name": "New", "owner": owner_name}).status_code == 400
    assert store.playlist_ids() == []


@pytest.mark.parametrize("query", ["?p=0", "?p=x", "?p=²", "?p=" + "9" * 30, "?q=" + "x" * 201, "?q=%00", "?p=99"])
def test_odd_list_and_page_queries_are_a_4xx_or_a_page(staff, owner, query):
    playlist, _ = with_tracks(owner, "A")
    assert staff.get(LIST + query).status_code in (200, 400, 404)
    assert staff.get(change_url(playlist, query)).status_code in (200, 400, 404)
