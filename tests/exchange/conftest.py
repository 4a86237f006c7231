"""Helpers of the export/import tests: tracks and playlists made through the API."""

import pytest


def make_track(client, **fields) -> dict:
    body = {"title": "Live Session", "artist": "Quantum Crew", **fields}
    response = client.post("/api/tracks/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def make_playlist(client, name="Friday warm-up", track_ids=(), **fields) -> dict:
    response = client.post("/api/playlists/", {"name": name, **fields}, format="json")
    assert response.status_code == 201, response.content
    playlist = response.json()
    if track_ids:
        added = client.post(f"/api/playlists/{playlist['id']}/items/", {"tracks": list(track_ids)}, format="json")
        assert added.status_code == 201, added.content
    return playlist


def upload(client, content: bytes | str, name="import.xml", **form):
    from django.core.files.uploadedfile import SimpleUploadedFile

    if isinstance(content, str):
        content = content.encode()
    return client.post("/api/imports/", {"file": SimpleUploadedFile(name, content), **form}, format="multipart")


def counts() -> tuple[int, int]:
    """(tracks in the library, playlists)."""
    from playlists import store as playlists
    from tracks import store as library

    return len(library.track_ids()), len(playlists.playlist_ids())


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def other(django_user_model):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    user = django_user_model.objects.create_user("guest", password="pw-guest-123456")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client
