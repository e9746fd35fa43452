"""SEC Form 13F holdings: the information table XML (any namespace prefix), the cover page,
and the complete EDGAR `.txt` submission that wraps both."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import IO

from lxml import etree

from ingestion.domain.holdings import check_identifiers
from ingestion.domain.reasons import Reason
from ingestion.domain.records import Holding, ParsedItem, Reject
from ingestion.domain.values import parse_date, parse_decimal
from ingestion.parsers.errors import MissingColumnsError
from ingestion.parsers.source import (
    ZipLimits,
    iter_chunks,
    iter_lines,
    iter_xml_elements,
    open_binary,
)

REQUIRED_COLUMNS = ("nameOfIssuer", "cusip", "value", "sshPrnamt")

# Filers reported VALUE in thousands of dollars until the SEC's amended Form 13F took effect
# for filings from 2023-01-03 (period 2022-12-31 onward); the XSD now says "nearest dollar".
DOLLAR_VALUES_FROM_PERIOD = date(2022, 12, 31)

_COVER_TAGS = (
    "periodOfReport",
    "reportCalendarOrQuarter",
    "cik",
    "reportType",
    "tableEntryTotal",
    "tableValueTotal",
    "infoTable",
)
_HEADER_FIELDS = {
    "CONFORMED PERIOD OF REPORT": "report_period",
    "CENTRAL INDEX KEY": "cik",
    "ACCESSION NUMBER": "accession_number",
    "CONFORMED SUBMISSION TYPE": "submission_type",
    "COMPANY CONFORMED NAME": "filer_name",
}
_HEADER_LINE = re.compile(rb"^\s*([A-Z][A-Z ]+):\s*(.*?)\s*$")


def is_sec_submission(head: bytes) -> bool:
    return head.lstrip().startswith((b"<SEC-DOCUMENT>", b"<SEC-HEADER>", b"<IMS-DOCUMENT>"))


def _xml_documents(lines: Iterator[bytes]) -> Iterator[tuple[str, Iterator[bytes]]]:
    """(document type, its XML lines) for each <DOCUMENT> holding <XML>; lazily, in order."""
    doc_type = ""

    def body() -> Iterator[bytes]:
        for line in lines:
            if line.strip().upper() == b"</XML>":
                return
            yield line

    for line in lines:
        stripped = line.strip()
        if stripped.upper().startswith(b"<TYPE>"):
            doc_type = stripped[6:].decode("latin-1").strip().upper()
        elif stripped.upper() == b"<XML>":
            section = body()
            yield doc_type, section
            for _ in section:  # skip whatever the consumer did not read
                pass


def _information_table_lines(stream: IO[bytes]) -> Iterator[bytes]:
    for doc_type, section in _xml_documents(iter_lines(stream)):
        if doc_type.startswith("INFORMATION TABLE"):
            yield from section


def _cover_metadata(path: Path, chunks: Iterator[bytes]) -> dict[str, str]:
    found: dict[str, str] = {}
    for element in iter_xml_elements(path, chunks, _COVER_TAGS):
        name = etree.QName(element).localname
        if name == "infoTable":
            break
        if element.text and element.text.strip():
            found.setdefault(name, element.text.strip())
    metadata: dict[str, str] = {}
    period = found.get("periodOfReport") or found.get("reportCalendarOrQuarter")
    if period:
        metadata["report_period"] = parse_date(period).isoformat()
    for source, target in (
        ("cik", "cik"),
        ("reportType", "report_type"),
        ("tableEntryTotal", "table_entry_total"),
        ("tableValueTotal", "table_value_total"),
    ):
        if source in found:
            metadata[target] = found[source]
    return metadata


def read_metadata(path: Path, limits: ZipLimits) -> dict[str, str]:
    """The report period (ISO date) and filer facts from the cover page or EDGAR header."""
    metadata: dict[str, str] = {}
    with open_binary(path, limits) as stream:
        head = stream.read(512)
    with open_binary(path, limits) as stream:
        if not is_sec_submission(head):
            return _cover_metadata(path, iter_chunks(stream))
        lines = iter_lines(stream)
        for line in lines:
            if line.strip() == b"</SEC-HEADER>":
                break
            match = _HEADER_LINE.match(line)
            if match and (key := _HEADER_FIELDS.get(match.group(1).decode().strip())):
                metadata.setdefault(key, match.group(2).decode("latin-1"))
        for doc_type, section in _xml_documents(lines):
            if not doc_type.startswith("INFORMATION TABLE"):
                cover = _cover_metadata(path, section)
                metadata |= {k: v for k, v in cover.items() if k not in metadata}
                break
    if "report_period" in metadata:
        metadata["report_period"] = parse_date(metadata["report_period"]).isoformat()
    return metadata


def iter_records(
    path: Path,
    limits: ZipLimits,
    *,
    metadata: dict[str, str],
    portfolio_id: str | None,
    as_of: date | None,
) -> Iterator[ParsedItem]:
    """One Holding or Reject per infoTable row; VALUE converted to dollars."""
    period = date.fromisoformat(metadata["report_period"]) if "report_period" in metadata else None
    as_of = as_of or period
    multiplier = Decimal(1000) if period and period < DOLLAR_VALUES_FROM_PERIOD else Decimal(1)
    portfolio_id = portfolio_id or metadata.get("cik")
    with open_binary(path, limits) as stream:
        head = stream.read(512)
    with open_binary(path, limits) as stream:
        if is_sec_submission(head):
            chunks: Iterator[bytes] = _information_table_lines(stream)
        else:
            chunks = iter_chunks(stream)
        rows = iter_xml_elements(path, chunks, ("infoTable",))
        for row, element in enumerate(rows, start=1):
            yield _holding(path, row, element, multiplier, portfolio_id, as_of)


def _holding(
    path: Path,
    row: int,
    element: etree._Element,
    multiplier: Decimal,
    portfolio_id: str | None,
    as_of: date | None,
) -> ParsedItem:
    fields: dict[str, str] = {}
    for child in element.iter():
        if isinstance(child.tag, str) and child.text and child.text.strip():
            fields[etree.QName(child).localname] = child.text.strip()
    missing = [c for c in REQUIRED_COLUMNS if c not in fields]
    if missing and row == 1:
        raise MissingColumnsError(
            path,
            f"the information table has no {', '.join(missing)} "
            f"(a 13F infoTable needs {', '.join(REQUIRED_COLUMNS)})",
            where=f"infoTable 1, XML line {element.sourceline}",
            fix="Check that this is a Form 13F information table",
        )
    if missing:
        return Reject(
            row=row,
            reason=Reason.MISSING_FIELD,
            detail=f"infoTable {row} (XML line {element.sourceline}) has no {', '.join(missing)}",
        )
    checked = check_identifiers({"cusip": fields.get("cusip"), "figi": fields.get("figi")})
    if not checked.usable:
        return checked.reject(row)
    try:
        value = parse_decimal(fields["value"]) * multiplier
        quantity = parse_decimal(fields["sshPrnamt"])
    except ValueError as exc:
        return Reject(row=row, reason=Reason.BAD_NUMBER, detail=f"infoTable {row}: {exc}")
    return Holding(
        row=row,
        portfolio_id=portfolio_id,
        as_of=as_of,
        identifiers=checked.identifiers,
        name=fields["nameOfIssuer"],
        title=fields.get("titleOfClass"),
        quantity=quantity,
        quantity_unit=fields.get("sshPrnamtType"),
        value=value,
        value_currency="USD",
        currency="USD",
        put_call=fields.get("putCall"),
        issues=checked.issues,
    )
