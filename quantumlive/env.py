"""Strict readers of environment variables: a bad value stops start-up with a clear message."""

import os
import re

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envstr(name: str, default: str) -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0/true/false/yes/no/on/off")


def envint(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}")
    return value


def envfloat(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ImproperlyConfigured(f"{name} must be finite")
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}")
    return value


def envlist(name: str, default: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


_DIGITS = re.compile(r"[0-9]{1,9}")
_DECIMAL = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,9})?")
_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60,
            "h": 3600, "hour": 3600, "d": 86_400, "day": 86_400}


def envrate(name: str, default: str) -> tuple[int, int] | None:
    """A call rate `<calls>/<period>` (period: s/sec/second, m/min/minute, h/hour, d/day,
    plural allowed) as (calls, seconds), or None for `off`."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        raw = default
    value = raw.strip().lower()
    if value == "off":
        return None
    calls, slash, period = value.partition("/")
    calls, period = calls.strip(), period.strip()
    if period.endswith("s") and period[:-1] in _PERIODS and len(period) > 2:
        period = period[:-1]
    if not slash or not _DIGITS.fullmatch(calls) or period not in _PERIODS or int(calls) < 1:
        raise ImproperlyConfigured(
            f"{name} must be <calls>/<second|minute|hour|day> with calls >= 1 (e.g. 20/min), or off")
    return int(calls), _PERIODS[period]


def envpercent(name: str, default: float) -> float:
    """A percentage above 0 and at most 100, written `20`, `20%` or `12.5 %`."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    number = raw.strip().removesuffix("%").strip()
    # Plain ASCII decimals only: float() would also read 1e1, 1_0, +20 and non-ASCII digits.
    value = float(number) if _DECIMAL.fullmatch(number) else float("nan")
    if not 0 < value <= 100:  # NaN fails this too
        raise ImproperlyConfigured(f"{name} must be a percentage above 0 and at most 100 (e.g. 20%)")
    return value


def envnetworks(name: str, default: str) -> list[str]:
    """Comma-separated IP addresses and CIDR networks (`127.0.0.1`, `::1`, `10.0.0.0/8`), as
    their normalized networks' text; a value that is neither stops start-up."""
    import ipaddress

    networks = []
    for part in envlist(name, default):
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {part!r} is neither an IP address nor a CIDR network") from None
    return networks
