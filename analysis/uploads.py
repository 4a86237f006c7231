"""Upload handling that refuses an oversized file early (413) without reading it whole."""

from django.core.files.uploadhandler import FileUploadHandler

from analysis.serializers import upload_limit_bytes
from quantumlive.exceptions import PayloadTooLarge


def too_large() -> PayloadTooLarge:
    from django.conf import settings

    return PayloadTooLarge(f"The upload is larger than QL_MAX_UPLOAD_MB ({settings.QL_MAX_UPLOAD_MB} MB).")


class SizeLimitUploadHandler(FileUploadHandler):
    """Counts the bytes of each uploaded file as they stream in; past the limit, stops."""

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > upload_limit_bytes():
            raise too_large()
        return raw_data

    def file_complete(self, file_size):
        return None


def check_declared_size(request) -> None:
    """413 at once when Content-Length already says the body is over the limit."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > upload_limit_bytes() + 2**20:  # multipart framing and form fields
        raise too_large()
