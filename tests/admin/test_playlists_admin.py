"""The admin's Playlists pages (Django test client, real Redis under the tests' prefix): staff
only with the per-model permissions, the list of every user's playlists (search, pages), add,
change (fields with conflict detection; entries: remove, move, add from a library search, in
pages), delete; every error a message or a 4xx."""

import re

import pytest

from playlists import store
from tests.admin.conftest import new_track

pytestmark = pytest.mark.django_db

LIST = "/admin/playlists/playlist/"


def change_url(playlist, query=""):
    return f"{LIST}{playlist['id']}/change/{query}"


def action_url(playlist, action):
    return f"{LIST}{playlist['id']}/entries/{action}/"


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("alice", password="pw-alice-1234567")


@pytest.fixture
def curator(django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("curator", password="pw-curator-123456", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="playlists"))
    return user


@pytest.fixture
def staff(client, curator):
    """A logged-in staff user with every permission of the Playlists section (not a superuser)."""
    client.force_login(curator)
    return client


def new_playlist(owner, **fields) -> dict:
    return store.playlist_create(owner_id=owner.pk, owner=owner.username, **{"name": "Crate", **fields})


def with_tracks(owner, *titles, **fields):
    """A playlist holding one entry of a new library track per title, in this order."""
    playlist = new_playlist(owner, **fields)
    tracks = [new_track(title=title, artist=f"{title} artist", duration=60.0) for title in titles]
    if tracks:
        store.entries_add(playlist_id=playlist["id"], track_ids=[t["id"] for t in tracks])
    return store.playlist_get(playlist_id=playlist["id"]), tracks


def order(playlist) -> list[str]:
    _, entries = store.entries_page(playlist_id=playlist["id"], offset=0, limit=500)
    return [entry["track"]["title"] for entry in entries]


def entries(playlist) -> list[dict]:
    return store.entries_page(playlist_id=playlist["id"], offset=0, limit=500)[1]


def names_in(response) -> list[str]:
    return re.findall(r'<th class="field-name"><a href="[^"]+">([^<]*)</a></th>', response.content.decode())


def entry_titles_in(response) -> list[str]:
    body = response.content.decode()
    table = body.split('id="entry_list"', 1)[1].split("</table>", 1)[0] if 'id="entry_list"' in body else ""
    return re.findall(r'<th class="field-title"><a href="[^"]+">([^<]*)</a></th>', table)


def form_data(playlist, **changes):
    data = {"name": playlist["name"], "description": playlist["description"], "version": str(playlist["version"]),
            "_save": "Save"}
    if playlist["public"]:
        data["public"] = "on"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def note(response) -> str:
    found = re.search(r'<p class="errornote" id="errornote">(.*?)</p>', response.content.decode(), re.S)
    return found.group(1) if found else ""


# --- access ------------------------------------------------------------------------------
def test_anonymous_visitors_are_sent_to_the_login_page(client, owner):
    playlist = new_playlist(owner)
    for url in (LIST, f"{LIST}add/", change_url(playlist)):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_staff_without_the_playlist_permissions_get_403_and_change_nothing(client, django_user_model, owner):
    intern = django_user_model.objects.create_user("intern", password="pw-intern-1234567", is_staff=True)
    client.force_login(intern)
    playlist, tracks = with_tracks(owner, "A", "B")
    assert client.get(LIST).status_code == 403
    assert client.get(f"{LIST}add/").status_code == 403
    assert client.get(change_url(playlist)).status_code == 403
    assert client.get(f"{LIST}{playlist['id']}/delete/").status_code == 403
    version = str(playlist["version"])
    first = entries(playlist)[0]
    assert client.post(change_url(playlist), form_data(playlist, name="Hacked")).status_code == 403
    assert client.post(action_url(playlist, "remove"), {"entry": first["entry"], "version": version}).status_code == 403
    assert client.post(action_url(playlist, "move"), {"entry": first["entry"], "position": "0", "to": "1",
                                                      "version": version}).status_code == 403
    assert client.post(action_url(playlist, "add"), {"track": tracks[0]["id"], "version": version}).status_code == 403
    assert client.post(f"{LIST}{playlist['id']}/delete/", {"version": version}).status_code == 403
    assert client.post(f"{LIST}add/", {"name": "New", "owner": "alice"}).status_code == 403
    assert store.playlist_get(playlist_id=playlist["id"]) == playlist and order(playlist) == ["A", "B"]
    assert store.playlist_ids() == [playlist["id"]]


