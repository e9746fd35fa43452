"""Holdings from tables: ETF files as published (SPDR xlsx/csv, iShares csv, or any CSV with a
column mapping) and the simplest generic `identifier,quantity` holdings CSV."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path

from ingestion.domain.field_checks import valid_or_issue
from ingestion.domain.holdings import check_identifiers
from ingestion.domain.identifiers import validate_currency
from ingestion.domain.reasons import Reason
from ingestion.domain.records import Holding, ParsedItem, Reject
from ingestion.domain.values import parse_date, parse_decimal
from ingestion.parsers.source import ZipLimits
from ingestion.parsers.tabular import Header, find_header, iter_rows

_IDENTIFIER_FIELDS = ("identifier", "cusip", "isin", "sedol", "figi", "lei", "ticker")

# SSGA's SPDR files label the CUSIP column "Identifier"; iShares uses "Shares" or "Quantity".
ETF_COLUMNS: dict[str, Sequence[str]] = {
    "name": ("Name", "Security Name", "Security", "Description"),
    "ticker": ("Ticker", "Symbol", "Ticker Symbol"),
    "cusip": ("CUSIP", "Identifier"),
    "isin": ("ISIN",),
    "sedol": ("SEDOL",),
    "figi": ("FIGI",),
    "quantity": ("Shares Held", "Shares", "Quantity", "Par Value", "Position"),
    "value": ("Market Value", "Value"),
    "weight_pct": ("Weight", "Weight (%)", "Weight %", "% of Net Assets"),
    "currency": ("Local Currency", "Currency", "Market Currency"),
    "asset_category": ("Asset Class",),
}
ETF_REQUIRED = (("cusip", "isin", "sedol", "figi", "ticker"), ("quantity", "weight_pct"))

HOLDINGS_COLUMNS: dict[str, Sequence[str]] = {
    "identifier": ("identifier", "id", "security_id"),
    "cusip": ("cusip",),
    "isin": ("isin",),
    "sedol": ("sedol",),
    "figi": ("figi",),
    "ticker": ("ticker", "symbol"),
    "quantity": ("quantity", "shares", "qty"),
    "value": ("value", "market_value"),
    "currency": ("currency",),
    "portfolio_id": ("portfolio_id", "portfolio"),
    "as_of": ("as_of", "as_of_date", "date"),
    "name": ("name",),
}
HOLDINGS_REQUIRED = (("identifier", "cusip", "isin", "sedol", "figi", "ticker"), ("quantity",))

_AS_OF = re.compile(r"as of[:\s]*(.+)$", re.IGNORECASE)
_TICKER_LABEL = re.compile(r"^ticker symbol:?$", re.IGNORECASE)


def _banner_facts(banner: Sequence[str]) -> dict[str, str]:
    facts: dict[str, str] = {}
    for index, text in enumerate(banner):
        match = _AS_OF.search(text)
        if match and "as_of" not in facts:
            candidate = match.group(1).strip() or (
                banner[index + 1] if index + 1 < len(banner) else ""
            )
            try:
                facts["as_of"] = parse_date(candidate).isoformat()
            except ValueError:
                pass
        if _TICKER_LABEL.match(text) and index + 1 < len(banner):
            facts["fund_ticker"] = banner[index + 1]
    return facts


def read_metadata(
    path: Path,
    limits: ZipLimits,
    *,
    etf: bool,
    columns: Mapping[str, Sequence[str]] | None,
    encoding: str | None = None,
) -> dict[str, str]:
    """Header row position and banner facts (as-of date, fund ticker)."""
    aliases, required = _spec(etf, columns)
    rows = iter_rows(path, limits, encoding)
    header = find_header(path, rows, aliases, required, what=_what(etf))
    rows.close()
    facts = _banner_facts(header.banner)
    facts["header_row"] = str(header.row)
    return facts


def _what(etf: bool) -> str:
    return "ETF holdings" if etf else "holdings"


def _spec(
    etf: bool, columns: Mapping[str, Sequence[str]] | None
) -> tuple[dict[str, Sequence[str]], tuple[tuple[str, ...], ...]]:
    aliases = dict(ETF_COLUMNS if etf else HOLDINGS_COLUMNS)
    if columns:
        aliases |= {field: tuple(names) for field, names in columns.items()}
    return aliases, ETF_REQUIRED if etf else HOLDINGS_REQUIRED


def iter_records(
    path: Path,
    limits: ZipLimits,
    *,
    etf: bool,
    metadata: dict[str, str],
    portfolio_id: str | None,
    as_of: date | None,
    columns: Mapping[str, Sequence[str]] | None = None,
    encoding: str | None = None,
) -> Iterator[ParsedItem]:
    """One Holding or Reject per data row.

    For ETF files, rows with neither an identifier nor a quantity (banner text, the disclaimer
    footer, spacer rows) are not positions; their count lands in `metadata["note_rows"]`.
    """
    aliases, required = _spec(etf, columns)
    rows = iter_rows(path, limits, encoding)
    header = find_header(path, rows, aliases, required, what=_what(etf))
    if as_of is None and "as_of" in metadata:
        as_of = date.fromisoformat(metadata["as_of"])
    portfolio_id = portfolio_id or metadata.get("fund_ticker")
    notes = 0
    for number, cells in rows:
        if not any(cells):
            continue
        if etf and not _has_position(header, cells):
            notes += 1
            metadata["note_rows"] = str(notes)
            continue
        yield _holding(number, cells, header, portfolio_id, as_of)


def _get(header: Header, cells: Sequence[str], field: str) -> str | None:
    index = header.columns.get(field)
    if index is None or index >= len(cells):
        return None
    return cells[index] or None


def _has_position(header: Header, cells: Sequence[str]) -> bool:
    fields = (*_IDENTIFIER_FIELDS, "quantity")
    return any(_get(header, cells, f) not in (None, "-") for f in fields)


def _holding(
    row: int,
    cells: Sequence[str],
    header: Header,
    portfolio_id: str | None,
    as_of: date | None,
) -> ParsedItem:
    checked = check_identifiers({f: _get(header, cells, f) for f in _IDENTIFIER_FIELDS})
    if not checked.usable:
        return checked.reject(row)
    issues = list(checked.issues)
    numbers: dict[str, Decimal | None] = {}
    for field in ("quantity", "value", "weight_pct"):
        raw = _get(header, cells, field)
        try:
            numbers[field] = parse_decimal(raw) if raw not in (None, "-") else None
        except ValueError as exc:
            return Reject(row=row, reason=Reason.BAD_NUMBER, detail=f"row {row}, {field}: {exc}")
    if numbers["quantity"] is None and header.columns.get("quantity") is not None:
        return Reject(row=row, reason=Reason.MISSING_FIELD, detail=f"row {row} has no quantity")
    currency = _get(header, cells, "currency")
    currency = valid_or_issue(issues, "currency", currency, validate_currency)
    row_portfolio = _get(header, cells, "portfolio_id") or portfolio_id
    row_as_of = as_of
    raw_as_of = _get(header, cells, "as_of")
    if raw_as_of is not None:
        try:
            row_as_of = parse_date(raw_as_of)
        except ValueError as exc:
            return Reject(row=row, reason=Reason.BAD_DATE, detail=f"row {row}, as_of: {exc}")
    return Holding(
        row=row,
        portfolio_id=row_portfolio,
        as_of=row_as_of,
        identifiers=checked.identifiers,
        name=_get(header, cells, "name"),
        quantity=numbers["quantity"],
        value=numbers["value"],
        currency=currency,
        weight_pct=numbers["weight_pct"],
        asset_category="cash" if checked.is_cash else _get(header, cells, "asset_category"),
        is_cash=checked.is_cash,
        issues=issues,
    )
