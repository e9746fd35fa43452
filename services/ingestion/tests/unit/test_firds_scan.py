"""The scan of a FIRDS piece reads what lxml reads, or declines: record for record the same
checked values, rejects and XML lines as the lxml reader, on the real delta file, on full
file records with every field, and on thousands of random alterations of both."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from lxml import etree

from ingestion.domain.records import Reject
from ingestion.parsers.firds import FirdsRecord, check_record, read_record, record_kind
from ingestion.parsers.firds_chunks import iter_record_chunks
from ingestion.parsers.firds_scan import scan_piece
from ingestion.parsers.source import DEFAULT_ZIP_LIMITS

DELTA = "DLTINS_20210117_01of01_part15_kharish1.xml"
NS = "urn:iso:std:iso:20022:tech:xsd:auth.017.001.02"
OPEN = f'<?xml version="1.0" encoding="UTF-8"?><secmaster-records xmlns="{NS}">'
CLOSE = "</secmaster-records>"

# Full-file records using every field read: a bond with a maturity and a plain publication
# date, a derivative with a publication range, admission dates instead of a first trade.
BOND = (
    "<RefData><FinInstrmGnlAttrbts><Id>XS1234567896</Id><FullNm>ACME 1 5/8 01/15/30</FullNm>"
    "<ShrtNm>ACME/1.625 BD 20300115</ShrtNm><ClssfctnTp>DBFTFB</ClssfctnTp>"
    "<NtnlCcy>EUR</NtnlCcy><CmmdtyDerivInd>false</CmmdtyDerivInd></FinInstrmGnlAttrbts>"
    "<Issr>549300GDPG70E3MBBU98</Issr><TradgVnRltdAttrbts><Id>XLUX</Id><IssrReq>true</IssrReq>"
    "<AdmssnApprvlDtByIssr>2020-01-14T00:00:00Z</AdmssnApprvlDtByIssr>"
    "<ReqForAdmssnDt>2020-01-13T00:00:00Z</ReqForAdmssnDt>"
    "<TermntnDt>2030-01-15T23:59:59Z</TermntnDt></TradgVnRltdAttrbts>"
    '<DebtInstrmAttrbts><TtlIssdNmnlAmt Ccy="EUR">500000000</TtlIssdNmnlAmt>'
    '<MtrtyDt>2030-01-15</MtrtyDt><NmnlValPerUnit Ccy="EUR">1000</NmnlValPerUnit>'
    "<IntrstRate><Fxd>1.625</Fxd></IntrstRate><DebtSnrty>SNDB</DebtSnrty></DebtInstrmAttrbts>"
    "<TechAttrbts><RlvntCmptntAuthrty>LU</RlvntCmptntAuthrty><PblctnPrd><FrDt>2020-01-15</FrDt>"
    "</PblctnPrd><RlvntTradgVn>XLUX</RlvntTradgVn></TechAttrbts></RefData>"
)
OPTION = (
    "<RefData><FinInstrmGnlAttrbts><Id>DE000C4SH1Y6</Id><FullNm>UNHF SI 20210115 CS</FullNm>"
    "<ShrtNm>Eurex/F 20210115 UNH</ShrtNm><ClssfctnTp>FFSCSX</ClssfctnTp><NtnlCcy>USD</NtnlCcy>"
    "<CmmdtyDerivInd>false</CmmdtyDerivInd></FinInstrmGnlAttrbts><Issr>529900UT4DG0LG5R9O07</Issr>"
    "<TradgVnRltdAttrbts><Id>XEUR</Id><IssrReq>false</IssrReq>"
    "<FrstTradDt>2019-12-23T00:50:00Z</FrstTradDt><TermntnDt>2021-01-15T23:59:59Z</TermntnDt>"
    "</TradgVnRltdAttrbts><DerivInstrmAttrbts><XpryDt>2021-01-15</XpryDt>"
    "<PricMltplr>100</PricMltplr><UndrlygInstrm><Sngl><ISIN>US91324P1021</ISIN></Sngl>"
    "</UndrlygInstrm><DlvryTp>CASH</DlvryTp></DerivInstrmAttrbts><TechAttrbts>"
    "<RlvntCmptntAuthrty>DE</RlvntCmptntAuthrty><PblctnPrd><FrDtToDt><FrDt>2019-12-24</FrDt>"
    "<ToDt>2021-01-16</ToDt></FrDtToDt></PblctnPrd><RlvntTradgVn>XEUR</RlvntTradgVn>"
    "</TechAttrbts></RefData>"
)


def piece(*records: str, open_: str = OPEN, between: str = "") -> bytes:
    return (open_ + between.join(records) + CLOSE).encode()


def by_lxml(document: bytes, first_row: int = 1, first_line: int = 1) -> list[object]:
    root = etree.fromstring(document)
    elements = [e for e in root if isinstance(e.tag, str)]
    return [
        read_record(row, e, line_offset=first_line - 1)
        for row, e in enumerate(elements, start=first_row)
    ]


def by_scan(document: bytes, first_row: int = 1, first_line: int = 1) -> list[object] | None:
    scanned = scan_piece(document)
    if scanned is None:
        return None
    return [
        check_record(
            row,
            None if kind is None else record_kind(kind),
            texts,
            scanned.line_at(offset) + first_line - 1,
        )
        for row, (kind, texts, offset) in enumerate(scanned.records, start=first_row)
    ]


def test_every_piece_of_the_real_delta_file_is_scanned_as_lxml_reads_it(
    reference_dir: Path,
) -> None:
    path = reference_dir / "firds" / DELTA
    chunks = list(iter_record_chunks(path, DEFAULT_ZIP_LIMITS, chunk_bytes=32 << 10))
    # numbered from each piece's start (the splitter numbers the first piece only)
    scanned = [by_scan(c.document(), c.first_row or 1, c.first_line or 1) for c in chunks]
    assert all(s is not None for s in scanned)
    for chunk, records in zip(chunks, scanned, strict=True):
        assert records == by_lxml(chunk.document(), chunk.first_row or 1, chunk.first_line or 1)
    flat = [r for s in scanned for r in s or ()]
    assert len(flat) == 1382
    # the cut first record: rejected by row, with the line it starts on (after the declaration)
    first = flat[0]
    assert isinstance(first, Reject) and first.row == 1 and "(XML line 2)" in first.detail
    assert all(isinstance(r, FirdsRecord) for r in flat[1:])


def test_full_file_records_with_every_field_read_are_scanned_as_lxml_reads_them() -> None:
    document = piece(BOND, OPTION, between="\n  ")
    scanned = by_scan(document, first_row=7, first_line=40)
    assert scanned == by_lxml(document, first_row=7, first_line=40)
    bond, option = scanned
    assert isinstance(bond, FirdsRecord) and isinstance(option, FirdsRecord)
    assert bond.expiry_date is not None and bond.expiry_date.iso == "2030-01-15"
    assert bond.valid_from is not None and bond.valid_from.day == "2020-01-14"
    assert bond.publication_from is not None and bond.publication_to is None
    assert option.publication_to is not None and option.publication_to.iso == "2021-01-16"


def test_pretty_printed_and_prefixed_pieces_are_scanned() -> None:
    pretty = etree.tostring(etree.fromstring(piece(BOND, OPTION)), pretty_print=True)
    assert b"\n    <FinInstrmGnlAttrbts>" in pretty
    assert by_scan(pretty) is not None
    assert by_scan(pretty) == by_lxml(pretty)
    prefixed = re.sub(r"<(/?)(?!secmaster)(\w+)", r"<\1a:\2", piece(BOND, OPTION).decode())
    prefixed = prefixed.replace('xmlns="', 'xmlns:a="').encode()
    assert by_scan(prefixed) is not None
    assert by_scan(prefixed) == by_lxml(prefixed)


@pytest.mark.parametrize(
    ("why", "document"),
    [
        ("an entity in a name", piece(BOND.replace("ACME 1", "A&amp;E 1"))),
        ("a character reference", piece(BOND.replace("ACME 1", "&#65;CME 1"))),
        ("CDATA", piece(BOND.replace("ACME 1 5/8", "<![CDATA[ACME]]> 1 5/8"))),
        ("a comment between records", piece(BOND, OPTION, between="<!-- next -->")),
        ("a comment in a text", piece(BOND.replace("<Issr>549", "<Issr><!-- x -->549"))),
        ("an attribute on a field read", piece(BOND.replace("<FullNm>", '<FullNm xml:lang="en">'))),
        (
            "fields out of schema order",
            piece(
                BOND.replace("<Issr>", "<Issr>", 1)
                .replace("<ShrtNm>ACME/1.625 BD 20300115</ShrtNm>", "")
                .replace("<ClssfctnTp>", "<ShrtNm>ACME</ShrtNm><ClssfctnTp>", 1)
                .replace("<FullNm>ACME 1 5/8 01/15/30</FullNm>", "")
                .replace("<NtnlCcy>", "<FullNm>ACME</FullNm><NtnlCcy>", 1)
            ),
        ),
        (
            "a second expiry deeper in",
            piece(OPTION.replace("<DlvryTp>", "<XpryDt>2022-01-01</XpryDt><DlvryTp>")),
        ),
        ("an element the schema lacks", piece(BOND.replace("<Issr>", "<Extra>1</Extra><Issr>"))),
        ("carriage returns", piece(BOND, OPTION, between="\r\n")),
        ("another encoding", piece(BOND, open_=OPEN.replace("UTF-8", "ISO-8859-1"))),
        ("a malformed record", piece(BOND, OPTION.replace("</ShrtNm>", "</ShrtNam>"))),
        (
            "an undeclared prefix deep in a record",
            piece(OPTION.replace("<PricMltplr>100</PricMltplr>", "<q:PricMltplr>1</q:PricMltplr>")),
        ),
        (
            "a prefixed attribute",
            piece(BOND.replace('<NmnlValPerUnit Ccy="EUR">', '<NmnlValPerUnit q:Ccy="EUR">')),
        ),
        (
            "an undeclared record prefix",
            piece(BOND.replace("<", "<q:").replace("<q:/", "</q:")),
        ),
        (
            "an empty element",
            piece(BOND.replace("<ShrtNm>ACME/1.625 BD 20300115</ShrtNm>", "<ShrtNm/>")),
        ),
    ],
)
def test_a_piece_outside_the_layout_is_left_to_lxml(why: str, document: bytes) -> None:
    assert scan_piece(document) is None, why


_ALTERATIONS = (
    # (what, regex on the record text, replacement)
    ("space before a tag", r"(?=<)", " "),
    ("newline after a tag", r"(?<=>)", "\n"),
    ("blank a text", r">([^<]+)</", "> </"),
    ("pad a text", r">([^<]+)</", r">  \1 </"),
    ("empty a text", r">([^<]+)</", "></"),
    ("entity", r">([^<]+)</", r">\1&amp;</"),
    ("drop an element", r"<(\w+)>[^<]*</\1>", ""),
    ("duplicate an element", r"(<(\w+)>[^<]*</\2>)", r"\1\1"),
    ("comment", r"(?=<)", "<!--c-->"),
    ("attribute", r"<(\w+)>", r'<\1 x="1">'),
    ("lower-case a text", r">([A-Z]+)</", lambda m: f">{m.group(1).lower()}</"),
    ("bad date", r">(\d{4})-", r">\1/"),
    ("unicode space", r">([^<]+)</", ">\u2003\\1\u00a0</"),
    ("undeclared prefix", r"<(\w+)>([^<]*)</\1>", r"<q:\1>\2</q:\1>"),
    ("prefixed attribute", r"<(\w+)>", r'<\1 q:x="1">'),
    ("declared prefix", r"<(\w+)>([^<]*)</\1>", r'<q:\1 xmlns:q="u">\2</q:\1>'),
)


def _alter(text: str, rng: random.Random) -> str:
    _what, pattern, replacement = rng.choice(_ALTERATIONS)
    spots = list(re.finditer(pattern, text))
    if not spots:
        return text
    spot = rng.choice(spots)
    replaced = spot.expand(replacement) if isinstance(replacement, str) else replacement(spot)
    return text[: spot.start()] + replaced + text[spot.end() :]


def test_random_alterations_are_read_as_lxml_reads_them_or_left_to_lxml(
    reference_dir: Path,
) -> None:
    real = (reference_dir / "firds" / DELTA).read_text(encoding="utf-8")
    delta_records = re.findall(r"<FinInstrm>.*?</FinInstrm>", real)[:40]
    delta_open = OPEN.replace("auth.017.001.02", "auth.036.001.02")
    rng = random.Random(20261122)
    scanned = declined = 0
    for _ in range(4000):
        if rng.random() < 0.5:
            records, open_ = [rng.choice(delta_records) for _ in range(3)], delta_open
        else:
            records, open_ = [rng.choice((BOND, OPTION)) for _ in range(3)], OPEN
        records = [_alter(r, rng) if rng.random() < 0.7 else r for r in records]
        document = piece(*records, open_=open_, between=rng.choice(("", "\n", " \n\t")))
        try:
            expected = by_lxml(document, first_row=11, first_line=5)
        except etree.XMLSyntaxError:
            assert scan_piece(document) is None
            declined += 1
            continue
        got = by_scan(document, first_row=11, first_line=5)
        if got is None:
            declined += 1
            continue
        scanned += 1
        assert got == expected, document
    # both kinds happen often: the comparison is not vacuous, the fallback is exercised
    assert scanned > 600 and declined > 1000, (scanned, declined)