def test_a_view_only_user_sees_a_playlist_but_cannot_change_it(client, django_user_model, owner):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="pw-viewer-1234567", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_playlist"))
    client.force_login(viewer)
    playlist, _ = with_tracks(owner, "Look only")
    response = client.get(change_url(playlist))
    assert response.status_code == 200 and entry_titles_in(response) == ["Look only"]
    assert 'class="ql-remove"' not in response.content.decode()
    assert client.post(change_url(playlist), form_data(playlist, name="Changed")).status_code == 403
    first = entries(playlist)[0]
    assert client.post(action_url(playlist, "remove"), {"entry": first["entry"], "position": "0",
                                                        "version": str(playlist["version"])}).status_code == 403
    assert order(playlist) == ["Look only"] and store.playlist_get(playlist_id=playlist["id"])["name"] == "Crate"


def test_the_admin_index_has_a_playlists_section(staff):
    body = staff.get("/admin/").content.decode()
    assert "Playlists" in body and f'href="{LIST}"' in body


# --- list --------------------------------------------------------------------------------
def test_the_list_shows_every_users_playlists_with_their_columns(staff, owner, django_user_model):
    bob = django_user_model.objects.create_user("bob", password="pw-bob-12345678")
    private, _ = with_tracks(owner, "A", "B", name="Alice private")
    store.playlist_create(owner_id=bob.pk, owner="bob", name="Bob public", public=True)
    track = new_track(title="Long", duration=3725.4)
    long = new_playlist(bob, name="Bob long")
    store.entries_add(playlist_id=long["id"], track_ids=[track["id"]])
    response = staff.get(LIST)
    assert response.status_code == 200
    assert names_in(response) == ["Alice private", "Bob public", "Bob long"]
    body = response.content.decode()
    rows = re.findall(r"<tr data-playlist-id=.*?</tr>", body, re.S)
    assert 'field-owner">alice<' in rows[0] and 'alt="False"' in rows[0]
    assert 'field-tracks">2<' in rows[0] and 'field-duration">0:02:00<' in rows[0]
    assert 'field-owner">bob<' in rows[1] and 'alt="True"' in rows[1] and 'field-tracks">0<' in rows[1]
    assert 'field-duration">1:02:05<' in rows[2]
    assert private["updated"].replace("T", " ").rstrip("Z")[:19] in rows[0]
    assert "3 playlists" in body


def test_the_list_searches_names_case_insensitively(staff, owner):
    for name in ("Friday warm-up", "Sunday chill", "FRIDAY peak"):
        new_playlist(owner, name=name)
    assert names_in(staff.get(LIST + "?q=friday")) == ["Friday warm-up", "FRIDAY peak"]
    response = staff.get(LIST + "?q=nothing")
    assert names_in(response) == [] and "No playlist name holds" in response.content.decode()
    assert staff.get(LIST + "?q=" + "x" * 201).status_code == 400


def test_the_list_pages_through_the_playlists(staff, owner):
    for i in range(105):
        new_playlist(owner, name=f"P{i:03d}")
    first = staff.get(LIST)
    assert len(names_in(first)) == 100 and names_in(first)[0] == "P000"
    second = staff.get(LIST + "?p=2")
    assert names_in(second) == [f"P{i:03d}" for i in range(100, 105)] and "page 2 of 2" in second.content.decode()
    assert staff.get(LIST + "?p=3").status_code == 404
    for bad in ("0", "abc", ""):
        assert staff.get(LIST + f"?p={bad}").status_code == 400


