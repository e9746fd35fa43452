"""Instrument validity history keyed by (ISIN, MIC): what a record changes, and whether it
changes anything at all (the rule that makes re-ingesting a file publish nothing new)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol

from ingestion.domain.records import FirdsRecordType, Instrument

# A venue-less record (a generic instruments CSV without a MIC) is stored under this MIC.
NO_VENUE = ""

Change = Literal["created", "modified", "terminated", "cancelled"]


class InstrumentStatus(StrEnum):
    """The state a version of an (ISIN, MIC) records."""

    ACTIVE = "active"
    TERMINATED = "terminated"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class CurrentVersion:
    """The latest stored version of one (ISIN, MIC): just enough to decide on a new record."""

    version: int
    status: InstrumentStatus
    content_hash: str


@dataclass(frozen=True, slots=True)
class InstrumentVersion:
    """A version to store (and announce) for one (ISIN, MIC)."""

    isin: str
    mic: str
    version: int
    status: InstrumentStatus
    change: Change
    content_hash: str
    record: Instrument

    @property
    def valid_from(self) -> datetime | None:
        return self.record.valid_from

    @property
    def valid_to(self) -> datetime | None:
        return self.record.valid_to


def key_of(record: Instrument) -> tuple[str, str]:
    """(ISIN, MIC) of a record that has an ISIN."""
    if record.isin is None:
        raise ValueError("an instrument without ISIN has no (ISIN, MIC) key")
    return record.isin, record.mic or NO_VENUE


def status_for(record_type: FirdsRecordType | None) -> InstrumentStatus:
    """A FIRDS termination closes validity, a cancellation voids the record (ESMA65-8-5014
    §2: a cancelled record was reported in error); anything else is a live instrument."""
    if record_type is FirdsRecordType.TERMINATED:
        return InstrumentStatus.TERMINATED
    if record_type is FirdsRecordType.CANCELLED:
        return InstrumentStatus.CANCELLED
    return InstrumentStatus.ACTIVE


def status_of(record: Instrument) -> InstrumentStatus:
    return status_for(record.record_type)


def change_for(status: InstrumentStatus, *, known: bool) -> Change:
    """The change a new version announces: it follows the new state; a live record is
    `created` when its key had no version yet, else `modified`."""
    if status is InstrumentStatus.TERMINATED:
        return "terminated"
    if status is InstrumentStatus.CANCELLED:
        return "cancelled"
    return "modified" if known else "created"


class Described(Protocol):
    """What a record says of an instrument, as Instrument and a FIRDS bulk record hold it."""

    @property
    def full_name(self) -> str | None: ...
    @property
    def short_name(self) -> str | None: ...
    @property
    def cfi(self) -> str | None: ...
    @property
    def currency(self) -> str | None: ...
    @property
    def issuer_lei(self) -> str | None: ...
    @property
    def competent_authority(self) -> str | None: ...


def content_digest(
    record: Described,
    status: InstrumentStatus,
    *,
    valid_from: str,
    valid_to: str,
    expiry: str,
    other_ids: str,
) -> str:
    """A digest of what a version says about the instrument; dates as ISO texts ("" when
    absent). Publication periods and row numbers are left out: every FIRDS file restates
    them, and they say when ESMA published the data, not anything about the instrument."""
    parts = (
        status,  # a StrEnum joins as its value (reading .value costs more than the join)
        record.full_name or "",
        record.short_name or "",
        record.cfi or "",
        record.currency or "",
        record.issuer_lei or "",
        valid_from,
        valid_to,
        expiry,
        record.competent_authority or "",
        other_ids,
    )
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def content_hash(record: Instrument, status: InstrumentStatus) -> str:
    """`content_digest` of an Instrument."""
    valid_from, valid_to, expiry = record.valid_from, record.valid_to, record.expiry_date
    return content_digest(
        record,
        status,
        valid_from=valid_from.isoformat() if valid_from is not None else "",
        valid_to=valid_to.isoformat() if valid_to is not None else "",
        expiry=expiry.isoformat() if expiry is not None else "",
        other_ids=other_ids_text(record.other_ids),
    )


def other_ids_text(other_ids: dict[str, str]) -> str:
    return "|".join(f"{k}={v}" for k, v in sorted(other_ids.items()))


def next_version(record: Instrument, current: CurrentVersion | None) -> InstrumentVersion | None:
    """The version `record` adds to the history, or None when it restates the current one."""
    isin, mic = key_of(record)
    status = status_of(record)
    digest = content_hash(record, status)
    if current is not None and current.content_hash == digest:
        return None
    return InstrumentVersion(
        isin=isin,
        mic=mic,
        version=1 if current is None else current.version + 1,
        status=status,
        change=change_for(status, known=current is not None),
        content_hash=digest,
        record=record,
    )
