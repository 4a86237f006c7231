"""Tracks API: thin views that validate, call the store, and shape the answer."""

import uuid

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from analysis import openapi as analysis_docs
from analysis.waveform_http import REVALIDATE, none_match, not_modified, samples_per_pixel_param, waveform_response
from quantumlive import etags, metrics
from quantumlive.auth import known_token_user
from quantumlive.exceptions import PreconditionFailed, ServiceUnavailable
from tracks import openapi as docs
from tracks import signals, store, suggestions
from tracks.analysis_values import AnalysisUnusable
from tracks.serializers import (
    ApplyAnalysisSerializer,
    MoveSerializer,
    TrackCreateSerializer,
    TrackFilterSerializer,
    TrackPatchSerializer,
    SuggestionsQuerySerializer,
    matcher,
    rendered_body,
    sorter,
    track_body,
    wheel_codes,
)
from tracks.services import track_add, track_apply_analysis, track_waveform_blob, track_waveform_exists

def _valid_id(track_id: str) -> str:
    try:
        return str(uuid.UUID(track_id))
    except ValueError:
        raise NotFound("No track with this id.") from None


def expected_version(request, track_id: str) -> int | None:
    """The version a write is conditioned on by If-Match (None without the header).
    An If-Match that names no valid tag, or not the current version, is 412."""
    def current() -> int:
        track = store.track_get(track_id=track_id)
        if track is None:
            raise NotFound("No track with this id.")
        return track["version"]

    return etags.expected_version(request.headers.get("If-Match"), current)


def _with_etag(response, version: int):
    response["ETag"] = f'"{version}"'
    return response


def _write_track(request, track_id: str, body_class, write) -> Response:
    """A write to one track, conditioned on If-Match: validates the body with `body_class`,
    calls `write(track_id, validated body, expected version or None)` and answers the track
    it returns, with its ETag."""
    track_id = _valid_id(track_id)
    body = body_class(data=request.data)
    body.is_valid(raise_exception=True)
    track = write(track_id, body.validated_data, expected_version(request, track_id))
    return _with_etag(Response(track_body(track)), track["version"])


def _track_response(request, entry, position: int, source: str) -> HttpResponse:
    """200 with the rendered track (cached per version), or 304 for a matching If-None-Match."""
    metrics.cache_read("track", source)
    etag = f'"{entry.version}"'
    # not request.headers: built on first use
    if etags.none_match(request.META.get("HTTP_IF_NONE_MATCH"), entry.version):
        response = HttpResponse(status=304)
        response["ETag"] = etag
        return response
    response = HttpResponse(rendered_body(entry, position), content_type="application/json")
    response["ETag"] = etag
    response["X-Track-Cache"] = source
    return response


class StoreErrorsMixin:
    """Maps the store's exceptions to HTTP answers."""

    def handle_exception(self, exc):
        if isinstance(exc, store.TrackNotFound):
            exc = NotFound("No track with this id.")
        elif isinstance(exc, store.VersionMismatch):
            exc = PreconditionFailed(
                f"The track has changed: its current version is {exc.current}."
            )
        elif isinstance(exc, store.LockTimeout):
            exc = ServiceUnavailable("The track is busy; nothing changed. Retry shortly.", retry_after=1)
        return super().handle_exception(exc)