# --- add ---------------------------------------------------------------------------------
def test_adding_a_playlist_makes_the_staff_user_its_owner_by_default(staff, curator):
    page = staff.get(f"{LIST}add/")
    assert page.status_code == 200 and 'name="owner" value="curator"' in page.content.decode()
    response = staff.post(f"{LIST}add/", {"name": "Warm-up", "description": "first\r\nsecond", "public": "on",
                                          "owner": "curator", "_continue": "1"})
    (playlist_id,) = store.playlist_ids()
    assert response.status_code == 302 and response["Location"] == f"{LIST}{playlist_id}/change/"
    got = store.playlist_get(playlist_id=playlist_id)
    assert (got["name"], got["description"], got["public"], got["owner"], got["owner_id"], got["tracks"]) == (
        "Warm-up", "first\nsecond", True, "curator", curator.pk, 0)


def test_a_playlist_can_be_added_for_another_user(staff, owner, anon):
    response = staff.post(f"{LIST}add/", {"name": "For Alice", "owner": "alice", "_save": "Save"})
    assert response.status_code == 302 and response["Location"] == LIST
    (playlist_id,) = store.playlist_ids()
    got = store.playlist_get(playlist_id=playlist_id)
    assert (got["owner"], got["owner_id"], got["public"]) == ("alice", owner.pk, False)


@pytest.mark.parametrize("data, message", [
    ({"name": "", "owner": "curator"}, "This field is required."),
    ({"name": "x" * 201, "owner": "curator"}, "Ensure this value has at most 200 characters"),
    ({"name": "Ok", "description": "d" * 2001, "owner": "curator"}, "Ensure this value has at most 2000 characters"),
    ({"name": "Ok", "owner": "nobody-here"}, "There is no user “nobody-here”."),
])
def test_a_bad_add_is_a_400_that_says_why_and_adds_nothing(staff, data, message):
    response = staff.post(f"{LIST}add/", data)
    assert response.status_code == 400 and message in response.content.decode()
    assert store.playlist_ids() == []


# --- change: fields ------------------------------------------------------------------------
def test_the_change_page_lists_the_entries_in_order_with_the_version(staff, owner):
    playlist, _ = with_tracks(owner, "One", "Two", "Three")
    response = staff.get(change_url(playlist))
    assert response.status_code == 200
    body = response.content.decode()
    assert entry_titles_in(response) == ["One", "Two", "Three"]
    assert f'name="version" value="{playlist["version"]}"' in body
    assert 'id="playlist-duration">0:03:00<' in body and 'id="playlist-owner">alice<' in body


def test_saving_the_fields_goes_through_the_store(staff, owner, anon):
    playlist = new_playlist(owner, name="Old")
    response = staff.post(change_url(playlist), form_data(playlist, name="New", description="Hi", public="on"))
    assert response.status_code == 302 and response["Location"] == LIST
    got = store.playlist_get(playlist_id=playlist["id"])
    assert (got["name"], got["description"], got["public"], got["version"]) == ("New", "Hi", True, 2)
    assert "changed successfully" in staff.get(LIST).content.decode()


def test_a_stale_form_is_refused_and_changes_nothing(staff, owner):
    playlist = new_playlist(owner, name="Mine")
    meanwhile = store.playlist_update(playlist_id=playlist["id"], values={"description": "someone else"})
    response = staff.post(change_url(playlist), form_data(playlist, name="Overwrite"))
    assert response.status_code == 409
    assert "changed by someone else" in note(response) and "you loaded version 1" in note(response)
    assert store.playlist_get(playlist_id=playlist["id"]) == meanwhile
    # the form keeps what was typed and the version it was loaded at: saving again is refused too
    assert 'value="Overwrite"' in response.content.decode() and 'name="version" value="1"' in response.content.decode()


@pytest.mark.parametrize("version", [None, "", "abc", "0", "-1", "9" * 30])
def test_a_form_without_a_good_version_is_a_400(staff, owner, version):
    playlist = new_playlist(owner, name="Mine")
    response = staff.post(change_url(playlist), form_data(playlist, name="Other", version=version))
    assert response.status_code == 400 and "missing the version" in note(response)
    assert store.playlist_get(playlist_id=playlist["id"])["name"] == "Mine"


