"""Row streaming for CSV, TSV and xlsx files, and locating the header row below a banner."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from ingestion.parsers.errors import InputFileError, MissingColumnsError, WrongEncodingError
from ingestion.parsers.source import ZipLimits, check_archive, is_zip, iter_lines, open_binary

# How far down a banner may push the header: iShares puts 9 preamble lines above it.
HEADER_SEARCH_ROWS = 30

Row = tuple[int, list[str]]


def column_key(header: str) -> str:
    """Header text reduced to lower-case letters and digits, so 'Shares Held' == 'shares_held'."""
    return re.sub(r"[^a-z0-9]", "", header.lower())


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value).strip()


def is_xlsx(path: Path) -> bool:
    if not is_zip(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def iter_rows(
    path: Path, limits: ZipLimits, encoding: str | None = None
) -> Generator[Row, None, None]:
    """(1-based row number, cells) for every row of the file, streamed."""
    if is_xlsx(path):
        yield from _xlsx_rows(path, limits)
        return
    yield from _text_rows(path, limits, encoding)


def _xlsx_rows(path: Path, limits: ZipLimits) -> Iterator[Row]:
    check_archive(path, limits)
    # a file object, not the name: openpyxl refuses names without an xlsx suffix
    with path.open("rb") as handle:
        try:
            import openpyxl  # only for xlsx files: it costs 0.4 s to import (parse workers)

            workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many unrelated types for a broken workbook
            raise InputFileError(path, f"not a readable xlsx workbook: {exc}") from exc
        try:
            sheet = workbook.active
            if sheet is None:
                raise InputFileError(path, "the workbook has no sheet")
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                yield number, [_cell(v) for v in values]
        finally:
            workbook.close()


def _text_rows(path: Path, limits: ZipLimits, encoding: str | None) -> Iterator[Row]:
    chosen = encoding or "utf-8-sig"
    number = 0
    with open_binary(path, limits) as stream:
        text = io.TextIOWrapper(stream, encoding=chosen, errors="strict", newline="")
        try:
            head = text.readline()
            delimiter = "\t" if head.count("\t") > head.count(",") else ","
            reader = csv.reader(_prepend(head, text), delimiter=delimiter)
            for number, cells in enumerate(reader, start=1):
                yield number, [c.strip() for c in cells]
        except UnicodeDecodeError as exc:
            line = _first_undecodable_line(path, limits, chosen)
            raise WrongEncodingError(
                path,
                f"the bytes are not {chosen}: {exc.reason} ({exc.object[exc.start : exc.end]!r})",
                where=f"line {line}" if line else f"after row {number}",
                fix="Re-save the file as UTF-8, or name its encoding (e.g. --encoding cp1252)",
            ) from exc
        except csv.Error as exc:
            raise InputFileError(
                path, f"not a readable CSV: {exc}", where=f"row {number + 1}"
            ) from exc


def _first_undecodable_line(path: Path, limits: ZipLimits, encoding: str) -> int | None:
    """The 1-based line holding the first byte sequence the encoding rejects (error path only)."""
    with open_binary(path, limits) as stream:
        for number, raw in enumerate(iter_lines(stream), start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError:
                return number
    return None


def _prepend(first: str, rest: io.TextIOWrapper) -> Iterator[str]:
    yield first
    yield from rest


def read_head_rows(path: Path, limits: ZipLimits, count: int = HEADER_SEARCH_ROWS) -> list[Row]:
    rows: list[Row] = []
    for row in iter_rows(path, limits):
        rows.append(row)
        if len(rows) >= count:
            break
    return rows


@dataclass(frozen=True, slots=True)
class Header:
    row: int
    columns: dict[str, int]  # our field name -> cell index
    banner: list[str]


def resolve_columns(cells: Sequence[str], aliases: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Map our field names to cell positions, trying each field's header aliases in turn."""
    keys = [column_key(c) for c in cells]
    found: dict[str, int] = {}
    for field, names in aliases.items():
        for name in names:
            key = column_key(name)
            if key in keys:
                found[field] = keys.index(key)
                break
    return found


def find_header(
    path: Path,
    rows: Iterator[Row],
    aliases: Mapping[str, Sequence[str]],
    required: Sequence[Sequence[str]],
    *,
    what: str,
) -> Header:
    """Consume rows until the header; `required` lists groups of which one field must be there.

    Rows above the header (a banner) are returned as text so callers can read dates from them.
    """
    banner: list[str] = []
    best: tuple[int, list[str]] | None = None
    for number, cells in rows:
        columns = resolve_columns(cells, aliases)
        if all(any(f in columns for f in group) for group in required):
            return Header(number, columns, banner)
        if best is None and any(cells):
            best = (number, cells)
        banner.extend(c for c in cells if c)
        if number >= HEADER_SEARCH_ROWS:
            break
    wanted = " and ".join("/".join(group) for group in required)
    seen = (
        f"first non-blank row {best[0]}: {', '.join(c for c in best[1] if c)[:200]}" if best else ""
    )
    raise MissingColumnsError(
        path,
        f"no header row with {wanted} columns in the first {HEADER_SEARCH_ROWS} rows of this "
        f"{what} file",
        where=seen or None,
        fix="Name the columns in a header row, or pass a column mapping",
    )
