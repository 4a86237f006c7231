"""API.md's Playlists table, the playlist calls row by row (create, list, read, change,
delete), who may do what, and the ETag rules, through DRF's client over the real Redis.
The entry calls are in test_playlist_items_api.py."""

import uuid

import pytest
from rest_framework.test import APIClient

from quantumlive import keys
from quantumlive.redis_conn import get_redis

pytestmark = pytest.mark.django_db

URL = "/api/playlists/"
MISSING = "6f1c2d4e-8b7a-4c3d-9e2f-0a1b2c3d4e5f"
FIELDS = {"id", "name", "description", "public", "owner", "tracks", "duration", "version", "created", "updated"}


# --- helpers (test_playlist_items_api.py uses them too) ----------------------------------
def client_of(django_user_model, username: str, **flags) -> APIClient:
    from rest_framework.authtoken.models import Token

    user = django_user_model.objects.create_user(username, password=f"pw-{username}-123456", **flags)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def other(django_user_model):
    """A second user, neither owner nor staff."""
    return client_of(django_user_model, "guest")


@pytest.fixture
def staff(django_user_model):
    return client_of(django_user_model, "boss", is_staff=True)


def detail(playlist_id: str) -> str:
    return f"{URL}{playlist_id}/"


def make_playlist(client, **fields) -> dict:
    response = client.post(URL, {"name": "Friday warm-up", **fields}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def make_track(client, **fields) -> dict:
    response = client.post("/api/tracks/", {"title": "Live Session", "artist": "Quantum Crew", **fields},
                           format="json")
    assert response.status_code == 201, response.content
    return response.json()


def add(client, playlist_id: str, track_ids: list[str], **extra):
    return client.post(f"{detail(playlist_id)}items/", {"tracks": track_ids, **extra}, format="json")


def version_of(playlist_id: str) -> int:
    """The stored version, read past every permission (what a refused write must not change)."""
    return int(get_redis().hget(keys.playlist_meta(playlist_id), "version"))


def names(page: dict) -> list[str]:
    return [playlist["name"] for playlist in page["results"]]


# --- create ------------------------------------------------------------------------------
def test_create_answers_the_playlist_with_location_and_etag(api):
    response = api.post(URL, {"name": "Friday warm-up", "description": "deep first", "public": True}, format="json")
    assert response.status_code == 201
    playlist = response.json()
    assert set(playlist) == FIELDS  # owner_id is internal
    assert uuid.UUID(playlist["id"]).version == 4
    assert response["Location"].endswith(f"/api/playlists/{playlist['id']}/")
    assert response["ETag"] == '"1"'
    assert playlist["name"] == "Friday warm-up" and playlist["description"] == "deep first"
    assert playlist["public"] is True and playlist["owner"] == "dj"
    assert playlist["tracks"] == 0 and playlist["duration"] == 0 and playlist["version"] == 1
    assert playlist["created"].endswith("Z") and playlist["updated"] == playlist["created"]
    assert api.get(response["Location"]).json() == playlist


def test_create_defaults_to_an_empty_private_playlist(api, other):
    playlist = make_playlist(api)
    assert playlist["description"] == "" and playlist["public"] is False
    assert other.get(detail(playlist["id"])).status_code == 404


def test_create_trims_the_name_like_a_track_title_and_keeps_the_description_as_sent(api):
    playlist = make_playlist(api, name="  Friday  ", description="  two spaces  ")
    assert playlist["name"] == "Friday" and playlist["description"] == "  two spaces  "


def test_create_takes_the_longest_name_and_description(api):
    playlist = make_playlist(api, name="n" * 200, description="d" * 2000)
    assert len(playlist["name"]) == 200 and len(playlist["description"]) == 2000


def test_create_ignores_server_owned_fields(api):
    playlist = make_playlist(api, id=MISSING, owner="mallory", tracks=9, duration=1.0, version=7,
                             created="yesterday", updated="today")
    assert playlist["id"] != MISSING and playlist["owner"] == "dj"
    assert playlist["tracks"] == 0 and playlist["version"] == 1 and playlist["created"] != "yesterday"


def test_create_needs_a_token(anon, api):
    response = anon.post(URL, {"name": "x"}, format="json")
    assert response.status_code == 401
    assert api.get(URL).json()["count"] == 0


@pytest.mark.parametrize("body, field", [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "n" * 201}, "name"),
    ({"name": None}, "name"),
    ({"name": 5}, "name"),
    ({"name": ["a"]}, "name"),
    ({"name": "x", "description": "d" * 2001}, "description"),
    ({"name": "x", "description": None}, "description"),
    ({"name": "x", "description": 1}, "description"),
    ({"name": "x", "public": "true"}, "public"),
    ({"name": "x", "public": 1}, "public"),
    ({"name": "x", "public": None}, "public"),
    ({"name": "x", "colour": "red"}, "colour"),
    ({"name": "x", "owner_id": 2}, "owner_id"),
])
def test_create_refuses_bad_bodies_and_creates_nothing(api, body, field):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert api.get(URL).json()["count"] == 0


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"name"', b"{not json", b'{"name": NaN}'])
def test_create_refuses_bodies_that_are_not_json_objects(api, raw):
    response = api.post(URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert api.get(URL).json()["count"] == 0


def test_writes_are_throttled_like_track_writes(api, settings):
    settings.QL_THROTTLE_WRITES = "2/min"
    statuses = [api.post(URL, {"name": "x"}, format="json").status_code for _ in range(3)]
    assert statuses == [201, 201, 429]
    assert {api.get(URL).status_code for _ in range(5)} == {200}  # reads are not
    assert api.get(URL).json()["count"] == 2


# --- list --------------------------------------------------------------------------------
@pytest.fixture
def shelf(api, other, staff):
    """dj: "dj private", "dj public"; guest: "guest private", "guest public"; boss (staff):
    "boss private". Created in this order."""
    made = {}
    for client, owner in ((api, "dj"), (other, "guest")):
        made[f"{owner} private"] = make_playlist(client, name=f"{owner} private")
        made[f"{owner} public"] = make_playlist(client, name=f"{owner} public", public=True)
    made["boss private"] = make_playlist(staff, name="boss private")
    return made


def test_list_shows_the_callers_own_and_every_public_playlist_oldest_first(api, other, anon, shelf):
    assert names(api.get(URL).json()) == ["dj private", "dj public", "guest public"]
    assert names(other.get(URL).json()) == ["dj public", "guest private", "guest public"]
    assert names(anon.get(URL).json()) == ["dj public", "guest public"]
    page = api.get(URL).json()
    assert page["count"] == 3 and page["next"] is None and page["previous"] is None
    assert page["results"][0] == api.get(detail(shelf["dj private"]["id"])).json()
    assert all(set(playlist) == FIELDS for playlist in page["results"])


def test_list_filters_by_owner(api, other, anon, shelf):
    assert names(api.get(URL, {"owner": "me"}).json()) == ["dj private", "dj public"]
    assert names(api.get(URL, {"owner": "guest"}).json()) == ["guest public"]
    assert names(other.get(URL, {"owner": "guest"}).json()) == ["guest private", "guest public"]
    assert names(anon.get(URL, {"owner": "dj"}).json()) == ["dj public"]


def test_an_unknown_owner_or_an_anonymous_me_is_an_empty_page(api, anon, shelf):
    for client, owner in ((api, "nobody"), (api, "DJ"), (anon, "me")):
        page = client.get(URL, {"owner": owner}).json()
        assert page == {"count": 0, "next": None, "previous": None, "results": []}, owner


def test_staff_list_their_own_and_public_ones_and_any_owners_all(staff, shelf):
    assert names(staff.get(URL).json()) == ["dj public", "guest public", "boss private"]
    assert names(staff.get(URL, {"owner": "dj"}).json()) == ["dj private", "dj public"]
    assert names(staff.get(URL, {"owner": "me"}).json()) == ["boss private"]


def test_list_q_matches_the_name_case_insensitively(api, shelf):
    assert names(api.get(URL, {"q": "PUBLIC"}).json()) == ["dj public", "guest public"]
    assert names(api.get(URL, {"q": "dj", "owner": "me"}).json()) == ["dj private", "dj public"]
    assert api.get(URL, {"q": "nothing like it"}).json()["count"] == 0
    assert api.get(URL, {"q": "q" * 200}).status_code == 200


def test_list_pages_with_links(api, anon):
    for index in range(5):
        make_playlist(api, name=f"p{index}", public=True)
    first = anon.get(URL, {"limit": 2, "owner": "dj"}).json()
    assert first["count"] == 5 and names(first) == ["p0", "p1"] and first["previous"] is None
    assert "offset=2" in first["next"] and "limit=2" in first["next"] and "owner=dj" in first["next"]
    second = anon.get(first["next"]).json()
    assert names(second) == ["p2", "p3"]
    assert "offset=0" in second["previous"]
    last = anon.get(second["next"]).json()
    assert names(last) == ["p4"] and last["next"] is None
    assert names(anon.get(URL, {"offset": 4, "limit": 500}).json()) == ["p4"]
    assert anon.get(URL, {"offset": 9}).json()["results"] == []


@pytest.mark.parametrize("query", [
    {"limit": 0}, {"limit": 501}, {"limit": "x"}, {"limit": "1.5"}, {"limit": ""},
    {"offset": -1}, {"offset": "x"}, {"offset": ""},
    {"q": ""}, {"q": "q" * 201}, {"owner": ""}, {"owner": "o" * 151},
])
def test_list_refuses_bad_query_values(anon, query):
    response = anon.get(URL, query)
    assert response.status_code == 400
    assert set(response.json()) == set(query)


def test_list_ignores_unknown_query_parameters(api):
    make_playlist(api)
    assert api.get(URL, {"colour": "red"}).json()["count"] == 1


# --- read --------------------------------------------------------------------------------
def test_read_answers_the_playlist_with_its_etag(api):
    playlist = make_playlist(api)
    response = api.get(detail(playlist["id"]))
    assert response.status_code == 200 and response.json() == playlist and response["ETag"] == '"1"'


@pytest.mark.parametrize("header", ['"1"', 'W/"1"', '"7", W/"1"', " * ", '"1" '])
def test_a_matching_if_none_match_is_304(api, header):
    playlist = make_playlist(api)
    response = api.get(detail(playlist["id"]), HTTP_IF_NONE_MATCH=header)
    assert response.status_code == 304 and response["ETag"] == '"1"' and not response.content


@pytest.mark.parametrize("header", ['"2"', 'W/"2", "3"', "1", "nonsense", '"1"x'])
def test_an_if_none_match_that_does_not_match_is_a_full_answer(api, header):
    playlist = make_playlist(api)
    response = api.get(detail(playlist["id"]), HTTP_IF_NONE_MATCH=header)
    assert response.status_code == 200 and response.json()["version"] == 1


def test_an_unknown_or_malformed_id_is_404(api, anon):
    for url in (detail(MISSING), detail("not-a-uuid"), detail("x" * 300)):
        for client in (api, anon):
            response = client.get(url)
            assert response.status_code == 404 and response.json() == {"detail": "No playlist with this id."}


def test_a_private_playlist_is_404_even_for_a_304_probe(api, other):
    playlist = make_playlist(api)
    assert other.get(detail(playlist["id"]), HTTP_IF_NONE_MATCH="*").status_code == 404


def test_no_put_on_a_playlist(api):
    playlist = make_playlist(api)
    assert api.put(detail(playlist["id"]), {"name": "x"}, format="json").status_code == 405


# --- change ------------------------------------------------------------------------------
def test_patch_changes_only_the_fields_sent_and_grows_the_version(api):
    playlist = make_playlist(api, description="keep me")
    response = api.patch(detail(playlist["id"]), {"name": " Peak "}, format="json")
    assert response.status_code == 200 and response["ETag"] == '"2"'
    changed = response.json()
    assert changed["name"] == "Peak" and changed["description"] == "keep me" and changed["public"] is False
    assert changed["version"] == 2 and changed["created"] == playlist["created"]
    assert api.get(detail(playlist["id"])).json() == changed
    again = api.patch(detail(playlist["id"]), {"name": "Peak"}, format="json").json()
    assert again["version"] == 3  # the same values are still a write


def test_patch_public_shows_and_hides_the_playlist_for_others(api, anon):
    playlist = make_playlist(api)
    assert api.patch(detail(playlist["id"]), {"public": True}, format="json").status_code == 200
    assert anon.get(detail(playlist["id"])).status_code == 200
    assert anon.get(URL).json()["count"] == 1
    assert api.patch(detail(playlist["id"]), {"public": False, "description": ""}, format="json").status_code == 200
    assert anon.get(detail(playlist["id"])).status_code == 404
    assert anon.get(URL).json()["count"] == 0


@pytest.mark.parametrize("body, field", [
    ({}, "non_field_errors"),
    ({"version": 9, "owner": "x", "tracks": 3}, "non_field_errors"),
    ({"name": ""}, "name"),
    ({"name": "n" * 201}, "name"),
    ({"name": None}, "name"),
    ({"description": "d" * 2001}, "description"),
    ({"public": "false"}, "public"),
    ({"public": 0}, "public"),
    ({"name": "ok", "colour": "red"}, "colour"),
])
def test_patch_refuses_bad_bodies_and_changes_nothing(api, body, field):
    playlist = make_playlist(api)
    response = api.patch(detail(playlist["id"]), body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert api.get(detail(playlist["id"])).json() == playlist


def test_patch_of_an_unknown_or_malformed_id_is_404(api):
    for url in (detail(MISSING), detail("nope")):
        assert api.patch(url, {"name": "x"}, format="json").status_code == 404


# --- delete ------------------------------------------------------------------------------
def test_delete_removes_the_playlist_and_keeps_its_tracks_in_the_library(api):
    playlist = make_playlist(api)
    track = make_track(api)
    assert add(api, playlist["id"], [track["id"]]).status_code == 201
    assert api.delete(detail(playlist["id"])).status_code == 204
    assert api.get(detail(playlist["id"])).status_code == 404
    assert api.get(f"{detail(playlist['id'])}items/").status_code == 404
    assert api.get(URL).json()["count"] == 0
    assert api.get(f"/api/tracks/{track['id']}/").status_code == 200
    assert api.delete(detail(playlist["id"])).status_code == 404
    assert api.delete(detail("nope")).status_code == 404


# --- If-Match on writes ------------------------------------------------------------------
def _prepare(api, playlist_id: str) -> dict:
    """Two entries of a new track in the playlist (by its owner): what the writes below use."""
    track = make_track(api)
    entry = add(api, playlist_id, [track["id"], track["id"]]).json()["entries"][0]["entry"]
    return {"playlist": playlist_id, "track": track["id"], "entry": entry}


def write_as(client, write: str, target: dict, tag: str | None = None):
    """One playlist write by `client`, with an If-Match header `tag` (None: none sent)."""
    base = detail(target["playlist"])
    headers = {} if tag is None else {"HTTP_IF_MATCH": tag}
    if write == "patch":
        return client.patch(base, {"name": "x"}, format="json", **headers)
    if write == "add":
        return client.post(f"{base}items/", {"tracks": [target["track"]]}, format="json", **headers)
    if write == "reorder":
        return client.post(f"{base}reorder/", {"range_start": 0, "insert_before": 2}, format="json", **headers)
    if write == "remove":
        return client.post(f"{base}items/remove/", {"entries": [target["entry"]]}, format="json", **headers)
    if write == "delete entry":
        return client.delete(f"{base}items/{target['entry']}/", **headers)
    assert write == "delete"
    return client.delete(base, **headers)


WRITES = ("patch", "add", "reorder", "remove", "delete entry", "delete")


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize("header", ['"{v}"', 'W/"{v}"', '"999", W/"{v}"', ' "1", "{v}" '])
def test_every_write_takes_a_matching_if_match(api, write, header):
    playlist = make_playlist(api)
    target = _prepare(api, playlist["id"])
    current = version_of(playlist["id"])
    response = write_as(api, write, target, header.format(v=current))
    assert response.status_code in (200, 201, 204), response.content
    if write != "delete":
        assert version_of(playlist["id"]) == current + 1


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize("header", ['"{old}"', 'W/"{old}"', '"{old}", "999"', "*", "{v}", '"{v}',
                                    "nonsense", '"{v}"; x', ""])
def test_every_write_with_an_if_match_that_does_not_match_is_412_and_changes_nothing(api, write, header):
    playlist = make_playlist(api)
    target = _prepare(api, playlist["id"])
    current = version_of(playlist["id"])
    before = api.get(f"{detail(playlist['id'])}items/").json()
    response = write_as(api, write, target, header.format(v=current, old=current - 1))
    assert response.status_code == 412, response.content
    assert "detail" in response.json()
    assert version_of(playlist["id"]) == current
    assert api.get(f"{detail(playlist['id'])}items/").json() == before


def test_a_412_names_the_current_version(api):
    playlist = make_playlist(api)
    response = api.patch(detail(playlist["id"]), {"name": "x"}, format="json", HTTP_IF_MATCH='"5"')
    assert response.status_code == 412
    assert response.json() == {"detail": "The playlist has changed: its current version is 1."}


def test_an_overlong_if_match_never_matches(api):
    playlist = make_playlist(api)
    header = ", ".join(['"1"'] * 400)
    assert api.patch(detail(playlist["id"]), {"name": "x"}, format="json", HTTP_IF_MATCH=header).status_code == 412


def test_the_etag_of_a_write_conditions_the_next(api):
    playlist = make_playlist(api)
    first = api.patch(detail(playlist["id"]), {"name": "a"}, format="json", HTTP_IF_MATCH='"1"')
    second = api.patch(detail(playlist["id"]), {"name": "b"}, format="json", HTTP_IF_MATCH=first["ETag"])
    assert second.status_code == 200
    stale = api.patch(detail(playlist["id"]), {"name": "c"}, format="json", HTTP_IF_MATCH=first["ETag"])
    assert stale.status_code == 412 and api.get(detail(playlist["id"])).json()["name"] == "b"


# --- who may do what ---------------------------------------------------------------------
CALLERS = ("owner", "other", "staff", "anon")
# what a read answers: by caller, for a private / public playlist
READ = {"owner": (200, 200), "other": (404, 200), "staff": (200, 200), "anon": (404, 200)}
# what a write answers when it may (by call), and what every caller gets instead
WRITE = {"owner": (None, None), "other": (404, 403), "staff": (None, None), "anon": (401, 401)}


@pytest.fixture
def callers(api, other, staff, anon):
    return {"owner": api, "other": other, "staff": staff, "anon": anon}


@pytest.mark.parametrize("public", [False, True])
@pytest.mark.parametrize("caller", CALLERS)
def test_who_may_read_a_playlist_and_its_entries(api, callers, caller, public):
    playlist = make_playlist(api, public=public)
    track = make_track(api)
    add(api, playlist["id"], [track["id"]])
    client = callers[caller]
    expected = READ[caller][public]
    assert client.get(detail(playlist["id"])).status_code == expected
    items = client.get(f"{detail(playlist['id'])}items/")
    assert items.status_code == expected
    if expected == 200:
        assert items.json()["results"][0]["track"]["id"] == track["id"]
    listed = [found["id"] for found in client.get(URL).json()["results"]]
    # the list: own and public ones (staff too: their view of others' private ones is owner=)
    assert (playlist["id"] in listed) == (public or caller == "owner")
    by_owner = [found["id"] for found in client.get(URL, {"owner": "dj"}).json()["results"]]
    assert (playlist["id"] in by_owner) == (expected == 200)


@pytest.mark.parametrize("public", [False, True])
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("write", WRITES)
def test_who_may_change_a_playlist(api, callers, caller, public, write):
    playlist = make_playlist(api, public=public)
    target = _prepare(api, playlist["id"])
    current = version_of(playlist["id"])
    before = api.get(f"{detail(playlist['id'])}items/").json()
    response = write_as(callers[caller], write, target)
    refused = WRITE[caller][public]
    if refused is None:
        assert response.status_code in (200, 201, 204), response.content
        if write == "delete":
            assert api.get(detail(playlist["id"])).status_code == 404
        else:
            assert version_of(playlist["id"]) == current + 1
    else:
        assert response.status_code == refused, response.content
        assert version_of(playlist["id"]) == current
        assert api.get(f"{detail(playlist['id'])}items/").json() == before


def test_a_non_owner_is_told_why(api, other):
    playlist = make_playlist(api, public=True)
    response = other.patch(detail(playlist["id"]), {"name": "mine now"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only the playlist's owner (or staff) may change it."}


def test_a_non_owner_gets_403_before_their_body_is_read(api, other):
    playlist = make_playlist(api, public=True)
    assert other.patch(detail(playlist["id"]), {"colour": 1}, format="json").status_code == 403
    assert other.post(f"{detail(playlist['id'])}items/", {"tracks": []}, format="json").status_code == 403


def test_a_bad_token_is_401_even_for_a_read(api, anon):
    playlist = make_playlist(api, public=True)
    anon.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert anon.get(detail(playlist["id"])).status_code == 401


def test_staff_changes_keep_the_owner(api, staff):
    playlist = make_playlist(api)
    changed = staff.patch(detail(playlist["id"]), {"name": "curated"}, format="json").json()
    assert changed["owner"] == "dj" and changed["name"] == "curated"
    assert [found["id"] for found in api.get(URL, {"owner": "me"}).json()["results"]] == [playlist["id"]]
