"""The waveform answers of the API (an analysis job's, a track's): the `samples_per_pixel`
parameter, `If-None-Match` against the answer's tag, the JSON body with its headers."""

import itertools

from django.http import HttpResponse, StreamingHttpResponse
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError

from analysis import waveform

# A job's waveform never changes: its result is fixed, and so is the waveform stored with it.
IMMUTABLE = "public, max-age=31536000, immutable"
# A track's changes when another analysis is applied: cached, but asked again with its tag.
REVALIDATE = "public, no-cache"
_MAX_TAG_HEADER = 1024


def samples_per_pixel_param(request) -> int:
    """`samples_per_pixel` of the query (default 512); 400 outside 64–65,536."""
    text = request.query_params.get("samples_per_pixel")
    if text is None:
        return waveform.DEFAULT_SAMPLES_PER_PIXEL
    low, high = waveform.MIN_SAMPLES_PER_PIXEL, waveform.MAX_SAMPLES_PER_PIXEL
    if not (text.isascii() and text.isdigit() and len(text) <= 6 and low <= int(text) <= high):
        raise ValidationError({"samples_per_pixel": [f"Expected an integer from {low} to {high:,}."]})
    return int(text)


def none_match(request, tag: str) -> bool:
    """True when the request's If-None-Match names `tag` (strong or weak) or is `*`."""
    header = request.headers.get("If-None-Match")
    if not header or len(header) > _MAX_TAG_HEADER:
        return False
    for part in header.split(","):
        part = part.strip(" \t")
        if part == "*" or part.removeprefix("W/") == tag:
            return True
    return False


def not_modified(tag: str, cache_control: str) -> HttpResponse:
    return _headed(HttpResponse(status=status.HTTP_304_NOT_MODIFIED), tag, cache_control)


def waveform_response(blob: bytes | None, samples_per_pixel: int, *, tag: str, cache_control: str,
                      missing: str) -> HttpResponse:
    """audiowaveform's JSON of stored waveform bytes at `samples_per_pixel`; 404 saying
    `missing` when there are none (or they are not a stored waveform)."""
    if blob is None:
        raise NotFound(missing)
    try:
        parts = waveform.waveform_json_parts(blob, samples_per_pixel)
    except waveform.WaveformError:
        raise NotFound(missing) from None
    opening = list(itertools.islice(parts, 4))  # head, numbers, end: at most 3 for a short one
    if len(opening) < 4:
        response = HttpResponse(b"".join(opening), content_type="application/json")
    else:  # long: written part by part, never held whole (analysis/waveform.py)
        response = StreamingHttpResponse(itertools.chain(opening, parts), content_type="application/json")
    return _headed(response, tag, cache_control)


def _headed(response: HttpResponse, tag: str, cache_control: str) -> HttpResponse:
    response["ETag"] = tag
    response["Cache-Control"] = cache_control
    return response