class TrackListView(StoreErrorsMixin, APIView):
    @extend_schema(parameters=[TrackFilterSerializer], operation_id="tracks_list",
                   responses=docs.TrackPageSerializer, examples=[docs.TRACK_PAGE])
    def get(self, request):
        params = TrackFilterSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        filters = params.validated_data
        codes = wheel_codes(filters)
        count, page = store.track_list(
            offset=filters["offset"], limit=filters["limit"], match=matcher(filters), order_by=sorter(filters),
            only=None if codes is None else suggestions.tracks_in_keys(codes),
        )
        offset, limit = filters["offset"], filters["limit"]
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
            "results": [track_body(summary) for summary in page],
        })

    @extend_schema(request=TrackCreateSerializer, operation_id="tracks_create",
                   responses={201: docs.TrackSerializer}, parameters=[docs.ETAG, docs.LOCATION],
                   examples=[docs.NEW_TRACK, docs.TRACK])
    def post(self, request):
        body = TrackCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        position = values.pop("position", None)
        analysis_job_id = values.pop("analysis", None)
        try:
            track = track_add(values=values, position=position, analysis_job_id=analysis_job_id)
        except AnalysisUnusable as exc:
            raise ValidationError({"analysis": [str(exc)]}) from None
        response = Response(track_body(track), status=status.HTTP_201_CREATED)
        response["Location"] = reverse("track-detail", args=[track["id"]], request=request)
        return _with_etag(response, track["version"])


