"""Parsing of dates, timestamps and numbers as they appear in filings and holdings files."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

_DATE_FORMATS = ("%Y-%m-%d", "%m-%d-%Y", "%Y%m%d", "%d-%b-%Y", "%b %d, %Y", "%m/%d/%Y")


def parse_date(text: str) -> date:
    """A calendar date in the layouts real files use.

    ISO (FIRDS, N-PORT), MM-DD-YYYY (13F cover page), YYYYMMDD (EDGAR headers),
    DD-Mon-YYYY (SPDR banner), "Apr 06, 2023" (iShares) and MM/DD/YYYY.
    Raises ValueError naming the text when none fits.
    """
    cleaned = text.strip()
    if "T" in cleaned:
        return parse_datetime_utc(cleaned).date()
    if len(cleaned) == 10 and cleaned[4] == "-":
        try:
            return date.fromisoformat(cleaned)  # the common case, far cheaper than strptime
        except ValueError:
            pass
    for layout in _DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, layout).date()
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date in a known layout")


def parse_datetime_utc(text: str) -> datetime:
    """An ISO 8601 timestamp as timezone-aware UTC; FIRDS writes `2018-01-30T00:23:09.705Z`.

    A bare date becomes midnight UTC; a timestamp without offset is taken as UTC.
    """
    cleaned = text.strip()
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an ISO 8601 timestamp") from exc
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_decimal(text: str) -> Decimal:
    """A number, allowing thousands separators and surrounding spaces ("21,749,937,094.76")."""
    cleaned = text.strip().replace(",", "")
    try:
        number = Decimal(cleaned)
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not a number") from exc
    if not number.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    return number
