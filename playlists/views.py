"""Playlists API (API.md, Playlists): thin views that check who may see or change a
playlist, validate, call playlists/store.py and shape the answer.

Who may do what: anyone may read a public playlist; a private one is 404 to everyone but its
owner and staff (`is_staff`). Writes need a token (401, the default permission); a caller who
can see a playlist but does not own it (and is not staff) gets 403."""

import uuid

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from playlists import openapi as docs
from playlists import store
from playlists.serializers import (
    EntriesAddSerializer,
    EntriesRemoveSerializer,
    PageSerializer,
    PlaylistCreateSerializer,
    PlaylistFilterSerializer,
    PlaylistPatchSerializer,
    ReorderSerializer,
    entry_body,
    playlist_body,
)
from quantumlive import etags, metrics
from quantumlive.exceptions import PreconditionFailed, ServiceUnavailable
from tracks.serializers import WheelFilterSerializer, matcher, sorter, wheel_codes
from tracks.suggestions import tracks_in_keys

NO_PLAYLIST = "No playlist with this id."
NO_ENTRY = "No entry with this id in this playlist."
NOT_OWNER = "Only the playlist's owner (or staff) may change it."
# The largest offset an entry page passes to Redis (a larger one reads the same empty page).
MAX_OFFSET = 2**31


class ItemsQuerySerializer(PageSerializer, WheelFilterSerializer):
    """A page of entries, with the library's DJ filters and ordering (over the entries'
    tracks; `position` is the entry's place in the playlist)."""


