"""Search input (GET parameters, POST body) and the answer's shape (for the OpenAPI document;
answers are built as plain dicts by search/service.py)."""

from rest_framework import serializers

from quantumlive.fields import (
    BoundedListField,
    JSONIntegerField,
    StrictIntegerField,
    StrictSerializer,
    StringField,
)
from search.providers import SERVICE_NAMES

DEFAULT_LIMIT = 10
MAX_LIMIT = 50
MAX_QUERY = 200
MAX_SERVICES = 16  # names in one request (repeats included)
MAX_SERVICE_NAME = 32


def clean_services(names: list[str]) -> list[str]:
    """Known service names, first spelling of each kept, in the order given."""
    unknown = [name for name in names if name not in SERVICE_NAMES]
    if unknown:
        raise serializers.ValidationError(
            f"Unknown service {unknown[0]!r}; choose from {', '.join(SERVICE_NAMES)}."
        )
    return list(dict.fromkeys(names))


class SearchParamsSerializer(serializers.Serializer):
    """`GET /api/search/?q=&services=a,b&limit=` (unknown parameters are ignored)."""

    q = StringField(min_length=1, max_length=MAX_QUERY,
                    help_text="What to search for (1-200 characters).")
    services = StringField(
        required=False, max_length=MAX_SERVICES * (MAX_SERVICE_NAME + 1),
        help_text="Comma-separated services (default: all): " + ", ".join(SERVICE_NAMES),
    )
    limit = StrictIntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT,
                               help_text="Results per service (1-50).")

    def validate_services(self, value: str) -> list[str]:
        names = [part.strip() for part in value.split(",")]
        if len(names) > MAX_SERVICES:
            raise serializers.ValidationError(f"Ensure there are no more than {MAX_SERVICES} services.")
        if not all(names):
            raise serializers.ValidationError("Empty service name.")
        return clean_services(names)


class SearchBodySerializer(StrictSerializer):
    """`POST /api/search/` `{"query", "services", "limit"}`."""

    query = StringField(min_length=1, max_length=MAX_QUERY)
    services = BoundedListField(child=StringField(max_length=MAX_SERVICE_NAME), allow_empty=False,
                                max_length=MAX_SERVICES, required=False)
    limit = JSONIntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)

    def validate_services(self, value: list[str]) -> list[str]:
        return clean_services(value)


# --- the answer (documentation) ----------------------------------------------------------
class ItemSerializer(serializers.Serializer):
    service = serializers.ChoiceField(choices=SERVICE_NAMES)
    id = serializers.CharField()
    title = serializers.CharField()
    artist = serializers.CharField()
    url = serializers.URLField()
    duration = serializers.FloatField(allow_null=True, help_text="Seconds, or null when unknown.")
    artwork_url = serializers.URLField(allow_null=True)
    preview_url = serializers.URLField(allow_null=True)
    genre = serializers.CharField(allow_null=True)


class ServiceAnswerSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["ok", "error", "timeout", "not_configured", "unavailable"])
    cached = serializers.BooleanField()
    elapsed_ms = serializers.IntegerField()
    error = serializers.CharField(required=False, help_text="A short message, unless ok.")
    results = ItemSerializer(many=True)


class MatchSerializer(serializers.Serializer):
    title = serializers.CharField()
    artist = serializers.CharField()
    duration = serializers.FloatField(allow_null=True)
    links = serializers.DictField(child=serializers.URLField(), help_text="service -> URL")


class SearchAnswerSerializer(serializers.Serializer):
    query = serializers.CharField()
    services = serializers.DictField(child=ServiceAnswerSerializer())
    matches = MatchSerializer(many=True)
