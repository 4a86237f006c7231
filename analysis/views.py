"""Analysis API: submit (upload or path) and read jobs."""

import logging
import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from analysis import jobs, sources, waiters
from analysis import openapi as docs
from analysis.serializers import AnalysisSubmitSerializer
from analysis.uploads import SizeLimitUploadHandler, check_declared_size
from quantumlive.exceptions import ServiceUnavailable
from quantumlive.parsers import StrictJSONParser
from quantumlive.permissions import ReadOnlyOrAuthenticated

log = logging.getLogger(__name__)


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
        options = body.analysis_options()
        if "path" in body.validated_data:
            job_id = _submit_path(body.validated_data["path"], options)
        else:
            job_id = _submit_upload(body.validated_data["file"], options)
        record = _wait_finished(jobs.job_record(job_id), body.validated_data["wait"])
        finished = record["status"] in jobs.FINISHED
        response = Response(_job_body(request, record),
                            status=status.HTTP_200_OK if finished else status.HTTP_202_ACCEPTED)
        response["Location"] = reverse("analysis-detail", args=[job_id], request=request)
        return response


def _submit_path(relative: str, options: dict) -> str:
    try:
        path = sources.resolve_audio_path(relative)
    except sources.PathRefused as exc:
        raise ValidationError({"path": [str(exc)]}) from None
    except FileNotFoundError:
        raise NotFound("No such audio file under QL_AUDIO_ROOT.") from None
    digest = jobs.digest_of(audio_sha256=sources.sha256_of_file(path), options=options)
    job_id, new = jobs.claim(digest=digest, source={"path": str(path)}, options=options)
    if new:
        _enqueue(job_id)
    return job_id


def _submit_upload(uploaded, options: dict) -> str:
    """The upload is stored under the new job's id (so that the sweep of QL_UPLOAD_DIR can
    tell whose it is) and goes when the job ends, or at once when the audio is (being)
    analysed already or anything fails."""
    job_id = str(uuid.uuid4())
    try:  # store_upload leaves no partial file, whatever fails
        upload_path, audio_sha = sources.store_upload(uploaded, job_id)
    except OSError:
        log.warning("an upload could not be stored in QL_UPLOAD_DIR", exc_info=True)
        raise ServiceUnavailable("The upload could not be stored; try again later.") from None
    try:
        digest = jobs.digest_of(audio_sha256=audio_sha, options=options)
        holder, new = jobs.claim(digest=digest, source={"path": str(upload_path), "upload": True},
                                 options=options, job_id=job_id)
        if new:
            _enqueue(job_id)
        else:
            sources.remove_upload(upload_path)  # the same audio is (being) analysed already
        return holder
    except BaseException:
        sources.remove_upload(upload_path)
        raise


def _enqueue(job_id: str) -> None:
    try:
        jobs.enqueue(job_id)
    except BaseException:
        # never leave a queued job no worker will run holding this audio's digest
        try:
            jobs.finish(job_id, error="the job could not be queued; submit it again", expected=("queued",))
        except Exception:
            pass
        raise


def _wait_finished(record: dict, seconds: float) -> dict:
    """Waits up to `seconds` for the job to finish, if a waiter slot of this instance is free
    (QL_MAX_WAITERS); else answers at once."""
    if record["status"] in jobs.FINISHED or seconds <= 0:
        return record
    slot = waiters.acquire()
    if slot is None:
        return record
    with slot:
        return jobs.wait_finished(record["id"], seconds)


class AnalysisDetailView(APIView):
    @extend_schema(operation_id="analysis_retrieve", responses=docs.AnalysisJobSerializer,
                   parameters=[docs.JOB_ID], examples=[docs.QUEUED, docs.DONE, docs.FAILED])
    def get(self, request, job_id: str):
        record = jobs.job_record(job_id)
        if record is None:
            raise NotFound("No analysis job with this id.")
        return Response(_job_body(request, record))
