"""The answers of the playlists API, for the OpenAPI document (views build them as plain
dicts: playlists/serializers.py `playlist_body`, `entry_body`), and the playlist-specific
wording of the error answers quantumlive/openapi.py deduces."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS

from quantumlive.openapi import RETRY_AFTER, AutoSchema, error_response
from tracks.openapi import TRACK_EXAMPLE, CueMarkSerializer, _TrackBase


class PlaylistSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField(min_length=1, max_length=200)
    description = serializers.CharField(allow_blank=True, max_length=2000)
    public = serializers.BooleanField()
    owner = serializers.CharField(help_text="The owner's username.")
    tracks = serializers.IntegerField(min_value=0, help_text="The number of entries.")
    duration = serializers.FloatField(min_value=0, help_text="Sum of the entries' known track durations, seconds.")
    version = serializers.IntegerField(
        min_value=1, help_text="Grows by one on every change of the playlist or its entries; the ETag.")
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()

    class Meta:
        ref_name = "Playlist"


class PlaylistPageSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=0)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = PlaylistSerializer(many=True)

    class Meta:
        ref_name = "PlaylistPage"


class EntryTrackSerializer(_TrackBase):
    """A library track as an entry carries it: as in the library's list (cues without their
    waveform), without the library `position` (the entry's `position` is its place in the
    playlist)."""

    cues = CueMarkSerializer(many=True)
    version = serializers.IntegerField(min_value=1)
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()

    class Meta:
        ref_name = "EntryTrack"


class EntrySerializer(serializers.Serializer):
    entry = serializers.UUIDField(help_text="Stable for the entry's life (a move keeps it).")
    position = serializers.IntegerField(min_value=0, help_text="0-based place in the playlist.")
    added = serializers.DateTimeField()
    track = EntryTrackSerializer()

    class Meta:
        ref_name = "Entry"


class EntryPageSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=0)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = EntrySerializer(many=True)

    class Meta:
        ref_name = "EntryPage"


class EntriesAddedSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, help_text="The playlist's version after the insert.")
    entries = EntrySerializer(many=True)

    class Meta:
        ref_name = "EntriesAdded"


# --- error wording -----------------------------------------------------------------------
_OWNER_ONLY = error_response(
    403, "The caller can see the playlist (it is public) but neither owns it nor is staff; or a "
    "session-authenticated write without its CSRF token.",
    {"detail": "Only the playlist's owner (or staff) may change it."})
_MISSING = error_response(
    404, "No such playlist, a malformed id, or a private playlist of someone else (staff see "
    "every playlist).", {"detail": "No playlist with this id."})
_MISSING_ENTRY = error_response(
    404, "No such playlist or entry (or a malformed id), or a private playlist of someone else.",
    {"detail": "No entry with this id in this playlist."})
_CHANGED = error_response(
    412, "`If-Match` names no valid tag or not the playlist's current version; nothing changed.",
    {"detail": "The playlist has changed: its current version is 4."})
_BUSY = error_response(
    503, "Redis cannot be reached, or (writes) the playlist stayed locked by other writers; "
    "nothing changed.", {"detail": "The playlist is busy; nothing changed. Retry shortly."},
    headers={"Retry-After": RETRY_AFTER})
_NOT_MODIFIED = "Not modified: the playlist is at the version `If-None-Match` names."


class PlaylistSchema(AutoSchema):
    """The project's AutoSchema, its error answers worded for playlists."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return operation
        responses = operation["responses"]
        in_path = "{playlist_id}" in path
        if "403" in responses and in_path and self.method not in SAFE_METHODS:
            responses["403"] = _OWNER_ONLY
        if "404" in responses:
            responses["404"] = _MISSING_ENTRY if "{entry_id}" in path else _MISSING
        if "412" in responses:
            responses["412"] = _CHANGED
        if "304" in responses:
            responses["304"]["description"] = _NOT_MODIFIED
        responses["503"] = _BUSY
        return operation


# --- headers -----------------------------------------------------------------------------
ETAG = OpenApiParameter("ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=["200", "201", "304"],
                        description="`\"<version>\"`: the playlist's version.", required=True)
