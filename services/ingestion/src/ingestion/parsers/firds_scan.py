"""Reading the records of one piece of a FIRDS file (see firds_chunks) by one regular
expression per record instead of through an lxml tree.

Why by hand: lxml hands Python one proxy object per element, and walking a record's
elements that way costs about four times a bare iterparse of it; no library reads fields
out of XML text without building objects for its elements. The scan decides nothing on its
own, so it cannot read a piece differently from lxml:

- libxml2 first parses the whole piece without building a tree; a piece that is not
  well-formed is left to the lxml reader, which reports the error as before.
- The pattern takes only the layout ESMA writes: the schema's elements in the schema's
  order, unprefixed or all under the record's declared prefix (namespace errors are the
  one kind libxml2 reports only when it builds a tree), no comments or CDATA, no
  attributes but unprefixed ones on elements not read, no entity references or carriage
  returns in or around the texts read, no blanks around those texts, whitespace at most
  between tags. For such a record, each text the pattern captures is the text lxml gives.
- A piece with any record outside that layout, or other content between records, is
  read whole by the lxml reader (`scan_piece` returns None).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from ingestion.parsers.firds import RecordTexts

_ENCODING = re.compile(rb"""^<\?xml[^>]*\sencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_WRAPPER_OPEN = re.compile(r"<secmaster-records(?:\s[^>]*)?>\s*")
_WRAPPER_CLOSE = re.compile(r"</secmaster-records>\s*")
_FIRST_RECORD = re.compile(r"<(?:([A-Za-z_][\w.\-]*):)?(?:RefData|FinInstrm)[\s>]")
# A text read: no markup, entity reference or carriage return, each of which lxml would
# turn into something other than the characters as written, and nothing for str.strip to
# take off either end (\s is the same set of characters): the stripped text. The check of
# the last character sits before the closing tag, where it is cheapest.
_TEXT = r"(?:[^\s<&\r][^<&\r]*+)?+"
_TEXT_END = r"(?<!\s)"
_NAME = r"[A-Za-z_][\w.\-]*"  # no colon: a prefix is part of the pattern
_ATTRIBUTES = rf"""(?:\s++{_NAME}\s*+=\s*+(?:"[^"<]*+"|'[^'<]*+'))*+\s*+"""


