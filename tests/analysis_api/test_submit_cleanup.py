"""analysis_submit leaves nothing behind: an upload goes at once when its audio is (being)
analysed already or when anything after storing it fails, and a job that could not be queued
gives its audio's digest up (the next submission is a new job)."""

import io
import os

import pytest

from analysis import jobs
from quantumlive.exceptions import ServiceUnavailable
from tests.analysis_api.conftest import write_silence

pytestmark = pytest.mark.django_db
URL = "/api/analysis/"


@pytest.fixture
def uploads(settings, tmp_path):
    settings.QL_UPLOAD_DIR = tmp_path / "uploads"
    return settings.QL_UPLOAD_DIR


@pytest.fixture
def audio(tmp_path) -> bytes:
    return write_silence(tmp_path / "quiet.wav", seconds=1).read_bytes()


def upload(api, audio: bytes):
    buffer = io.BytesIO(audio)
    buffer.name = "quiet.wav"
    return api.post(URL, {"file": buffer}, format="multipart")


def test_the_same_audio_uploaded_again_answers_its_job_and_keeps_one_file(api, idle_queue, uploads, audio):
    first = upload(api, audio)
    again = upload(api, audio)

    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert os.listdir(uploads) == [f"{first.json()['id']}.wav"]


def test_a_job_that_cannot_be_queued_fails_frees_its_digest_and_leaves_no_upload(
        api, idle_queue, uploads, audio, monkeypatch):
    refused = []

    def queue_away(job_id: str) -> None:
        refused.append(job_id)
        raise ServiceUnavailable("The queue is away.")

    monkeypatch.setattr(jobs, "enqueue", queue_away)
    response = upload(api, audio)

    assert response.status_code == 503
    assert os.listdir(uploads) == []
    record = jobs.job_record(refused[0])
    assert record["status"] == "failed" and record["error"] == "the job could not be queued; submit it again"

    monkeypatch.undo()
    retried = upload(api, audio)
    assert retried.status_code == 202 and retried.json()["id"] != refused[0]
    assert retried.json()["status"] == "queued"


def test_an_upload_whose_claim_fails_is_removed(api, idle_queue, uploads, audio, monkeypatch):
    def redis_away(**kwargs):
        raise ServiceUnavailable("Redis is away.")

    monkeypatch.setattr(jobs, "claim", redis_away)
    response = upload(api, audio)

    assert response.status_code == 503
    assert os.listdir(uploads) == []
