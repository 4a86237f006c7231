"""The admin's Playlists pages in a real browser: headless Debian Chromium driven by Selenium
against a real gunicorn, as tests/admin/test_admin_browser.py sets them up (its fixtures). A
curator logs in, creates a playlist, adds library tracks found by search, moves one, removes
one, and sees the order on the page and in the store.

The screenshots go to a temporary folder, or to QL_SCREENSHOT_DIR when it is set
(`QL_SCREENSHOT_DIR=bench` refreshes bench/admin_playlist.png)."""

import pytest

from playlists import store
from tests.admin.conftest import new_track
from tests.admin.test_admin_browser import (  # noqa: F401 - fixtures
    PASSWORD, browser, screenshot_dir, selenium_webdriver, site)

pytestmark = pytest.mark.system


def test_a_curator_builds_a_playlist_from_library_searches_in_a_browser(site, browser, screenshot_dir):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    server, db = site
    for title, artist, duration in (("Night Drive", "Mira Vale", 301.0), ("Orbit", "Quantum Dreams", 420.5),
                                    ("Neon Rain", "Quantum Crew", 388.0), ("Velvet Hour", "Sade Moreno", 250.0)):
        new_track(title=title, artist=artist, duration=duration)
    wait = WebDriverWait(browser, 15)

    def entry_titles():
        return [row.find_element(By.CSS_SELECTOR, ".field-title").text
                for row in browser.find_elements(By.CSS_SELECTOR, "#entry_list tbody tr")]

    def success():
        return wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".messagelist .success"))).text

    def submit(button):
        """Clicks a button that sends a form, and waits for the page it answers (not the one
        before, whose elements and messages look alike)."""
        page = browser.find_element(By.TAG_NAME, "html")
        button.click()
        wait.until(EC.staleness_of(page))

    def search_library(text):
        box = browser.find_element(By.ID, "id_library_q")
        page = browser.find_element(By.TAG_NAME, "html")
        box.clear()
        box.send_keys(text + Keys.ENTER)
        wait.until(EC.staleness_of(page))  # the page with the results, not the one before
        wait.until(EC.presence_of_element_located((By.ID, "search-count")))

    def add_found(title, position=""):
        row = browser.find_element(By.XPATH, f"//table[@id='search_results']//tr[th[normalize-space()='{title}']]")
        if position:
            row.find_element(By.NAME, "to").send_keys(position)
        submit(row.find_element(By.NAME, "_add"))
        assert f"“{title}”" in success()

    def entry_row(title):
        return browser.find_element(By.XPATH, f"//table[@id='entry_list']//tr[th[normalize-space()='{title}']]")

    # Log in (the superuser `curator` of the site fixture); the admin sends us on to the list.
    browser.delete_all_cookies()
    browser.get(f"{server.url}/admin/login/?next=/admin/playlists/playlist/")
    browser.find_element(By.NAME, "username").send_keys("curator")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD + Keys.ENTER)
    wait.until(EC.presence_of_element_located((By.ID, "changelist")))

    # Create a playlist: its owner is the curator unless another user is named.
    browser.find_element(By.CSS_SELECTOR, ".object-tools a.addlink").click()
    wait.until(EC.presence_of_element_located((By.ID, "playlist_form")))
    assert browser.find_element(By.ID, "id_owner").get_attribute("value") == "curator"
    browser.find_element(By.ID, "id_name").send_keys("Friday warm-up")
    browser.find_element(By.ID, "id_public").click()
    submit(browser.find_element(By.NAME, "_continue"))
    assert "Friday warm-up" in success()
    (playlist_id,) = store.playlist_ids()
    assert browser.current_url.endswith(f"/admin/playlists/playlist/{playlist_id}/change/")

    # Add tracks found by searching the library: two at the end, one at position 1.
    search_library("night")
    add_found("Night Drive")
    assert browser.find_element(By.ID, "id_library_q").get_attribute("value") == "night"  # the search stays
    search_library("quantum")
    found = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#search_results .field-title")]
    assert found == ["Orbit", "Neon Rain"]
    add_found("Orbit")
    add_found("Neon Rain", position="1")
    assert entry_titles() == ["Night Drive", "Neon Rain", "Orbit"]

    # Move "Orbit" to the top, then remove "Night Drive".
    row = entry_row("Orbit")
    row.find_element(By.NAME, "to").send_keys("0")
    submit(row.find_element(By.NAME, "_move"))
    assert "moved from position 2 to 0" in success()
    assert entry_titles() == ["Orbit", "Night Drive", "Neon Rain"]
    submit(entry_row("Night Drive").find_element(By.NAME, "_remove"))
    assert "“Night Drive” by Mira Vale (position 1) was removed" in success()
    assert entry_titles() == ["Orbit", "Neon Rain"]
    positions = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#entry_list .field-position")]
    assert positions == ["0", "1"]
    assert browser.find_element(By.ID, "playlist-duration").text == "0:13:29"
    screenshot_dir.mkdir(parents=True, exist_ok=True)
    search_library("a")  # the whole library, for the picture
    browser.execute_script("document.getElementById('entries').scrollIntoView()")
    assert browser.save_screenshot(str(screenshot_dir / "admin_playlist.png"))

    # The store holds what the page shows, one version per change (create, 3 adds, move, remove).
    playlist, entries = store.entries_page(playlist_id=playlist_id, offset=0, limit=50)
    assert [e["track"]["title"] for e in entries] == ["Orbit", "Neon Rain"]
    assert (playlist["name"], playlist["owner"], playlist["public"], playlist["tracks"], playlist["version"]) == (
        "Friday warm-up", "curator", True, 2, 6)

    # A page loaded before someone else's change is refused, not applied over it.
    stale_version = browser.find_element(By.CSS_SELECTOR, "#entry_list form.ql-remove input[name=version]")
    assert stale_version.get_attribute("value") == "6"
    store.playlist_update(playlist_id=playlist_id, values={"description": "changed elsewhere"})
    submit(entry_row("Neon Rain").find_element(By.NAME, "_remove"))
    assert "changed by someone else" in wait.until(EC.presence_of_element_located((By.ID, "errornote"))).text
    assert [e["track"]["title"] for e in store.entries_page(playlist_id=playlist_id, offset=0, limit=50)[1]] == [
        "Orbit", "Neon Rain"]

    # The list shows it with its owner, number of tracks and duration.
    browser.get(f"{server.url}/admin/playlists/playlist/")
    row = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f"tr[data-playlist-id='{playlist_id}']")))
    assert row.find_element(By.CSS_SELECTOR, ".field-owner").text == "curator"
    assert row.find_element(By.CSS_SELECTOR, ".field-tracks").text == "2"
    assert row.find_element(By.CSS_SELECTOR, ".field-duration").text == "0:13:29"
