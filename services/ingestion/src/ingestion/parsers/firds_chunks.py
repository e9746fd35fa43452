"""A large FIRDS file cut into standalone XML documents of whole records, so several
processes can parse it at once.

lxml parses one document in one thread; a million-record FULINS file then waits on a
single core. FIRDS records are siblings under one report element and carry no CDATA, so
the file can be cut after a record's closing tag and each run of records wrapped in an
element that redeclares the namespaces in scope. lxml parses every piece; the header and
the trailer are parsed together, so a truncated or malformed file is still refused whole.
No library splits XML at element boundaries without parsing it, hence this module.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from lxml import etree

from ingestion.parsers.errors import MalformedXmlError
from ingestion.parsers.source import ZipLimits, is_zip, open_binary, xml_error

# The first record element: a full file's RefData or a delta file's FinInstrm.
_RECORD_START = re.compile(rb"<(?:([A-Za-z_][\w.\-]*):)?(RefData|FinInstrm)(?=[\s/>])")
_CLOSE_END = re.compile(rb"\s*>")
_DECLARATION = re.compile(rb"^\s*(<\?xml[^>]*\?>)")
WRAPPER = "secmaster-records"
# The header must show the first record within this many bytes.
HEADER_LIMIT = 1 << 20


@dataclass(frozen=True, slots=True)
class RecordChunk:
    """A standalone document holding whole records of the file: records `first_row`.. of
    the file, the first of them starting on line `first_line` of the file (line 1 of the
    document). Both are known for the file's first piece only: the splitter does not count
    the records and lines of the pieces before a piece (three passes over each piece, a
    second of the loading process at a million records). Whoever parses a piece counts
    them (PreparedChunk.rows_read and .lines), and the loader, which takes the pieces in
    order, has a piece parsed again, `numbered`, when its rejects must name their rows
    and lines (see instrument_bulk).

    The records of a plain file are not carried but read again by whoever builds the
    document (`document()`, in a parse worker): `span` says where they are, with their
    CRC-32, so they need not be copied through a pipe to the worker (a million-record file
    is 800 MB). Records from a zip member are carried in `body`."""

    head: bytes
    body: bytes | None
    tail: bytes
    first_row: int | None
    first_line: int | None
    span: tuple[str, int, int, int] | None = None  # path, offset, length, CRC-32

    def numbered(self, first_row: int, first_line: int) -> RecordChunk:
        """The same piece, its first row and line known."""
        return replace(self, first_row=first_row, first_line=first_line)

    def document(self) -> bytes:
        if self.body is not None:
            return self.head + self.body + self.tail
        if self.span is None:
            raise ValueError("a piece with neither its records nor where they are")
        path, offset, length, crc = self.span
        with open(path, "rb") as handle:
            body = os.pread(handle.fileno(), length, offset)
        if len(body) != length or zlib.crc32(body) != crc:
            raise ChangedWhileReading(f"{path}: bytes {offset}..{offset + length} changed")
        return self.head + body + self.tail


class ChangedWhileReading(Exception):
    """A piece's records are no longer in the file where and as they were found."""


class NotSplittable(Exception):
    """The file does not have the layout the splitter relies on; parse it whole instead."""


def _open_elements(path: Path, header: bytes) -> etree._Element:
    """The element the records sit in, parsed from the header (its namespaces in scope)."""
    parser = etree.XMLPullParser(
        events=("start", "end"), resolve_entities=False, no_network=True, huge_tree=True
    )
    try:
        parser.feed(header)
    except etree.XMLSyntaxError as exc:
        raise xml_error(path, exc, at_end=False) from exc
    stack: list[etree._Element] = []
    for event, element in parser.read_events():
        if event == "start":
            stack.append(element)
        else:
            stack.pop()
    if not stack:
        raise NotSplittable("the records are not inside a report element")
    return stack[-1]


def _wrapper(container: etree._Element, declaration: bytes) -> tuple[bytes, bytes]:
    attributes = []
    for prefix, uri in container.nsmap.items():
        name = "xmlns" if prefix is None else f"xmlns:{prefix}"
        attributes.append(f'{name}="{uri}"'.encode())
    opening = b"<" + WRAPPER.encode() + b" " + b" ".join(attributes) + b">"
    return declaration + opening, b"</" + WRAPPER.encode() + b">"


