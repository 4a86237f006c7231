"""What a finished analysis contributes to a track (bpm, key, duration, cues)."""

from analysis.jobs import finished_result


def values_from_result(result: dict) -> dict:
    return {
        "bpm": result["bpm"],
        "key": result["key"],
        "duration": result["duration"],
        "cues": [
            {"name": cue["name"], "start": cue["start"], "end": cue["end"], "waveform": cue["waveform"]}
            for cue in result["cues"]
        ],
    }


def analysis_values(job_id: str) -> dict:
    """The track fields a finished analysis job provides; ValueError (with a clear message)
    when the job is unknown, failed or not finished."""
    return values_from_result(finished_result(job_id))
