"""The Tracks table of API.md, row by row, over the real Redis."""

import uuid

import pytest

pytestmark = pytest.mark.django_db

URL = "/api/tracks/"


def create(api, **fields):
    body = {"title": "Live Session", "artist": "Quantum Crew", **fields}
    response = api.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def detail(track_id):
    return f"{URL}{track_id}/"


# --- create ------------------------------------------------------------------------------
def test_create_returns_the_track_with_location_and_etag(api):
    response = api.post(URL, {
        "title": "Live Session", "artist": "Quantum Crew", "bpm": 124, "key": "am",
        "duration": 301.2, "genres": ["house", "House", "latin"],
        "sources": {"youtube": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"},
        "notes": "warm-up", "cues": [{"start": 0, "end": 7.74, "waveform": [0, 0.12]}],
    }, format="json")
    assert response.status_code == 201
    track = response.json()
    assert uuid.UUID(track["id"]).version == 4
    assert response["Location"].endswith(f"/api/tracks/{track['id']}/")
    assert response["ETag"] == '"1"'
    assert track["title"] == "Live Session" and track["artist"] == "Quantum Crew"
    assert track["bpm"] == 124.0 and track["key"] == "A minor" and track["camelot"] == "8A"
    assert track["genres"] == ["house", "latin"]
    assert track["cues"] == [{"name": "cue_0", "start": 0.0, "end": 7.74, "waveform": [0.0, 0.12]}]
    assert track["position"] == 0 and track["version"] == 1
    assert track["created"].endswith("Z") and track["updated"] == track["created"]


def test_create_defaults_the_optional_fields(api):
    track = create(api)
    assert track["bpm"] is None and track["key"] is None and track["camelot"] is None
    assert track["duration"] is None and track["notes"] is None
    assert track["genres"] == [] and track["sources"] == {} and track["cues"] == []


def test_create_ignores_server_owned_fields(api):
    track = create(api, id="x", version=99, camelot="1A", created="yesterday")
    assert track["id"] != "x" and track["version"] == 1 and track["camelot"] is None


def test_create_at_a_position_renumbers_those_after_it(api):
    a, b, c = (create(api, title=t) for t in "abc")
    d = create(api, title="d", position=1)
    assert d["position"] == 1
    listing = api.get(URL).json()["results"]
    assert [t["title"] for t in listing] == ["a", "d", "b", "c"]
    assert [t["position"] for t in listing] == [0, 1, 2, 3]
    assert api.get(detail(c["id"])).json()["position"] == 3


def test_create_past_the_end_appends(api):
    create(api, title="a")
    assert create(api, title="b", position=1000)["position"] == 1


def test_create_at_position_zero_prepends_many_times(api):
    for index in range(60):  # exhausts float midpoints nowhere, but exercises the head path
        create(api, title=f"t{index}", position=0)
    titles = [t["title"] for t in api.get(URL, {"limit": 100}).json()["results"]]
    assert titles == [f"t{index}" for index in reversed(range(60))]


def test_repeated_inserts_at_one_spot_keep_the_order(api):
    create(api, title="first")
    create(api, title="last")
    for index in range(70):  # more bisections than a double has bits: forces a renumbering
        create(api, title=f"m{index}", position=1)
    titles = [t["title"] for t in api.get(URL, {"limit": 100}).json()["results"]]
    assert titles == ["first"] + [f"m{i}" for i in reversed(range(70))] + ["last"]


@pytest.mark.parametrize("position", [-1, "x", 1.5, True])
def test_create_with_a_bad_position_is_400_and_stores_nothing(api, position):
    response = api.post(URL, {"title": "a", "artist": "b", "position": position}, format="json")
    assert response.status_code == 400
    assert "position" in response.json()
    assert api.get(URL).json()["count"] == 0


# --- read --------------------------------------------------------------------------------
def test_read_answers_the_track_with_etag(api, anon):
    track = create(api)
    response = anon.get(detail(track["id"]))
    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    assert response.json() == track


@pytest.mark.parametrize("tag", ['"1"', 'W/"1"', '"7", "1"', "*"])
def test_read_with_a_matching_if_none_match_is_304(api, tag):
    track = create(api)
    response = api.get(detail(track["id"]), HTTP_IF_NONE_MATCH=tag)
    assert response.status_code == 304
    assert response["ETag"] == '"1"'


def test_read_with_a_stale_if_none_match_is_200(api):
    track = create(api)
    api.patch(detail(track["id"]), {"notes": "x"}, format="json")
    response = api.get(detail(track["id"]), HTTP_IF_NONE_MATCH='"1"')
    assert response.status_code == 200 and response["ETag"] == '"2"'


@pytest.mark.parametrize("track_id", ["8a29586c-4710-4580-84e5-ecf7d7b3811b", "not-a-uuid", "1234"])
def test_read_of_an_unknown_or_malformed_id_is_404(anon, track_id):
    response = anon.get(detail(track_id))
    assert response.status_code == 404
    assert "detail" in response.json()


# --- patch -------------------------------------------------------------------------------
def test_patch_changes_only_the_fields_sent(api):
    track = create(api, bpm=120, notes="a", genres=["house"])
    response = api.patch(detail(track["id"]), {"bpm": 128.5, "key": "F#m"}, format="json")
    assert response.status_code == 200
    patched = response.json()
    assert patched["bpm"] == 128.5 and patched["key"] == "F# minor" and patched["camelot"] == "11A"
    assert patched["notes"] == "a" and patched["genres"] == ["house"]
    assert patched["version"] == 2 and response["ETag"] == '"2"'
    assert api.get(detail(track["id"])).json() == patched


def test_patch_with_the_same_values_still_bumps_the_version(api):
    track = create(api, bpm=120)
    assert api.patch(detail(track["id"]), {"bpm": 120}, format="json").json()["version"] == 2


@pytest.mark.parametrize("tag", ['"1"', 'W/"1"'])
def test_patch_with_a_matching_if_match_lands(api, tag):
    track = create(api)
    response = api.patch(detail(track["id"]), {"notes": "n"}, format="json", HTTP_IF_MATCH=tag)
    assert response.status_code == 200


@pytest.mark.parametrize("tag", ['"2"', "garbage", "*", "1"])
def test_patch_with_a_stale_or_invalid_if_match_is_412_and_changes_nothing(api, tag):
    track = create(api, notes="before")
    response = api.patch(detail(track["id"]), {"notes": "after"}, format="json", HTTP_IF_MATCH=tag)
    assert response.status_code == 412
    assert "detail" in response.json()
    assert api.get(detail(track["id"])).json() == track


@pytest.mark.parametrize("body", [{}, {"id": "x", "version": 3}, {"position": 2}])
def test_patch_without_a_writable_field_is_400(api, body):
    track = create(api)
    response = api.patch(detail(track["id"]), body, format="json")
    assert response.status_code == 400
    assert api.get(detail(track["id"])).json()["version"] == 1


def test_patch_of_an_unknown_track_is_404(api):
    assert api.patch(detail(uuid.uuid4()), {"notes": "x"}, format="json").status_code == 404


def test_a_track_has_no_put(api):
    track = create(api)
    response = api.put(detail(track["id"]), {"title": "a", "artist": "b"}, format="json")
    assert response.status_code == 405


# --- delete ------------------------------------------------------------------------------
def test_delete_removes_the_track_and_renumbers(api):
    a, b, c = (create(api, title=t) for t in "abc")
    assert api.delete(detail(a["id"])).status_code == 204
    assert api.get(detail(a["id"])).status_code == 404
    assert api.delete(detail(a["id"])).status_code == 404
    assert [t["position"] for t in api.get(URL).json()["results"]] == [0, 1]
    assert api.get(detail(c["id"])).json()["position"] == 1


def test_delete_honours_if_match(api):
    track = create(api)
    assert api.delete(detail(track["id"]), HTTP_IF_MATCH='"5"').status_code == 412
    assert api.get(detail(track["id"])).status_code == 200
    assert api.delete(detail(track["id"]), HTTP_IF_MATCH='"1"').status_code == 204


# --- move --------------------------------------------------------------------------------
def test_move_places_the_track_and_bumps_its_version(api):
    a, b, c = (create(api, title=t) for t in "abc")
    response = api.post(detail(c["id"]) + "move/", {"position": 0}, format="json")
    assert response.status_code == 200
    moved = response.json()
    assert moved["position"] == 0 and moved["version"] == 2
    assert [t["title"] for t in api.get(URL).json()["results"]] == ["c", "a", "b"]
    assert api.get(detail(a["id"])).json()["position"] == 1
    assert api.get(detail(a["id"])).json()["version"] == 1


def test_move_past_the_end_moves_last(api):
    a, _ = create(api, title="a"), create(api, title="b")
    moved = api.post(detail(a["id"]) + "move/", {"position": 99}, format="json").json()
    assert moved["position"] == 1


@pytest.mark.parametrize("body", [{"position": -1}, {}, {"position": "x"}, {"position": 1, "x": 1}])
def test_move_with_a_bad_body_is_400(api, body):
    a = create(api)
    assert api.post(detail(a["id"]) + "move/", body, format="json").status_code == 400
    assert api.get(detail(a["id"])).json()["version"] == 1


def test_move_honours_if_match(api):
    a, _ = create(api, title="a"), create(api, title="b")
    response = api.post(detail(a["id"]) + "move/", {"position": 1}, format="json", HTTP_IF_MATCH='"3"')
    assert response.status_code == 412
    assert [t["title"] for t in api.get(URL).json()["results"]] == ["a", "b"]


# --- list --------------------------------------------------------------------------------
def test_list_pages_in_playlist_order(api):
    for index in range(5):
        create(api, title=f"t{index}")
    page = api.get(URL, {"limit": 2, "offset": 2}).json()
    assert page["count"] == 5
    assert [t["title"] for t in page["results"]] == ["t2", "t3"]
    assert "offset=4" in page["next"] and "offset=0" in page["previous"]
    last = api.get(URL, {"limit": 2, "offset": 4}).json()
    assert last["next"] is None and len(last["results"]) == 1


def test_list_results_carry_cues_without_waveforms(api):
    create(api, cues=[{"start": 0, "end": 1, "waveform": [0.5, 0.25]}])
    listed = api.get(URL).json()["results"][0]
    assert listed["cues"] == [{"name": "cue_0", "start": 0.0, "end": 1.0}]


def test_list_filters_combine(api):
    create(api, title="Deep Night", artist="A", bpm=122, key="Am", genres=["House"])
    create(api, title="Day", artist="Deep Crew", bpm=128, key="C", genres=["techno"])
    create(api, title="Other", artist="B", genres=["house"])

    def titles(**params):
        response = api.get(URL, params)
        assert response.status_code == 200, response.content
        return [t["title"] for t in response.json()["results"]]

    assert titles(q="deep") == ["Deep Night", "Day"]
    assert titles(genre="HOUSE") == ["Deep Night", "Other"]
    assert titles(bpm_min=125) == ["Day"]
    assert titles(bpm_max=125) == ["Deep Night"]
    assert titles(key="a min") == ["Deep Night"]
    assert titles(key="C major", q="day") == ["Day"]
    assert titles(q="deep", genre="house", bpm_min=100, bpm_max=130) == ["Deep Night"]
    assert api.get(URL, {"genre": "house", "limit": 1}).json()["count"] == 2


def test_list_filtered_positions_are_playlist_positions(api):
    create(api, title="a")
    create(api, title="b", genres=["x"])
    listed = api.get(URL, {"genre": "x"}).json()["results"]
    assert listed[0]["position"] == 1


@pytest.mark.parametrize("params", [
    {"limit": 0}, {"limit": 501}, {"limit": "x"}, {"offset": -1}, {"q": ""}, {"genre": ""},
    {"bpm_min": "fast"}, {"bpm_max": "nan"}, {"key": "H minor"}, {"key": ""}, {"q": "x" * 201},
    {"bpm_min": 130, "bpm_max": 120},
])
def test_list_with_a_bad_parameter_is_400(anon, params):
    response = anon.get(URL, params)
    assert response.status_code == 400


def test_list_ignores_unknown_parameters(anon):
    assert anon.get(URL, {"colour": "blue"}).status_code == 200


# --- the hot read path (a verified token skips DRF's dispatch) ----------------------------
def test_reads_with_a_token_answer_exactly_as_anonymous_ones(api, anon):
    track = create(api, cues=[{"start": 0, "end": 1, "waveform": [0.5]}])
    for _ in range(2):  # the second goes through the verified-token path
        with_token = api.get(detail(track["id"]))
        assert with_token.status_code == 200 and with_token["ETag"] == '"1"'
        assert with_token.content == anon.get(detail(track["id"])).content
        assert api.get(detail(track["id"]), HTTP_IF_NONE_MATCH='W/"1"').status_code == 304


def test_with_a_token_unknown_and_malformed_ids_are_still_json_404s(api):
    create(api)
    for track_id in (uuid.uuid4(), "nope"):
        response = api.get(detail(track_id))
        assert response.status_code == 404 and "detail" in response.json()


def test_a_revoked_token_stops_working_once_the_token_cache_expires(api, token, settings):
    from quantumlive.auth import forget_all
    from rest_framework.authtoken.models import Token

    track = create(api)
    assert api.get(detail(track["id"])).status_code == 200
    Token.objects.filter(key=token).delete()
    forget_all()  # what QL_TOKEN_CACHE_SECONDS does by itself
    assert api.get(detail(track["id"])).status_code == 401
    assert api.post(URL, {"title": "a", "artist": "b"}, format="json").status_code == 401
