"""ISO 10383 market identifier codes and ISO 4217 currency codes, read from package data.

The tables are static run-time data shipped with the package (see `ingestion/data/SOURCE.md`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib.resources import files


class MicKind(StrEnum):
    OPERATING = "OPRT"
    SEGMENT = "SGMT"


@dataclass(frozen=True, slots=True)
class MarketIdentifier:
    """One row of the ISO 10383 list."""

    mic: str
    operating_mic: str
    kind: MicKind
    country: str
    status: str
    lei: str | None

    @property
    def expired(self) -> bool:
        return self.status == "EXPIRED"


def _read_table(name: str) -> list[dict[str, str]]:
    text = files("ingestion").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@cache
def market_identifiers() -> dict[str, MarketIdentifier]:
    """Every MIC of the ISO 10383 list, keyed by MIC (operating and segment MICs alike)."""
    return {
        row["mic"]: MarketIdentifier(
            mic=row["mic"],
            operating_mic=row["operating_mic"],
            kind=MicKind(row["kind"]),
            country=row["country"],
            status=row["status"],
            lei=row["lei"] or None,
        )
        for row in _read_table("iso10383_mic.csv")
    }


@cache
def currency_codes() -> dict[str, bool]:
    """ISO 4217 alphabetic codes mapped to whether the code is still active (False: withdrawn)."""
    return {row["code"]: row["status"] == "active" for row in _read_table("iso4217_currency.csv")}
