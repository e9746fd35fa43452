"""Rules that turn a holding row's raw identifier fields into checked identifiers.

A holding keeps its position when at least one identifier of the security is usable;
every value left out is kept as a `FieldIssue` naming why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ingestion.domain.identifiers import (
    CASH_PLACEHOLDER_CUSIPS,
    Scheme,
    detect_scheme,
    is_not_available,
    normalize,
    validate,
)
from ingestion.domain.reasons import Reason
from ingestion.domain.records import FieldIssue, HoldingIdentifiers, Reject

_SCHEME_FIELDS: dict[str, Scheme] = {
    "cusip": Scheme.CUSIP,
    "isin": Scheme.ISIN,
    "sedol": Scheme.SEDOL,
    "lei": Scheme.LEI,
    "figi": Scheme.FIGI,
}


@dataclass(slots=True)
class CheckedIdentifiers:
    identifiers: HoldingIdentifiers
    issues: list[FieldIssue] = field(default_factory=list)
    is_cash: bool = False

    @property
    def usable(self) -> bool:
        return self.is_cash or bool(self.identifiers.security_ids())

    def reject(self, row: int) -> Reject:
        """The quarantine entry for a row none of whose identifiers could be used."""
        if self.issues:
            why = "; ".join(f"{i.field} {i.value!r}: {i.reason}" for i in self.issues)
        else:
            why = "the row carries no identifier"
        return Reject(row=row, reason=Reason.NO_USABLE_IDENTIFIER, detail=why)


def check_identifiers(
    raw: Mapping[str, str | None], *, other: Iterable[tuple[str, str]] = ()
) -> CheckedIdentifiers:
    """Check each raw field (`cusip`, `isin`, `sedol`, `lei`, `figi`, `ticker`, `identifier`).

    `identifier` is a column of unknown scheme: its shape decides, and a value shaped like no
    scheme is taken as a ticker. `other` are (description, value) pairs such as N-PORT's
    "Trade Identifier"; they are kept as given because no public scheme checks them.
    """
    kept: dict[str, str] = {}
    issues: list[FieldIssue] = []
    is_cash = False
    for name, value in raw.items():
        if value is None or not value.strip():
            continue
        if name == "ticker":
            if not is_not_available(value):
                kept["ticker"] = value.strip()
            continue
        scheme = _SCHEME_FIELDS.get(name)
        if name == "identifier":
            scheme = detect_scheme(value)
            if scheme is None:
                if is_not_available(value):
                    continue
                kept.setdefault("ticker", value.strip())
                continue
        if scheme is None:
            continue
        verdict = validate(value, scheme)
        if verdict.valid and verdict.normalized:
            kept.setdefault(scheme.value.lower(), verdict.normalized)
            continue
        if normalize(value) in CASH_PLACEHOLDER_CUSIPS:
            is_cash = True
        if verdict.reason is Reason.EMPTY:
            continue
        issues.append(
            FieldIssue(
                field=scheme.value.lower(),
                value=value.strip(),
                reason=verdict.reason or Reason.BAD_FORMAT,
                detail=verdict.detail,
            )
        )
    others = {desc or "other": val.strip() for desc, val in other if val and val.strip()}
    return CheckedIdentifiers(
        identifiers=HoldingIdentifiers(other=others, **kept), issues=issues, is_cash=is_cash
    )