LOCATION = OpenApiParameter("Location", OpenApiTypes.URI, OpenApiParameter.HEADER, response=["201"],
                            description="The new playlist's URL.", required=True)
IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER,
    description='Write only if the playlist is at this version: `"<version>"` or `W/"<version>"` '
                "(a list of tags: any of them). Anything else never matches (412).")
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER,
    description='304 without a body if the playlist is at this version (`"<version>"`, `W/"<version>"`, '
                "a list of them, or `*`).")
PLAYLIST_ID = OpenApiParameter("playlist_id", OpenApiTypes.STR, OpenApiParameter.PATH,
                               description="The playlist's UUID (a malformed one is 404).")
ENTRY_ID = OpenApiParameter("entry_id", OpenApiTypes.STR, OpenApiParameter.PATH,
                            description="The entry's UUID (a malformed one is 404).")

# --- examples ----------------------------------------------------------------------------
PLAYLIST_EXAMPLE = {
    "id": "3e0c9a4f-2b1d-4c8e-8f6a-5d4c3b2a1f0e", "name": "Friday warm-up", "description": "",
    "public": False, "owner": "alice", "tracks": 42, "duration": 12345.6, "version": 17,
    "created": "2026-12-04T20:00:00.000Z", "updated": "2026-12-05T18:12:09.000Z",
}
_ENTRY_TRACK = {key: value for key, value in TRACK_EXAMPLE.items() if key != "position"}
_ENTRY_TRACK["cues"] = [{"name": "cue_0", "start": 0.0, "end": 7.74}]
ENTRY_EXAMPLE = {"entry": "9b2f7c1e-4d3a-4e5b-8c6d-7e8f9a0b1c2d", "position": 0,
                 "added": "2026-12-05T18:12:09.000Z", "track": _ENTRY_TRACK}

PLAYLIST = OpenApiExample("A playlist", value=PLAYLIST_EXAMPLE, response_only=True, status_codes=["200", "201"])
NEW_PLAYLIST = OpenApiExample("A new playlist", request_only=True,
                              value={"name": "Friday warm-up", "description": "deep, then up", "public": True})
PATCH_PLAYLIST = OpenApiExample("Rename and publish", request_only=True, value={"name": "Friday peak", "public": True})
PLAYLIST_PAGE = OpenApiExample("A page", response_only=True, value={
    "count": 120, "next": "http://127.0.0.1:8000/api/playlists/?owner=me&offset=50&limit=50",
    "previous": None, "results": [PLAYLIST_EXAMPLE]})
ENTRY_PAGE = OpenApiExample("A page of entries", response_only=True, value={
    "count": 42,
    "next": "http://127.0.0.1:8000/api/playlists/3e0c9a4f-2b1d-4c8e-8f6a-5d4c3b2a1f0e/items/?offset=1&limit=1",
    "previous": None, "results": [ENTRY_EXAMPLE]})
ADD_ENTRIES = OpenApiExample("Add two tracks at the top", request_only=True, value={
    "tracks": ["6f1c2d4e-8b7a-4c3d-9e2f-0a1b2c3d4e5f", "6f1c2d4e-8b7a-4c3d-9e2f-0a1b2c3d4e5f"], "position": 0})
ENTRIES_ADDED = OpenApiExample("The new entries", response_only=True, status_codes=["201"], value={
    "version": 18, "entries": [ENTRY_EXAMPLE, {**ENTRY_EXAMPLE, "entry": "0c1d2e3f-4a5b-4c6d-8e7f-8a9b0c1d2e3f",
                                               "position": 1}]})
REMOVE_ENTRIES = OpenApiExample("Remove two entries", request_only=True, value={
    "entries": ["9b2f7c1e-4d3a-4e5b-8c6d-7e8f9a0b1c2d", "0c1d2e3f-4a5b-4c6d-8e7f-8a9b0c1d2e3f"]})
REORDER = OpenApiExample("Move the first two entries to the end", request_only=True,
                         value={"range_start": 0, "range_length": 2, "insert_before": 42})
