"""The admin's Playlist pages (Django test client, real Redis under the tests' prefix): staff
only, list/search/filters/pagination, change with the API's validation and conflict
detection, add, delete (one and bulk), move, and the YouTube list."""

import re

import pytest
from django.urls import reverse

from tests.admin.conftest import new_track
from tracks import store, youtube

pytestmark = pytest.mark.django_db

LIST = "/admin/tracks/track/"
YT = "/admin/tracks/youtubelink/"


def change_url(track):
    return f"{LIST}{track['id']}/change/"


def form_data(track, **changes):
    """What the browser posts for an untouched change form, with `changes` applied."""
    from tracks.forms import initial_from_track

    data = {**initial_from_track(track), "version": str(track["version"]), "_save": "Save"}
    data.update({k: str(v) for k, v in changes.items()})
    return data


def titles_in(response) -> list[str]:
    return re.findall(r'<th class="field-title"><a href="[^"]+">([^<]*)</a></th>', response.content.decode())


# --- access ------------------------------------------------------------------------------
def test_it_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get(LIST)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_it_refuses_logged_in_users_who_are_not_staff(client, django_user_model):
    user = django_user_model.objects.create_user("fan", password="pw-fan-12345678")
    client.force_login(user)
    for url in (LIST, f"{LIST}add/", YT):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_it_refuses_staff_without_the_tracks_permissions(client, django_user_model):
    user = django_user_model.objects.create_user("intern", password="pw-intern-1234567", is_staff=True)
    client.force_login(user)
    track = new_track(title="Hidden")
    assert client.get(LIST).status_code == 403
    assert client.get(change_url(track)).status_code == 403
    assert client.get(YT).status_code == 403


