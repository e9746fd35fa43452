"""A generic instruments CSV (ISIN/CUSIP/SEDOL/FIGI, name, currency, MIC, CFI, optional
record type and validity), and the same checks for raw records submitted on a topic."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from ingestion.domain.field_checks import issue_of, parsed_or_issue, valid_or_issue
from ingestion.domain.identifiers import (
    Scheme,
    Verdict,
    validate,
    validate_cfi,
    validate_currency,
    validate_mic,
)
from ingestion.domain.reasons import Reason
from ingestion.domain.records import FieldIssue, FirdsRecordType, Instrument, ParsedItem, Reject
from ingestion.domain.values import parse_date, parse_datetime_utc
from ingestion.parsers.source import ZipLimits
from ingestion.parsers.tabular import find_header, iter_rows, resolve_columns

INSTRUMENT_COLUMNS: dict[str, Sequence[str]] = {
    "isin": ("isin",),
    "cusip": ("cusip",),
    "sedol": ("sedol",),
    "figi": ("figi", "composite_figi"),
    "name": ("name", "full_name", "security_name", "description"),
    "currency": ("currency", "ccy"),
    "mic": ("mic", "exchange_mic"),
    "cfi": ("cfi", "cfi_code"),
    "record_type": ("record_type", "change"),
    "valid_from": ("valid_from", "first_trade_date"),
    "valid_to": ("valid_to", "termination_date"),
}
# A descriptive column is required too, so a data row holding the word "ISIN" is no header.
INSTRUMENT_REQUIRED = (("isin", "cusip", "sedol", "figi"), ("name", "currency", "mic", "cfi"))
_ID_SCHEMES = {
    "isin": Scheme.ISIN,
    "cusip": Scheme.CUSIP,
    "sedol": Scheme.SEDOL,
    "figi": Scheme.FIGI,
}
# What a row may say it is, in FIRDS delta terms or in our event's terms.
_RECORD_TYPES = {
    "new": FirdsRecordType.NEW,
    "created": FirdsRecordType.NEW,
    "modified": FirdsRecordType.MODIFIED,
    "terminated": FirdsRecordType.TERMINATED,
    "cancelled": FirdsRecordType.CANCELLED,
}
_CODE_CHECKS: dict[str, Callable[[str], Verdict]] = {
    "currency": validate_currency,
    "mic": validate_mic,
    "cfi": validate_cfi,
}


def iter_records(
    path: Path,
    limits: ZipLimits,
    *,
    columns: Mapping[str, Sequence[str]] | None = None,
    encoding: str | None = None,
) -> Iterator[ParsedItem]:
    """One Instrument or Reject per non-blank row; a row needs one usable identifier."""
    aliases = dict(INSTRUMENT_COLUMNS) | {k: tuple(v) for k, v in (columns or {}).items()}
    rows = iter_rows(path, limits, encoding)
    header = find_header(path, rows, aliases, INSTRUMENT_REQUIRED, what="instruments")

    for number, cells in rows:
        if not any(cells):
            continue

        def get(field: str, cells: Sequence[str] = cells) -> str | None:
            index = header.columns.get(field)
            return cells[index] or None if index is not None and index < len(cells) else None

        yield instrument_from_fields(number, get)


def instrument_from_record(record: Mapping[str, Any], *, row: int = 1) -> Instrument | Reject:
    """A raw record (a message on `instruments.submitted.v1`) judged exactly like a CSV row:
    its keys are matched against the same column aliases."""
    keys = [str(k) for k in record]
    columns = resolve_columns(keys, INSTRUMENT_COLUMNS)

    def get(field: str) -> str | None:
        index = columns.get(field)
        if index is None:
            return None
        value = record[keys[index]]
        return str(value).strip() or None if value is not None else None

    return instrument_from_fields(row, get)


_VALIDITY = ("valid_from", "valid_to")


def instrument_from_fields(number: int, get: Callable[[str], str | None]) -> Instrument | Reject:
    """Validate one row's fields (read through `get`); a row needs one usable identifier."""
    ids: dict[str, str] = {}
    issues: list[FieldIssue] = []
    for field, scheme in _ID_SCHEMES.items():
        raw = get(field)
        if raw is None:
            continue
        verdict = validate(raw, scheme)
        if verdict.valid and verdict.normalized:
            ids[field] = verdict.normalized
        elif verdict.reason is not Reason.EMPTY:
            issues.append(issue_of(field, raw, verdict))
    if not ids:
        why = "; ".join(f"{i.field} {i.value!r}: {i.reason}" for i in issues) or "no identifier"
        return Reject(row=number, reason=Reason.NO_USABLE_IDENTIFIER, detail=f"row {number}: {why}")
    codes = {
        field: valid_or_issue(issues, field, get(field), check)
        for field, check in _CODE_CHECKS.items()
    }
    kind = get("record_type")
    record_type: FirdsRecordType | None = None
    if kind is not None:
        record_type = _RECORD_TYPES.get(kind.strip().lower())
        if record_type is None:
            return Reject(
                row=number,
                reason=Reason.BAD_FORMAT,
                detail=f"row {number}: record type {kind!r} is not one of "
                f"{', '.join(sorted(_RECORD_TYPES))}",
            )
    validity = {
        field: parsed_or_issue(issues, field, get(field), _timestamp) for field in _VALIDITY
    }
    isin = ids.pop("isin", None)
    return Instrument(
        row=number,
        isin=isin,
        mic=codes["mic"],
        full_name=get("name"),
        cfi=codes["cfi"],
        currency=codes["currency"],
        record_type=record_type,
        valid_from=validity["valid_from"],
        valid_to=validity["valid_to"],
        other_ids=ids,
        issues=issues,
    )


def _timestamp(text: str) -> datetime:
    """A date or an ISO timestamp; a bare date is taken as midnight UTC."""
    if "T" in text:
        return parse_datetime_utc(text)
    return datetime.combine(parse_date(text), time(), tzinfo=UTC)
