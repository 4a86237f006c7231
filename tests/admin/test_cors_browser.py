"""CORS in a real browser (the project's headless Chromium, tests/admin/test_admin_browser.py):
a page served from another origin (a plain http.server on a port of its own) logs in with
/api/auth/token/, reads a track, reads its ETag from JavaScript, PATCHes it with If-Match and
shows the result; served from an origin DJANGO_CORS_ALLOWED_ORIGINS does not list, the same
page's first fetch is blocked by the browser (no token is even made: the preflight fails)."""

import functools
import http.server
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from tests.admin.test_admin_browser import browser, screenshot_dir, selenium_webdriver  # noqa: F401 (fixtures)
from tests.system.servers import ROOT, Database, Gunicorn, base_env, free_port

pytestmark = pytest.mark.system

PAGE_DIR = Path(__file__).with_name("cors_page")
PASSWORD = "cors-browser-Pw-2718"


class PageServer:
    """The page's origin: http.server on 127.0.0.1:<port>, serving cors_page/."""

    def __init__(self):
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        handler = functools.partial(_QuietHandler, directory=str(PAGE_DIR))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def pages():
    with PageServer() as listed, PageServer() as unlisted:
        yield listed, unlisted


@pytest.fixture(scope="module")
def api_server(django_db_blocker, pages):
    """A real gunicorn allowing the first page server's origin only, with a user `browser`."""
    listed, _ = pages
    with django_db_blocker.unblock():
        db = Database()
    script = ("from django.contrib.auth import get_user_model;"
              f"get_user_model().objects.create_user('browser', password={PASSWORD!r})")
    subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT,
                   env=base_env(DATABASE_URL=db.url), check=True, timeout=60, capture_output=True)
    with Gunicorn(workers=2, database=db, DJANGO_CORS_ALLOWED_ORIGINS=listed.origin) as server:
        yield server, db
    db.close()


def token_count(db) -> int:
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c",
                          "from rest_framework.authtoken.models import Token; print(Token.objects.count())"],
                         cwd=ROOT, env=base_env(DATABASE_URL=db.url), check=True, timeout=60,
                         capture_output=True, text=True)
    return int(out.stdout.split()[-1])


def open_page(browser, page_origin: str, api_url: str, track_id: str):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    query = urlencode({"api": api_url, "track": track_id, "username": "browser", "password": PASSWORD})
    browser.get(f"{page_origin}/index.html?{query}")
    result = browser.find_element(By.ID, "result")
    WebDriverWait(browser, 15).until(lambda _: result.get_attribute("data-state") != "running")
    return result.get_attribute("data-state"), result.text, browser.find_element(By.ID, "log").text


def test_a_page_on_a_listed_origin_logs_in_reads_the_etag_and_patches(browser, pages, api_server,  # noqa: F811
                                                                       screenshot_dir):  # noqa: F811
    import json

    listed, _ = pages
    server, db = api_server
    created = requests.post(f"{server.url}/api/tracks/", json={"title": "Cross Origin", "artist": "Browser"},
                            headers={"Authorization": f"Token {db.token}"}, timeout=5)
    assert created.status_code == 201
    track_id = created.json()["id"]

    state, text, log = open_page(browser, listed.origin, server.url, track_id)
    screenshot_dir.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(screenshot_dir / "cors_browser.png"))
    assert state == "done", log
    shown = json.loads(text)
    assert shown == {"etag": '"1"', "title": "Cross Origin", "status": 200, "bpm": 126.5, "version": 2,
                     "newEtag": '"2"', "requestId": "browser-cors-1", "stale": 412}
    got = requests.get(f"{server.url}/api/tracks/{track_id}/", timeout=5).json()
    assert (got["bpm"], got["version"]) == (126.5, 2)


def test_the_same_page_on_an_origin_not_listed_is_blocked(browser, pages, api_server):  # noqa: F811
    _, unlisted = pages
    server, db = api_server
    created = requests.post(f"{server.url}/api/tracks/", json={"title": "Elsewhere", "artist": "Browser"},
                            headers={"Authorization": f"Token {db.token}"}, timeout=5)
    track_id = created.json()["id"]
    tokens = token_count(db)

    state, text, log = open_page(browser, unlisted.origin, server.url, track_id)
    assert state == "failed" and text.startswith("blocked:"), log
    assert "TypeError" in log  # what fetch raises for a CORS refusal ("Failed to fetch")
    assert token_count(db) == tokens  # the preflight failed: the login was never sent
    got = requests.get(f"{server.url}/api/tracks/{track_id}/", timeout=5).json()
    assert got["version"] == 1

