"""The records parsers yield: instruments, holdings, and rejects that say which row and why."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from ingestion.domain.reasons import Reason


class FirdsRecordType(StrEnum):
    """The change a FIRDS delta (DLTINS) record announces (ESMA65-8-5014 §2)."""

    NEW = "new"
    MODIFIED = "modified"
    TERMINATED = "terminated"
    CANCELLED = "cancelled"


class FieldIssue(BaseModel):
    """A value the record kept out: named dirty data or a failed check, with its reason."""

    model_config = ConfigDict(frozen=True)

    field: str
    value: str
    reason: Reason
    detail: str | None = None


class Instrument(BaseModel):
    """Reference data for one instrument; from FIRDS the key is (ISIN, MIC).

    `record_type` is None for a record of a full file (FULINS) or a generic CSV: a snapshot,
    not a change. `valid_from`/`valid_to` are the venue's first trading and termination times.
    """

    model_config = ConfigDict(frozen=True)

    row: int
    isin: str | None
    mic: str | None = None
    full_name: str | None = None
    short_name: str | None = None
    cfi: str | None = None
    currency: str | None = None
    issuer_lei: str | None = None
    record_type: FirdsRecordType | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    publication_from: date | None = None
    publication_to: date | None = None
    expiry_date: date | None = None
    competent_authority: str | None = None
    other_ids: dict[str, str] = Field(default_factory=dict)
    issues: list[FieldIssue] = Field(default_factory=list)


class HoldingIdentifiers(BaseModel):
    """The identifiers a holding row carried that passed their checks."""

    model_config = ConfigDict(frozen=True)

    cusip: str | None = None
    isin: str | None = None
    sedol: str | None = None
    lei: str | None = None
    figi: str | None = None
    ticker: str | None = None
    other: dict[str, str] = Field(default_factory=dict)

    def security_ids(self) -> dict[str, str]:
        """Identifiers that name the security itself (an LEI names only its issuer)."""
        found = {
            name: value
            for name, value in (
                ("cusip", self.cusip),
                ("isin", self.isin),
                ("sedol", self.sedol),
                ("figi", self.figi),
                ("ticker", self.ticker),
            )
            if value
        }
        return found | {f"other:{desc}": value for desc, value in self.other.items()}


class Holding(BaseModel):
    """One position of a portfolio at a date.

    `quantity` is shares or principal (`quantity_unit`: SH/PRN in 13F, NS/PA/NC in N-PORT);
    `value` is the market value in `value_currency` (13F and N-PORT report US dollars);
    `currency` is the position's own currency.
    """

    model_config = ConfigDict(frozen=True)

    row: int
    portfolio_id: str | None = None
    as_of: date | None = None
    identifiers: HoldingIdentifiers
    name: str | None = None
    title: str | None = None
    quantity: Decimal | None = None
    quantity_unit: str | None = None
    value: Decimal | None = None
    value_currency: str | None = None
    currency: str | None = None
    weight_pct: Decimal | None = None
    asset_category: str | None = None
    put_call: str | None = None
    is_cash: bool = False
    issues: list[FieldIssue] = Field(default_factory=list)


class Reject(BaseModel):
    """An input row or record that produced no record: quarantined with a reason code."""

    model_config = ConfigDict(frozen=True)

    row: int
    reason: Reason
    detail: str


ParsedItem = Instrument | Holding | Reject
