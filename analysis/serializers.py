"""Validation of analysis submissions: JSON or multipart (where values arrive as text).

JSON bodies are strictly typed (API.md, "Bad input, bounded"): an integer given "1", 1.5 or
true, a boolean given "true", `intervals` or `bpm_range` given a string: 400. Multipart
values are text: booleans true/false/1/0, numbers as digits, `intervals` and `bpm_range`
JSON strings. Every text is length-checked before it is parsed. An upload is sniffed here
(its first bytes, :mod:`analysis.containers`): what is plainly not audio is 400 before
anything is stored.
"""

import json
import math

from django.conf import settings
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.utils import html

from analysis.audio import MAX_CUES, MAX_RESULT_POINTS, WAVEFORM_POINTS
from analysis.containers import NotAudio, sniff
from quantumlive.fields import BoundedListField, FiniteFloatField, StrictIntegerField, StrictSerializer

# Longest texts taken in multipart (checked before parsing):
INTERVALS_TEXT = 64 * 1024  # 512 intervals of '{"start": 1234.567, "end": 1245.678}, ' fit 4 times
BPM_RANGE_TEXT = 256
BOOLEAN_TEXT = 16
NUMBER_TEXT = 64
PATH_LENGTH = 4096


class FormTextMixin:
    """Knows whether its value came from a multipart form (text) or a JSON body (typed), and
    refuses a form text longer than `max_text_length` before anything parses it."""

    max_text_length = NUMBER_TEXT
    from_form = False

    def get_value(self, dictionary):
        self.from_form = html.is_html_input(dictionary)
        if self.from_form:  # multipart: the field's one text value
            return dictionary.get(self.field_name, empty)
        return super().get_value(dictionary)

    def check_text(self, data):
        if isinstance(data, str) and len(data) > self.max_text_length:
            raise serializers.ValidationError(f"Ensure this text has no more than {self.max_text_length} characters.")


class JSONTextMixin(FormTextMixin):
    """A JSON value, or (multipart only) a string holding one."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            if not self.from_form:
                raise serializers.ValidationError(f"Expected a list, not a string ({self.json_hint}).")
            self.check_text(data)
            try:
                data = json.loads(data, parse_constant=lambda name: float("nan"))
            except (ValueError, RecursionError):
                raise serializers.ValidationError("Must be JSON.") from None
        return super().to_internal_value(data)


class FormBooleanField(FormTextMixin, serializers.BooleanField):
    """JSON true/false, or in multipart the text true/false/1/0."""

    max_text_length = BOOLEAN_TEXT

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        if isinstance(data, str) and self.from_form:
            self.check_text(data)
            if data.strip().lower() in ("true", "false", "1", "0"):
                return data.strip().lower() in ("true", "1")
        self.fail("invalid", input=data if len(str(data)) <= BOOLEAN_TEXT else "(too long)")


class FormNumberMixin(FormTextMixin):
    """A JSON number refuses text; a multipart number is its (length-checked) text."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            if not self.from_form:
                self.fail("invalid")
            self.check_text(data)
        return super().to_internal_value(data)


class FormIntegerField(FormNumberMixin, StrictIntegerField):
    """A JSON integer (not "1", 1.5 or true), or in multipart its digits."""


class FormFloatField(FormNumberMixin, FiniteFloatField):
    """A finite JSON number (not "1" or true), or in multipart its text."""


class JSONNumberField(FiniteFloatField):
    """A finite JSON number: never a string or a boolean (inside intervals and bpm_range,
    which are JSON in both kinds of body)."""

    def to_internal_value(self, data):
        if type(data) not in (int, float):
            self.fail("invalid")
        try:
            value = float(data)
        except OverflowError:
            self.fail("invalid")
        if not math.isfinite(value):
            self.fail("finite")
        return super().to_internal_value(value)


