"""Validation of playlist bodies and query parameters, and the JSON shapes of playlists and
their entries (API.md, Playlists)."""

import uuid

from rest_framework import serializers

from quantumlive.fields import (
    BoundedListField,
    JSONBooleanField,
    JSONIntegerField,
    StrictIntegerField,
    StrictSerializer,
    StringField,
    shown_name,
)
from tracks.serializers import track_body

SERVER_OWNED = ("id", "owner", "tracks", "duration", "version", "created", "updated")
MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_BATCH = 500  # track ids one add takes, entry ids one remove takes
# The longest text a UUID may be written in ("urn:uuid:" + 36); longer is not one.
_MAX_UUID_TEXT = 45
_WRITABLE = ("name", "description", "public")


class UUIDStringField(StringField):
    """An id: a string holding a UUID, canonicalised (lower case, hyphens). Anything else is
    400 naming the value (its first 64 characters)."""

    def __init__(self, *, what: str, **kwargs):
        self.what = what
        super().__init__(**kwargs)

    def run_validation(self, data=serializers.empty):
        if data is not serializers.empty and not isinstance(data, str):
            raise serializers.ValidationError(f"Not a {self.what} id: ids are strings, not {_json_type(data)}.")
        if isinstance(data, str) and len(data) > _MAX_UUID_TEXT:
            raise serializers.ValidationError(f"Not a {self.what} id: {shown_name(data)!r}.")
        return super().run_validation(data)

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        try:
            return str(uuid.UUID(text))
        except ValueError:
            raise serializers.ValidationError(f"Not a {self.what} id: {shown_name(text)!r}.") from None


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "a list" if isinstance(value, list) else "an object"


class _IdListField(BoundedListField):
    """1..500 ids; an error names the first bad value (not only its index)."""

    def __init__(self, *, what: str, **kwargs):
        super().__init__(child=UUIDStringField(what=what), min_length=1, max_length=MAX_BATCH, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, list) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        if not data:
            self.fail("min_length", min_length=self.min_length)
        values = []
        for item in data:  # the first bad one, by value
            try:
                values.append(self.child.run_validation(item))
            except serializers.ValidationError as exc:
                raise serializers.ValidationError(exc.detail) from None
        return values


class PlaylistFieldsSerializer(StrictSerializer):
    """The writable fields of a playlist; server-owned fields are accepted and ignored (like a
    track's), any other field is 400. `name` is trimmed like a track's title; `description`
    is kept as sent, like a track's notes."""

    name = StringField(min_length=1, max_length=MAX_NAME)
    description = StringField(max_length=MAX_DESCRIPTION, allow_blank=True, required=False, trim_whitespace=False)
    public = JSONBooleanField(required=False)

    class Meta:
        ignored = SERVER_OWNED


class PlaylistCreateSerializer(PlaylistFieldsSerializer):
    DEFAULTS = {"description": "", "public": False}


class PlaylistPatchSerializer(PlaylistFieldsSerializer):
    def __init__(self, *args, **kwargs):
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Send at least one field you may change: name, description, public.")
        return attrs


class EntriesAddSerializer(StrictSerializer):
    tracks = _IdListField(what="track", help_text="1-500 library track ids (repeats allowed), inserted in this order.")
    position = JSONIntegerField(min_value=0, required=False,
                                help_text="Where the first goes (default, or past the end: appended).")


class EntriesRemoveSerializer(StrictSerializer):
    entries = _IdListField(what="entry", help_text="1-500 entry ids of this playlist: all are removed, or none.")


class ReorderSerializer(StrictSerializer):
    range_start = JSONIntegerField(min_value=0)
    range_length = JSONIntegerField(min_value=1, default=1)
    insert_before = JSONIntegerField(min_value=0)


class PlaylistFilterSerializer(serializers.Serializer):
    """Query parameters of the list (unknown ones are ignored; an empty value is 400)."""

    limit = StrictIntegerField(min_value=1, max_value=500, default=50)
    offset = StrictIntegerField(min_value=0, default=0)
    owner = StringField(min_length=1, max_length=150, required=False, trim_whitespace=False,
                        help_text="`me` (the caller's), or a username.")
    q = StringField(min_length=1, max_length=200, required=False, trim_whitespace=False,
                    help_text="Case-insensitive substring of the name.")


class PageSerializer(serializers.Serializer):
    limit = StrictIntegerField(min_value=1, max_value=500, default=50)
    offset = StrictIntegerField(min_value=0, default=0)


# --- output ------------------------------------------------------------------------------
_PLAYLIST = ("id", "name", "description", "public", "owner", "tracks", "duration", "version", "created", "updated")


def playlist_body(playlist: dict) -> dict:
    """The API shape of a playlist dict from the store (`owner_id` is internal)."""
    return {name: playlist[name] for name in _PLAYLIST}


def entry_track_body(summary: dict) -> dict:
    """A library track as an entry carries it: as in the library's list (no cue waveforms)
    but without `position`, which is the track's place in the library; the entry's own
    `position` is its place in the playlist."""
    body = track_body({**summary, "position": None})
    del body["position"]
    return body


def entry_body(entry: dict) -> dict:
    return {"entry": entry["entry"], "position": entry["position"], "added": entry["added"],
            "track": entry_track_body(entry["track"])}
