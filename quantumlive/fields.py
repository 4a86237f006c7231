"""Serializer building blocks shared by the apps: strict bodies and finite numbers.

API.md, "Bad input, bounded": JSON types are strict (the `JSON*` fields and `StringField`
take only their own JSON type: DRF would read 5 as "5", "1" as 1, 1 as true) and every string
is length-checked before anything parses or matches it (`StringField`, `URLStringField`: DRF
checks max_length last, after `to_internal_value` and whatever a subclass parses there).
Query parameters are text: they use `StringField` and the lenient number fields
(`StrictIntegerField`, `FiniteFloatField`, whose text DRF caps at 1,000 characters).
"""

import math
import re

from rest_framework import serializers
from rest_framework.fields import empty

# The longest name an error repeats as it came (no field name is longer).
MAX_SHOWN_NAME = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


def shown_name(name, limit: int = MAX_SHOWN_NAME) -> str:
    """A name the client sent (a JSON object's key), as an error may repeat it: its first
    `limit` characters, and a lone surrogate ("\\ud800" in JSON, which no answer can encode in
    UTF-8) written as its escape."""
    name = str(name)
    if len(name) > limit:
        name = name[:limit] + "…"
    return _SURROGATE.sub(lambda found: "\\u%04x" % ord(found.group()), name)


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not declare (400), except the ones listed in `Meta.ignored`."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": ["Expected a JSON object."]}
            )
        meta = getattr(self, "Meta", None)
        ignored = set(getattr(meta, "ignored", ()))
        unknown = sorted(set(data) - set(self.fields) - ignored)
        if unknown:
            raise serializers.ValidationError({shown_name(name): ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class FiniteFloatField(serializers.FloatField):
    """A float that refuses NaN and ±Infinity (also when sent as strings) and booleans."""

    default_error_messages = {"finite": "Must be a finite number."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("finite")
        return value


class StrictIntegerField(serializers.IntegerField):
    """An integer that refuses booleans and non-integral floats."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or (isinstance(data, float) and not data.is_integer()):
            self.fail("invalid")
        return super().to_internal_value(data)


class _StrictTextMixin:
    """Only a string (a number, boolean, list or object is 400: "Not a valid string."), refused
    if longer than max_length before anything else reads it (the length counts what was sent,
    surrounding spaces included)."""

    def run_validation(self, data=empty):
        if data is not empty and data is not None:
            if not isinstance(data, str):
                self.fail("invalid")
            if self.max_length is not None and len(data) > self.max_length:
                self.fail("max_length", max_length=self.max_length)
        return super().run_validation(data)


class StringField(_StrictTextMixin, serializers.CharField):
    """A CharField for JSON bodies and query parameters: strings only, length first."""


class URLStringField(_StrictTextMixin, serializers.URLField):
    """A URLField that takes only a string, its length checked before the URL pattern runs."""


class JSONIntegerField(StrictIntegerField):
    """An integer in a JSON body: a JSON number without a fraction (1 or 1.0); "1", 1.5 and
    true are 400."""

    def to_internal_value(self, data):
        if not isinstance(data, (int, float)):
            self.fail("invalid")
        return super().to_internal_value(data)


class JSONNumberField(FiniteFloatField):
    """A finite number in a JSON body: a JSON number only ("120" and true are 400)."""

    def to_internal_value(self, data):
        if not isinstance(data, (int, float)):
            self.fail("invalid")
        return super().to_internal_value(data)


class JSONBooleanField(serializers.BooleanField):
    """true or false in a JSON body (DRF also reads 1, 0, "true", "yes", "on"...)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class NumberListField(serializers.Field):
    """A list of finite numbers, validated in one fast pass (waveforms hold thousands)."""

    default_error_messages = {
        "not_a_list": "Expected a list of numbers.",
        "not_number": "Every item must be a finite number.",
        "max_length": "Ensure this field has no more than {max_length} elements.",
    }

    def __init__(self, *, max_length: int, **kwargs):
        self.max_length = max_length
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list")
        if len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        values = []
        for item in data:
            if type(item) not in (int, float):
                self.fail("not_number")
            try:
                value = float(item)  # an int too large for a float overflows
            except OverflowError:
                self.fail("not_number")
            if not math.isfinite(value):
                self.fail("not_number")
            values.append(value)
        return values

    def to_representation(self, value):
        return value


class BoundedListField(serializers.ListField):
    """A ListField that refuses a list over max_length before validating its items (DRF
    validates every item first: a 16 MB body of bad items would cost seconds of CPU)."""

    def to_internal_value(self, data):
        if isinstance(data, list) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)
