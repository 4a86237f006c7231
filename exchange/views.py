"""Export and import of DJ files (API.md, "Export, import, and DJ tools"): thin views over
exchange/export.py, exchange/services.py and exchange/jobs.py.

Who may do what: exports are reads (anonymous allowed, as every read of tracks and public
playlists); a private playlist's export is 404 to everyone but its owner and staff, as the
playlist is. Imports need a token (401) and write the caller's playlists; an import job is
404 to everyone but its owner and staff.
"""

import contextlib
import uuid
from urllib.parse import quote

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from analysis.uploads import SizeLimitUploadHandler, check_declared_size
from exchange import export, jobs
from exchange import openapi as docs
from exchange.locations import default_root
from exchange.parse import BadFile, read
from exchange.serializers import ExportParamsSerializer, ImportFormSerializer
from exchange.services import import_apply, import_check
from exchange.text import ascii_filename
from playlists import store as playlists
from quantumlive.permissions import AuthenticatedOnly

NO_PLAYLIST = "No playlist with this id."
NO_JOB = "No import job with this id."


class IgnoreFormatNegotiation(DefaultContentNegotiation):
    """`?format=` names the exported file's format here, not a renderer: JSON answers
    (errors) whatever it says."""

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        return renderer, renderer.media_type


def _viewer(request):
    user = request.user
    return user if user is not None and user.is_authenticated else None


def _attachment(name: str, extension: str) -> str:
    """Content-Disposition: an ASCII file name for every client, and RFC 6266's filename*
    (UTF-8) when the name is not ASCII."""
    fallback = f"{ascii_filename(name)}.{extension}"
    header = f'attachment; filename="{fallback}"'
    full = f"{name}.{extension}"
    if full != fallback:
        header += f"; filename*=UTF-8''{quote(full, safe='')}"
    return header


def _export(request, tracks, *, name: str, playlist_name: str | None):
    params = ExportParamsSerializer(data=request.query_params.dict())
    params.is_valid(raise_exception=True)
    kind = params.validated_data["format"]
    root = params.validated_data.get("root") or default_root()
    if kind == "m3u8":
        written = export.m3u8(tracks, root=root)
    else:
        written = export.rekordbox(tracks, root=root, playlist_name=playlist_name)
    content_type, extension = export.FORMATS[kind]
    response = StreamingHttpResponse(written, content_type=content_type)  # closes it when closed
    response["Content-Length"] = str(written.length)
    response["Content-Disposition"] = _attachment(name, extension)
    return response


class LibraryExportView(APIView):
    content_negotiation_class = IgnoreFormatNegotiation

    @extend_schema(operation_id="tracks_export", parameters=[ExportParamsSerializer], responses=docs.FILE_ANSWERS,
                   description=docs.EXPORT_LIBRARY, examples=[docs.M3U8_EXAMPLE, docs.XML_EXAMPLE])
    def get(self, request):
        params = ExportParamsSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)  # 400 before anything is read
        return _export(request, export.library_tracks(), name="QuantumLive library", playlist_name=None)


class PlaylistExportView(APIView):
    content_negotiation_class = IgnoreFormatNegotiation

    @extend_schema(operation_id="playlists_export", parameters=[ExportParamsSerializer, docs.PLAYLIST_ID],
                   responses=docs.FILE_ANSWERS, description=docs.EXPORT_PLAYLIST,
                   examples=[docs.M3U8_EXAMPLE, docs.XML_EXAMPLE])
    def get(self, request, playlist_id: str):
        try:
            playlist_id = str(uuid.UUID(playlist_id))
        except ValueError:
            raise NotFound(NO_PLAYLIST) from None
        playlist = playlists.playlist_get(playlist_id=playlist_id)
        viewer = _viewer(request)
        if playlist is None or not (playlist["public"] or (
                viewer is not None and (viewer.is_staff or viewer.pk == playlist["owner_id"]))):
            raise NotFound(NO_PLAYLIST)
        params = ExportParamsSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        return _export(request, export.playlist_tracks(playlist_id), name=playlist["name"],
                       playlist_name=playlist["name"])


def _job_body(request, record: dict) -> dict:
    return {"id": record["id"], "status": record["status"],
            "url": reverse("import-detail", args=[record["id"]], request=request),
            "created": record["created"], "finished": record["finished"], "report": record["report"],
            "error": record["error"]}


class ImportView(APIView):
    parser_classes = [MultiPartParser]
    permission_classes = [AuthenticatedOnly]
    throttle_scope = "analysis"

    def initial(self, request, *args, **kwargs):
        if request.method == "POST":  # before anything may parse the body
            request._request.upload_handlers.insert(0, SizeLimitUploadHandler(request._request))
        super().initial(request, *args, **kwargs)  # authentication first: 401 before 413
        if request.method == "POST":
            check_declared_size(request)

    @extend_schema(operation_id="imports_create", request={"multipart/form-data": ImportFormSerializer},
                   responses={200: docs.ImportReportSerializer, 202: docs.ImportJobSerializer},
                   description=docs.IMPORT, examples=[docs.REPORT_EXAMPLE, docs.JOB_QUEUED],
                   parameters=[docs.LOCATION])
    def post(self, request):
        form = ImportFormSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        uploaded, root = form.validated_data["file"], form.validated_data.get("root")
        user = request.user
        # A large file is not parsed here (seconds of a web worker's time): the job reads it,
        # and a bad one fails the job, changing nothing.
        if uploaded.size <= settings.QL_IMPORT_SYNC_MAX_BYTES:
            try:
                dj_file = read(uploaded, file_name=uploaded.name or "")  # the whole file: 400 before any write
            except BadFile as exc:
                raise ValidationError({"file": [str(exc)]}) from None
            if len(dj_file.tracks) <= settings.QL_IMPORT_SYNC_MAX_TRACKS:
                checked = import_check(dj_file, root=root)
                return Response(import_apply(checked, owner_id=user.pk, owner=user.get_username()))
            del dj_file  # the job reads the file again
        job_id = str(uuid.uuid4())
        path = jobs.store_file(uploaded, job_id)
        try:
            jobs.create(owner_id=user.pk, owner=user.get_username(), path=path, file_name=uploaded.name or "",
                        root=root, job_id=job_id)
            jobs.enqueue(job_id)
        except BaseException:
            jobs.remove_file(str(path))
            with contextlib.suppress(Exception):  # (Redis away: the record expires)
                jobs.finish(job_id, error="the import could not be queued; import the file again")
            raise
        body = {"id": job_id, "status": "queued", "url": reverse("import-detail", args=[job_id], request=request)}
        response = Response(body, status=status.HTTP_202_ACCEPTED)
        response["Location"] = body["url"]
        return response


class ImportDetailView(APIView):
    permission_classes = [AuthenticatedOnly]

    @extend_schema(operation_id="imports_retrieve", responses=docs.ImportJobSerializer, parameters=[docs.JOB_ID],
                   examples=[docs.JOB_DONE], description=(
                       "An import job's status and, when done, its report (its owner's and staff's only)."))
    def get(self, request, job_id: str):
        record = jobs.record(job_id)
        if record is None or not (request.user.is_staff or record["owner_id"] == request.user.pk):
            raise NotFound(NO_JOB)
        return Response(_job_body(request, record))
