"""Analysis API: submit (upload or path) and read jobs."""

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from analysis import jobs, sources
from analysis import openapi as docs
from analysis.serializers import AnalysisSubmitSerializer
from analysis.uploads import SizeLimitUploadHandler, check_declared_size
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
        options = body.analysis_options()
        upload_path = None
        if "path" in body.validated_data:
            try:
                path = sources.resolve_audio_path(body.validated_data["path"])
            except sources.PathRefused as exc:
                raise ValidationError({"path": [str(exc)]}) from None
            except FileNotFoundError:
                raise NotFound("No such audio file under QL_AUDIO_ROOT.") from None
            audio_sha = sources.sha256_of_file(path)
        else:
            upload_path, audio_sha = sources.store_upload(body.validated_data["file"], f"upload-{uuid.uuid4()}")
            path = upload_path
        digest = jobs.digest_of(audio_sha256=audio_sha, options=options)
        try:
            if upload_path is not None:
                # the job gets the upload under its own name once it has an id
                job_id, new = jobs.claim(digest=digest, source={"path": str(upload_path), "upload": True},
                                         options=options)
            else:
                job_id, new = jobs.claim(digest=digest, source={"path": str(path)}, options=options)
            if new:
                try:
                    jobs.enqueue(job_id)
                except BaseException:
                    # never leave a queued job no worker will run holding this audio's digest
                    try:
                        jobs.finish(job_id, error="the job could not be queued; submit it again")
                    except Exception:
                        pass
                    raise
            elif upload_path is not None:
                sources.remove_upload(upload_path)  # the same audio is (being) analysed already
        except BaseException:
            if upload_path is not None:
                sources.remove_upload(upload_path)
            raise
        record = jobs.job_record(job_id)
        if record["status"] not in jobs.FINISHED and body.validated_data["wait"] > 0:
            record = jobs.wait_finished(job_id, body.validated_data["wait"])
        finished = record["status"] in jobs.FINISHED
        response = Response(_job_body(request, record),
                            status=status.HTTP_200_OK if finished else status.HTTP_202_ACCEPTED)
        response["Location"] = reverse("analysis-detail", args=[job_id], request=request)
        return response


class AnalysisDetailView(APIView):
    @extend_schema(operation_id="analysis_retrieve", responses=docs.AnalysisJobSerializer,
                   parameters=[docs.JOB_ID], examples=[docs.QUEUED, docs.DONE, docs.FAILED])
    def get(self, request, job_id: str):
        record = jobs.job_record(job_id)
        if record is None:
            raise NotFound("No analysis job with this id.")
        return Response(_job_body(request, record))
