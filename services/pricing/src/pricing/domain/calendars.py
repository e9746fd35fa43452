"""Exchange sessions (dates, opens, closes, early closes) from exchange-calendars, and
which calendar a provider's exchange name or time zone means."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    import exchange_calendars

# Yahoo's meta.exchangeName codes (yfinance and Yahoo's own exchange list) to ISO MICs
# that exchange-calendars knows; "CCC" is Yahoo's crypto pseudo-exchange, trading 24/7.
YAHOO_EXCHANGES = {
    "NMS": "XNAS",
    "NGM": "XNAS",
    "NCM": "XNAS",
    "NAS": "XNAS",
    "NYQ": "XNYS",
    "ASE": "XASE",
    "PCX": "ARCX",
    "BTS": "BATS",
    "LSE": "XLON",
    "GER": "XETR",
    "FRA": "XFRA",
    "PAR": "XPAR",
    "AMS": "XAMS",
    "TOR": "XTSE",
    "JPX": "XTKS",
    "HKG": "XHKG",
    "CCC": "24/7",
}

# When only a time zone is known, the main cash-equity calendar of that zone.
TIMEZONE_CALENDARS = {
    "America/New_York": "XNYS",
    "US/Eastern": "XNYS",
    "Europe/London": "XLON",
    "Europe/Berlin": "XETR",
    "Europe/Paris": "XPAR",
    "Europe/Amsterdam": "XAMS",
    "America/Toronto": "XTSE",
    "Asia/Tokyo": "XTKS",
    "Asia/Hong_Kong": "XHKG",
    "UTC": "24/7",
}

# OpenFIGI `exchCode`s (Bloomberg exchange codes, as in reference.securities.v1) to the
# exchange-calendars code of their cash session; "US" is the composite of the US venues.
FIGI_EXCHANGES = {
    **dict.fromkeys(("US", "UN", "UW", "UQ", "UR", "UA", "UP", "UF", "UV"), "XNYS"),
    **dict.fromkeys(("LN", "LI"), "XLON"),
    **dict.fromkeys(("GY", "GR", "GF"), "XETR"),
    "FP": "XPAR",
    "NA": "XAMS",
    "CT": "XTSE",
    **dict.fromkeys(("JT", "JP"), "XTKS"),
    "HK": "XHKG",
}

# The Lean reference prices start in 1998; exchange-calendars refuses dates outside the
# bounds a calendar was built with (its default is only 20 years back).
_CALENDAR_START = "1995-01-01"


def calendar_code_for(
    *,
    exchange: str | None = None,
    timezone_name: str | None = None,
    figi_exchange: str | None = None,
) -> str:
    """The exchange-calendars code for a Yahoo exchange name, an OpenFIGI exchCode or,
    failing those, a time zone (default: the NYSE)."""
    if exchange and exchange.upper() in YAHOO_EXCHANGES:
        return YAHOO_EXCHANGES[exchange.upper()]
    if figi_exchange and figi_exchange.upper() in FIGI_EXCHANGES:
        return FIGI_EXCHANGES[figi_exchange.upper()]
    if timezone_name and timezone_name in TIMEZONE_CALENDARS:
        return TIMEZONE_CALENDARS[timezone_name]
    return "XNYS"


@contextmanager
def _library_quiet() -> Iterator[None]:
    """exchange-calendars reads `Series.values` on tz-aware data, which pandas 3.1 flags
    with a Pandas4Warning; the values it reads are right, the warning is not ours."""
    with warnings.catch_warnings():
        try:
            from pandas.errors import Pandas4Warning
        except ImportError:  # pandas < 3.1 does not warn
            yield
            return
        warnings.simplefilter("ignore", Pandas4Warning)
        yield


@dataclass(frozen=True)
class SessionCalendar:
    """Trading sessions of one exchange, answering in plain dates and UTC datetimes."""

    code: str
    _calendar: Any

    @property
    def first_date(self) -> date:
        return self._calendar.first_session.date()  # type: ignore[no-any-return]

    @property
    def last_date(self) -> date:
        return self._calendar.last_session.date()  # type: ignore[no-any-return]

    def sessions(self, start: date, end: date) -> list[date]:
        lo, hi = max(start, self.first_date), min(end, self.last_date)
        if lo > hi:
            return []
        with _library_quiet():
            index = self._calendar.sessions_in_range(lo.isoformat(), hi.isoformat())
        return [ts.date() for ts in index]

    def is_session(self, day: date) -> bool:
        if not self.first_date <= day <= self.last_date:
            return False
        with _library_quiet():
            return bool(self._calendar.is_session(day.isoformat()))

    def open_close(self, day: date) -> tuple[datetime, datetime]:
        """UTC open and close of the session on `day` (early closes included)."""
        with _library_quiet():
            opened = self._calendar.session_open(day.isoformat()).to_pydatetime()
            closed = self._calendar.session_close(day.isoformat()).to_pydatetime()
        return opened.astimezone(UTC), closed.astimezone(UTC)

    @property
    def timezone(self) -> str:
        """The exchange's IANA time zone (trading dates are local dates in it)."""
        return str(self._calendar.tz.key)

    def trading_date_of(self, instant: datetime) -> date:
        """The exchange-local calendar date of a UTC instant."""
        return instant.astimezone(ZoneInfo(self.timezone)).date()

    def day_bounds(self, start: date, end: date) -> tuple[datetime, datetime]:
        """UTC instants of local midnight starting `start` and ending `end`: [lo, hi)."""
        tz = ZoneInfo(self.timezone)
        lo = datetime.combine(start, time(), tzinfo=tz)
        hi = datetime.combine(end + timedelta(days=1), time(), tzinfo=tz)
        return lo.astimezone(UTC), hi.astimezone(UTC)


@lru_cache(maxsize=16)
def session_calendar(code: str) -> SessionCalendar:
    """A cached calendar by code (building one costs ~0.1 s)."""
    import exchange_calendars as xcals  # deferred: importing pandas costs ~1.5 s

    with _library_quiet():
        calendar: exchange_calendars.ExchangeCalendar = xcals.get_calendar(
            code, start=_CALENDAR_START
        )
    return SessionCalendar(code=code, _calendar=calendar)
