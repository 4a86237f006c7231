"""A large import runs as a job on the analysis worker's queue: 202, then GET
/api/imports/{id}/ gives the status and, when done, the report; the stored file is deleted
when the job ends."""

import pytest
from django.test import override_settings

from exchange import jobs
from tests.exchange.conftest import counts, upload
from tests.exchange.test_import import M3U8, REKORDBOX

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def upload_dir(settings, tmp_path):
    settings.QL_UPLOAD_DIR = tmp_path / "uploads"


def _run_queue() -> None:
    """What `manage.py analysis_worker` does with the queue, in this process (burst)."""
    from rq import SimpleWorker

    from analysis.jobs import queue, rq_connection

    connection = rq_connection(socket_timeout=None)
    SimpleWorker([queue(connection)], connection=connection).work(burst=True)


@override_settings(QL_IMPORT_SYNC_MAX_TRACKS=1)
def test_a_large_file_is_imported_by_a_job_with_the_report_on_it(api, other):
    response = upload(api, REKORDBOX, root="/Users/dj/Music")

    assert response.status_code == 202, response.content
    job = response.json()
    assert job["status"] == "queued" and response["Location"] == job["url"]
    assert job["url"].endswith(f"/api/imports/{job['id']}/")
    stored = list(jobs.folder().iterdir())
    assert [path.name for path in stored] == [job["id"]]
    assert counts() == (0, 0)  # nothing written before the job runs

    _run_queue()

    done = api.get(f"/api/imports/{job['id']}/").json()
    assert done["status"] == "done", done
    assert (done["report"]["tracks_created"], done["report"]["tracks_matched"]) == (2, 0)
    assert [p["name"] for p in done["report"]["playlists"]] == ["Sets / Friday", "Warm-up"]
    assert list(jobs.folder().iterdir()) == []  # the file went with the job
    assert other.get(f"/api/imports/{job['id']}/").status_code == 404
    assert api.get("/api/imports/not-a-uuid/").status_code == 404


@override_settings(QL_IMPORT_SYNC_MAX_TRACKS=1)
def test_a_job_whose_file_fails_ends_failed_and_its_file_is_deleted(api):
    response = upload(api, M3U8, name="set.m3u8", root="/Users/dj/Music")
    job_id = response.json()["id"]
    (jobs.folder() / job_id).write_bytes(b"<DJ_PLAYLISTS><broken")  # changed under it

    _run_queue()

    failed = api.get(f"/api/imports/{job_id}/").json()
    assert failed["status"] == "failed" and "XML" in failed["error"]
    assert list(jobs.folder().iterdir()) == []
    assert counts() == (0, 0)


@override_settings(QL_IMPORT_SYNC_MAX_TRACKS=1, QL_IMPORT_JOB_TIMEOUT=10)
def test_a_job_running_past_its_timeout_reads_as_failed(api):
    from quantumlive import keys
    from quantumlive.redis_conn import get_redis

    job_id = upload(api, M3U8, name="set.m3u8", root="/Users/dj/Music").json()["id"]
    assert jobs.mark_running(job_id)
    get_redis().hset(keys.import_job(job_id), "started", "1000")  # long ago: its worker died

    failed = api.get(f"/api/imports/{job_id}/").json()

    assert failed["status"] == "failed" and failed["error"] == jobs.WORKER_DIED
    assert list(jobs.folder().iterdir()) == []


@override_settings(QL_IMPORT_SYNC_MAX_BYTES=64)
def test_a_file_larger_than_the_sync_size_goes_to_a_job_unread(api, monkeypatch):
    """A web worker never parses more than QL_IMPORT_SYNC_MAX_BYTES of a DJ file: a larger one
    (even of few tracks) is stored and read by the job, whatever it holds."""
    from exchange import views

    def no_reading(*args, **kwargs):
        raise AssertionError("the web worker parsed a file over QL_IMPORT_SYNC_MAX_BYTES")

    monkeypatch.setattr(views, "read", no_reading)
    assert len(REKORDBOX.encode()) > 64
    response = upload(api, REKORDBOX, root="/Users/dj/Music")
    assert response.status_code == 202, response.content
    monkeypatch.undo()

    _run_queue()
    done = api.get(response.json()["url"]).json()
    assert done["status"] == "done" and done["report"]["tracks_created"] == 2


@override_settings(QL_IMPORT_SYNC_MAX_BYTES=64)
def test_a_bad_file_over_the_sync_size_fails_its_job_and_changes_nothing(api):
    response = upload(api, "<DJ_PLAYLISTS>" + " " * 100 + "<broken", name="big.xml")
    assert response.status_code == 202
    _run_queue()
    done = api.get(response.json()["url"]).json()
    assert done["status"] == "failed" and done["error"]
    assert counts() == (0, 0)