def test_a_bad_name_is_a_400_and_nothing_is_saved(staff, owner):
    playlist = new_playlist(owner, name="Mine")
    response = staff.post(change_url(playlist), form_data(playlist, name=""))
    assert response.status_code == 400 and "This field is required." in response.content.decode()
    assert store.playlist_get(playlist_id=playlist["id"])["version"] == 1


def test_unknown_and_malformed_playlists_are_a_message_or_a_404(staff):
    missing = "4f8b2f5e-93c4-4e59-a4a5-0c1e2b3d4f50"
    response = staff.get(f"{LIST}{missing}/change/", follow=True)
    assert response.redirect_chain[0] == (LIST, 302) and "no playlist with id" in response.content.decode()
    assert staff.post(f"{LIST}{missing}/entries/remove/", {"version": "1"}).status_code == 302
    assert staff.get(f"{LIST}not-a-uuid/change/").status_code == 404
    assert staff.get(f"{LIST}{missing}/delete/").status_code == 302


# --- change: entries -----------------------------------------------------------------------
def test_removing_an_entry_keeps_the_others_in_order(staff, owner):
    playlist, tracks = with_tracks(owner, "A", "B", "C")
    second = entries(playlist)[1]
    response = staff.post(action_url(playlist, "remove"), {"entry": second["entry"], "position": "1",
                                                           "version": str(playlist["version"])})
    assert response.status_code == 302 and response["Location"] == change_url(playlist)
    assert order(playlist) == ["A", "C"]
    assert store.playlist_get(playlist_id=playlist["id"])["version"] == playlist["version"] + 1
    from tracks import store as library
    assert library.track_get(track_id=tracks[1]["id"]) is not None  # the track stays in the library
    followed = staff.get(response["Location"])
    assert "“B” by B artist (position 1) was removed" in followed.content.decode()


@pytest.mark.parametrize("source, target, expected", [
    (0, 2, ["B", "C", "A", "D"]),
    (3, 0, ["D", "A", "B", "C"]),
    (1, 99, ["A", "C", "D", "B"]),
    (2, 1, ["A", "C", "B", "D"]),
])
def test_moving_an_entry_puts_it_at_the_position_asked(staff, owner, source, target, expected):
    playlist, _ = with_tracks(owner, "A", "B", "C", "D")
    entry = entries(playlist)[source]
    response = staff.post(action_url(playlist, "move"), {"entry": entry["entry"], "position": str(source),
                                                         "to": str(target), "version": str(playlist["version"])})
    assert response.status_code == 302
    assert order(playlist) == expected
    moved = [e for e in entries(playlist) if e["entry"] == entry["entry"]]
    assert moved[0]["position"] == min(target, 3)  # the entry keeps its id


@pytest.mark.parametrize("to", ["", "-1", "x", "1.5", "9" * 12])
def test_a_bad_move_position_is_a_400_and_nothing_moves(staff, owner, to):
    playlist, _ = with_tracks(owner, "A", "B")
    entry = entries(playlist)[0]
    response = staff.post(action_url(playlist, "move"), {"entry": entry["entry"], "position": "0", "to": to,
                                                         "version": str(playlist["version"])})
    assert response.status_code == 400 and "position" in note(response)
    assert order(playlist) == ["A", "B"]


def test_a_move_or_remove_from_a_stale_page_is_refused(staff, owner):
    playlist, tracks = with_tracks(owner, "A", "B", "C")
    loaded = entries(playlist)
    store.entries_add(playlist_id=playlist["id"], track_ids=[tracks[2]["id"]], position=0)  # someone else
    now = order(playlist)
    response = staff.post(action_url(playlist, "move"), {"entry": loaded[0]["entry"], "position": "0", "to": "2",
                                                         "version": str(playlist["version"])})
    assert response.status_code == 409 and "changed by someone else" in note(response)
    response = staff.post(action_url(playlist, "remove"), {"entry": loaded[1]["entry"], "position": "1",
                                                           "version": str(playlist["version"])})
    assert response.status_code == 409 and "changed by someone else" in note(response)
    response = staff.post(action_url(playlist, "add"), {"track": tracks[0]["id"], "version": str(playlist["version"])})
    assert response.status_code == 409
    assert order(playlist) == now == ["C", "A", "B", "C"]
    assert entry_titles_in(response) == now  # the page shows the playlist as it is now


