"""Bad input of every class answers a clear 4xx and stores nothing (API.md, General rules)."""

import pytest

pytestmark = pytest.mark.django_db
URL = "/api/tracks/"


def count(client):
    return client.get(URL).json()["count"]


def post_raw(api, body: bytes, content_type="application/json"):
    return api.generic("POST", URL, body, content_type=content_type)


@pytest.mark.parametrize("body", [b"{", b"[1, 2]", b'"text"', b"null", b"\xff\xfe", b'{"title": "a", "artist": NaN}',
                                  b'{"title": "a", "artist": "b", "bpm": Infinity}',
                                  b'{"title": "a", "artist": "b", "bpm": -Infinity}'])
def test_malformed_json_is_400(api, body):
    response = post_raw(api, body)
    assert response.status_code == 400
    assert "detail" in response.json()
    assert count(api) == 0


def test_deeply_nested_json_is_400(api):
    body = b"[" * 100000 + b"]" * 100000
    response = api.generic("POST", "/api/tracks/", body, content_type="application/json")
    assert response.status_code == 400 and "detail" in response.json()


def test_a_charset_that_is_no_text_codec_is_400(api):
    response = api.generic("POST", "/api/tracks/", b'{"title": "a", "artist": "b"}',
                           content_type="application/json; charset=rot13")
    assert response.status_code == 400


@pytest.mark.parametrize("body, field", [
    ({"title": "a", "artist": "b", "colour": "red"}, "colour"),
    ({"title": "a", "artist": "b", "cues": [{"start": 0, "end": 1, "colour": "red"}]}, "cues"),
    ({"title": "a"}, "artist"),
    ({"artist": "b"}, "title"),
    ({"title": "", "artist": "b"}, "title"),
    ({"title": "x" * 301, "artist": "b"}, "title"),
    ({"title": 5, "artist": ["b"]}, "artist"),
    ({"title": "a", "artist": "b", "bpm": 0}, "bpm"),
    ({"title": "a", "artist": "b", "bpm": 401}, "bpm"),
    ({"title": "a", "artist": "b", "bpm": "NaN"}, "bpm"),
    ({"title": "a", "artist": "b", "bpm": "inf"}, "bpm"),
    ({"title": "a", "artist": "b", "bpm": True}, "bpm"),
    ({"title": "a", "artist": "b", "key": "H major"}, "key"),
    ({"title": "a", "artist": "b", "key": 7}, "key"),
    ({"title": "a", "artist": "b", "duration": 0}, "duration"),
    ({"title": "a", "artist": "b", "duration": 86401}, "duration"),
    ({"title": "a", "artist": "b", "genres": "house"}, "genres"),
    ({"title": "a", "artist": "b", "genres": [""]}, "genres"),
    ({"title": "a", "artist": "b", "genres": ["g" * 65]}, "genres"),
    ({"title": "a", "artist": "b", "genres": [f"g{i}" for i in range(33)]}, "genres"),
    ({"title": "a", "artist": "b", "sources": {"You Tube": "https://x.org"}}, "sources"),
    ({"title": "a", "artist": "b", "sources": {"yt": "ftp://x.org/a"}}, "sources"),
    ({"title": "a", "artist": "b", "sources": {"yt": "not a url"}}, "sources"),
    ({"title": "a", "artist": "b", "sources": {f"s{i}": "https://x.org" for i in range(17)}}, "sources"),
    ({"title": "a", "artist": "b", "sources": ["https://x.org"]}, "sources"),
    ({"title": "a", "artist": "b", "notes": "n" * 10001}, "notes"),
    ({"title": "a", "artist": "b", "cues": [{"start": -1, "end": 1}]}, "cues"),
    ({"title": "a", "artist": "b", "cues": [{"start": 2, "end": 2}]}, "cues"),
    ({"title": "a", "artist": "b", "cues": [{"start": 0}]}, "cues"),
    ({"title": "a", "artist": "b", "cues": [{"start": 0, "end": 1, "name": "n" * 65}]}, "cues"),
    ({"title": "a", "artist": "b", "cues": [{"start": 0, "end": 1, "waveform": [0.1] * 16385}]}, "cues"),
    ({"title": "a", "artist": "b", "cues": [{"start": 0, "end": 1, "waveform": ["x"]}]}, "cues"),
    ({"title": "a", "artist": "b", "cues": [{"start": 0, "end": 1}] * 513}, "cues"),
    ({"title": "a", "artist": "b", "cues": {"start": 0}}, "cues"),
    ({"title": "a", "artist": "b", "analysis": "no-such-job"}, "analysis"),
])
def test_invalid_fields_are_400_naming_the_field(api, body, field):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert count(api) == 0


def test_an_integer_too_large_for_a_float_in_a_waveform_is_400(api):
    body = b'{"title": "a", "artist": "b", "cues": [{"start": 0, "end": 1, "waveform": [1' + b"0" * 400 + b"]}]}"
    response = api.generic("POST", "/api/tracks/", body, content_type="application/json")
    assert response.status_code == 400 and "cues" in response.json()


def test_the_largest_allowed_values_are_accepted(api):
    response = api.post(URL, {
        "title": "x" * 300, "artist": "y", "bpm": 400, "duration": 86400, "notes": "n" * 10000,
        "genres": [f"g{i}" for i in range(32)], "sources": {f"s{i}": "https://x.org" for i in range(16)},
        "cues": [{"start": 0, "end": 1, "waveform": [0.5] * 16384}],
    }, format="json")
    assert response.status_code == 201, response.content


def test_a_body_over_the_limit_is_413(api, settings):
    settings.QL_MAX_BODY_MB = 1
    body = b'{"title": "a", "artist": "b", "notes": "' + b"x" * (2**20) + b'"}'
    response = post_raw(api, body)
    assert response.status_code == 413
    assert "detail" in response.json()
    assert count(api) == 0


def test_a_patch_with_bad_values_changes_nothing(api):
    track = api.post(URL, {"title": "a", "artist": "b", "bpm": 120}, format="json").json()
    response = api.patch(f"{URL}{track['id']}/", {"bpm": 120.5, "key": "Z"}, format="json")
    assert response.status_code == 400 and "key" in response.json()
    assert api.get(f"{URL}{track['id']}/").json() == track


def test_a_form_encoded_body_is_415(api):
    response = api.post(URL, "title=a&artist=b", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
