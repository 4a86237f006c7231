"""Authentication as API.md says: anonymous reads, token or session for everything else."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("method, path", [
    ("post", "/api/tracks/"),
    ("patch", "/api/tracks/6f1c1d2e-0000-4000-8000-000000000000/"),
    ("delete", "/api/tracks/6f1c1d2e-0000-4000-8000-000000000000/"),
    ("post", "/api/tracks/6f1c1d2e-0000-4000-8000-000000000000/move/"),
    ("post", "/api/tracks/6f1c1d2e-0000-4000-8000-000000000000/apply-analysis/"),
    ("post", "/api/youtube/"),
])
def test_anonymous_writes_are_401(anon, method, path):
    response = getattr(anon, method)(path, {}, format="json")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_a_bad_token_is_401_even_for_reads(anon):
    anon.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert anon.get("/api/tracks/").status_code == 401


def test_anonymous_reads_are_allowed(anon):
    assert anon.get("/api/tracks/").status_code == 200
    assert anon.get("/api/youtube/").status_code == 200
    assert anon.options("/api/tracks/").status_code == 200


def test_a_session_login_may_write(user, anon):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=False)
    client.force_login(user)
    assert client.post("/api/tracks/", {"title": "a", "artist": "b"}, format="json").status_code == 201


def test_a_session_write_without_csrf_token_is_403(user):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/tracks/", {"title": "a", "artist": "b"}, format="json")
    assert response.status_code == 403