def test_removing_an_unknown_entry_is_a_400(staff, owner):
    playlist, _ = with_tracks(owner, "A")
    response = staff.post(action_url(playlist, "remove"), {"entry": "4f8b2f5e-93c4-4e59-a4a5-0c1e2b3d4f50",
                                                           "version": str(playlist["version"])})
    assert response.status_code == 400 and "not in the playlist" in note(response)
    assert staff.post(action_url(playlist, "remove"), {"entry": "junk", "version": "2"}).status_code == 400
    assert order(playlist) == ["A"]


def test_the_entry_actions_answer_405_to_a_get(staff, owner):
    playlist = new_playlist(owner)
    for action in ("remove", "move", "add"):
        assert staff.get(action_url(playlist, action)).status_code == 405


def test_the_library_search_lists_matches_with_add_buttons(staff, owner):
    playlist = new_playlist(owner)
    new_track(title="Night Drive", artist="Mira Vale")
    new_track(title="Other", artist="NIGHTMARES")
    new_track(title="Unrelated", artist="Someone")
    response = staff.get(change_url(playlist, "?q=night"))
    assert response.status_code == 200
    body = response.content.decode()
    results = body.split('id="search_results"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<th class="field-title">([^<]*)</th>', results) == ["Night Drive", "Other"]
    assert results.count('class="ql-add"') == 2 and "2 tracks match" in body
    assert staff.get(change_url(playlist, "?q=" + "n" * 201)).status_code == 400


def test_the_search_shows_a_bounded_number_of_matches(staff, owner):
    from playlists.admin_views import SEARCH_LIMIT

    playlist = new_playlist(owner)
    for i in range(SEARCH_LIMIT + 5):
        new_track(title=f"Loop {i}")
    body = staff.get(change_url(playlist, "?q=loop")).content.decode()
    assert body.count('class="ql-add"') == SEARCH_LIMIT and f"{SEARCH_LIMIT + 5} tracks match" in body


def test_adding_a_found_track_at_the_end_or_at_a_position(staff, owner):
    playlist, _ = with_tracks(owner, "A", "B")
    found = new_track(title="Found", artist="Searcher")
    response = staff.post(action_url(playlist, "add"), {"track": found["id"], "to": "",
                                                        "version": str(playlist["version"]), "q": "found"})
    assert response.status_code == 302 and response["Location"] == change_url(playlist, "?q=found")
    assert order(playlist) == ["A", "B", "Found"]
    version = store.playlist_get(playlist_id=playlist["id"])["version"]
    response = staff.post(action_url(playlist, "add"), {"track": found["id"], "to": "1", "version": str(version)})
    assert response.status_code == 302
    assert order(playlist) == ["A", "Found", "B", "Found"]
    assert "was added at position 1" in staff.get(response["Location"]).content.decode()


def test_adding_a_track_not_in_the_library_is_a_400(staff, owner):
    playlist, _ = with_tracks(owner, "A")
    response = staff.post(action_url(playlist, "add"), {"track": "4f8b2f5e-93c4-4e59-a4a5-0c1e2b3d4f50",
                                                        "version": str(playlist["version"])})
    assert response.status_code == 400 and "not in the library" in note(response)
    response = staff.post(action_url(playlist, "add"), {"track": playlist["id"], "to": "-3",
                                                        "version": str(playlist["version"])})
    assert response.status_code == 400
    assert order(playlist) == ["A"]