@lru_cache(maxsize=8)
def record_pattern(prefix: str) -> re.Pattern[str]:
    """One record in ESMA's layout with its texts as groups: `kind` (a delta record's
    kind, None for a full file's RefData), then RecordTexts' fields in order.

    Each element has one place in the layout, so a record matches in one way only; the
    quantifiers are possessive (no backtracking into an element once read), which makes
    the pattern a quarter faster without changing what it matches."""
    p = re.escape(prefix)

    def read(name: str, group: str) -> str:
        return rf"(?:<{p}{name}>(?P<{group}>{_TEXT}){_TEXT_END}</{p}{name}>\s*+)?+"

    def skip(name: str) -> str:
        return rf"(?:<{p}{name}>[^<]*+</{p}{name}>\s*+)?+"

    def rest(section: str, read_once: str) -> str:
        # the rest of a section: elements of the record's prefix but `read_once` again,
        # with unprefixed attributes (an undeclared prefix is an error only a parser that
        # builds the tree reports); no comments, processing instructions or CDATA
        tag = (
            rf"<(?!/{p}{section}>|{p}{read_once}[\s/>])"
            rf"(?:/{p}{_NAME}\s*+|{p}{_NAME}{_ATTRIBUTES}/?)>"
        )
        return rf"[^<]*+(?:{tag}[^<]*+)*+"

    return re.compile(
        rf"(?:<{p}RefData>|<{p}FinInstrm>\s*+<{p}(?P<kind>NewRcrd|ModfdRcrd|TermntdRcrd|CancRcrd)>)\s*+"
        rf"(?:<{p}FinInstrmGnlAttrbts>\s*+"
        + read("Id", "isin")
        + read("FullNm", "full_name")
        + read("ShrtNm", "short_name")
        + read("ClssfctnTp", "cfi")
        + read("NtnlCcy", "currency")
        + skip("CmmdtyDerivInd")
        + rf"</{p}FinInstrmGnlAttrbts>\s*+)?+"
        + read("Issr", "issuer")
        + rf"(?:<{p}TradgVnRltdAttrbts>\s*+"
        + read("Id", "mic")
        + skip("IssrReq")
        + read("AdmssnApprvlDtByIssr", "admission_approval")
        + read("ReqForAdmssnDt", "admission_request")
        + read("FrstTradDt", "first_trade")
        + read("TermntnDt", "termination")
        + rf"</{p}TradgVnRltdAttrbts>\s*+)?+"
        + rf"(?:<{p}DebtInstrmAttrbts>\s*+"
        + rf"(?:<{p}TtlIssdNmnlAmt{_ATTRIBUTES}>[^<]*+</{p}TtlIssdNmnlAmt>\s*+)?+"
        + read("MtrtyDt", "maturity")
        + rest("DebtInstrmAttrbts", "MtrtyDt")
        + rf"</{p}DebtInstrmAttrbts>\s*+)?+"
        + rf"(?:<{p}DerivInstrmAttrbts>\s*+"
        + read("XpryDt", "expiry")
        + rest("DerivInstrmAttrbts", "XpryDt")
        + rf"</{p}DerivInstrmAttrbts>\s*+)?+"
        + rf"(?:<{p}TechAttrbts>\s*+"
        + read("RlvntCmptntAuthrty", "competent_authority")
        + rf"(?:<{p}PblctnPrd>\s*+"
        + rf"(?:<{p}FrDt>(?P<publication_from>{_TEXT}){_TEXT_END}</{p}FrDt>\s*+"
        + rf"|<{p}FrDtToDt>\s*+"
        + read("FrDt", "publication_range_from")
        + read("ToDt", "publication_range_to")
        + rf"</{p}FrDtToDt>\s*+)</{p}PblctnPrd>\s*+)?+"
        + skip("RlvntTradgVn")
        + rf"</{p}TechAttrbts>\s*+)?+"
        + rf"(?:</{p}RefData>|</{p}(?P=kind)>\s*+</{p}FinInstrm>)\s*+"
    )


class _NoTree:
    """A parser target without callbacks: libxml2 checks the piece and builds nothing."""

    def close(self) -> None:
        return None


def _well_formed(document: bytes) -> bool:
    parser = etree.XMLParser(
        target=_NoTree(), resolve_entities=False, no_network=True, huge_tree=True
    )
    try:
        parser.feed(document)
        parser.close()
    except etree.XMLSyntaxError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class ScannedPiece:
    """A piece's records, each as (delta record kind or None, its texts, the offset in
    `text` where it starts)."""

    text: str
    records: list[tuple[str | None, RecordTexts, int]]

    def line_at(self, offset: int) -> int:
        """The line of the piece, from 1, that `offset` lies on (asked for rejects only)."""
        return self.text.count("\n", 0, offset) + 1


def scan_piece(document: bytes) -> ScannedPiece | None:
    """The records of a piece, or None when the lxml reader must read the piece."""
    declared = _ENCODING.match(document)
    if declared is not None and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        return None
    if b"\r" in document or not _well_formed(document):
        return None
    text = document.decode()
    opened = _WRAPPER_OPEN.search(text)
    if opened is None:
        return None
    position = opened.end()
    first = _FIRST_RECORD.match(text, position)
    if first is None:
        return None
    prefix = first.group(1)
    if prefix and f"xmlns:{prefix}=" not in opened.group():
        return None  # a prefix the piece does not declare: lxml names the error
    pattern = record_pattern(f"{prefix}:" if prefix else "")
    records: list[tuple[str | None, RecordTexts, int]] = []
    make = RecordTexts._make
    match = pattern.match(text, position)
    while match is not None:
        groups = match.groups()
        records.append((groups[0], make(groups[1:]), match.start()))
        position = match.end()
        match = pattern.match(text, position)
    # a record outside the layout stops the scan short of the wrapper's end
    if _WRAPPER_CLOSE.fullmatch(text, position) is None:
        return None
    return ScannedPiece(text, records)