class TrackDetailView(StoreErrorsMixin, APIView):
    @extend_schema(operation_id="tracks_retrieve", responses={200: docs.TrackSerializer, 304: None},
                   parameters=[docs.TRACK_ID, docs.IF_NONE_MATCH, docs.ETAG], examples=[docs.TRACK])
    def get(self, request, track_id: str):
        found = store.track_entry(track_id=_valid_id(track_id))
        if found is None:
            raise NotFound("No track with this id.")
        return _track_response(request, *found)

    @extend_schema(request=TrackPatchSerializer, operation_id="tracks_partial_update",
                   responses=docs.TrackSerializer, parameters=[docs.TRACK_ID, docs.IF_MATCH, docs.ETAG],
                   examples=[docs.PATCH_TRACK, docs.TRACK])
    def patch(self, request, track_id: str):
        def update(track_id: str, body: dict, expected: int | None) -> dict:
            return store.track_update(track_id=track_id, values=dict(body), expected_version=expected)

        return _write_track(request, track_id, TrackPatchSerializer, update)

    @extend_schema(operation_id="tracks_destroy", responses={204: None},
                   parameters=[docs.TRACK_ID, docs.IF_MATCH])
    def delete(self, request, track_id: str):
        track_id = _valid_id(track_id)
        store.track_delete(track_id=track_id, expected_version=expected_version(request, track_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TrackMoveView(StoreErrorsMixin, APIView):
    @extend_schema(request=MoveSerializer, operation_id="tracks_move", responses=docs.TrackSerializer,
                   parameters=[docs.TRACK_ID, docs.IF_MATCH, docs.ETAG], examples=[docs.MOVE, docs.TRACK])
    def post(self, request, track_id: str):
        def move(track_id: str, body: dict, expected: int | None) -> dict:
            return store.track_move(track_id=track_id, position=body["position"], expected_version=expected)

        return _write_track(request, track_id, MoveSerializer, move)


class TrackApplyAnalysisView(StoreErrorsMixin, APIView):
    @extend_schema(request=ApplyAnalysisSerializer, operation_id="tracks_apply_analysis",
                   responses=docs.TrackSerializer, parameters=[docs.TRACK_ID, docs.IF_MATCH, docs.ETAG],
                   examples=[docs.APPLY, docs.TRACK])
    def post(self, request, track_id: str):
        def apply(track_id: str, body: dict, expected: int | None) -> dict:
            try:
                return track_apply_analysis(track_id=track_id, analysis_job_id=body["analysis"],
                                            overwrite=body["overwrite"], expected_version=expected)
            except AnalysisUnusable as exc:
                raise ValidationError({"analysis": [str(exc)]}) from None

        return _write_track(request, track_id, ApplyAnalysisSerializer, apply)


class TrackSuggestionsView(StoreErrorsMixin, APIView):
    @extend_schema(parameters=[SuggestionsQuerySerializer, docs.TRACK_ID], operation_id="tracks_suggestions",
                   description=docs.SUGGESTIONS_DESCRIPTION, responses=docs.SuggestionsSerializer,
                   examples=[docs.SUGGESTIONS])
    def get(self, request, track_id: str):
        params = SuggestionsQuerySerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        query = params.validated_data
        track_id = _valid_id(track_id)
        track = store.track_summaries([track_id]).get(track_id)
        if track is None:
            raise NotFound("No track with this id.")
        among = None
        if "playlist" in query:
            # the playlists app answers (tracks/signals.py): the library imports nothing of it
            scopes = [answer for _, answer in signals.playlist_scope.send(
                sender=None, request=request, playlist_id=query["playlist"]) if answer is not None]
            if not scopes:
                raise NotFound("No playlist with this id.")
            among = scopes[0]
        try:
            found = suggestions.track_suggestions(track=track, bpm_tolerance=query["bpm_tolerance"],
                                                  limit=query["limit"], among=among)
        except suggestions.NotSuggestible as exc:
            raise ValidationError({"track": [str(exc)]}) from None
        return Response({"results": [
            {"track": track_body(summary), "relation": item.relation, "bpm_delta_pct": item.bpm_delta_pct,
             "score": item.score}
            for item, summary in suggestions.suggestions_with_tracks(found)]})


class TrackWaveformView(StoreErrorsMixin, APIView):
    """The waveform of the analysis last applied to a track (the track's own copy)."""

    @analysis_docs.waveform_schema(operation_id="tracks_waveform", path_parameter=docs.TRACK_ID,
                                   etag=docs.TRACK_WAVEFORM_ETAG, cache_control=docs.TRACK_WAVEFORM_CACHE)
    def get(self, request, track_id: str):
        samples_per_pixel = samples_per_pixel_param(request)
        track_id = _valid_id(track_id)
        track = store.track_summaries([track_id]).get(track_id)
        if track is None:
            raise NotFound("No track with this id.")
        analysis = track["analysis"]
        if analysis is None:
            raise NotFound("No analysis with a waveform has been applied to this track.")
        tag = f'"{analysis}.{samples_per_pixel}"'
        if none_match(request, tag) and track_waveform_exists(track_id=track_id, analysis_job_id=analysis):
            return not_modified(tag, REVALIDATE)
        blob = track_waveform_blob(track_id=track_id, analysis_job_id=analysis)
        return waveform_response(blob, samples_per_pixel, tag=tag, cache_control=REVALIDATE,
                                 missing="No analysis with a waveform has been applied to this track.")


_drf_detail = TrackDetailView.as_view()


# Set on a request by TrackReadMiddleware once it has tried the hot path for it.
HOT_READ_TRIED = "ql_hot_read_tried"


def hot_track_read(request, track_id: str) -> HttpResponse | None:
    """The answer to a GET of a track by a client with a token this process verified lately,
    without DRF's dispatch (reads are open to anyone, so the store's read, from memory under
    the cache's lease, is all there is to do); None when DRF must answer: anonymous clients
    (throttled), unknown tokens, ids that are not UUIDs, missing tracks. Used by the view and
    by TrackReadMiddleware (tracks/middleware.py), which answers it early."""
    if known_token_user(request) is None:
        return None
    try:
        canonical = str(uuid.UUID(track_id))
    except ValueError:
        return None
    found = store.track_entry(track_id=canonical)
    return _track_response(request, *found) if found is not None else None


@csrf_exempt
def track_detail(request, track_id: str):
    """A track: GETs that TrackReadMiddleware has not tried (those with cookies) take the hot
    path here; everything else (other methods, what the hot path cannot answer) goes through
    the DRF view."""
    if request.method == "GET" and not getattr(request, HOT_READ_TRIED, False):
        response = hot_track_read(request, track_id)
        if response is not None:
            return response
    return _drf_detail(request, track_id=track_id)


# The schema generator and DRF tooling see the DRF view behind the hot path.
track_detail.cls = _drf_detail.cls
track_detail.initkwargs = _drf_detail.initkwargs
