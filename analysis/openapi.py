"""Analysis requests and answers, for the OpenAPI document (the view validates with
analysis/serializers.py and answers the job record of analysis/jobs.py as a dict), and the
shape of a cue, which tracks carry as the analysis made it."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter
from rest_framework import serializers

from analysis.serializers import BPM_RANGE_TEXT, INTERVALS_TEXT, AnalysisSubmitSerializer
from quantumlive.musical_keys import CAMELOT_CODES, KEY_NAMES


class AnalysisPathRequestSerializer(AnalysisSubmitSerializer):
    """Analyse a file under QL_AUDIO_ROOT."""

    file = None
    path = serializers.CharField(max_length=4096, trim_whitespace=False,
                                 help_text="Relative to QL_AUDIO_ROOT (no `..`, not absolute).")

    class Meta:
        ref_name = "AnalysisPath"


class AnalysisUploadRequestSerializer(AnalysisSubmitSerializer):
    """Analyse uploaded audio (multipart). Options are form fields: booleans `true`/`false`/
    `1`/`0`, `intervals` and `bpm_range` JSON text."""

    path = None
    file = serializers.FileField(allow_empty_file=False, help_text="The audio (at most QL_MAX_UPLOAD_MB).")
    intervals = serializers.CharField(required=False, max_length=INTERVALS_TEXT,
                                      help_text='JSON text: `[{"start": 0, "end": 8}]`.')
    bpm_range = serializers.CharField(required=False, max_length=BPM_RANGE_TEXT, help_text="JSON text: `[70, 180]`.")

    class Meta:
        ref_name = "AnalysisUpload"


class CueOutSerializer(serializers.Serializer):
    """A cue as a track's own answer carries it: with its waveform."""

    name = serializers.CharField()
    start = serializers.FloatField()
    end = serializers.FloatField()
    waveform = serializers.ListField(child=serializers.FloatField())

    class Meta:
        ref_name = "Cue"


class AnalysisResultSerializer(serializers.Serializer):
    bpm = serializers.FloatField(help_text="Within the requested bpm_range.")
    key = serializers.ChoiceField(choices=KEY_NAMES, allow_null=True)
    camelot = serializers.ChoiceField(choices=CAMELOT_CODES, allow_null=True)
    duration = serializers.FloatField(help_text="Seconds.")
    sample_rate = serializers.IntegerField()
    beats = serializers.ListField(child=serializers.FloatField(), help_text="Beat times, seconds.")
    waveform = serializers.ListField(child=serializers.FloatField(), help_text="Overview, at most 2,000 points, 0-1.")
    cues = CueOutSerializer(many=True)

    class Meta:
        ref_name = "AnalysisResult"


class AnalysisJobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["queued", "running", "done", "failed"])
    url = serializers.URLField(help_text="This job's URL.")
    error = serializers.CharField(allow_null=True, help_text="Why it failed (failed jobs).")
    result = AnalysisResultSerializer(allow_null=True, help_text="The result (done jobs).")
    created = serializers.DateTimeField()
    finished = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "AnalysisJob"


LOCATION = OpenApiParameter("Location", OpenApiTypes.URI, OpenApiParameter.HEADER, response=["200", "202"],
                            description="The job's URL.", required=True)
JOB_ID = OpenApiParameter("job_id", OpenApiTypes.STR, OpenApiParameter.PATH,
                          description="The job's UUID (a malformed one is 404).")

_JOB = {"id": "0b6e1a52-3f4c-4d8e-9a7b-2c1d0e9f8a7b",
        "url": "http://127.0.0.1:8000/api/analysis/0b6e1a52-3f4c-4d8e-9a7b-2c1d0e9f8a7b/",
        "created": "2026-11-28T23:30:00.000Z"}
QUEUED = OpenApiExample("Queued", response_only=True, status_codes=["202"], value={
    **_JOB, "status": "queued", "error": None, "result": None, "finished": None})
DONE = OpenApiExample("Done", response_only=True, status_codes=["200"], value={
    **_JOB, "status": "done", "error": None, "finished": "2026-11-28T23:30:04.512Z",
    "result": {"bpm": 124.0, "key": "A minor", "camelot": "8A", "duration": 301.2, "sample_rate": 22050,
               "beats": [0.48, 0.96, 1.45], "waveform": [0.0, 0.3, 0.8],
               "cues": [{"name": "cue_0", "start": 0.48, "end": 8.22, "waveform": [0.1, 0.7]}]}})
FAILED = OpenApiExample("Failed", response_only=True, status_codes=["200"], value={
    **_JOB, "status": "failed", "error": "audio is silent", "result": None,
    "finished": "2026-11-28T23:30:01.002Z"})
BY_PATH = OpenApiExample("A file under QL_AUDIO_ROOT", request_only=True, media_type="application/json",
                         value={"path": "sets/live-session.flac", "beats_per_cue": 16, "bpm_range": [70, 180],
                                "wait": 10})
