import pytest


def new_track(**fields) -> dict:
    from tracks import store
    from tracks.serializers import TrackCreateSerializer

    position = fields.pop("position", None)
    values = {**TrackCreateSerializer.DEFAULTS, "title": "Untitled", "artist": "Nobody", **fields}
    return store.track_create(values=values, position=position)


@pytest.fixture
def make_track():
    return new_track


@pytest.fixture
def staff_client(db, client):
    """A logged-in staff user with every permission of the Playlist section (not a superuser)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("curator", password="pw-curator-123456", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="tracks"))
    client.force_login(user)
    return client