def test_a_view_only_user_sees_the_track_but_cannot_save(client, django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("viewer", password="pw-viewer-1234567", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_track"))
    client.force_login(user)
    track = new_track(title="Look only")
    response = client.get(change_url(track))
    assert response.status_code == 200 and "Look only" in response.content.decode()
    assert client.post(change_url(track), form_data(track, title="Changed")).status_code == 403
    assert store.track_get(track_id=track["id"])["title"] == "Look only"


def test_the_admin_index_has_a_library_and_a_playlists_section(admin_client):
    body = admin_client.get("/admin/").content.decode()
    assert ">Library<" in body and ">Playlists<" in body
    assert 'href="/admin/tracks/track/"' in body and 'href="/admin/tracks/youtubelink/"' in body
    assert 'href="/admin/playlists/playlist/"' in body


# --- list --------------------------------------------------------------------------------
def test_the_list_shows_tracks_in_playlist_order_with_their_columns(admin_client):
    new_track(title="Second", artist="B", bpm=124.0, key="A minor", genres=["house", "latin"])
    new_track(title="First", artist="A", position=0)
    response = admin_client.get(LIST)
    assert response.status_code == 200
    body = response.content.decode()
    assert titles_in(response) == ["First", "Second"]
    assert "124" in body and "A minor" in body and "(8A)" in body
    assert '<span class="ql-pill">house</span>' in body and '<span class="ql-pill">latin</span>' in body
    assert re.search(r'field-position">0<.*field-position">1<', body, re.S)
    assert 'field-updated"' in body and "2 tracks" in body


def test_the_list_pages_through_the_playlist(admin_client):
    for i in range(250):
        new_track(title=f"T{i:03d}")
    first = admin_client.get(LIST)
    assert titles_in(first)[:2] == ["T000", "T001"] and len(titles_in(first)) == 100
    third = admin_client.get(LIST + "?p=3")
    assert titles_in(third) == [f"T{i:03d}" for i in range(200, 250)]
    assert "page 3 of 3" in third.content.decode()
    assert admin_client.get(LIST + "?p=4").status_code == 404
    for bad in ("0", "abc", "-1", ""):
        assert admin_client.get(LIST + f"?p={bad}").status_code == 400


def test_search_matches_title_or_artist_case_insensitively(admin_client):
    new_track(title="Live Session", artist="Quantum Crew")
    new_track(title="Night Drive", artist="QUANTUM dreams")
    new_track(title="Other", artist="Someone")
    assert titles_in(admin_client.get(LIST + "?q=quantum")) == ["Live Session", "Night Drive"]
    assert titles_in(admin_client.get(LIST + "?q=DRIVE")) == ["Night Drive"]
    response = admin_client.get(LIST + "?q=nothing-like-this")
    assert titles_in(response) == [] and "No track matches" in response.content.decode()


def test_filters_by_genre_and_bpm_range(admin_client):
    new_track(title="Slow house", genres=["House"], bpm=98.0)
    new_track(title="Fast house", genres=["house", "techno"], bpm=128.0)
    new_track(title="Techno", genres=["techno"], bpm=135.0)
    new_track(title="No bpm", genres=["house"])
    assert titles_in(admin_client.get(LIST + "?genre=HOUSE")) == ["Slow house", "Fast house", "No bpm"]
    assert titles_in(admin_client.get(LIST + "?bpm_min=120&bpm_max=130")) == ["Fast house"]
    assert titles_in(admin_client.get(LIST + "?genre=techno&bpm_min=130")) == ["Techno"]
    assert titles_in(admin_client.get(LIST + "?genre=house&q=slow")) == ["Slow house"]
    # Empty inputs of the filter forms mean "no filter".
    assert len(titles_in(admin_client.get(LIST + "?genre=&bpm_min=&bpm_max=&q="))) == 4


@pytest.mark.parametrize("query, message", [
    ("bpm_min=abc", "bpm_min: A valid number is required."),
    ("bpm_min=nan", "bpm_min: "),
    ("bpm_min=140&bpm_max=120", "bpm_max: Must be at least bpm_min."),
    ("key=H+major", "key: "),
])
def test_a_bad_filter_is_a_400_that_says_why(admin_client, query, message):
    new_track(title="Kept")
    response = admin_client.get(f"{LIST}?{query}")
    assert response.status_code == 400
    assert message in response.content.decode()


# --- change ------------------------------------------------------------------------------
def test_the_change_page_shows_every_field_and_draws_the_cue_waveforms(admin_client):
    waveform = [abs(((i % 50) - 25) / 25) for i in range(2048)]
    track = new_track(title="Live Session", artist="Quantum Crew", bpm=124.0, key="A minor",
                      duration=301.2, genres=["house"], sources={"youtube": "https://youtu.be/dQw4w9WgXcQ"},
                      notes="warm-up", cues=[{"name": "intro", "start": 0.0, "end": 7.74, "waveform": waveform},
                                             {"name": "drop", "start": 7.74, "end": 15.5, "waveform": []}])
    response = admin_client.get(change_url(track))
    assert response.status_code == 200
    body = response.content.decode()
    for name in ("title", "artist", "bpm", "key", "duration", "genres", "sources", "notes", "cues"):
        assert f'name="{name}"' in body
    assert 'name="version" value="1"' in body
    assert body.count('<svg class="ql-spark"') == 1 and body.count("ql-spark-empty") == 1
    assert 'aria-label="waveform of 2048 points"' in body
    svg = re.search(r'<svg class="ql-spark".*?</svg>', body, re.S).group(0)
    assert len(svg) < 12000  # at most one column per pixel, whatever the length of the waveform
    assert "intro" in body and "7.74" in body


def test_saving_a_change_goes_through_the_store_and_shows_in_the_api(admin_client, anon):
    track = new_track(title="Old", artist="A", bpm=120.0)
    response = admin_client.post(change_url(track), form_data(track, title="New title", bpm="126.5",
                                                              key="f#m", genres="deep house, Latin, latin"))
    assert response.status_code == 302 and response["Location"] == LIST
    api = anon.get(f"/api/tracks/{track['id']}/").json()
    assert (api["title"], api["bpm"], api["key"], api["camelot"], api["genres"], api["version"]) == (
        "New title", 126.5, "F# minor", "11A", ["deep house", "Latin"], 2)
    assert api["artist"] == "A"
    followed = admin_client.get(LIST)
    assert "New title" in followed.content.decode() and "changed successfully" in followed.content.decode()


def test_save_and_continue_returns_to_the_change_page(admin_client):
    track = new_track(title="Stay")
    data = form_data(track, notes="line one\r\nline two")
    data.pop("_save")
    data["_continue"] = "1"
    response = admin_client.post(change_url(track), data)
    assert response.status_code == 302 and response["Location"] == change_url(track)
    assert store.track_get(track_id=track["id"])["notes"] == "line one\nline two"


def test_a_form_saved_without_changes_writes_nothing(admin_client):
    track = new_track(title="Same", bpm=123.4, sources={"sc": "https://soundcloud.com/x"},
                      cues=[{"name": "c", "start": 1.0, "end": 2.0, "waveform": [0.5, 0.25]}])
    response = admin_client.post(change_url(track), form_data(track))
    assert response.status_code == 302
    assert store.track_get(track_id=track["id"])["version"] == 1


def test_every_field_can_be_edited_including_cues_as_json(admin_client):
    track = new_track(title="T", artist="A")
    cues = '[{"start": 0, "end": 8.5, "waveform": [0, 0.5, 1]}, {"name": "b", "start": 8.5, "end": 16}]'
    response = admin_client.post(change_url(track), form_data(
        track, title="T2", artist="A2", bpm="128", key="Db", duration="245.5", genres='["a, b", "c"]',
        sources='{"youtube": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}', notes="n", cues=cues))
    assert response.status_code == 302
    got = store.track_get(track_id=track["id"])
    assert (got["title"], got["artist"], got["bpm"], got["key"], got["duration"], got["genres"],
            got["sources"], got["notes"]) == (
        "T2", "A2", 128.0, "C# major", 245.5, ["a, b", "c"],
        {"youtube": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}, "n")
    assert got["cues"] == [{"name": "cue_0", "start": 0.0, "end": 8.5, "waveform": [0.0, 0.5, 1.0]},
                           {"name": "b", "start": 8.5, "end": 16.0, "waveform": []}]
    # Clearing the optional fields stores nulls and empties, as the API would.
    again = store.track_get(track_id=track["id"])
    response = admin_client.post(change_url(again), form_data(again, bpm="", key="", duration="", genres="",
                                                              sources="", notes="", cues=""))
    assert response.status_code == 302
    got = store.track_get(track_id=track["id"])
    assert (got["bpm"], got["key"], got["duration"], got["genres"], got["sources"], got["notes"], got["cues"]) == (
        None, None, None, [], {}, None, [])


@pytest.mark.parametrize("changes, field, message", [
    ({"bpm": "999"}, "bpm", "Ensure this value is less than or equal to 400."),
    ({"bpm": "NaN"}, "bpm", ""),
    ({"bpm": "-Infinity"}, "bpm", ""),
    ({"bpm": "fast"}, "bpm", "A valid number is required."),
    ({"title": ""}, "title", "This field may not be blank."),
    ({"title": "x" * 301}, "title", "Ensure this field has no more than 300 characters."),
    ({"key": "H major"}, "key", ""),
    ({"duration": "0"}, "duration", "Must be greater than 0."),
    ({"sources": '{"You Tube": "https://x.example/"}'}, "sources", "You Tube: Service names are 1-32 characters"),
    ({"sources": '{"yt": "ftp://x.example/"}'}, "sources", "yt: "),
    ({"sources": "{not json"}, "sources", "Enter valid JSON"),
    ({"cues": '[{"start": 5, "end": 2}]'}, "cues", "cue 0: end: Must be greater than start."),
    ({"cues": '[{"start": 0, "end": 2, "bogus": 1}]'}, "cues", "cue 0: bogus: Unknown field."),
    ({"cues": '[{"start": 0, "end": 2, "waveform": [NaN]}]'}, "cues", "cue 0: waveform: Every item must be a finite number."),
    ({"genres": ", ".join(f"g{i}" for i in range(33))}, "genres", "Ensure this field has no more than 32 elements."),
    # JSON nested deeper than the parser can go: a message, not a 500
    ({"cues": "[" * 100_000}, "cues", "Enter valid JSON"),
    ({"sources": '{"a":' * 100_000}, "sources", "Enter valid JSON"),
    ({"genres": "[" * 100_000}, "genres", "Enter the genres separated by commas, or as a JSON list."),
    ({"cues": '[{"start": ' + "9" * 5000 + ', "end": 1}]'}, "cues", "Enter valid JSON"),  # past int's 4,300 digits
])
def test_invalid_values_get_the_api_validation_messages_and_nothing_is_saved(admin_client, changes, field, message):
    track = new_track(title="Valid", bpm=100.0)
    response = admin_client.post(change_url(track), form_data(track, **changes))
    assert response.status_code == 400
    body = response.content.decode()
    row = re.search(rf'<div class="form-row errors field-{field}[^"]*".*?</ul>', body, re.S)
    assert row is not None, f"no error shown on {field}"
    from html import unescape

    assert message in unescape(row.group(0))
    assert store.track_get(track_id=track["id"])["version"] == 1


def test_saving_over_a_newer_version_shows_a_conflict_instead_of_overwriting(admin_client):
    track = new_track(title="Original", bpm=120.0)
    loaded = admin_client.get(change_url(track))
    assert 'name="version" value="1"' in loaded.content.decode()
    store.track_update(track_id=track["id"], values={"bpm": 130.0})  # someone else, meanwhile
    response = admin_client.post(change_url(track), form_data(track, title="Mine"))
    assert response.status_code == 409
    body = response.content.decode()
    assert "changed by someone else" in body and "version 1" in body and "version 2" in body
    assert 'name="version" value="1"' in body  # the stale version stays: no blind re-save
    got = store.track_get(track_id=track["id"])
    assert (got["title"], got["bpm"], got["version"]) == ("Original", 130.0, 2)


def test_a_form_without_its_version_is_refused(admin_client):
    track = new_track(title="V")
    for version in ("", "abc", "0", "-1", "1" * 30, "²", "١"):
        data = form_data(track, title="X", version=version)
        assert admin_client.post(change_url(track), data).status_code == 400
    assert store.track_get(track_id=track["id"])["title"] == "V"


def test_unknown_or_malformed_ids(admin_client):
    assert admin_client.get(f"{LIST}not-a-uuid/change/").status_code == 404
    response = admin_client.get(f"{LIST}6f1c4a52-8d8e-4a57-9c7e-0d1f8f6b2a11/change/")
    assert response.status_code == 302 and response["Location"] == LIST
    assert admin_client.post(f"{LIST}not-a-uuid/delete/").status_code == 404


# --- add, delete, move -------------------------------------------------------------------
def test_add_creates_a_track_through_the_store(admin_client):
    new_track(title="Existing")
    response = admin_client.post(f"{LIST}add/", {
        "title": "Fresh", "artist": "Someone", "bpm": "122", "key": "Am", "genres": "house",
        "duration": "", "sources": "", "notes": "", "cues": "", "position": "0", "_save": "Save"})
    assert response.status_code == 302 and response["Location"] == LIST
    count, page = store.track_list()
    assert count == 2 and page[0]["title"] == "Fresh" and page[0]["key"] == "A minor"
    assert page[0]["bpm"] == 122.0 and page[0]["genres"] == ["house"] and page[0]["version"] == 1


def test_add_with_invalid_values_shows_the_errors(admin_client):
    response = admin_client.post(f"{LIST}add/", {"title": "", "artist": "A", "position": "-1"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "This field may not be blank." in body
    assert "Ensure this value is greater than or equal to 0." in body
    assert store.track_list()[0] == 0
    assert admin_client.get(f"{LIST}add/").status_code == 200


def test_delete_one_track_with_its_confirmation(admin_client):
    keep = new_track(title="Keep")
    gone = new_track(title="Gone")
    page = admin_client.get(f"{LIST}{gone['id']}/delete/")
    assert page.status_code == 200 and "Are you sure" in page.content.decode()
    response = admin_client.post(f"{LIST}{gone['id']}/delete/", {"version": "1"})
    assert response.status_code == 302 and response["Location"] == LIST
    assert store.track_get(track_id=gone["id"]) is None
    assert store.track_get(track_id=keep["id"]) is not None


def test_delete_refuses_a_track_changed_since_the_confirmation_was_shown(admin_client):
    track = new_track(title="Busy")
    store.track_update(track_id=track["id"], values={"notes": "changed"})
    response = admin_client.post(f"{LIST}{track['id']}/delete/", {"version": "1"})
    assert response.status_code == 409 and "was not deleted" in response.content.decode()
    assert store.track_get(track_id=track["id"]) is not None


def test_bulk_delete_asks_then_deletes_the_selected_tracks(admin_client):
    tracks = [new_track(title=f"B{i}") for i in range(4)]
    chosen = [tracks[0]["id"], tracks[2]["id"]]
    ask = admin_client.post(LIST, {"action": "delete_selected", "_selected_action": chosen})
    assert ask.status_code == 200 and "B0" in ask.content.decode() and "B2" in ask.content.decode()
    assert store.track_list()[0] == 4
    done = admin_client.post(LIST, {"action": "delete_selected", "_selected_action": chosen, "post": "yes"})
    assert done.status_code == 302
    count, page = store.track_list()
    assert count == 2 and [(t["title"], t["position"]) for t in page] == [("B1", 0), ("B3", 1)]


def test_bulk_actions_need_a_known_action_and_a_selection(admin_client):
    track = new_track(title="Safe")
    assert admin_client.post(LIST, {"action": "drop_tables", "_selected_action": [track["id"]]}).status_code == 400
    assert admin_client.post(LIST, {"action": "delete_selected", "_selected_action": ["x"]}).status_code == 400
    assert admin_client.post(LIST, {"action": "delete_selected"}).status_code == 302
    assert admin_client.post(LIST, {"action": "", "_selected_action": [track["id"]]}).status_code == 302
    assert store.track_get(track_id=track["id"]) is not None


def test_move_to_a_position(admin_client):
    a, b, c = (new_track(title=t) for t in "ABC")
    response = admin_client.post(f"{LIST}{c['id']}/move/", {"position": "0", "version": "1"})
    assert response.status_code == 302 and response["Location"] == change_url(c)
    assert [t["title"] for t in store.track_list()[1]] == ["C", "A", "B"]
    assert store.track_get(track_id=c["id"])["version"] == 2


@pytest.mark.parametrize("position, version, status", [
    ("-1", "1", 400), ("abc", "1", 400), ("", "1", 400), ("1.5", "1", 400), ("0", "", 400), ("0", "7", 409),
])
def test_move_refuses_bad_positions_and_stale_versions(admin_client, position, version, status):
    _, b = new_track(title="A"), new_track(title="B")
    response = admin_client.post(f"{LIST}{b['id']}/move/", {"position": position, "version": version})
    assert response.status_code == status
    assert [t["title"] for t in store.track_list()[1]] == ["A", "B"]


def test_move_only_accepts_post(admin_client):
    track = new_track(title="M")
    assert admin_client.get(f"{LIST}{track['id']}/move/").status_code == 405


def test_history_lists_the_admin_changes(admin_client):
    track = new_track(title="Logged")
    admin_client.post(change_url(track), form_data(track, bpm="99"))
    response = admin_client.get(f"{LIST}{track['id']}/history/")
    assert response.status_code == 200 and "Changed bpm." in response.content.decode()


def test_a_staff_user_with_the_permissions_can_do_everything(staff_client):
    track = new_track(title="Perm")
    assert staff_client.get(LIST).status_code == 200
    assert staff_client.post(change_url(track), form_data(track, title="Perm 2")).status_code == 302
    assert store.track_get(track_id=track["id"])["title"] == "Perm 2"


# --- YouTube -----------------------------------------------------------------------------
def test_youtube_list_add_delete_and_compact(admin_client):
    assert admin_client.get(YT).status_code == 200
    response = admin_client.post(f"{YT}add/", {"url": "https://youtu.be/dQw4w9WgXcQ"})
    assert response.status_code == 302
    assert [i["video_id"] for i in youtube.youtube_list()] == ["dQw4w9WgXcQ"]
    again = admin_client.post(f"{YT}add/", {"url": "youtube.com/watch?v=dQw4w9WgXcQ"}, follow=True)
    assert "already in the list" in again.content.decode()

    youtube.youtube_add(video_id="9bZkp7q19f0")
    youtube.youtube_import(video_id="dQw4w9WgXcQ", occurrences=2)  # a seed file's repeat
    page = admin_client.get(YT).content.decode()
    assert "3 entries, 2 videos" in page and "1 repeated" in page
    assert "https://www.youtube.com/watch?v=9bZkp7q19f0" in page

    compacted = admin_client.post(f"{YT}compact/", follow=True)
    assert "Removed 1 repeated entry" in compacted.content.decode()
    assert [i["video_id"] for i in youtube.youtube_list()] == ["dQw4w9WgXcQ", "9bZkp7q19f0"]

    assert admin_client.post(f"{YT}dQw4w9WgXcQ/delete/").status_code == 302
    assert [i["video_id"] for i in youtube.youtube_list()] == ["9bZkp7q19f0"]
    # The admin index lists these actions under "Recent actions".
    index = admin_client.get("/admin/")
    assert index.status_code == 200 and "dQw4w9WgXcQ" in index.content.decode()


def test_youtube_add_refuses_what_the_api_refuses(admin_client):
    response = admin_client.post(f"{YT}add/", {"url": "https://vimeo.com/123"})
    assert response.status_code == 400 and "Not a YouTube video URL" in response.content.decode()
    assert youtube.youtube_list() == []


def test_youtube_delete_and_compact_only_accept_post_and_valid_ids(admin_client):
    assert admin_client.get(f"{YT}dQw4w9WgXcQ/delete/").status_code == 405
    assert admin_client.get(f"{YT}compact/").status_code == 405
    assert admin_client.post(f"{YT}bad!/delete/").status_code == 404
    missing = admin_client.post(f"{YT}dQw4w9WgXcQ/delete/", follow=True)
    assert "was not in the list" in missing.content.decode()
    assert admin_client.get(f"{YT}?p=x").status_code == 400
    assert admin_client.get(f"{YT}add/").status_code == 200


def test_the_admin_urls_reverse_by_their_usual_names():
    assert reverse("admin:tracks_track_changelist") == LIST
    assert reverse("admin:tracks_youtubelink_changelist") == YT
