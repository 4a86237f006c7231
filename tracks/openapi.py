"""The answers of the tracks and YouTube APIs, for the OpenAPI document (views build them as
plain dicts: tracks/serializers.py `track_body`, tracks/youtube.py `_item`)."""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter
from rest_framework import serializers

from analysis.openapi import BeatgridSerializer, CueOutSerializer, LoudnessSerializer
from quantumlive.musical_keys import CAMELOT_CODES, KEY_NAMES, OPEN_KEY_CODES
from tracks.serializers import SourcesField


class CueMarkSerializer(CueOutSerializer):
    """A cue as list results carry it: without its waveform."""

    waveform = None

    class Meta:
        ref_name = "CueMark"


class _TrackBase(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    artist = serializers.CharField()
    bpm = serializers.FloatField(allow_null=True)
    key = serializers.ChoiceField(choices=KEY_NAMES, allow_null=True, help_text="Canonical spelling.")
    camelot = serializers.ChoiceField(choices=CAMELOT_CODES, allow_null=True, help_text="Derived from `key`.")
    open_key = serializers.ChoiceField(choices=OPEN_KEY_CODES, allow_null=True, help_text="Derived from `key`.")
    duration = serializers.FloatField(allow_null=True, help_text="Seconds.")
    genres = serializers.ListField(child=serializers.CharField())
    sources = serializers.DictField(child=serializers.URLField(), help_text="service name -> URL")
    notes = serializers.CharField(allow_null=True, allow_blank=True)
    location = serializers.CharField(allow_null=True, help_text="The audio file, relative to QL_AUDIO_ROOT.")
    beatgrid = BeatgridSerializer(allow_null=True, help_text=(
        "From the analysis applied (server-owned): tempo, the first beat and downbeat (seconds), beats per bar."))
    mix_in = serializers.FloatField(allow_null=True, help_text=(
        "The first downbeat where the rhythm plays (seconds; server-owned, from the analysis applied)."))
    mix_out = serializers.FloatField(allow_null=True, help_text=(
        "The downbeat one cue before the rhythm's last beat (seconds; server-owned)."))
    loudness = LoudnessSerializer(allow_null=True, help_text="EBU R128 loudness of the analysis applied.")


class TrackSerializer(_TrackBase):
    cues = CueOutSerializer(many=True)
    position = serializers.IntegerField(min_value=0, help_text="0-based index in the playlist.")
    version = serializers.IntegerField(min_value=1, help_text="Grows by one on every write; the ETag.")
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()

    class Meta:
        ref_name = "Track"


class TrackSummarySerializer(_TrackBase):
    cues = CueMarkSerializer(many=True)
    position = serializers.IntegerField(min_value=0)
    version = serializers.IntegerField(min_value=1)
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()

    class Meta:
        ref_name = "TrackSummary"


class TrackPageSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=0)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = TrackSummarySerializer(many=True)

    class Meta:
        ref_name = "TrackPage"


class YouTubeItemSerializer(serializers.Serializer):
    video_id = serializers.RegexField(r"^[A-Za-z0-9_-]{11}$")
    url = serializers.URLField(help_text="https://www.youtube.com/watch?v=<video_id>")
    added = serializers.DateTimeField()

    class Meta:
        ref_name = "YouTubeItem"


class YouTubeListSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=0)
    results = YouTubeItemSerializer(many=True)

    class Meta:
        ref_name = "YouTubeList"


class SourcesFieldExtension(OpenApiSerializerFieldExtension):
    target_class = SourcesField

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "object", "maxProperties": 16,
                "propertyNames": {"pattern": "^[a-z0-9_-]{1,32}$"},
                "additionalProperties": {"type": "string", "format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://",
                                         "maxLength": 2048},
                "description": "service name -> http(s) URL"}


# --- headers -----------------------------------------------------------------------------
ETAG = OpenApiParameter("ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=["200", "201", "304"],
                        description='`"<version>"`', required=True)
LOCATION = OpenApiParameter("Location", OpenApiTypes.URI, OpenApiParameter.HEADER, response=["201"],
                            description="The new track's URL.", required=True)
IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER,
    description='Write only if the track is at this version: `"<version>"` or `W/"<version>"` '
                "(a list of tags: any of them). Anything else never matches (412).")
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER,
    description='304 without a body if the track is at this version (`"<version>"`, `W/"<version>"`, or `*`).')
TRACK_ID = OpenApiParameter("track_id", OpenApiTypes.STR, OpenApiParameter.PATH,
                            description="The track's UUID (a malformed one is 404).")

