"""Each user's share of the day's YouTube units (API.md, "Bad input, bounded"): past
QL_YOUTUBE_USER_SHARE of QL_YOUTUBE_DAILY_UNITS a user's YouTube answers are
`unavailable` / `user quota exceeded` while other users still search. Units are counted per
user per Pacific day in Redis; only a call sent upstream spends them (a cached answer and a
single-flight follower do not)."""

import threading
from datetime import datetime, timedelta, timezone

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from quantumlive import keys
from quantumlive.redis_conn import get_redis
from search.fanout import fanout_search
from search.quota import (
    SECONDS_KEPT_AFTER_RESET, quota_day, seconds_until_quota_reset, user_share_units,
    user_units_charge, user_units_spent,
)
from tests.search.fakes import sample
from tests.system.servers import wait_until

URL = "/api/search/"
SEARCH_UNITS = 100
EXCEEDED = ("unavailable", False, "user quota exceeded")


@pytest.fixture
def share(settings):
    """1,000 units a day, 20 % each: two searches per user per day."""
    settings.QL_YOUTUBE_DAILY_UNITS = 1000
    settings.QL_YOUTUBE_USER_SHARE = 20.0
    return 200


def youtube(query, *, user_id, services=("youtube",)):
    answer = fanout_search(query=query, services=list(services), limit=3, user_id=user_id)
    entry = answer["youtube"]
    return entry["status"], entry["cached"], entry.get("error")


def spent(user_id) -> int:
    return user_units_spent(service="youtube", user_id=user_id)


# --- the share -----------------------------------------------------------------------------
def test_a_user_past_their_share_is_refused_youtube_while_another_user_still_searches(fakes, share):
    seen = [youtube(f"a{n}", user_id=1) for n in range(3)]
    assert seen == [("ok", False, None)] * 2 + [EXCEEDED]
    assert fakes.youtube.calls == 2
    assert youtube("b0", user_id=2) == ("ok", False, None)
    assert fakes.youtube.calls == 3
    assert (spent(1), spent(2)) == (200, 100)


def test_the_refused_user_keeps_the_other_services(fakes, share):
    for n in range(2):
        youtube(f"a{n}", user_id=1)
    answer = fanout_search(query="a9", services=["itunes", "soundcloud", "youtube"], limit=3, user_id=1)
    assert [answer[name]["status"] for name in ("itunes", "soundcloud", "youtube")] == ["ok", "ok", "unavailable"]
    assert answer["youtube"]["error"] == "user quota exceeded" and answer["youtube"]["results"] == []


def test_the_share_is_of_the_configured_daily_units(settings):
    settings.QL_YOUTUBE_DAILY_UNITS = 10_000
    settings.QL_YOUTUBE_USER_SHARE = 20.0
    assert user_share_units() == 2000
    settings.QL_YOUTUBE_USER_SHARE = 12.5
    assert user_share_units() == 1250


def test_the_share_is_exact_not_rounded_down_by_floating_point(fakes, settings):
    """4.6 % of 50,000 is 2,300 units, 23 searches (in floating point 2,299.99…: 22)."""
    settings.QL_YOUTUBE_DAILY_UNITS = 50_000
    settings.QL_YOUTUBE_USER_SHARE = 4.6
    assert user_share_units() == 2300
    seen = [youtube(f"a{n}", user_id=1) for n in range(24)]
    assert seen == [("ok", False, None)] * 23 + [EXCEEDED]
    assert spent(1) == 2300


def test_a_cached_answer_costs_nothing_and_is_still_served_past_the_share(fakes, share):
    assert youtube("shared", user_id=2) == ("ok", False, None)
    for n in range(2):
        youtube(f"a{n}", user_id=1)
    assert youtube("shared", user_id=1) == ("ok", True, None)
    assert youtube("shared", user_id=3) == ("ok", True, None)
    assert (spent(1), spent(2), spent(3)) == (200, 100, 0)
    assert fakes.youtube.calls == 3


def test_a_follower_of_another_users_flight_spends_nothing_even_past_its_share(fakes, share):
    for n in range(2):
        youtube(f"a{n}", user_id=1)
    fakes.youtube.answer(delay=0.4)
    leader = {}
    thread = threading.Thread(target=lambda: leader.update(answer=youtube("same", user_id=2)))
    thread.start()
    wait_until(lambda: fakes.youtube.active > 0, timeout=5, interval=0.005, what="user 2's call upstream")
    follower = youtube("same", user_id=1)
    thread.join(timeout=5)
    assert leader["answer"] == ("ok", False, None)
    assert follower == ("ok", True, None)
    assert fakes.youtube.calls == 3
    assert (spent(1), spent(2)) == (200, 100)


