"""Validation of analysis submissions: JSON or multipart (where values arrive as text)."""

import json

from django.conf import settings
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.utils import html

from quantumlive.fields import BoundedListField, FiniteFloatField, StrictIntegerField, StrictSerializer


class JSONTextMixin:
    """Accepts a JSON value, or (multipart) a string holding one."""

    def get_value(self, dictionary):
        if html.is_html_input(dictionary):  # multipart: the field's one text value
            return dictionary.get(self.field_name, empty)
        return super().get_value(dictionary)

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = json.loads(data, parse_constant=lambda name: float("nan"))
            except (ValueError, RecursionError):
                raise serializers.ValidationError("Must be JSON.") from None
        return super().to_internal_value(data)


class FormBooleanField(serializers.BooleanField):
    """true/false, or in multipart the text true/false/1/0."""

    def to_internal_value(self, data):
        if isinstance(data, str) and data.strip().lower() in ("true", "false", "1", "0"):
            return data.strip().lower() in ("true", "1")
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)


class IntervalSerializer(StrictSerializer):
    start = FiniteFloatField(min_value=0)
    end = FiniteFloatField()

    def validate(self, attrs):
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": ["Must be greater than start."]})
        return attrs


class IntervalsField(JSONTextMixin, BoundedListField):
    def __init__(self, **kwargs):
        super().__init__(child=IntervalSerializer(), max_length=512, **kwargs)


class BpmRangeField(JSONTextMixin, BoundedListField):
    def __init__(self, **kwargs):
        super().__init__(child=FiniteFloatField(min_value=40, max_value=250), min_length=2, max_length=2,
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
    path = serializers.CharField(required=False, max_length=4096, trim_whitespace=False)
    auto_cues = FormBooleanField(default=True)
    beats_per_cue = StrictIntegerField(min_value=1, max_value=256, default=16)
    intervals = IntervalsField(required=False, allow_null=True)
    max_cue_samples = StrictIntegerField(min_value=128, max_value=16384, default=2048)
    bpm_range = BpmRangeField(default=[70.0, 180.0])
    wait = FiniteFloatField(min_value=0, max_value=30, default=0)

    def validate(self, attrs):
        if ("file" in attrs) == ("path" in attrs):
            raise serializers.ValidationError("Send either an uploaded `file` (multipart) or a `path`.")
        return attrs

    def analysis_options(self) -> dict:
        """The options as audio.analyse takes them (part of the result cache's key)."""
        data = self.validated_data
        return {
            "auto_cues": data["auto_cues"],
            "beats_per_cue": data["beats_per_cue"],
            "intervals": data.get("intervals") or None,
            "max_cue_samples": data["max_cue_samples"],
            "bpm_range": list(data["bpm_range"]),
        }


def upload_limit_bytes() -> int:
    return settings.QL_MAX_UPLOAD_MB * 2**20