class PathField(serializers.CharField):
    """A string (not a number), length-checked before anything else."""

    def __init__(self, **kwargs):
        super().__init__(max_length=PATH_LENGTH, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if len(data) > PATH_LENGTH:
            self.fail("max_length", max_length=PATH_LENGTH)
        return super().to_internal_value(data)


class IntervalSerializer(StrictSerializer):
    start = JSONNumberField(min_value=0)
    end = JSONNumberField()

    def validate(self, attrs):
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": ["Must be greater than start."]})
        return attrs


class IntervalsField(JSONTextMixin, BoundedListField):
    max_text_length = INTERVALS_TEXT
    json_hint = 'in multipart a JSON string such as [{"start": 0, "end": 8}]'

    def __init__(self, **kwargs):
        super().__init__(child=IntervalSerializer(), max_length=MAX_CUES, **kwargs)


class BpmRangeField(JSONTextMixin, BoundedListField):
    max_text_length = BPM_RANGE_TEXT
    json_hint = "in multipart a JSON string such as [70, 180]"

    def __init__(self, **kwargs):
        super().__init__(child=JSONNumberField(min_value=40, max_value=250), min_length=2, max_length=2,
                         **kwargs)

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        if len(values) != 2:
            raise serializers.ValidationError("Must be [min, max].")
        low, high = values
        if low >= high:
            raise serializers.ValidationError("min must be below max.")
        return [low, high]


class AnalysisSubmitSerializer(StrictSerializer):
    file = serializers.FileField(required=False, allow_empty_file=False)
    path = PathField(required=False)
    auto_cues = FormBooleanField(default=True)
    beats_per_cue = FormIntegerField(min_value=1, max_value=256, default=16)
    intervals = IntervalsField(required=False, allow_null=True)
    max_cue_samples = FormIntegerField(min_value=128, max_value=16384, default=2048)
    bpm_range = BpmRangeField(default=[70.0, 180.0])
    wait = FormFloatField(min_value=0, max_value=30, default=0)

    def validate_file(self, uploaded):
        """What is plainly not audio (a playlist, a concat list, an image, text...) is refused
        from its first bytes, whatever its name, before it is stored."""
        try:
            sniff(uploaded)
        except NotAudio as exc:
            raise serializers.ValidationError(exc.sentence()) from None
        except (OSError, ValueError):
            raise serializers.ValidationError("The upload cannot be read.") from None
        return uploaded

    def validate(self, attrs):
        if ("file" in attrs) == ("path" in attrs):
            raise serializers.ValidationError("Send either an uploaded `file` (multipart) or a `path`.")
        intervals = attrs.get("intervals")
        if intervals:
            points = len(intervals) * attrs["max_cue_samples"] + WAVEFORM_POINTS
            limit = settings.QL_MAX_RESULT_POINTS
            if points > limit:
                raise serializers.ValidationError({"intervals": [
                    f"{len(intervals)} intervals of max_cue_samples {attrs['max_cue_samples']} points, with the "
                    f"{WAVEFORM_POINTS}-point overview, make {points} waveform numbers: more than "
                    f"QL_MAX_RESULT_POINTS ({limit}) in one result. Send fewer intervals or a smaller "
                    f"max_cue_samples."]})
        return attrs

    def analysis_options(self) -> dict:
        """The options as audio.analyse takes them (part of the result cache's key). The
        result's budget of waveform numbers is one of them only when QL_MAX_RESULT_POINTS is
        not the default, so the `analyze` command's results (default options) are shared."""
        data = self.validated_data
        options = {
            "auto_cues": data["auto_cues"],
            "beats_per_cue": data["beats_per_cue"],
            "intervals": data.get("intervals") or None,
            "max_cue_samples": data["max_cue_samples"],
            "bpm_range": list(data["bpm_range"]),
        }
        return {**options, **result_budget_option()}


def result_budget_option() -> dict:
    """The result's budget of waveform numbers as an analysis option: {} at the default (so
    that results stay shared with the default options), else QL_MAX_RESULT_POINTS."""
    if settings.QL_MAX_RESULT_POINTS != MAX_RESULT_POINTS:
        return {"max_result_points": settings.QL_MAX_RESULT_POINTS}
    return {}


def upload_limit_bytes() -> int:
    return settings.QL_MAX_UPLOAD_MB * 2**20
