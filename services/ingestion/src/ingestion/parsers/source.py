"""Opening input files as bounded byte streams: zip members behind a zip-bomb guard, and
XML fed chunk by chunk to lxml's pull parser with each record cleared once handled."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from lxml import etree

from ingestion.parsers.errors import (
    ArchiveTooLargeError,
    EmptyFileError,
    InputFileError,
    MalformedXmlError,
    WrongEncodingError,
)

CHUNK_BYTES = 1 << 16


@dataclass(frozen=True, slots=True)
class ZipLimits:
    """Caps on what a zip may expand to.

    ESMA's FULINS archives are split at 500,000 records (ESMA65-8-5014), well under 4 GiB
    unpacked, and XML compresses about 10-30 to 1; a ratio over 200 is a bomb, not a report.
    """

    max_uncompressed_bytes: int = 4 << 30
    max_ratio: float = 200.0


DEFAULT_ZIP_LIMITS = ZipLimits()


def ensure_not_empty(path: Path) -> None:
    if not path.exists():
        raise InputFileError(path, "no such file", fix="Check the path")
    if path.stat().st_size == 0:
        raise EmptyFileError(path, "the file is empty (0 bytes)", fix="Re-download or re-export it")


def is_zip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def _check_archive(path: Path, archive: zipfile.ZipFile, limits: ZipLimits) -> None:
    total = 0
    for info in archive.infolist():
        total += info.file_size
        packed = max(info.compress_size, 1)
        if info.file_size / packed > limits.max_ratio:
            raise ArchiveTooLargeError(
                path,
                f"member {info.filename} would expand {info.file_size / packed:,.0f} times "
                f"({info.file_size:,} bytes from {info.compress_size:,}); "
                f"the limit is {limits.max_ratio:,.0f} times",
                where=info.filename,
                fix="This looks like a zip bomb; unpack it yourself only if you trust its source",
            )
    if total > limits.max_uncompressed_bytes:
        raise ArchiveTooLargeError(
            path,
            f"the archive would expand to {total:,} bytes, over the limit of "
            f"{limits.max_uncompressed_bytes:,}",
            fix="Split the file or raise the limit",
        )


def check_archive(path: Path, limits: ZipLimits = DEFAULT_ZIP_LIMITS) -> None:
    """Refuse a zip (including an xlsx workbook) whose declared sizes exceed the limits."""
    try:
        with zipfile.ZipFile(path) as archive:
            _check_archive(path, archive, limits)
    except zipfile.BadZipFile as exc:
        raise InputFileError(path, f"not a readable zip archive: {exc}") from exc


def data_member(path: Path, archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    """The one data file inside a zip (ESMA ships one XML per archive)."""
    members = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__")]
    if len(members) != 1:
        names = ", ".join(i.filename for i in members[:5]) or "nothing"
        raise InputFileError(
            path,
            f"the zip holds {len(members)} files ({names}); expected exactly one",
            fix="Unzip it and parse the file you mean",
        )
    return members[0]


class _CountingReader:
    """Stops reading a zip member past its declared size or the cap, whatever the header said."""

    def __init__(self, path: Path, raw: IO[bytes], info: zipfile.ZipInfo, limits: ZipLimits):
        self._path = path
        self._raw = raw
        self._limit = min(
            limits.max_uncompressed_bytes, int(max(info.compress_size, 1) * limits.max_ratio)
        )
        self._read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._read += len(data)
        if self._read > self._limit:
            raise ArchiveTooLargeError(
                self._path,
                f"the member expanded past {self._limit:,} bytes while reading",
                fix="This looks like a zip bomb; unpack it yourself only if you trust its source",
            )
        return data


@contextmanager
def open_binary(path: Path, limits: ZipLimits = DEFAULT_ZIP_LIMITS) -> Iterator[IO[bytes]]:
    """The file's bytes, or those of the single data file inside a zip."""
    ensure_not_empty(path)
    if not is_zip(path):
        with path.open("rb") as handle:
            yield handle
        return
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise InputFileError(path, f"not a readable zip archive: {exc}") from exc
    with archive:
        _check_archive(path, archive, limits)
        info = data_member(path, archive)
        with archive.open(info) as raw:
            yield _CountingReader(path, raw, info, limits)  # type: ignore[misc]


def iter_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """Lines of a byte stream (each with its newline), read in bounded chunks."""
    pending = b""
    while chunk := stream.read(CHUNK_BYTES):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from (line + b"\n" for line in complete)
    if pending:
        yield pending


def iter_chunks(stream: IO[bytes]) -> Iterator[bytes]:
    """Chunks of the stream, with blank space before the first `<` dropped.

    Real files start with a blank line before `<?xml` (edgartools' 13F-HR.infotable.xml,
    NPORT.Dupree.xml), which libxml2 refuses; a UTF-8 byte order mark is dropped with it.
    """
    leading = True
    while chunk := stream.read(CHUNK_BYTES):
        if leading:
            chunk = chunk.removeprefix(b"\xef\xbb\xbf").lstrip()
            if not chunk:
                continue
            leading = False
        yield chunk


def xml_error(path: Path, exc: etree.XMLSyntaxError, *, at_end: bool) -> InputFileError:
    return xml_error_at(path, str(exc.msg or exc), exc.lineno, exc.offset, at_end=at_end)


def xml_error_at(
    path: Path, message: str, line: int | None, column: int | None, *, at_end: bool
) -> InputFileError:
    """The InputFileError for a parser's complaint `message` at `line`, `column`."""
    where = f"line {line}, column {column}" if line else None
    lowered = message.lower()
    if "encoding" in lowered or "utf-8" in lowered or "utf8" in lowered:
        return WrongEncodingError(
            path,
            f"bytes do not match the declared encoding: {message}",
            where=where,
            fix="Re-save the file in the encoding its XML declaration names (normally UTF-8)",
        )
    if at_end:
        return MalformedXmlError(
            path,
            f"the XML ends before it is complete ({message}); the file looks truncated",
            where=where,
            fix="Download the file again",
        )
    return MalformedXmlError(
        path,
        f"not well-formed XML: {message}",
        where=where,
        fix="Check that this is the file you meant",
    )


def iter_xml_elements(
    path: Path, chunks: Iterable[bytes], tags: Iterable[str]
) -> Iterator[etree._Element]:
    """Completed elements whose local name is in `tags`, in document order, streaming.

    Each element is cleared, and its already-handled siblings dropped, once the consumer asks
    for the next one, so memory stays flat whatever the file size. Entities are not resolved
    and nothing is fetched from the network (no XXE, no billion laughs).
    """
    parser = etree.XMLPullParser(
        events=("end",),
        tag=[f"{{*}}{t}" for t in tags],
        resolve_entities=False,
        no_network=True,
        huge_tree=True,
    )
    fed = False
    for chunk in chunks:
        fed = True
        try:
            parser.feed(chunk)
        except etree.XMLSyntaxError as exc:
            raise xml_error(path, exc, at_end=False) from exc
        for _event, element in parser.read_events():
            yield element
            _release(element)
    if not fed:
        raise EmptyFileError(path, "no XML content (only blank space)")
    try:
        parser.close()
    except etree.XMLSyntaxError as exc:
        raise xml_error(path, exc, at_end=True) from exc
    for _event, element in parser.read_events():
        yield element
        _release(element)


def _release(element: etree._Element) -> None:
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def local_name(tag: str) -> str:
    return tag.rpartition("}")[2]
