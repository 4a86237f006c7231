"""The RQ dashboard (django-rq) for staff only, at /admin/rq/: the analysis queue under its
prefixed name, its jobs and workers; anonymous and non-staff users are sent to the admin's
login; it is mounted nowhere else."""

import pytest

pytestmark = pytest.mark.django_db


def test_staff_see_the_analysis_queue_its_jobs_and_workers(staff_client, settings):
    from analysis import jobs
    from quantumlive import keys

    jobs.queue().enqueue("analysis.tasks.run_analysis", "a-job-nobody-runs", job_id="dashboard-test-job")
    queue_name = keys.analysis_queue_name()
    home = staff_client.get("/admin/rq/")
    assert home.status_code == 200
    assert queue_name in home.content.decode()
    waiting = staff_client.get("/admin/rq/queues/0/")
    assert waiting.status_code == 200 and "dashboard-test-job" in waiting.content.decode()
    assert staff_client.get("/admin/rq/queues/0/dashboard-test-job/").status_code == 200
    assert staff_client.get("/admin/rq/workers/0/").status_code == 200


def test_anonymous_and_non_staff_users_are_sent_to_the_login(client, django_user_model, settings):
    settings.RQ_API_TOKEN = "a-token-that-must-not-open-it"
    for path in ("/admin/rq/", "/admin/rq/queues/0/", "/admin/rq/workers/0/", "/admin/rq/stats.json",
                 "/admin/rq/metrics/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), path
    bearer = client.get("/admin/rq/stats.json", HTTP_AUTHORIZATION="Bearer a-token-that-must-not-open-it")
    assert bearer.status_code == 302
    user = django_user_model.objects.create_user("listener", password="pw-listener-123456")
    client.force_login(user)
    for path in ("/admin/rq/", "/admin/rq/queues/0/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), path


def test_a_non_staff_user_cannot_empty_the_queue(client, django_user_model):
    from analysis import jobs

    jobs.queue().enqueue("analysis.tasks.run_analysis", "kept", job_id="dashboard-kept-job")
    client.force_login(django_user_model.objects.create_user("listener", password="pw-listener-123456"))
    assert client.post("/admin/rq/queues/0/empty/").status_code == 302
    assert jobs.queue().count == 1


def test_the_dashboard_is_mounted_only_under_admin_rq(staff_client):
    assert staff_client.get("/admin/django_rq/dashboard/").status_code == 404
    assert staff_client.get("/admin/rq/stats.json").status_code == 200
