"""The admin's Playlist pages in a real browser: headless Debian Chromium driven by Selenium
against a real gunicorn. A curator logs in, lists, searches, edits a track (and sees the
change through the API), meets a conflict, deletes one track and then two in bulk.

Chromium and its driver come from the set-up: `make test` runs scripts/ensure_chromium.py
(Debian's `chromium` and `chromium-driver`); where they are missing the test skips, saying
why. The screenshots go to a temporary folder, or to QL_SCREENSHOT_DIR when it is set
(`QL_SCREENSHOT_DIR=bench` refreshes bench/admin_tracks.png)."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests

from tests.system.servers import ROOT, Database, Gunicorn, base_env

pytestmark = pytest.mark.system

PASSWORD = "browser-test-Pw-9431"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-default-browser-check", "--disable-default-apps", "--disable-extensions",
    "--disable-domain-reliability", "--disable-client-side-phishing-detection",
    "--no-proxy-server", "--password-store=basic", "--window-size=1600,1100",
)


def chromium_and_driver() -> tuple[str, str]:
    """(chromium, chromedriver) as the set-up installed them; else a skip saying how to."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("Chromium is not installed: `make test` installs it as root "
                    "(scripts/ensure_chromium.py: apt-get install chromium chromium-driver)")
    return chromium, driver


@pytest.fixture(scope="module")
def selenium_webdriver():
    return pytest.importorskip("selenium.webdriver", reason="selenium is not installed (requirements.txt)")


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    """Where the test's screenshots go: QL_SCREENSHOT_DIR for a person to look at, else a
    temporary folder (a run never writes into the checkout unasked)."""
    configured = os.environ.get("QL_SCREENSHOT_DIR")
    return Path(configured) if configured else tmp_path


@pytest.fixture(scope="module")
def browser(selenium_webdriver):
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = chromium_and_driver()
    profile = tempfile.mkdtemp(prefix="ql-chromium-")
    options = selenium_webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = selenium_webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def site(django_db_blocker):
    """A real gunicorn (2 workers) on a migrated database with a superuser `curator`."""
    with django_db_blocker.unblock():
        db = Database()
    env = base_env(DATABASE_URL=db.url, DJANGO_SUPERUSER_PASSWORD=PASSWORD)
    subprocess.run([sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", "curator",
                    "--email", "curator@example.com"], cwd=ROOT, env=env, check=True, timeout=60,
                   capture_output=True)
    server = Gunicorn(workers=2, database=db)
    with server:
        yield server, db
    db.close()