# --- examples ----------------------------------------------------------------------------
TRACK_EXAMPLE = {
    "id": "6f1c2d4e-8b7a-4c3d-9e2f-0a1b2c3d4e5f",
    "title": "Live Session", "artist": "Quantum Crew",
    "bpm": 124.0, "key": "A minor", "camelot": "8A", "open_key": "1m", "duration": 301.2,
    "genres": ["house", "latin"],
    "sources": {"youtube": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"},
    "notes": "warm-up", "location": "house/Quantum Crew - Live Session.flac",
    "beatgrid": {"bpm": 124.0, "first_beat": 0.48, "first_downbeat": 0.48, "beats_per_bar": 4},
    "mix_in": 15.96, "mix_out": 280.1,
    "loudness": {"integrated_lufs": -8.9, "range_lu": 5.1, "true_peak_dbtp": -0.3, "replay_gain_db": -9.1},
    "cues": [{"name": "cue_0", "start": 0.0, "end": 7.74, "waveform": [0.0, 0.12, 0.4]}],
    "position": 0, "version": 3,
    "created": "2026-11-28T23:30:00Z", "updated": "2026-11-28T23:41:12Z",
}
TRACK = OpenApiExample("A track", value=TRACK_EXAMPLE, response_only=True, status_codes=["200", "201"])
NEW_TRACK = OpenApiExample("A new track", request_only=True, value={
    "title": "Live Session", "artist": "Quantum Crew", "bpm": 124, "key": "Am",
    "genres": ["house", "latin"], "sources": {"youtube": "https://youtu.be/dQw4w9WgXcQ"},
    "cues": [{"start": 0, "end": 7.74}],
})
PATCH_TRACK = OpenApiExample("Set the BPM and notes", request_only=True, value={"bpm": 126, "notes": "peak time"})
MOVE = OpenApiExample("Move to the top", request_only=True, value={"position": 0})
APPLY = OpenApiExample("Fill from an analysis", request_only=True,
                       value={"analysis": "0b6e1a52-3f4c-4d8e-9a7b-2c1d0e9f8a7b", "overwrite": False})
TRACK_PAGE = OpenApiExample("A page", response_only=True, value={
    "count": 120,
    "next": "http://127.0.0.1:8000/api/tracks/?genre=house&offset=50&limit=50",
    "previous": None,
    "results": [{**TRACK_EXAMPLE, "cues": [{"name": "cue_0", "start": 0.0, "end": 7.74}]}],
})
YOUTUBE_ITEM_EXAMPLE = {"video_id": "dQw4w9WgXcQ", "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
                        "added": "2026-11-28T23:30:00.000Z"}
YOUTUBE_ITEM = OpenApiExample("An item", value=YOUTUBE_ITEM_EXAMPLE, response_only=True,
                              status_codes=["200", "201"])
YOUTUBE_ADD = OpenApiExample("Add a video", request_only=True, value={"url": "https://youtu.be/dQw4w9WgXcQ"})
YOUTUBE_LIST = OpenApiExample("The list", response_only=True,
                              value={"count": 1, "results": [YOUTUBE_ITEM_EXAMPLE]})

# --- suggestions -------------------------------------------------------------------------
SUGGESTIONS_DESCRIPTION = (
    "The library's tracks (or, with `playlist`, that playlist's; a track held twice is one "
    "suggestion) that mix well after this one, best first, the track itself left out. "
    "Harmonically compatible by the Camelot wheel: `same` code, `+1`/`-1` (same letter, 12 wraps "
    "to 1), `relative` (same number, other letter), `energy_boost` (+2, same letter). BPM: the "
    "candidate's BPM, its double (half time) or its half (double time), whichever is closest to "
    "the track's, within `bpm_tolerance` %; `bpm_delta_pct` is that closest value's signed "
    "difference in % of the track's BPM (positive: faster), 2 decimals. `score` (0-1): "
    "weight × (1 − |bpm_delta_pct| / 50), weights same 1.0, ±1 0.9, relative 0.8, energy boost "
    "0.7, so at equal BPM distance same > ±1 > relative > energy boost; ties: the smaller "
    "|bpm_delta_pct|, then the relation in that order, then the track id. 400 when the track has "
    "no key or no BPM; 404 for an unknown track, or a playlist the caller may not see.")


class SuggestionSerializer(serializers.Serializer):
    track = TrackSummarySerializer()
    relation = serializers.ChoiceField(choices=["same", "+1", "-1", "relative", "energy_boost"])
    bpm_delta_pct = serializers.FloatField(min_value=-20, max_value=20)
    score = serializers.FloatField(min_value=0, max_value=1)

    class Meta:
        ref_name = "Suggestion"


class SuggestionsSerializer(serializers.Serializer):
    results = SuggestionSerializer(many=True)

    class Meta:
        ref_name = "Suggestions"


SUGGESTIONS = OpenApiExample("Suggestions", response_only=True, value={"results": [
    {"track": {**TRACK_EXAMPLE, "id": "0c9d6a3e-1f2b-4a5c-8d7e-6f5a4b3c2d1e", "key": "E minor", "camelot": "9A",
               "open_key": "2m", "bpm": 126.0, "cues": [{"name": "cue_0", "start": 0.0, "end": 7.74}]},
     "relation": "+1", "bpm_delta_pct": 1.61, "score": 0.871},
]})

TRACK_WAVEFORM_ETAG = OpenApiParameter(
    "ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=["200", "304"], required=True,
    description='`"<id of the analysis applied>.<samples_per_pixel>"`: it changes when another analysis is applied.')
TRACK_WAVEFORM_CACHE = OpenApiParameter(
    "Cache-Control", OpenApiTypes.STR, OpenApiParameter.HEADER, response=["200", "304"], required=True,
    description="`public, no-cache`: kept, but asked again with If-None-Match (another analysis may be applied).")