def _closing_tag_end(buffer: bytes, closing: bytes, limit: int) -> int:
    """Offset just past the last complete closing record tag before `limit`, or -1."""
    position = buffer.rfind(closing, 0, limit)
    while position >= 0:
        match = _CLOSE_END.match(buffer, position + len(closing))
        if match is not None:
            return match.end()
        position = buffer.rfind(closing, 0, position)
    return -1


def iter_record_chunks(
    path: Path, limits: ZipLimits, *, chunk_bytes: int = 2 << 20
) -> Iterator[RecordChunk]:
    """The file's records as standalone documents of about `chunk_bytes` each, in order.

    Raises NotSplittable before yielding anything when the header is not the FIRDS layout,
    and the InputFileError of a truncated or malformed file once the trailer is reached.
    """
    by_reference = not is_zip(path)  # a plain file's pieces are read again by the workers
    with open_binary(path, limits) as stream:
        yield from _split(path, stream, chunk_bytes, by_reference=by_reference, limits=limits)


def _split(
    path: Path, stream: IO[bytes], chunk_bytes: int, *, by_reference: bool, limits: ZipLimits
) -> Iterator[RecordChunk]:
    buffer = b""
    while (match := _RECORD_START.search(buffer)) is None:
        block = stream.read(chunk_bytes)
        if not block or len(buffer) > HEADER_LIMIT:
            raise NotSplittable("no FIRDS record near the start of the file")
        buffer += block
    header = buffer[: match.start()].removeprefix(b"\xef\xbb\xbf")
    prefix, name = match.group(1), match.group(2)
    closing = b"</" + (prefix + b":" if prefix else b"") + name
    container = _open_elements(path, header)
    declared = _DECLARATION.match(header)
    opening, ending = _wrapper(container, declared.group(1) if declared else b"")
    buffer = buffer[match.start() :]
    offset = match.start()  # of `buffer` in the file
    first: tuple[int, int] | None = (1, header.count(b"\n") + 1)  # the first piece's row, line
    exhausted = False
    while True:
        if not exhausted and len(buffer) < chunk_bytes:
            block = stream.read(chunk_bytes)
            if block:
                buffer += block
                continue
            exhausted = True
        cut = _closing_tag_end(buffer, closing, len(buffer) if exhausted else chunk_bytes)
        if cut < 0:
            if exhausted:
                break
            # a record longer than one chunk: read on until it closes
            block = stream.read(chunk_bytes)
            if not block:
                exhausted = True
            buffer += block
            continue
        records = buffer[:cut]
        row, line = first if first is not None else (None, None)
        first = None
        if by_reference:
            span = (str(path), offset, cut, zlib.crc32(records))
            yield RecordChunk(opening, None, ending, row, line, span)
        else:
            yield RecordChunk(opening, records, ending, row, line)
        buffer = buffer[cut:]
        offset += cut
    _check_trailer(path, header, buffer, lambda: _line_at(path, limits, offset))


def _check_trailer(
    path: Path, header: bytes, trailer: bytes, trailer_line: Callable[[], int]
) -> None:
    """The header and what follows the last record must close into one document."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    try:
        etree.fromstring(header + trailer, parser)
    except etree.XMLSyntaxError as exc:
        raise MalformedXmlError(
            path,
            f"the XML after the last complete record does not close the document "
            f"({exc.msg}); the file looks truncated or damaged",
            where=f"line {trailer_line()}",
            fix="Download the file again",
        ) from exc


def _line_at(path: Path, limits: ZipLimits, offset: int) -> int:
    """The line of the file (of its zip member) that byte `offset` lies on, counted from the
    start (the splitter counts no lines; this is asked for an error's place only)."""
    lines = 1
    with open_binary(path, limits) as stream:
        while offset > 0:
            block = stream.read(min(offset, 1 << 20))
            if not block:
                break
            lines += block.count(b"\n")
            offset -= len(block)
    return lines
