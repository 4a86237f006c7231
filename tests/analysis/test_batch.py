"""analysis/batch.py: a folder's files get the jobs the API would give them, so that results
are shared both ways."""

import pytest

from analysis import jobs
from analysis.audio import MAX_RESULT_POINTS
from analysis.batch import batch_options
from analysis.serializers import AnalysisSubmitSerializer


@pytest.mark.parametrize("budget", [MAX_RESULT_POINTS, 67_536])
@pytest.mark.parametrize(("auto_cues", "beats_per_cue"), [(True, 16), (False, 4)])
def test_a_batch_file_has_the_digest_the_api_gives_the_same_file(settings, budget, auto_cues, beats_per_cue):
    settings.QL_MAX_RESULT_POINTS = budget
    body = AnalysisSubmitSerializer(data={"path": "a.wav", "auto_cues": auto_cues, "beats_per_cue": beats_per_cue})
    assert body.is_valid(), body.errors

    audio = "0" * 64
    assert (jobs.digest_of(audio_sha256=audio, options=batch_options(auto_cues=auto_cues, beats_per_cue=beats_per_cue))
            == jobs.digest_of(audio_sha256=audio, options=body.analysis_options()))
