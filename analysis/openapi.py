"""Analysis requests and answers, for the OpenAPI document (the view validates with
analysis/serializers.py and answers the job record of analysis/jobs.py as a dict), and the
shape of a cue, which tracks carry as the analysis made it."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter
from rest_framework import serializers

from analysis.serializers import BPM_RANGE_TEXT, INTERVALS_TEXT, AnalysisSubmitSerializer
from quantumlive.musical_keys import CAMELOT_CODES, KEY_NAMES, OPEN_KEY_CODES


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


class LoudnessSerializer(serializers.Serializer):
    """ITU-R BS.1770-4 / EBU R128 on the audio at its own rate and channels (analysis/loudness.py);
    values rounded to 0.01; null where the audio does not define one."""

    integrated_lufs = serializers.FloatField(allow_null=True, help_text=(
        "Integrated loudness, LUFS (gated: -70 LUFS absolute, -10 LU relative, 400 ms blocks). "
        "Null for audio shorter than 0.4 s or quieter than -70 LUFS."))
    range_lu = serializers.FloatField(allow_null=True, help_text=(
        "Loudness range, LU (EBU Tech 3342: 3 s windows, -70 LUFS and -20 LU gates, 95th minus "
        "10th percentile). Null for audio without a 3 s window above the gates."))
    true_peak_dbtp = serializers.FloatField(allow_null=True, help_text=(
        "True peak, dBTP (4x oversampled). Null for digital silence."))
    replay_gain_db = serializers.FloatField(allow_null=True, help_text=(
        "ReplayGain 2.0 gain: -18 LUFS minus the integrated loudness, dB."))

    class Meta:
        ref_name = "Loudness"


class BeatgridSerializer(serializers.Serializer):
    """The grid a DJ program sets: tempo, first beat, first downbeat, beats to the bar (4, or
    3 for music in triple metre)."""

    bpm = serializers.FloatField()
    first_beat = serializers.FloatField(help_text="Seconds.")
    first_downbeat = serializers.FloatField(help_text="Seconds: the first bar's first beat.")
    beats_per_bar = serializers.ChoiceField(choices=[3, 4])

    class Meta:
        ref_name = "Beatgrid"


class AnalysisResultSerializer(serializers.Serializer):
    bpm = serializers.FloatField(help_text="Within the requested bpm_range.")
    key = serializers.ChoiceField(choices=KEY_NAMES, allow_null=True)
    camelot = serializers.ChoiceField(choices=CAMELOT_CODES, allow_null=True)
    open_key = serializers.ChoiceField(choices=OPEN_KEY_CODES, allow_null=True, required=False,
                                       help_text="The key in Open Key notation (e.g. `1m`). Results of "
                                                 "analyser version 3 on.")
    duration = serializers.FloatField(help_text="Seconds.")
    sample_rate = serializers.IntegerField()
    beats = serializers.ListField(child=serializers.FloatField(), help_text="Beat times, seconds.")
    downbeats = serializers.ListField(child=serializers.FloatField(), required=False, help_text=(
        "The first beat of each bar (4/4; 3/4 when `beatgrid.beats_per_bar` is 3), a subset of "
        "`beats`. Results of analyser version 3 on."))
    beatgrid = BeatgridSerializer(allow_null=True, required=False, help_text="Null without beats.")
    mix_in = serializers.FloatField(allow_null=True, required=False, help_text=(
        "The first downbeat at which the rhythm plays (after a beatless intro), seconds."))
    mix_out = serializers.FloatField(allow_null=True, required=False, help_text=(
        "The downbeat `beats_per_cue` beats before the last beat of the rhythm, seconds."))
    waveform = serializers.ListField(child=serializers.FloatField(), help_text="Overview, at most 2,000 points, 0-1.")
    cues = CueOutSerializer(many=True)
    loudness = LoudnessSerializer(allow_null=True, required=False, help_text=(
        "Results of analyser version 3 on; null when it could not be measured."))

    class Meta:
        ref_name = "AnalysisResult"


class WaveformSerializer(serializers.Serializer):
    """audiowaveform's JSON data format, version 2 (as wavesurfer.js and peaks.js read it)."""

    version = serializers.ChoiceField(choices=[2])
    channels = serializers.ChoiceField(choices=[1], help_text="The channels' mean.")
    sample_rate = serializers.IntegerField(help_text="The audio's own sample rate, Hz.")
    samples_per_pixel = serializers.IntegerField(min_value=64, max_value=65_536)
    bits = serializers.ChoiceField(choices=[8])
    length = serializers.IntegerField(min_value=0, help_text="Pixels: ceil(samples / samples_per_pixel).")
    data = serializers.ListField(child=serializers.IntegerField(min_value=-128, max_value=127), help_text=(
        "min, max of each pixel (2 x length numbers), -128..127 for -1.0..1.0."))

    class Meta:
        ref_name = "Waveform"


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
    "result": {"bpm": 124.0, "key": "A minor", "camelot": "8A", "open_key": "1m", "duration": 301.2,
               "sample_rate": 22050, "beats": [0.48, 0.96, 1.45], "waveform": [0.0, 0.3, 0.8],
               "cues": [{"name": "cue_0", "start": 0.48, "end": 8.22, "waveform": [0.1, 0.7]}],
               "loudness": {"integrated_lufs": -8.92, "range_lu": 5.14, "true_peak_dbtp": -0.31,
                            "replay_gain_db": -9.08}}})
FAILED = OpenApiExample("Failed", response_only=True, status_codes=["200"], value={
    **_JOB, "status": "failed", "error": "audio is silent", "result": None,
    "finished": "2026-11-28T23:30:01.002Z"})
BY_PATH = OpenApiExample("A file under QL_AUDIO_ROOT", request_only=True, media_type="application/json",
                         value={"path": "sets/live-session.flac", "beats_per_cue": 16, "bpm_range": [70, 180],
                                "wait": 10})

SAMPLES_PER_PIXEL = OpenApiParameter(
    "samples_per_pixel", OpenApiTypes.INT, OpenApiParameter.QUERY, default=512,
    description="Audio samples (at the audio's own rate) per pixel, 64 to 65,536; another value is 400.")
IF_NONE_MATCH_WAVEFORM = OpenApiParameter(
    "If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER,
    description="304 without a body when it names this answer's ETag (or is `*`).")
WAVEFORM_ETAG = OpenApiParameter("ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=["200", "304"],
                                 description='`"<job id>.<samples_per_pixel>"`', required=True)
WAVEFORM_CACHE = OpenApiParameter("Cache-Control", OpenApiTypes.STR, OpenApiParameter.HEADER,
                                  response=["200", "304"], required=True,
                                  description="`public, max-age=31536000, immutable`: a waveform never changes.")
WAVEFORM = OpenApiExample("Waveform", response_only=True, status_codes=["200"], value={
    "version": 2, "channels": 1, "sample_rate": 44100, "samples_per_pixel": 512, "bits": 8, "length": 3,
    "data": [0, 0, -87, 92, -120, 118]})


def waveform_schema(*, operation_id: str, path_parameter, etag, cache_control):
    """The OpenAPI description of a waveform answer (a job's, a track's)."""
    from drf_spectacular.utils import extend_schema

    return extend_schema(operation_id=operation_id, responses={200: WaveformSerializer, 304: None},
                         parameters=[path_parameter, SAMPLES_PER_PIXEL, IF_NONE_MATCH_WAVEFORM, etag, cache_control],
                         examples=[WAVEFORM])
