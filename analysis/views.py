"""Analysis API: submit (upload or path) and read jobs and their waveforms."""

import uuid

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from analysis import jobs
from analysis import openapi as docs
from analysis import waveform
from analysis.serializers import AnalysisSubmitSerializer
from analysis.services import AudioNotFound, UploadFailed, analysis_submit
from analysis.sources import PathRefused
from analysis.uploads import SizeLimitUploadHandler, check_declared_size
from quantumlive.exceptions import ServiceUnavailable
from quantumlive.parsers import StrictJSONParser
from quantumlive.permissions import ReadOnlyOrAuthenticated


def _job_body(request, record: dict) -> dict:
    return {**record, "url": reverse("analysis-detail", args=[record["id"]], request=request)}


class AnalysisSubmitView(APIView):
    parser_classes = [StrictJSONParser, MultiPartParser]
    permission_classes = [ReadOnlyOrAuthenticated]
    throttle_scope = "analysis"

    def initial(self, request, *args, **kwargs):
        if request.method == "POST":  # before anything (a CSRF check) may parse the body
            request._request.upload_handlers.insert(0, SizeLimitUploadHandler(request._request))
        super().initial(request, *args, **kwargs)  # authentication first: 401 before 413
        if request.method == "POST":
            check_declared_size(request)

    @extend_schema(
        operation_id="analysis_create",
        request={"application/json": docs.AnalysisPathRequestSerializer,
                 "multipart/form-data": docs.AnalysisUploadRequestSerializer},
        responses={200: docs.AnalysisJobSerializer, 202: docs.AnalysisJobSerializer},
        parameters=[docs.LOCATION], examples=[docs.BY_PATH, docs.QUEUED, docs.DONE, docs.FAILED],
    )
    def post(self, request):
        body = AnalysisSubmitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            record = analysis_submit(options=body.analysis_options(), wait=body.validated_data["wait"],
                                     path=body.validated_data.get("path"), upload=body.validated_data.get("file"))
        except PathRefused as exc:
            raise ValidationError({"path": [str(exc)]}) from None
        except AudioNotFound:
            raise NotFound("No such audio file under QL_AUDIO_ROOT.") from None
        except UploadFailed:
            raise ServiceUnavailable("The upload could not be stored; try again later.") from None
        finished = record["status"] in jobs.FINISHED
        response = Response(_job_body(request, record),
                            status=status.HTTP_200_OK if finished else status.HTTP_202_ACCEPTED)
        response["Location"] = reverse("analysis-detail", args=[record["id"]], request=request)
        return response


class AnalysisDetailView(APIView):
    @extend_schema(operation_id="analysis_retrieve", responses=docs.AnalysisJobSerializer,
                   parameters=[docs.JOB_ID], examples=[docs.QUEUED, docs.DONE, docs.FAILED])
    def get(self, request, job_id: str):
        record = jobs.job_record(job_id)
        if record is None:
            raise NotFound("No analysis job with this id.")
        return Response(_job_body(request, record))


# A waveform never changes: a job's result is fixed, and so is the waveform stored with it.
WAVEFORM_CACHE_CONTROL = "public, max-age=31536000, immutable"
_MAX_TAG_HEADER = 1024


def _samples_per_pixel(request) -> int:
    text = request.query_params.get("samples_per_pixel")
    if text is None:
        return waveform.DEFAULT_SAMPLES_PER_PIXEL
    low, high = waveform.MIN_SAMPLES_PER_PIXEL, waveform.MAX_SAMPLES_PER_PIXEL
    if not (text.isascii() and text.isdigit() and len(text) <= 6 and low <= int(text) <= high):
        raise ValidationError({"samples_per_pixel": [f"Expected an integer from {low} to {high:,}."]})
    return int(text)


def _waveform_etag(job_id: str, samples_per_pixel: int) -> str:
    return f'"{job_id}.{samples_per_pixel}"'


def _none_match(header: str | None, tag: str) -> bool:
    """True when If-None-Match names `tag` (strong or weak) or is `*`."""
    if not header or len(header) > _MAX_TAG_HEADER:
        return False
    for part in header.split(","):
        part = part.strip(" \t")
        if part == "*" or part.removeprefix("W/") == tag:
            return True
    return False


class AnalysisWaveformView(APIView):
    """A done job's waveform in audiowaveform's JSON format (version 2)."""

    @extend_schema(operation_id="analysis_waveform", responses={200: docs.WaveformSerializer, 304: None},
                   parameters=[docs.JOB_ID, docs.SAMPLES_PER_PIXEL, docs.IF_NONE_MATCH_WAVEFORM,
                               docs.WAVEFORM_ETAG, docs.WAVEFORM_CACHE],
                   examples=[docs.WAVEFORM])
    def get(self, request, job_id: str):
        samples_per_pixel = _samples_per_pixel(request)
        try:
            job_id = str(uuid.UUID(job_id))
        except ValueError:
            raise NotFound("No analysis job with this id.") from None
        tag = _waveform_etag(job_id, samples_per_pixel)
        if _none_match(request.headers.get("If-None-Match"), tag) and jobs.job_waveform_exists(job_id):
            response = HttpResponse(status=status.HTTP_304_NOT_MODIFIED)
        else:
            blob = jobs.job_waveform(job_id)
            if blob is None:
                raise NotFound("No waveform for this analysis job (unknown, not done, or analysed "
                               "before waveforms were stored).")
            try:
                body = waveform.waveform_json(blob, samples_per_pixel)
            except waveform.WaveformError:
                raise NotFound("No waveform for this analysis job.") from None
            response = HttpResponse(body, content_type="application/json")
        response["ETag"] = tag
        response["Cache-Control"] = WAVEFORM_CACHE_CONTROL
        return response
