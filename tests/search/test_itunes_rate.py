"""The iTunes call limit is QL_ITUNES_RATE (API.md: default `20/min`, `off` disables it),
shared by every worker through Redis; a call over it is not sent and reads
`unavailable` / `rate limited`."""

from django.conf import settings as django_settings

from quantumlive import keys
from quantumlive.redis_conn import get_redis
from search.fanout import fanout_search
from search.providers import PROVIDERS


def itunes(query):
    entry = fanout_search(query=query, services=["itunes"], limit=3)["itunes"]
    return entry["status"], entry["cached"], entry.get("error")


def test_the_default_is_20_calls_a_minute():
    assert django_settings.QL_ITUNES_RATE == (20, 60)
    assert PROVIDERS["itunes"].rate_limit == (20, 60)


def test_a_rate_of_two_a_minute_lets_two_calls_through_and_refuses_the_third(fakes, settings):
    settings.QL_ITUNES_RATE = (2, 60)
    seen = [itunes(f"q{n}") for n in range(3)]
    assert seen == [("ok", False, None)] * 2 + [("unavailable", False, "rate limited")]
    assert fakes.itunes.calls == 2
    assert 0 < get_redis().pttl(keys.search_rate("itunes")) <= 60_000
    assert itunes("q1") == ("ok", True, None)  # answers already cached are still served


def test_off_disables_the_limit(fakes, settings):
    settings.QL_ITUNES_RATE = None
    seen = [itunes(f"q{n}") for n in range(30)]
    assert seen == [("ok", False, None)] * 30
    assert fakes.itunes.calls == 30
    assert get_redis().exists(keys.search_rate("itunes")) == 0


def test_the_window_is_the_rates_period(fakes, settings):
    settings.QL_ITUNES_RATE = (1, 2)
    assert itunes("a") == ("ok", False, None)
    assert itunes("b") == ("unavailable", False, "rate limited")
    assert 0 < get_redis().pttl(keys.search_rate("itunes")) <= 2000