def seed_playlist():
    """A playlist worth a screenshot: 24 tracks with BPM, key, genres and cue waveforms."""
    import math

    from tests.admin.conftest import new_track

    names = [
        ("Live Session", "Quantum Crew", 124.0, "A minor", ["house", "latin"]),
        ("Night Drive", "Mira Vale", 118.0, "F# minor", ["deep house"]),
        ("Sunrise Dub", "Kaito", 122.0, "C major", ["dub", "house"]),
        ("Neon Rain", "Quantum Crew", 128.0, "D minor", ["techno"]),
        ("Bassline Theory", "Lola Strand", 174.0, "E minor", ["drum & bass"]),
        ("Marimba Heat", "Ayo Bankole", 120.0, "G major", ["afro house"]),
        ("Cold Harbour", "Fjord", 132.0, "B minor", ["techno", "industrial"]),
        ("Velvet Hour", "Sade Moreno", 98.0, "Eb major", ["downtempo"]),
        ("Orbit", "Quantum Dreams", 126.0, "Ab minor", ["progressive"]),
        ("Kingston Loop", "Dubwise", 140.0, "G minor", ["dubstep"]),
        ("Desert Bloom", "Amina K", 115.0, "Bb minor", ["organic house"]),
        ("Strobe Cathedral", "Halvorsen", 136.0, "C# minor", ["techno"]),
    ]
    created = []
    for i in range(24):
        title, artist, bpm, key, genres = names[i % len(names)]
        if i >= len(names):
            title = f"{title} (Reprise)"
        cues = []
        for c in range(3):
            wave = [abs(math.sin(n / (9 + 3 * c + i % 5))) * (0.35 + 0.6 * ((n * 7 + c) % 23) / 23) for n in range(512)]
            cues.append({"name": f"cue_{c}", "start": c * 8.0, "end": (c + 1) * 8.0, "waveform": wave})
        created.append(new_track(title=title, artist=artist, bpm=bpm + (i // len(names)) * 2, key=key,
                                 genres=genres, duration=300.0 + i, cues=cues))
    return created


def test_a_curator_lists_searches_edits_and_deletes_tracks_in_a_browser(site, browser, screenshot_dir):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait

    server, db = site
    tracks = seed_playlist()
    wait = WebDriverWait(browser, 15)
    api = requests.Session()
    api.headers["Authorization"] = f"Token {db.token}"

    def rows():
        return browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")

    # Log in; the admin sends us on to the tracks list.
    browser.get(f"{server.url}/admin/login/?next=/admin/tracks/track/")
    browser.find_element(By.NAME, "username").send_keys("curator")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD + Keys.ENTER)
    wait.until(EC.presence_of_element_located((By.ID, "result_list")))
    assert len(rows()) == 24
    first = rows()[0]
    assert first.find_element(By.CSS_SELECTOR, ".field-title").text == "Live Session"
    assert first.find_element(By.CSS_SELECTOR, ".field-artist").text == "Quantum Crew"
    assert first.find_element(By.CSS_SELECTOR, ".field-bpm").text == "124"
    assert first.find_element(By.CSS_SELECTOR, ".field-key").text == "A minor (8A)"
    assert first.find_element(By.CSS_SELECTOR, ".field-position").text == "0"
    assert "house" in first.find_element(By.CSS_SELECTOR, ".field-genres").text
    screenshot_dir.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(screenshot_dir / "admin_tracks.png"))

    # Search on title/artist, then a genre + BPM filter from the sidebar.
    search = browser.find_element(By.ID, "searchbar")
    search.send_keys("quantum" + Keys.ENTER)
    wait.until(EC.url_contains("q=quantum"))
    titles = [r.find_element(By.CSS_SELECTOR, ".field-title").text for r in rows()]
    assert titles == ["Live Session", "Neon Rain", "Orbit", "Live Session (Reprise)", "Neon Rain (Reprise)",
                      "Orbit (Reprise)"]
    browser.get(f"{server.url}/admin/tracks/track/")
    browser.find_element(By.ID, "id_genre_filter").send_keys("TECHNO" + Keys.ENTER)
    wait.until(EC.url_contains("genre=TECHNO"))
    browser.find_element(By.ID, "id_bpm_min").send_keys("130")
    browser.find_element(By.ID, "id_bpm_max").send_keys("137" + Keys.ENTER)
    wait.until(EC.url_contains("bpm_max=137"))
    titles = [r.find_element(By.CSS_SELECTOR, ".field-title").text for r in rows()]
    assert titles == ["Cold Harbour", "Strobe Cathedral", "Neon Rain (Reprise)", "Cold Harbour (Reprise)"]

    # Edit a track: the change page draws the cue waveforms; the save lands in the API.
    target = tracks[1]
    browser.get(f"{server.url}/admin/tracks/track/?q=night")
    browser.find_element(By.LINK_TEXT, "Night Drive").click()
    wait.until(EC.presence_of_element_located((By.ID, "track_form")))
    sparks = browser.find_elements(By.CSS_SELECTOR, "#track-cues svg.ql-spark polygon")
    assert len(sparks) == 3 and all(s.size["width"] > 100 for s in sparks)
    browser.execute_script("document.getElementById('track-cues').scrollIntoView()")
    assert browser.save_screenshot(str(screenshot_dir / "admin_track_change.png"))
    browser.execute_script("window.scrollTo(0, 0)")
    assert browser.find_element(By.NAME, "version").get_attribute("value") == "1"
    title = browser.find_element(By.ID, "id_title")
    title.clear()
    title.send_keys("Night Drive (edited in a browser)")
    bpm = browser.find_element(By.ID, "id_bpm")
    bpm.clear()
    bpm.send_keys("119.5")
    browser.find_element(By.NAME, "_save").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".messagelist .success")))
    got = requests.get(f"{server.url}/api/tracks/{target['id']}/", timeout=5).json()
    assert (got["title"], got["bpm"], got["version"], got["artist"]) == (
        "Night Drive (edited in a browser)", 119.5, 2, "Mira Vale")

    # A bad value gets the API's message, on the field.
    browser.get(f"{server.url}/admin/tracks/track/{target['id']}/change/")
    bpm = browser.find_element(By.ID, "id_bpm")
    bpm.clear()
    bpm.send_keys("999")
    browser.find_element(By.NAME, "_save").click()
    error = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".field-bpm .errorlist")))
    assert error.text == "Ensure this value is less than or equal to 400."

    # Someone else saves meanwhile: the form shows the conflict instead of overwriting.
    browser.get(f"{server.url}/admin/tracks/track/{target['id']}/change/")
    wait.until(EC.presence_of_element_located((By.ID, "track_form")))
    meanwhile = api.patch(f"{server.url}/api/tracks/{target['id']}/", json={"notes": "from the API"}, timeout=5)
    assert meanwhile.status_code == 200 and meanwhile.json()["version"] == 3
    title = browser.find_element(By.ID, "id_title")
    title.clear()
    title.send_keys("Overwrite attempt")
    browser.find_element(By.NAME, "_save").click()
    note = wait.until(EC.presence_of_element_located((By.ID, "errornote")))
    assert "changed by someone else" in note.text
    got = requests.get(f"{server.url}/api/tracks/{target['id']}/", timeout=5).json()
    assert (got["title"], got["notes"], got["version"]) == ("Night Drive (edited in a browser)", "from the API", 3)

    # Delete it from its change page.
    browser.get(f"{server.url}/admin/tracks/track/{target['id']}/change/")
    browser.find_element(By.CSS_SELECTOR, ".submit-row a.deletelink").click()
    wait.until(EC.url_contains("/delete/"))
    browser.find_element(By.CSS_SELECTOR, "input[type=submit][value^='Yes']").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".messagelist .success")))
    assert requests.get(f"{server.url}/api/tracks/{target['id']}/", timeout=5).status_code == 404
    assert len(rows()) == 23

    # Bulk: select the first two rows, run "Delete selected tracks", confirm.
    doomed = [r.get_attribute("data-track-id") for r in rows()[:2]]
    for box in browser.find_elements(By.CSS_SELECTOR, "input.action-select")[:2]:
        box.click()
    assert browser.find_element(By.ID, "ql-selected-count").text == "2 of 23 selected"
    Select(browser.find_element(By.NAME, "action")).select_by_value("delete_selected")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    wait.until(EC.presence_of_element_located((By.ID, "tracks-to-delete")))
    browser.find_element(By.CSS_SELECTOR, "input[type=submit][value^='Yes']").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".messagelist .success")))
    assert len(rows()) == 21
    for track_id in doomed:
        assert requests.get(f"{server.url}/api/tracks/{track_id}/", timeout=5).status_code == 404
    listing = requests.get(f"{server.url}/api/tracks/?limit=500", timeout=5).json()
    assert listing["count"] == 21 and [t["position"] for t in listing["results"]] == list(range(21))
