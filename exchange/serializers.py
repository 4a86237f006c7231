"""Query parameters and form fields of the export and import endpoints."""

from rest_framework import serializers

from quantumlive.fields import StringField

from exchange.locations import MAX_ROOT, Refused, check_root


class RootField(StringField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_ROOT)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        try:
            return check_root(text)
        except Refused as exc:
            raise serializers.ValidationError(str(exc)) from None


class ExportParamsSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["m3u8", "rekordbox"], help_text="The file's format.")
    root = RootField(required=False, help_text=(
        "The music folder on the DJ's machine that locations are relative to (POSIX or Windows; at most "
        "1,024 characters). Default: QL_AUDIO_ROOT's absolute path."))


class ImportFormSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A rekordbox XML file or an M3U/M3U8 playlist (told by its content).")
    root = RootField(required=False, help_text=(
        "The music folder of the machine that wrote the file: absolute paths under it become locations "
        "relative to QL_AUDIO_ROOT (so do paths under QL_AUDIO_ROOT's own absolute path)."))