def test_a_busy_playlist_is_a_clear_503_and_nothing_changes(staff, owner, settings):
    from quantumlive import keys
    from quantumlive.redis_conn import get_redis

    settings.QL_LOCK_WAIT = 0.05
    playlist, _ = with_tracks(owner, "A", "B")
    get_redis().set(keys.playlist_lock(playlist["id"]), "someone-else", px=10_000)
    entry = entries(playlist)[0]
    response = staff.post(action_url(playlist, "move"), {"entry": entry["entry"], "position": "0", "to": "1",
                                                         "version": str(playlist["version"])})
    assert response.status_code == 503 and "busy" in note(response)
    response = staff.post(change_url(playlist), form_data(playlist, name="Busy"))
    assert response.status_code == 503 and "busy" in note(response)
    get_redis().delete(keys.playlist_lock(playlist["id"]))
    assert order(playlist) == ["A", "B"] and store.playlist_get(playlist_id=playlist["id"])["name"] == "Crate"


def test_ten_thousand_entries_are_shown_a_page_at_a_time(staff, owner):
    playlist = new_playlist(owner)
    tracks = [new_track(title=f"T{i}") for i in range(10)]
    for _ in range(20):
        store.entries_add(playlist_id=playlist["id"], track_ids=[t["id"] for t in tracks] * 50)
    first = staff.get(change_url(playlist))
    assert first.status_code == 200
    assert entry_titles_in(first) == [f"T{i % 10}" for i in range(100)]
    assert "page 1 of 100" in first.content.decode() and "10000 entries" in first.content.decode()
    last = staff.get(change_url(playlist, "?p=100"))
    positions = re.findall(r'field-position">(\d+)<', last.content.decode())
    assert positions == [str(n) for n in range(9900, 10000)]
    assert staff.get(change_url(playlist, "?p=101")).status_code == 404
    assert staff.get(change_url(playlist, "?p=zero")).status_code == 400


def test_a_move_on_a_later_page_returns_to_that_page(staff, owner):
    playlist = new_playlist(owner)
    tracks = [new_track(title=f"T{i}") for i in range(150)]
    store.entries_add(playlist_id=playlist["id"], track_ids=[t["id"] for t in tracks])
    version = store.playlist_get(playlist_id=playlist["id"])["version"]
    entry = store.entries_page(playlist_id=playlist["id"], offset=120, limit=1)[1][0]
    response = staff.post(action_url(playlist, "move"), {"entry": entry["entry"], "position": "120", "to": "0",
                                                         "version": str(version), "p": "2"})
    assert response.status_code == 302 and response["Location"] == change_url(playlist, "?p=2")
    assert order(playlist)[0] == "T120"


# --- delete --------------------------------------------------------------------------------
def test_deleting_a_playlist_keeps_its_tracks_in_the_library(staff, owner):
    from tracks import store as library

    playlist, tracks = with_tracks(owner, "A", "B")
    page = staff.get(f"{LIST}{playlist['id']}/delete/")
    assert page.status_code == 200 and "The tracks stay in the library" in page.content.decode()
    response = staff.post(f"{LIST}{playlist['id']}/delete/", {"version": str(playlist["version"])})
    assert response.status_code == 302 and response["Location"] == LIST
    assert store.playlist_get(playlist_id=playlist["id"]) is None and store.playlist_ids() == []
    assert all(library.track_get(track_id=t["id"]) is not None for t in tracks)


def test_deleting_from_a_stale_page_is_refused(staff, owner):
    playlist = new_playlist(owner)
    store.playlist_update(playlist_id=playlist["id"], values={"name": "Renamed"})
    response = staff.post(f"{LIST}{playlist['id']}/delete/", {"version": "1"})
    assert response.status_code == 409 and "was not deleted" in note(response)
    assert store.playlist_get(playlist_id=playlist["id"])["name"] == "Renamed"


def test_the_history_page_lists_the_admins_changes(staff, owner):
    playlist, _ = with_tracks(owner, "A", "B")
    entry = entries(playlist)[1]
    staff.post(action_url(playlist, "move"), {"entry": entry["entry"], "position": "1", "to": "0",
                                              "version": str(playlist["version"])})
    response = staff.get(f"{LIST}{playlist['id']}/history/")
    assert response.status_code == 200
    assert f"Moved entry {entry['entry']} from 1 to 0." in response.content.decode()
    assert staff.get(f"{LIST}4f8b2f5e-93c4-4e59-a4a5-0c1e2b3d4f50/history/").status_code == 302  # "Perhaps it was deleted?"
