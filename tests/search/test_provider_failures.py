"""Failures every provider shares: HTTP errors, malformed and unexpected bodies, a service
that never answers, one that cannot be reached, Retry-After as seconds or a date."""

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests

from search.providers import PROVIDERS
from search.providers.base import ProviderError, ProviderTimeout, retry_after
from tests.system.servers import free_port


def failure(name: str) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        PROVIDERS[name].search(requests.Session(), query="x", limit=3)
    return caught.value


@pytest.mark.parametrize("name", ["itunes", "soundcloud", "youtube"])
def test_a_500_is_an_error_naming_the_status(fakes, name):
    getattr(fakes, name).answer(status=500, raw=b"<html>oops</html>")
    assert (failure(name).status, failure(name).message) == ("error", "HTTP 500")


@pytest.mark.parametrize("raw", [
    b'{"results": [',
    b'{"results": ' + b"[" * 100_000,  # deeper than json.loads goes (RecursionError)
    b'{"results": [' + b"9" * 5000 + b"]}",  # past int's 4,300 digits
])
@pytest.mark.parametrize("name", ["itunes", "soundcloud", "youtube"])
def test_malformed_json_is_a_malformed_response(fakes, name, raw):
    getattr(fakes, name).answer(raw=raw)
    assert failure(name).message == "malformed response"


@pytest.mark.parametrize("name", ["itunes", "soundcloud", "youtube"])
def test_json_of_another_shape_is_an_unexpected_response(fakes, name):
    getattr(fakes, name).answer(body=["not", "an", "object"])
    assert failure(name).message == "unexpected response"


@pytest.mark.parametrize("name", ["itunes", "soundcloud", "youtube"])
def test_a_service_that_never_answers_times_out_after_its_timeout(fakes, settings, name):
    settings.QL_SEARCH_DEADLINE = 0.3
    getattr(fakes, name).answer(hang=True)
    caught = failure(name)
    assert (type(caught), caught.status, caught.message) == (ProviderTimeout, "timeout", "timed out")


def test_a_service_that_cannot_be_reached_is_a_connection_failure(settings):
    settings.ITUNES_API_URL = f"http://127.0.0.1:{free_port()}"
    assert failure("itunes").message == "connection failed"


def test_retry_after_reads_seconds_and_http_dates():
    soon = datetime.now(timezone.utc) + timedelta(seconds=120)
    assert retry_after({"Retry-After": "30"}) == 30
    assert 118 <= retry_after({"Retry-After": format_datetime(soon, usegmt=True)}) <= 120
    assert retry_after({}) == 60
    assert retry_after({"Retry-After": "soon"}) == 60
    assert retry_after({"Retry-After": "999999999"}) == 86_400


def test_a_redirect_is_not_followed_since_the_query_string_carries_the_credentials(fakes):
    fakes.soundcloud.answer(status=302, raw=b"", headers={"Location": fakes.youtube.url + "/search"})
    assert failure("soundcloud").message == "HTTP 302"
    assert fakes.youtube.calls == 0