def _valid_id(value: str, missing: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise NotFound(missing) from None


def _viewer(request):
    user = request.user
    return user if user is not None and user.is_authenticated else None


def _may_see(request, playlist: dict) -> bool:
    viewer = _viewer(request)
    return playlist["public"] or (viewer is not None and (viewer.is_staff or viewer.pk == playlist["owner_id"]))


def _may_change(request, playlist: dict) -> bool:
    viewer = _viewer(request)
    return viewer is not None and (viewer.is_staff or viewer.pk == playlist["owner_id"])


def _seen(request, playlist: dict | None) -> dict:
    """The playlist if the caller may see it; else 404 (as if there were none)."""
    if playlist is None or not _may_see(request, playlist):
        raise NotFound(NO_PLAYLIST)
    return playlist


def seen_playlist_id(request, playlist_id: str) -> str:
    """The id of a playlist the caller may see (other apps' views: a track's suggestions
    within a playlist); 404 as this API answers it."""
    return _seen(request, store.playlist_get(playlist_id=playlist_id))["id"]


def _changeable(request, playlist_id: str) -> dict:
    """The playlist the caller may change: 404 if they cannot see it, 403 if they can but do
    not own it (staff may change every playlist)."""
    playlist = _seen(request, store.playlist_get(playlist_id=playlist_id))
    if not _may_change(request, playlist):
        raise PermissionDenied(NOT_OWNER)
    return playlist


def _expected(request, playlist_id: str) -> int | None:
    """The version If-Match conditions the write on (None without it); 412 as for tracks."""
    def current() -> int:
        playlist = store.playlist_get(playlist_id=playlist_id)
        if playlist is None:
            raise NotFound(NO_PLAYLIST)
        return playlist["version"]

    return etags.expected_version(request.headers.get("If-Match"), current,
                                  "The playlist has changed: If-Match does not match its current version.")


def _with_etag(response: Response, version: int) -> Response:
    response["ETag"] = etags.etag(version)
    return response


def _page(request, count: int, offset: int, limit: int, results: list) -> Response:
    """A page like the tracks list's: count, next, previous, results."""
    base = request.build_absolute_uri(request.path)

    def link(new_offset: int) -> str:
        query = request.query_params.copy()
        query["offset"] = str(new_offset)
        query["limit"] = str(limit)
        return f"{base}?{query.urlencode()}"

    return Response({
        "count": count,
        "next": link(offset + limit) if offset + limit < count else None,
        "previous": link(max(offset - limit, 0)) if offset > 0 else None,
        "results": results,
    })


def _body(serializer_class, request) -> dict:
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    return dict(body.validated_data)


class PlaylistErrorsMixin:
    """Maps the store's exceptions to HTTP answers."""

    def handle_exception(self, exc):
        if isinstance(exc, store.PlaylistNotFound):
            exc = NotFound(NO_PLAYLIST)
        elif isinstance(exc, store.VersionMismatch):
            exc = PreconditionFailed(f"The playlist has changed: its current version is {exc.current}.")
        elif isinstance(exc, store.LockTimeout):
            exc = ServiceUnavailable("The playlist is busy; nothing changed. Retry shortly.", retry_after=1)
        elif isinstance(exc, store.TooManyEntries):
            exc = ValidationError({"tracks": [
                f"A playlist holds at most {exc.limit} entries; nothing was added."]})
        elif isinstance(exc, store.UnknownTracks):
            exc = ValidationError({"tracks": [
                f"No track with id {track_id} in the library; nothing was added." for track_id in exc.track_ids]})
        elif isinstance(exc, store.UnknownEntry):
            exc = ValidationError({"entries": [
                f"No entry with id {exc.entry_id} in this playlist; nothing was removed."]})
        elif isinstance(exc, store.BadRange):
            exc = ValidationError({"non_field_errors": [
                f"Out of range: the playlist has {exc.count} entries (range_start < {exc.count}, "
                f"range_start + range_length <= {exc.count}, insert_before <= {exc.count})."]})
        return super().handle_exception(exc)


class PlaylistListView(PlaylistErrorsMixin, APIView):
    schema = docs.PlaylistSchema()

    @extend_schema(parameters=[PlaylistFilterSerializer], operation_id="playlists_list", description=(
        "The caller's own playlists and every public one (anonymous: public ones only), oldest first. "
        "`owner=me` or `owner=<username>` keeps one owner's (an unknown username, or `me` without a "
        "token: an empty page; staff naming an owner see all of that owner's); `q` keeps those whose "
        "name contains it (case-insensitive)."),
                   responses=docs.PlaylistPageSerializer, examples=[docs.PLAYLIST_PAGE])
    def get(self, request):
        params = PlaylistFilterSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        filters = params.validated_data
        offset, limit = filters["offset"], filters["limit"]
        viewer = _viewer(request)
        viewer_id = viewer.pk if viewer is not None else None
        owner_id = None
        if "owner" in filters:
            if filters["owner"] == "me":
                owner_id = viewer_id
            else:
                owner_id = (get_user_model().objects.filter(username=filters["owner"])
                            .values_list("pk", flat=True).first())
            if owner_id is None:  # anonymous "me", or no such user: no playlists
                return _page(request, 0, offset, limit, [])
            if viewer is not None and viewer.is_staff:
                viewer_id = owner_id  # staff see every playlist of the owner they name
        count, page = store.playlist_list(viewer_id=viewer_id, owner_id=owner_id, q=filters.get("q"),
                                          offset=offset, limit=limit)
        return _page(request, count, offset, limit, [playlist_body(playlist) for playlist in page])

    @extend_schema(request=PlaylistCreateSerializer, operation_id="playlists_create",
                   responses={201: docs.PlaylistSerializer}, parameters=[docs.ETAG, docs.LOCATION],
                   examples=[docs.NEW_PLAYLIST, docs.PLAYLIST])
    def post(self, request):
        values = {**PlaylistCreateSerializer.DEFAULTS, **_body(PlaylistCreateSerializer, request)}
        playlist = store.playlist_create(owner_id=request.user.pk, owner=request.user.get_username(), **values)
        response = Response(playlist_body(playlist), status=status.HTTP_201_CREATED)
        response["Location"] = reverse("playlist-detail", args=[playlist["id"]], request=request)
        return _with_etag(response, playlist["version"])


class PlaylistDetailView(PlaylistErrorsMixin, APIView):
    schema = docs.PlaylistSchema()

    @extend_schema(operation_id="playlists_retrieve", responses={200: docs.PlaylistSerializer, 304: None},
                   parameters=[docs.PLAYLIST_ID, docs.IF_NONE_MATCH, docs.ETAG], examples=[docs.PLAYLIST])
    def get(self, request, playlist_id: str):
        playlist_id = _valid_id(playlist_id, NO_PLAYLIST)
        playlist = _seen(request, store.playlist_get(playlist_id=playlist_id))
        if etags.none_match(request.headers.get("If-None-Match"), playlist["version"]):
            return _with_etag(Response(status=status.HTTP_304_NOT_MODIFIED), playlist["version"])
        return _with_etag(Response(playlist_body(playlist)), playlist["version"])

    @extend_schema(request=PlaylistPatchSerializer, operation_id="playlists_partial_update",
                   responses=docs.PlaylistSerializer, parameters=[docs.PLAYLIST_ID, docs.IF_MATCH, docs.ETAG],
                   examples=[docs.PATCH_PLAYLIST, docs.PLAYLIST])
    def patch(self, request, playlist_id: str):
        playlist_id = _valid_id(playlist_id, NO_PLAYLIST)
        _changeable(request, playlist_id)
        values = _body(PlaylistPatchSerializer, request)
        playlist = store.playlist_update(playlist_id=playlist_id, values=values,
                                         expected_version=_expected(request, playlist_id))
        return _with_etag(Response(playlist_body(playlist)), playlist["version"])

    @extend_schema(operation_id="playlists_destroy", responses={204: None},
                   parameters=[docs.PLAYLIST_ID, docs.IF_MATCH])
    def delete(self, request, playlist_id: str):
        playlist_id = _valid_id(playlist_id, NO_PLAYLIST)
        _changeable(request, playlist_id)
        store.playlist_delete(playlist_id=playlist_id, expected_version=_expected(request, playlist_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PlaylistItemsView(PlaylistErrorsMixin, APIView):
    schema = docs.PlaylistSchema()

    @extend_schema(parameters=[ItemsQuerySerializer, docs.PLAYLIST_ID], operation_id="playlists_items_list",
                   description="The entries in order. Each carries its library track as the library's list "
                               "does, without the track's library `position`: the entry's `position` is "
                               "its place in the playlist. `camelot`, `compatible_with` and `ordering` "
                               "work as on the library's list, over the entries' tracks (`ordering=position`: "
                               "the playlist's order; a track held twice is two entries); `count` is then "
                               "the number of entries that match.",
                   responses=docs.EntryPageSerializer, examples=[docs.ENTRY_PAGE])
    def get(self, request, playlist_id: str):
        playlist_id = _valid_id(playlist_id, NO_PLAYLIST)
        params = ItemsQuerySerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        query = params.validated_data
        offset, limit = query["offset"], query["limit"]
        match, order_by = matcher(query), sorter(query)
        if match is None and order_by is None:
            # Redis ranges take 64-bit integers: past MAX_OFFSET (more entries than any playlist
            # can hold) the page is empty, whatever the offset
            found = store.entries_page(playlist_id=playlist_id, offset=min(offset, MAX_OFFSET), limit=limit)
            count = found[0]["tracks"] if found is not None else 0
        else:
            codes = wheel_codes(query)
            found = store.entries_select(playlist_id=playlist_id, match=match, order_by=order_by,
                                         only=None if codes is None else tracks_in_keys(codes),
                                         offset=offset, limit=limit)
            count = found.count if found is not None else 0
        _seen(request, found[0] if found is not None else None)
        response = _page(request, count, offset, limit, [entry_body(entry) for entry in found[1]])
        response["X-Playlist-Cache"] = found.source
        metrics.cache_read("playlist", found.source)
        return response

    @extend_schema(request=EntriesAddSerializer, operation_id="playlists_items_create", description=(
        "Inserts entries of these library tracks (repeats allowed) at `position`, in the order given. "
        "All or nothing: an id that is not a UUID, or not in the library, is 400 naming it; so is "
        "going over QL_PLAYLIST_MAX_ENTRIES."),
                   responses={201: docs.EntriesAddedSerializer},
                   parameters=[docs.PLAYLIST_ID, docs.IF_MATCH, docs.ETAG],
                   examples=[docs.ADD_ENTRIES, docs.ENTRIES_ADDED])
    def post(self, request, playlist_id: str):
        playlist_id = _valid_id(playlist_id, NO_PLAYLIST)
        _changeable(request, playlist_id)
        body = _body(EntriesAddSerializer, request)
        version, entries = store.entries_add(playlist_id=playlist_id, track_ids=body["tracks"],
                                             position=body.get("position"),
                                             expected_version=_expected(request, playlist_id))
        response = Response({"version": version, "entries": [entry_body(entry) for entry in entries]},
                            status=status.HTTP_201_CREATED)
        return _with_etag(response, version)


class PlaylistItemDetailView(PlaylistErrorsMixin, APIView):
    schema = docs.PlaylistSchema()

    @extend_schema(operation_id="playlists_items_destroy", responses={204: None},
                   parameters=[docs.PLAYLIST_ID, docs.ENTRY_ID, docs.IF_MATCH, docs.ETAG])
    def delete(self, request, playlist_id: str, entry_id: str):
        playlist_id = _valid_id(playlist_id, NO_PLAYLIST)
        _changeable(request, playlist_id)  # 404/403 first, as for any write: then the entry
        entry_id = _valid_id(entry_id, NO_ENTRY)
        try:
            playlist = store.entries_remove(playlist_id=playlist_id, entry_ids=[entry_id],
                                            expected_version=_expected(request, playlist_id))
        except store.UnknownEntry:
            raise NotFound(NO_ENTRY) from None
        # no body, but the version this removal made, for the client's next If-Match
        return _with_etag(Response(status=status.HTTP_204_NO_CONTENT), playlist["version"])


class PlaylistItemsRemoveView(PlaylistErrorsMixin, APIView):
    schema = docs.PlaylistSchema()

    @extend_schema(request=EntriesRemoveSerializer, operation_id="playlists_items_remove", description=(
        "Removes all of these entries or, if one is not in the playlist, none (400 naming it)."),
                   responses=docs.PlaylistSerializer, parameters=[docs.PLAYLIST_ID, docs.IF_MATCH, docs.ETAG],
                   examples=[docs.REMOVE_ENTRIES, docs.PLAYLIST])
    def post(self, request, playlist_id: str):
        playlist_id = _valid_id(playlist_id, NO_PLAYLIST)
        _changeable(request, playlist_id)
        body = _body(EntriesRemoveSerializer, request)
        playlist = store.entries_remove(playlist_id=playlist_id, entry_ids=list(dict.fromkeys(body["entries"])),
                                        expected_version=_expected(request, playlist_id))
        return _with_etag(Response(playlist_body(playlist)), playlist["version"])


class PlaylistReorderView(PlaylistErrorsMixin, APIView):
    schema = docs.PlaylistSchema()

    @extend_schema(request=ReorderSerializer, operation_id="playlists_reorder", description=(
        "Spotify's reorder: moves `range_length` entries starting at `range_start` to stand before the "
        "entry that was at `insert_before` (the number of entries: to the end). Entry ids are kept. "
        "A range that does not fit the playlist is 400."),
                   responses=docs.PlaylistSerializer, parameters=[docs.PLAYLIST_ID, docs.IF_MATCH, docs.ETAG],
                   examples=[docs.REORDER, docs.PLAYLIST])
    def post(self, request, playlist_id: str):
        playlist_id = _valid_id(playlist_id, NO_PLAYLIST)
        _changeable(request, playlist_id)
        body = _body(ReorderSerializer, request)
        playlist = store.entries_reorder(playlist_id=playlist_id, range_start=body["range_start"],
                                         range_length=body["range_length"], insert_before=body["insert_before"],
                                         expected_version=_expected(request, playlist_id))
        return _with_etag(Response(playlist_body(playlist)), playlist["version"])
