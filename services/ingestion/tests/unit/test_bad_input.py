"""Input that cannot be parsed fails with a typed error saying what and where."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from ingestion.parsers import (
    ArchiveTooLargeError,
    EmptyFileError,
    InputFileError,
    MalformedXmlError,
    MissingColumnsError,
    UnknownFormatError,
    WrongEncodingError,
    ZipLimits,
    parse_file,
)


def test_truncated_firds_file_names_the_line(reference_dir: Path, tmp_path: Path) -> None:
    data = (reference_dir / "firds" / "DLTINS_20210117_excerpt_25records.xml").read_bytes()
    cut = tmp_path / "DLTINS_cut.xml"
    cut.write_bytes(data[: len(data) // 2])
    parsed = parse_file(cut)
    with pytest.raises(MalformedXmlError) as caught:
        parsed.collect()
    assert "truncated" in str(caught.value)
    assert caught.value.where and caught.value.where.startswith("line ")
    assert caught.value.path == cut


def test_non_xml_file_given_as_firds(tmp_path: Path) -> None:
    path = tmp_path / "notes.xml"
    path.write_text("these are my notes, not XML\n", encoding="utf-8")
    with pytest.raises(MalformedXmlError) as caught:
        parse_file(path, "firds")
    assert "not well-formed XML" in str(caught.value)


def test_unknown_format_name_and_undetectable_file(tmp_path: Path) -> None:
    path = tmp_path / "readme.txt"
    path.write_text("hello\nworld\n", encoding="utf-8")
    with pytest.raises(UnknownFormatError) as by_name:
        parse_file(path, "bloomberg")
    assert "firds" in str(by_name.value)  # lists what is supported
    with pytest.raises(UnknownFormatError):
        parse_file(path)


def test_unsupported_xml_root_is_named(reference_dir: Path) -> None:
    with pytest.raises(UnknownFormatError) as caught:
        parse_file(reference_dir / "holdings" / "sec" / "eis_13FDocument.xsd")
    assert "<schema>" in str(caught.value)


def test_empty_and_blank_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(EmptyFileError):
        parse_file(empty)
    blank = tmp_path / "blank.xml"
    blank.write_bytes(b"\n\n   \n")
    with pytest.raises(EmptyFileError):
        parse_file(blank)


def test_wrong_encoding_in_csv_and_xml(tmp_path: Path) -> None:
    latin = tmp_path / "holdings.csv"
    latin.write_bytes("identifier,quantity,name\nUS0378331005,1,Soci\xe9t\xe9\n".encode("latin-1"))
    with pytest.raises(WrongEncodingError) as caught:
        parse_file(latin).collect()
    assert "--encoding" in str(caught.value)
    records, rejects = parse_file(latin, encoding="latin-1").collect()
    assert len(records) == 1 and rejects == []

    xml = tmp_path / "table.xml"
    xml.write_bytes(
        b'<?xml version="1.0" encoding="UTF-8"?><informationTable><infoTable>'
        b"<nameOfIssuer>SOCI\xc9T\xc9</nameOfIssuer></infoTable></informationTable>"
    )
    with pytest.raises(WrongEncodingError):
        parse_file(xml, "13f").collect()


def test_zip_bomb_is_refused_before_expanding(tmp_path: Path) -> None:
    bomb = tmp_path / "DLTINS_bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("DLTINS.xml", b"<a>" + b" " * (20 << 20) + b"</a>")
    with pytest.raises(ArchiveTooLargeError) as caught:
        parse_file(bomb, "firds")
    assert "zip bomb" in str(caught.value)


def test_zip_over_the_size_cap(reference_dir: Path, tmp_path: Path) -> None:
    archive_path = tmp_path / "DLTINS.zip"
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(reference_dir / "firds" / "DLTINS_20210117_excerpt_25records.xml", "d.xml")
    with pytest.raises(ArchiveTooLargeError):
        parse_file(archive_path, zip_limits=ZipLimits(max_uncompressed_bytes=10_000))


def test_13f_without_value_column(tmp_path: Path) -> None:
    path = tmp_path / "infotable.xml"
    path.write_text(
        '<informationTable xmlns="http://www.sec.gov/edgar/document/thirteenf/informationtable">'
        "<infoTable><nameOfIssuer>3M CO</nameOfIssuer><cusip>88579Y101</cusip>"
        "<shrsOrPrnAmt><sshPrnamt>2334</sshPrnamt></shrsOrPrnAmt></infoTable>"
        "</informationTable>",
        encoding="utf-8",
    )
    with pytest.raises(MissingColumnsError) as caught:
        parse_file(path).collect()
    assert "value" in caught.value.what
    assert caught.value.where == "infoTable 1, XML line 1"


def test_holdings_csv_without_quantity_column(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("identifier,name\nUS0378331005,Apple\n", encoding="utf-8")
    with pytest.raises(MissingColumnsError) as caught:
        parse_file(path, "holdings")
    assert "quantity" in str(caught.value)


def test_every_error_is_an_input_file_error() -> None:
    for kind in (
        EmptyFileError,
        UnknownFormatError,
        MalformedXmlError,
        WrongEncodingError,
        ArchiveTooLargeError,
        MissingColumnsError,
    ):
        assert issubclass(kind, InputFileError)
