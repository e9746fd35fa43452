"""A generic instruments CSV: ISIN/CUSIP/SEDOL/FIGI, name, currency, MIC and CFI columns."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from ingestion.domain.identifiers import (
    Scheme,
    Verdict,
    validate,
    validate_cfi,
    validate_currency,
    validate_mic,
)
from ingestion.domain.reasons import Reason
from ingestion.domain.records import FieldIssue, Instrument, ParsedItem, Reject
from ingestion.parsers.source import ZipLimits
from ingestion.parsers.tabular import find_header, iter_rows

INSTRUMENT_COLUMNS: dict[str, Sequence[str]] = {
    "isin": ("isin",),
    "cusip": ("cusip",),
    "sedol": ("sedol",),
    "figi": ("figi", "composite_figi"),
    "name": ("name", "full_name", "security_name", "description"),
    "currency": ("currency", "ccy"),
    "mic": ("mic", "exchange_mic"),
    "cfi": ("cfi", "cfi_code"),
}
# A descriptive column is required too, so a data row holding the word "ISIN" is no header.
INSTRUMENT_REQUIRED = (("isin", "cusip", "sedol", "figi"), ("name", "currency", "mic", "cfi"))
_ID_SCHEMES = {
    "isin": Scheme.ISIN,
    "cusip": Scheme.CUSIP,
    "sedol": Scheme.SEDOL,
    "figi": Scheme.FIGI,
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
                issues.append(_issue(field, raw, verdict))
        if not ids:
            why = "; ".join(f"{i.field} {i.value!r}: {i.reason}" for i in issues) or "no identifier"
            yield Reject(
                row=number, reason=Reason.NO_USABLE_IDENTIFIER, detail=f"row {number}: {why}"
            )
            continue
        codes: dict[str, str | None] = {}
        for field, check in _CODE_CHECKS.items():
            raw = get(field)
            codes[field] = None
            if raw is None:
                continue
            verdict = check(raw)
            if verdict.valid:
                codes[field] = verdict.normalized
            else:
                issues.append(_issue(field, raw, verdict))
        isin = ids.pop("isin", None)
        yield Instrument(
            row=number,
            isin=isin,
            mic=codes["mic"],
            full_name=get("name"),
            cfi=codes["cfi"],
            currency=codes["currency"],
            other_ids=ids,
            issues=issues,
        )


def _issue(field: str, value: str, verdict: Verdict) -> FieldIssue:
    return FieldIssue(
        field=field, value=value, reason=verdict.reason or Reason.BAD_FORMAT, detail=verdict.detail
    )
