"""Streaming parsers for every supported input format, with format detection.

`parse_file` returns a `ParsedFile` whose `items` iterator yields one record or one reject per
input row/record, lazily; a file that cannot be parsed raises an `InputFileError` subclass,
possibly only when iteration reaches the broken part (a truncated file).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ingestion.domain.records import Holding, Instrument, ParsedItem, Reject
from ingestion.parsers import firds, holdings_table, instruments_table, nport, thirteenf
from ingestion.parsers.errors import (
    ArchiveTooLargeError,
    EmptyFileError,
    InputFileError,
    MalformedXmlError,
    MissingColumnsError,
    UnknownFormatError,
    WrongEncodingError,
)
from ingestion.parsers.source import (
    CHUNK_BYTES,
    DEFAULT_ZIP_LIMITS,
    ZipLimits,
    ensure_not_empty,
    open_binary,
)
from ingestion.parsers.tabular import HEADER_SEARCH_ROWS, is_xlsx, resolve_columns

__all__ = [
    "FORMATS",
    "ArchiveTooLargeError",
    "EmptyFileError",
    "InputFileError",
    "MalformedXmlError",
    "MissingColumnsError",
    "ParsedFile",
    "UnknownFormatError",
    "WrongEncodingError",
    "ZipLimits",
    "detect_format",
    "parse_file",
]

FORMATS = ("firds", "13f", "nport", "etf", "instruments", "holdings")

_ROOT_ELEMENT = re.compile(rb"<([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")


@dataclass
class ParsedFile:
    """What a file holds: its format, facts from its header, and its rows as they are read.

    `portfolio_id`/`as_of` are the file-level defaults holdings carry: the caller's values, else
    what the file says (13F filer CIK and period, N-PORT series id and report date, SPDR fund
    ticker and banner date); None when neither says.
    """

    path: Path
    format: str
    metadata: dict[str, str]
    items: Iterator[ParsedItem]
    portfolio_id: str | None = None
    as_of: date | None = None

    def collect(self) -> tuple[list[Instrument | Holding], list[Reject]]:
        """Read every row: (records, rejects). Raises InputFileError if the file breaks midway."""
        records: list[Instrument | Holding] = []
        rejects: list[Reject] = []
        for item in self.items:
            if isinstance(item, Reject):
                rejects.append(item)
            else:
                records.append(item)
        return records, rejects


def _root_element(head: bytes) -> str | None:
    text = re.sub(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", b"", head, flags=re.DOTALL)
    match = _ROOT_ELEMENT.search(text)
    return match.group(2).decode("ascii") if match else None


def detect_format(path: Path | str, *, zip_limits: ZipLimits = DEFAULT_ZIP_LIMITS) -> str:
    """The format name of a file, judged from its first bytes (or, for a zip, its member's)."""
    path = Path(path)
    ensure_not_empty(path)
    if is_xlsx(path):
        return "etf"
    with open_binary(path, zip_limits) as stream:
        head = stream.read(CHUNK_BYTES)
    stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not stripped:
        raise EmptyFileError(path, "the file holds only blank space")
    if thirteenf.is_sec_submission(stripped):
        match = re.search(rb"CONFORMED SUBMISSION TYPE:\s*(\S+)", stripped)
        kind = match.group(1).decode("latin-1") if match else "unknown"
        if kind.startswith("13F"):
            return "13f"
        raise UnknownFormatError(
            path,
            f"an EDGAR submission of type {kind}; only 13F submissions are read as .txt",
            fix="For N-PORT, parse the filing's primary XML document",
        )
    if stripped.startswith(b"<"):
        return _xml_format(path, stripped)
    if b"\x00" in head:
        raise UnknownFormatError(
            path, "a binary file that is neither a zip nor an xlsx", fix=f"Formats: {FORMATS}"
        )
    return _table_format(path, head)


def _xml_format(path: Path, head: bytes) -> str:
    root = _root_element(head)
    if root in {"BizData", "Document", "FinInstrmRptgRefDataRpt", "FinInstrmRptgRefDataDltaRpt"}:
        if re.search(rb"auth\.0(17|36)|FinInstrmRptgRefData", head):
            return "firds"
    if root == "informationTable":
        return "13f"
    if root == "edgarSubmission":
        if b"edgar/nport" in head:
            return "nport"
        if b"thirteenffiler" in head:
            return "13f"
    raise UnknownFormatError(
        path,
        f"XML with root element <{root}> is not a supported format",
        fix=f"Supported: {', '.join(FORMATS)}; pass --format if the file is one of them",
    )


def _table_format(path: Path, head: bytes) -> str:
    text = head.decode("utf-8", errors="replace")
    lines = text.splitlines()[:HEADER_SEARCH_ROWS]
    for number, cells in enumerate(csv.reader(lines), start=1):
        cells = [c.strip() for c in cells]
        etf_cols = resolve_columns(cells, holdings_table.ETF_COLUMNS)
        if _satisfies(etf_cols, holdings_table.ETF_REQUIRED) and (
            number > 1 or "weight_pct" in etf_cols
        ):
            return "etf"
        if _satisfies(
            resolve_columns(cells, holdings_table.HOLDINGS_COLUMNS),
            holdings_table.HOLDINGS_REQUIRED,
        ):
            return "holdings"
        if _satisfies(
            resolve_columns(cells, instruments_table.INSTRUMENT_COLUMNS),
            instruments_table.INSTRUMENT_REQUIRED,
        ):
            return "instruments"
    raise UnknownFormatError(
        path,
        "no header row of a known table format in the first 30 lines",
        fix=f"Supported: {', '.join(FORMATS)}; pass --format and a column mapping",
    )


def _satisfies(columns: Mapping[str, int], required: Sequence[Sequence[str]]) -> bool:
    return all(any(f in columns for f in group) for group in required)


def parse_file(
    path: Path | str,
    format: str | None = None,
    *,
    portfolio_id: str | None = None,
    as_of: date | None = None,
    columns: Mapping[str, Sequence[str]] | None = None,
    encoding: str | None = None,
    zip_limits: ZipLimits = DEFAULT_ZIP_LIMITS,
) -> ParsedFile:
    """Open `path` as `format` (detected when None) and stream its records and rejects.

    `portfolio_id`/`as_of` fill holdings whose file does not say them (13F: filer CIK and
    report period; N-PORT: series id and report date; SPDR: fund ticker and banner date).
    `columns` maps our field names to header names for tables with their own headings.
    Header facts are read now, so a file with a bad header fails here, not midway.
    """
    path = Path(path)
    ensure_not_empty(path)
    chosen = format.lower() if format else detect_format(path, zip_limits=zip_limits)
    if chosen not in FORMATS:
        raise UnknownFormatError(
            path, f"unknown format {format!r}", fix=f"Use one of: {', '.join(FORMATS)}"
        )
    items: Iterator[ParsedItem]
    metadata: dict[str, str]
    if chosen == "firds":
        metadata = firds.read_metadata(path, zip_limits)
        items = firds.iter_records(path, zip_limits)
    elif chosen == "13f":
        metadata = thirteenf.read_metadata(path, zip_limits)
        items = thirteenf.iter_records(
            path, zip_limits, metadata=metadata, portfolio_id=portfolio_id, as_of=as_of
        )
    elif chosen == "nport":
        metadata = nport.read_metadata(path, zip_limits)
        items = nport.iter_records(
            path, zip_limits, metadata=metadata, portfolio_id=portfolio_id, as_of=as_of
        )
    elif chosen in {"etf", "holdings"}:
        etf = chosen == "etf"
        metadata = holdings_table.read_metadata(
            path, zip_limits, etf=etf, columns=columns, encoding=encoding
        )
        items = holdings_table.iter_records(
            path,
            zip_limits,
            etf=etf,
            metadata=metadata,
            portfolio_id=portfolio_id,
            as_of=as_of,
            columns=columns,
            encoding=encoding,
        )
    else:
        metadata = {}
        items = instruments_table.iter_records(path, zip_limits, columns=columns, encoding=encoding)
    return ParsedFile(
        path=path,
        format=chosen,
        metadata=metadata,
        items=items,
        portfolio_id=portfolio_id or _file_portfolio(chosen, metadata),
        as_of=as_of or _file_as_of(chosen, metadata),
    )


def _file_portfolio(fmt: str, metadata: Mapping[str, str]) -> str | None:
    keys = {"13f": ("cik",), "nport": ("series_id", "registrant_cik"), "etf": ("fund_ticker",)}
    return next((metadata[k] for k in keys.get(fmt, ()) if metadata.get(k)), None)


def _file_as_of(fmt: str, metadata: Mapping[str, str]) -> date | None:
    key = {"13f": "report_period", "nport": "report_period", "etf": "as_of"}.get(fmt)
    return date.fromisoformat(metadata[key]) if key and metadata.get(key) else None
