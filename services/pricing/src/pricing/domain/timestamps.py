"""The four provider timestamp conventions, and strings-as-numbers, mapped to UTC instants
and exchange-local trading dates (spec providers.md section 10.2)."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

NEW_YORK = "America/New_York"

_NUMBER_NULLS = frozenset({"", "none", "null", "nan", "-", "n/a"})
_FRACTION = re.compile(r"\.(\d+)")


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """IANA zone by name; Alpha Vantage's "US/Eastern" is a tzdata link that resolves."""
    return ZoneInfo(name)


def parse_number(value: object) -> float | None:
    """A price or volume as float: Alpha Vantage, Twelve Data and FMP send strings
    ("134.9900"), Polygon exponent floats (1.12117471e+08), Yahoo nulls."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.lower() in _NUMBER_NULLS:
            return None
        try:
            number = float(text.replace(",", ""))
        except ValueError:
            return None
    else:
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def utc_from_epoch_s(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def utc_from_epoch_ms(millis: float) -> datetime:
    return datetime.fromtimestamp(millis / 1000.0, tz=UTC)


def parse_rfc3339(text: str) -> datetime:
    """Alpaca's `t` ("2022-02-01T05:00:00Z", sometimes with nanoseconds) as aware UTC."""
    cleaned = text.strip().replace("Z", "+00:00")
    # datetime.fromisoformat accepts at most 6 fractional digits; page tokens and some
    # feeds carry 9 (nanoseconds).
    cleaned = _FRACTION.sub(lambda m: "." + m.group(1)[:6], cleaned, count=1)
    parsed = datetime.fromisoformat(cleaned)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return parsed.astimezone(UTC)


def daily_trading_date(instant: datetime, timezone_name: str) -> date:
    """The exchange-local date of a daily bar's timestamp.

    Yahoo stamps daily bars at the session open, Polygon and Alpaca at local midnight;
    all land on the right local date. Yahoo sometimes stamps a daily bar at 22:00/23:00
    local of the previous day across a DST change (yfinance utils.fix_Yahoo_dst_issue
    shifts those forward), so late-evening stamps belong to the next day.
    """
    local = instant.astimezone(zone(timezone_name))
    if local.hour >= 20:
        return (local + timedelta(days=1)).date()
    return local.date()


def local_date(instant: datetime, timezone_name: str) -> date:
    """The exchange-local calendar date of an intraday instant."""
    return instant.astimezone(zone(timezone_name)).date()


def parse_local(text: str, timezone_name: str) -> tuple[date, datetime | None]:
    """A naive local string (AV, Twelve Data, FMP, Stooq): "YYYY-MM-DD" gives (date, None);
    "YYYY-MM-DD HH:MM[:SS]" gives (local date, UTC instant of that local wall time)."""
    stripped = text.strip()
    if len(stripped) == 10:
        return date.fromisoformat(stripped), None
    naive = datetime.fromisoformat(stripped.replace("T", " "))
    if naive.tzinfo is not None:
        return naive.astimezone(zone(timezone_name)).date(), naive.astimezone(UTC)
    # fold=0 picks the first of an ambiguous autumn hour; US sessions never fall there.
    aware = naive.replace(tzinfo=zone(timezone_name))
    return aware.date(), aware.astimezone(UTC)


def compact_date(text: str) -> date:
    """'20200828' (Lean, Stooq query parameters) as a date."""
    return date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
