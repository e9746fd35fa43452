"""How the emulator answers one mapping job or one search/filter request from its seed:
validation first (error), then recorded answers, then filtering of known rows (warning
when nothing is left), optionally synthetic rows for benchmarks."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from secmaster_emulators.openfigi.identifiers import figi_check_digit, is_valid_id_value
from secmaster_emulators.openfigi.seed import FigiRow, OpenFigiSeed, full_row

# Live `GET /v3/mapping/values/idType` (2023-04-25 and 2025-09-30): 28 values.
ID_TYPES = frozenset(
    "BARCLAYS_TICKER BASE_TICKER COMPOSITE_ID_BB_GLOBAL ID_BB ID_BB_8_CHR ID_BB_GLOBAL "
    "ID_BB_GLOBAL_SHARE_CLASS_LEVEL ID_BB_SEC_NUM_DES ID_BB_UNIQUE ID_CINS ID_COMMON ID_CUSIP "
    "ID_CUSIP_8_CHR ID_EXCH_SYMBOL ID_FULL_EXCHANGE_SYMBOL ID_ISIN ID_ITALY ID_SEDOL "
    "ID_SHORT_CODE ID_TRACE ID_WERTPAPIER OCC_SYMBOL OPRA_SYMBOL TICKER TRADEBOOK_TICKER "
    "TRADING_SYSTEM_IDENTIFIER UNIQUE_ID_FUT_OPT VENDOR_INDEX_CODE".split()
)

NO_MATCH = {"warning": "No identifier found."}
BAD_ID_TYPE = {"error": "Invalid value for idType."}
BAD_ID_VALUE = {"error": "Invalid idValue format."}

# Filters a row can be checked against by itself; micCode goes through the seed's MIC table.
_ROW_FILTERS = {
    "exchCode": "exchCode",
    "securityType": "securityType",
    "securityType2": "securityType2",
    "marketSecDes": "marketSector",
}
_FIGI_ALPHABET = "BCDFGHJKLMNPQRSTVWXYZ0123456789"


def _canonical(filters: dict[str, Any]) -> str:
    return json.dumps(filters, sort_keys=True, separators=(",", ":"))


class Catalog:
    def __init__(self, seed: OpenFigiSeed, *, synthesize: bool = False) -> None:
        self.seed = seed
        self.synthesize = synthesize
        self._exact: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._rows: dict[tuple[str, str], list[FigiRow]] = {}
        self._negative: set[tuple[str, str]] = set()
        for entry in seed.mappings:
            if entry.data is not None:
                answer: dict[str, Any] = {"data": [full_row(r) for r in entry.data]}
            elif entry.error is not None:
                answer = {"error": entry.error}
            else:
                answer = {"warning": entry.warning or NO_MATCH["warning"]}
            self._exact.setdefault((entry.idType, entry.idValue, _canonical(entry.filters)), answer)
            ident = (entry.idType, entry.idValue)
            if entry.data:
                rows = self._rows.setdefault(ident, [])
                known = {r["figi"] for r in rows}
                # Unfiltered answers hold every listing, so they lead the merged list.
                merged = [full_row(r) for r in entry.data if r["figi"] not in known]
                self._rows[ident] = merged + rows if not entry.filters else rows + merged
            elif entry.warning is not None and not entry.filters:
                self._negative.add(ident)
        self._universe: dict[str, FigiRow] = {}
        for rows in self._rows.values():
            for row in rows:
                self._universe.setdefault(row["figi"], row)
        for query in seed.queries:
            for row in query.rows:
                self._universe.setdefault(row["figi"], full_row(row))

    def answer(self, job: dict[str, Any]) -> dict[str, Any]:
        id_type = job.get("idType")
        raw_value = job.get("idValue")
        if not isinstance(id_type, str) or id_type not in ID_TYPES:
            return BAD_ID_TYPE
        if isinstance(raw_value, bool) or not isinstance(raw_value, str | int):
            return BAD_ID_VALUE
        id_value = str(raw_value)
        if not is_valid_id_value(id_type, id_value):
            return BAD_ID_VALUE
        filters = {k: v for k, v in job.items() if k not in ("idType", "idValue")}
        exact = self._exact.get((id_type, id_value, _canonical(filters)))
        if exact is not None:
            return exact
        rows = self._rows.get((id_type, id_value))
        if rows:
            kept = [row for row in rows if self._row_matches(row, filters)]
            return {"data": kept} if kept else NO_MATCH
        if self.synthesize and (id_type, id_value) not in self._negative:
            row = synthetic_row(id_type, id_value)
            return {"data": [row]} if self._row_matches(row, filters) else NO_MATCH
        return NO_MATCH

    def _row_matches(self, row: FigiRow, filters: dict[str, Any]) -> bool:
        for name, value in filters.items():
            if name in _ROW_FILTERS and row.get(_ROW_FILTERS[name]) != value:
                return False
            if name == "micCode" and value in self.seed.mic_exch_codes:
                if row.get("exchCode") != self.seed.mic_exch_codes[value]:
                    return False
        return True

    def query(self, endpoint: str, body: dict[str, Any]) -> tuple[list[FigiRow], int | None]:
        """All rows answering a search/filter request (before paging) and a recorded total."""
        filters = {k: v for k, v in body.items() if k not in ("query", "start")}
        query = body.get("query")
        for recorded in self.seed.queries:
            if (
                recorded.endpoint == endpoint
                and recorded.query == query
                and _canonical(recorded.filters) == _canonical(filters)
            ):
                rows = [full_row(r) for r in recorded.rows]
                return rows, recorded.total
        needle = query.lower() if isinstance(query, str) else ""
        rows = [
            row
            for row in self._universe.values()
            if self._row_matches(row, filters)
            and (
                not needle
                or any(
                    needle in str(row.get(k) or "").lower()
                    for k in ("name", "ticker", "securityDescription")
                )
            )
        ]
        if endpoint == "filter":
            # /v3/filter answers are sorted by FIGI ([SCHEMA]; the recorded pages agree).
            rows.sort(key=lambda r: r["figi"])
        return rows, None


def synthetic_row(id_type: str, id_value: str) -> FigiRow:
    """A deterministic, well-formed (check digit valid) but made-up listing, for benchmarks
    that need more identifiers than any recording holds. Names say SYNTHETIC."""
    digest = hashlib.sha256(f"{id_type}:{id_value}".encode()).digest()
    body = "".join(_FIGI_ALPHABET[b % len(_FIGI_ALPHABET)] for b in digest[:8])
    figi = "BBG" + body + figi_check_digit("BBG" + body)
    share = "BBG" + body[::-1] + figi_check_digit("BBG" + body[::-1])
    ticker = id_value if id_type == "TICKER" else "SYN" + body[:4]
    return full_row(
        {
            "figi": figi,
            "name": f"SYNTHETIC {id_value}",
            "ticker": ticker,
            "exchCode": "US",
            "compositeFIGI": figi,
            "securityType": "Common Stock",
            "marketSector": "Equity",
            "shareClassFIGI": share,
            "securityType2": "Common Stock",
            "securityDescription": ticker,
        }
    )
