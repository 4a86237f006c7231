"""Structured logs: one JSON object per line with the request id; upstream credentials
scrubbed from every line; X-Request-ID passed through (when well-formed) and echoed."""

import io
import json
import logging
import re

import pytest
from django.test import override_settings

from quantumlive.logging import JsonFormatter, scrub

FAKE_YT_KEY = "AIzaSyFAKE-yt_key.0123456789abcdefghij"
FAKE_SC_ID = "scFAKEclient+id/42"


@pytest.fixture
def console():
    """The console handler configured by settings.LOGGING, writing into a buffer."""
    handler = next(h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter))
    buffer = io.StringIO()
    old = handler.setStream(buffer)
    yield buffer
    handler.setStream(old)


def lines(buffer) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


@pytest.mark.parametrize("text, expected", [
    ("GET https://www.googleapis.com/youtube/v3/search?part=snippet&q=x&key=AIzaSecret123&maxResults=5",
     "GET https://www.googleapis.com/youtube/v3/search?part=snippet&q=x&key=***&maxResults=5"),
    ("https://api-v2.soundcloud.com/search/tracks?q=a&client_id=abcDEF123", "https://api-v2.soundcloud.com/search/tracks?q=a&client_id=***"),
    ("/x?api_key=s3cr3t&token=t0k3n", "/x?api_key=***&token=***"),
    ("/x?KEY=upper&Token=mixed", "/x?KEY=***&Token=***"),
    ("error for 'https://h/p?key=abc' (timeout)", "error for 'https://h/p?key=***' (timeout)"),
    ("monkey=banana keys=1 key= tokenize=2", "monkey=banana keys=1 key= tokenize=2"),
    ("no secrets here", "no secrets here"),
])
def test_scrub_masks_credential_query_parameters(text, expected):
    assert scrub(text) == expected


@override_settings(YOUTUBE_API_KEY=FAKE_YT_KEY, SOUNDCLOUD_CLIENT_ID=FAKE_SC_ID)
def test_scrub_masks_the_configured_keys_wherever_they_appear():
    from urllib.parse import quote

    text = f"youtube said 403 for {FAKE_YT_KEY}; soundcloud id {FAKE_SC_ID} / {quote(FAKE_SC_ID, safe='')}"
    scrubbed = scrub(text)
    assert FAKE_YT_KEY not in scrubbed and FAKE_SC_ID not in scrubbed and quote(FAKE_SC_ID, safe="") not in scrubbed
    assert scrubbed == "youtube said 403 for ***; soundcloud id *** / ***"


@override_settings(YOUTUBE_API_KEY=FAKE_YT_KEY, SOUNDCLOUD_CLIENT_ID=FAKE_SC_ID)
def test_every_line_of_the_configured_handler_is_json_and_scrubbed(console):
    log = logging.getLogger("search.providers.youtube")
    log.warning("upstream %s answered %d", f"https://www.googleapis.com/youtube/v3/search?q=a&key={FAKE_YT_KEY}", 403)
    try:
        raise RuntimeError(f"boom https://api-v2.soundcloud.com/search/tracks?client_id={FAKE_SC_ID}&q=x")
    except RuntimeError:
        log.exception("provider failed\nwith a second line")
    logging.getLogger("gunicorn.access").info('%(h)s "%(r)s"', {"h": "127.0.0.1", "r": "GET /api/search/?q=a&token=abc123 HTTP/1.1"})
    written = console.getvalue()
    assert FAKE_YT_KEY not in written and FAKE_SC_ID not in written and "abc123" not in written
    records = lines(console)
    assert len(written.splitlines()) == 3 == len(records)  # one object per line, newlines escaped
    first, second, third = records
    assert first["message"] == "upstream https://www.googleapis.com/youtube/v3/search?q=a&key=*** answered 403"
    assert (first["level"], first["logger"], first["request_id"]) == ("WARNING", "search.providers.youtube", None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"]) and first["pid"] > 0
    assert second["message"] == "provider failed\nwith a second line"
    assert "RuntimeError: boom" in second["exc"] and "client_id=***" in second["exc"]
    assert third["message"] == '127.0.0.1 "GET /api/search/?q=a&token=*** HTTP/1.1"'


def test_a_well_formed_request_id_is_passed_through_and_echoed(client):
    for given in ("abc-123", "0f8e7d6c5b4a39281706f5e4d3c2b1a0", "req:1.2_3", "x" * 128):
        response = client.get("/healthz", HTTP_X_REQUEST_ID=given)
        assert response["X-Request-ID"] == given


@pytest.mark.parametrize("given", ["", "has space", "x" * 129, "<script>", "a\tb", "é"])
def test_a_missing_or_malformed_request_id_is_replaced_by_a_new_one(client, given):
    headers = {"HTTP_X_REQUEST_ID": given} if given else {}
    first = client.get("/healthz", **headers)["X-Request-ID"]
    second = client.get("/healthz", **headers)["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and re.fullmatch(r"[0-9a-f]{32}", second) and first != second


@pytest.mark.django_db
def test_log_lines_written_during_a_request_carry_its_id(client, console):
    request_log = logging.getLogger("django.request")
    old_level = request_log.level
    request_log.setLevel(logging.WARNING)
    try:
        response = client.get("/api/tracks/not-a-track/?token=abc", HTTP_X_REQUEST_ID="trace-42")
    finally:
        request_log.setLevel(old_level)
    assert response.status_code == 404 and response["X-Request-ID"] == "trace-42"
    records = [r for r in lines(console) if r["logger"] == "django.request"]
    assert records and records[-1]["request_id"] == "trace-42" and records[-1]["status"] == 404
    # After the request, lines carry no id.
    logging.getLogger("quantumlive").warning("between requests")
    assert lines(console)[-1]["request_id"] is None
