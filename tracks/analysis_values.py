"""What a finished analysis contributes to a track (bpm, key, duration, cues, and the
server-owned beatgrid, mix_in, mix_out, loudness of analyser version 3 on)."""

from analysis.jobs import canonical_job_id, finished_result
from tracks.serializers import AnalysisFieldsSerializer, TrackFieldsSerializer


class AnalysisUnusable(ValueError):
    """The analysis cannot fill a track: the job is unknown, failed or not finished, or its
    result does not fit a track. Its message says which, for the client."""


def values_from_result(result: dict) -> dict:
    """The track fields of an analysis result, checked against the track's own limits (an
    analysis may have more cues than a track holds); AnalysisUnusable when they do not fit."""
    values = {
        "bpm": result["bpm"],
        "key": result["key"],
        "duration": result["duration"],
        "cues": [
            {"name": cue["name"], "start": cue["start"], "end": cue["end"], "waveform": cue["waveform"]}
            for cue in result["cues"]
        ],
    }
    # an earlier analyser's result has none of these: the track keeps what it has
    owned = {name: result[name] for name in AnalysisFieldsSerializer.FIELDS if name in result}
    fitted = {}
    for serializer, data in ((TrackFieldsSerializer, values), (AnalysisFieldsSerializer, owned)):
        check = serializer(data=data, partial=True)
        if not check.is_valid():
            field, problems = next(iter(check.errors.items()))
            detail = problems[0] if isinstance(problems, list) and problems else problems
            raise AnalysisUnusable(f"The analysis does not fit a track ({field}: {detail}).")
        fitted.update(check.validated_data)
    return fitted


def analysis_values(job_id: str) -> dict:
    """The track fields a finished analysis job provides, with `analysis`: the job's id (the
    track's waveform is that job's); AnalysisUnusable (with a clear
    message) when the job is unknown, failed or not finished, or its result does not fit a
    track. `analysis` is the job's canonical id whatever spelling of its UUID `job_id` is (the
    track keeps it: its waveform copy is named by it, a backup takes no other spelling)."""
    job_id = canonical_job_id(job_id)
    if job_id is None:
        raise AnalysisUnusable("Unknown analysis job.")
    try:
        result = finished_result(job_id)
    except ValueError as exc:
        raise AnalysisUnusable(str(exc)) from None
    return {**values_from_result(result), "analysis": job_id}
