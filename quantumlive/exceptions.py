"""API exceptions beyond DRF's own (importable from anywhere: no view machinery here)."""

from rest_framework import status
from rest_framework.exceptions import APIException

RETRY_AFTER_SECONDS = "2"


class ServiceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Service temporarily unavailable, try again shortly."
    default_code = "service_unavailable"

    def __init__(self, detail=None, retry_after: int | str = RETRY_AFTER_SECONDS):
        super().__init__(detail)
        self.retry_after = str(retry_after)


class PreconditionFailed(APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The track has changed: If-Match does not match its current version."
    default_code = "precondition_failed"


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"
