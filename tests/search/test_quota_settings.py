"""QL_ITUNES_RATE, QL_YOUTUBE_USER_SHARE and QL_YOUTUBE_DAILY_UNITS are read strictly at
start: a bad value stops the process with a message naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from quantumlive.env import envint, envpercent, envrate

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("raw, rate", [
    ("20/min", (20, 60)), ("2/min", (2, 60)), ("2/minute", (2, 60)), ("5/s", (5, 1)),
    ("5/sec", (5, 1)), ("5/second", (5, 1)), ("100/h", (100, 3600)), ("100/hour", (100, 3600)),
    ("1000/day", (1000, 86_400)), ("1000/d", (1000, 86_400)), (" 3 / MIN ", (3, 60)),
    ("off", None), ("OFF", None),
])
def test_a_rate_reads_calls_per_period_or_off(monkeypatch, raw, rate):
    monkeypatch.setenv("QL_ITUNES_RATE", raw)
    assert envrate("QL_ITUNES_RATE", "20/min") == rate


def test_an_unset_or_empty_rate_is_the_default(monkeypatch):
    monkeypatch.delenv("QL_ITUNES_RATE", raising=False)
    assert envrate("QL_ITUNES_RATE", "20/min") == (20, 60)
    monkeypatch.setenv("QL_ITUNES_RATE", "")
    assert envrate("QL_ITUNES_RATE", "20/min") == (20, 60)


@pytest.mark.parametrize("raw", ["20", "20/", "/min", "0/min", "-1/min", "1.5/min", "20/fortnight",
                                 "20/min/x", "20 per min", "twenty/min", "20/mins2", "no", "2/5min"])
def test_a_bad_rate_is_refused_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("QL_ITUNES_RATE", raw)
    with pytest.raises(ImproperlyConfigured, match="QL_ITUNES_RATE"):
        envrate("QL_ITUNES_RATE", "20/min")


@pytest.mark.parametrize("raw, percent", [("20", 20.0), ("20%", 20.0), ("12.5 %", 12.5), ("100", 100.0),
                                          ("0.5", 0.5)])
def test_a_share_reads_a_percentage(monkeypatch, raw, percent):
    monkeypatch.setenv("QL_YOUTUBE_USER_SHARE", raw)
    assert envpercent("QL_YOUTUBE_USER_SHARE", 20.0) == percent


@pytest.mark.parametrize("raw", ["0", "0%", "101", "-5", "abc", "nan", "inf", "20%%", "%",
                                 # float() reads these; a percentage is plain ASCII decimal
                                 "1e1", "1_0", "\uff12\uff10", "+20", "0x14"])
def test_a_bad_share_is_refused_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("QL_YOUTUBE_USER_SHARE", raw)
    with pytest.raises(ImproperlyConfigured, match="QL_YOUTUBE_USER_SHARE"):
        envpercent("QL_YOUTUBE_USER_SHARE", 20.0)


def test_the_defaults(settings):
    assert (settings.QL_ITUNES_RATE, settings.QL_YOUTUBE_USER_SHARE, settings.QL_YOUTUBE_DAILY_UNITS) == (
        (20, 60), 20.0, 10_000)


@pytest.mark.parametrize("name, raw", [("QL_ITUNES_RATE", "20/fortnight"), ("QL_YOUTUBE_USER_SHARE", "150"),
                                       ("QL_YOUTUBE_DAILY_UNITS", "0"),
                                       ("QL_YOUTUBE_DAILY_UNITS", "499")])  # 20 % of it: not one search
def test_the_app_refuses_to_start_with_a_bad_value(name, raw):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QL_")}
    env.update({"DJANGO_SETTINGS_MODULE": "quantumlive.settings", name: raw})
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and name in result.stderr


def test_daily_units_must_be_a_positive_integer(monkeypatch):
    monkeypatch.setenv("QL_YOUTUBE_DAILY_UNITS", "0")
    with pytest.raises(ImproperlyConfigured, match="QL_YOUTUBE_DAILY_UNITS"):
        envint("QL_YOUTUBE_DAILY_UNITS", 10_000, minimum=1)