def test_concurrent_identical_queries_of_two_users_spend_one_search(fakes, share):
    fakes.youtube.answer(delay=0.3)
    barrier = threading.Barrier(6)
    answers = []

    def one(user_id):
        barrier.wait(timeout=5)
        answers.append(youtube("same", user_id=user_id))

    threads = [threading.Thread(target=one, args=(1 + n % 2,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(answers) == [("ok", False, None)] + [("ok", True, None)] * 5
    assert spent(1) + spent(2) == SEARCH_UNITS
    assert fakes.youtube.calls == 1


def test_a_refused_caller_leaves_no_flight_behind(fakes, share):
    """A user past their share may not lead: the flight it opened is released, not ended with
    its refusal (which would be handed to other users waiting on the same query)."""
    for n in range(2):
        youtube(f"a{n}", user_id=1)
    assert youtube("same", user_id=1) == EXCEEDED
    assert get_redis().get(keys.search_flight("youtube", 3, _qhash("same"))) is None
    assert youtube("same", user_id=2) == ("ok", False, None)
    assert (spent(1), spent(2)) == (200, 100)


def test_the_whole_quota_spent_still_reads_quota_exceeded_for_everyone(fakes, share):
    for n in range(2):
        youtube(f"a{n}", user_id=1)
    fakes.youtube.answer(status=403, body=sample("youtube_quota_exceeded.json"))
    assert youtube("b0", user_id=2) == ("unavailable", False, "quota exceeded")
    assert youtube("a9", user_id=1) == ("unavailable", False, "quota exceeded")


def test_a_failed_call_still_spends_its_units(fakes, share):
    """Google counts invalid requests too: units are spent when the call is sent."""
    fakes.youtube.answer(status=500, raw=b"")
    youtube("a0", user_id=1)
    assert spent(1) == SEARCH_UNITS


def test_a_call_not_sent_for_lack_of_share_spends_nothing_more(fakes, share):
    for n in range(5):
        youtube(f"a{n}", user_id=1)
    assert spent(1) == 200


def test_without_a_user_nothing_is_counted(fakes, share):
    """Internal callers (no request) are not charged to anyone."""
    for n in range(3):
        assert youtube(f"a{n}", user_id=None) == ("ok", False, None)
    assert not list(get_redis().scan_iter(match=keys.search_user_units("youtube", "*", "*")))


# --- the day ---------------------------------------------------------------------------------
PST_LATE = datetime(2026, 1, 15, 7, 59, 0, tzinfo=timezone.utc)  # 23:59 PST, Jan 14


def test_the_quota_day_is_the_pacific_date():
    assert quota_day(PST_LATE) == "2026-01-14"
    assert quota_day(PST_LATE + timedelta(minutes=1)) == "2026-01-15"
    assert quota_day(datetime(2026, 7, 1, 6, 59, tzinfo=timezone.utc)) == "2026-06-30"  # 23:59 PDT
    assert quota_day(datetime(2026, 7, 1, 7, 0, tzinfo=timezone.utc)) == "2026-07-01"


def test_the_count_starts_again_on_the_next_pacific_day(settings):
    take = dict(service="youtube", user_id=7, units=100, cap=200)
    assert [user_units_charge(**take, now=PST_LATE) for _ in range(3)] == [True, True, False]
    next_day = PST_LATE + timedelta(minutes=1)
    assert [user_units_charge(**take, now=next_day) for _ in range(3)] == [True, True, False]
    assert user_units_spent(service="youtube", user_id=7, now=PST_LATE) == 200
    assert user_units_spent(service="youtube", user_id=7, now=next_day) == 200


def test_a_days_count_expires_after_that_day_ends():
    user_units_charge(service="youtube", user_id=7, units=100, cap=200, now=PST_LATE)
    ttl = get_redis().ttl(keys.search_user_units("youtube", "2026-01-14", "7"))
    assert abs(ttl - (seconds_until_quota_reset(PST_LATE) + SECONDS_KEPT_AFTER_RESET)) <= 2


def test_a_take_at_midnight_reads_the_clock_once(monkeypatch):
    """The day named in the key and its expiry come from one reading of the clock: a take
    across midnight must not name the ending day and keep it for the whole next day."""
    from search import quota

    readings = iter([PST_LATE + timedelta(seconds=59, microseconds=999_000),   # 23:59:59.999
                     PST_LATE + timedelta(seconds=60, microseconds=1_000)])     # 00:00:00.001

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return next(readings)

    monkeypatch.setattr(quota, "datetime", Clock)
    assert user_units_charge(service="youtube", user_id=7, units=100, cap=200)
    ttl = get_redis().ttl(keys.search_user_units("youtube", "2026-01-14", "7"))
    assert 0 < ttl <= 1 + SECONDS_KEPT_AFTER_RESET


def test_yesterdays_spent_share_does_not_hold_today(fakes, share):
    yesterday = quota_day(datetime.now(timezone.utc) - timedelta(days=1))
    get_redis().set(keys.search_user_units("youtube", yesterday, "1"), 200)
    assert youtube("a0", user_id=1) == ("ok", False, None)
    assert spent(1) == SEARCH_UNITS


def test_the_count_is_in_redis_so_every_worker_shares_it(fakes, share):
    """What another worker (any process on this Redis) counted holds here."""
    get_redis().set(keys.search_user_units("youtube", quota_day(), "1"), 200)
    assert youtube("a0", user_id=1) == EXCEEDED
    assert fakes.youtube.calls == 0


# --- through the API -------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_api_charges_the_authenticated_user(api, user, fakes, share):
    from django.contrib.auth import get_user_model

    other = APIClient()
    other_user = get_user_model().objects.create_user("other")
    other.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=other_user).key}")
    seen = [api.get(URL, {"q": f"a{n}", "services": "youtube"}).json()["services"]["youtube"]
            for n in range(3)]
    assert [entry["status"] for entry in seen] == ["ok", "ok", "unavailable"]
    assert seen[2]["error"] == "user quota exceeded" and seen[2]["results"] == []
    assert other.post(URL, {"query": "b0", "services": ["youtube"]}, format="json"
                      ).json()["services"]["youtube"]["status"] == "ok"
    assert (spent(user.pk), spent(other_user.pk)) == (200, 100)


def _qhash(query):
    from search.query import normalize_query, query_hash

    return query_hash(normalize_query(query))
