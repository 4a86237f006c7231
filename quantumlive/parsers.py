"""JSON parsing that refuses NaN/Infinity and non-object bodies with a clear 400."""

import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from quantumlive.exceptions import PayloadTooLarge


def _refuse_constant(name):
    raise ValueError(f"{name} is not a valid JSON number")


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        limit = settings.QL_MAX_BODY_MB * 2**20
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"Request body larger than {settings.QL_MAX_BODY_MB} MB.")
        try:
            text = raw.decode(encoding)
            data = json.loads(text, parse_constant=_refuse_constant)
        except (ValueError, RecursionError, LookupError) as exc:  # LookupError: a charset that is no text codec
            raise ParseError(f"JSON parse error - {exc}") from None
        if not isinstance(data, dict):
            raise ParseError("The JSON body must be an object.")
        return data
