"""Analysis API: submit (upload or path) and read jobs and their waveforms."""

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from analysis import jobs
from analysis import openapi as docs
from analysis.serializers import AnalysisSubmitSerializer
from analysis.services import AudioNotFound, UploadFailed, analysis_submit
from analysis.sources import PathRefused
from analysis.uploads import SizeLimitUploadHandler, check_declared_size
from analysis.waveform_http import IMMUTABLE, none_match, not_modified, samples_per_pixel_param, waveform_response
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


class AnalysisWaveformView(APIView):
    """A done job's waveform in audiowaveform's JSON format (version 2)."""

    @docs.waveform_schema(operation_id="analysis_waveform", path_parameter=docs.JOB_ID, etag=docs.WAVEFORM_ETAG,
                          cache_control=docs.WAVEFORM_CACHE)
    def get(self, request, job_id: str):
        samples_per_pixel = samples_per_pixel_param(request)
        try:
            job_id = str(uuid.UUID(job_id))
        except ValueError:
            raise NotFound("No analysis job with this id.") from None
        tag = f'"{job_id}.{samples_per_pixel}"'
        if none_match(request, tag) and jobs.job_waveform_exists(job_id):
            return not_modified(tag, IMMUTABLE)
        return waveform_response(jobs.job_waveform(job_id), samples_per_pixel, tag=tag, cache_control=IMMUTABLE,
                                 missing="No waveform for this analysis job (unknown, not done, or analysed "
                                         "before waveforms were stored).")
