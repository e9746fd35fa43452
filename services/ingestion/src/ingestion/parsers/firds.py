"""ESMA FIRDS reference data: full files (FULINS, auth.017) and deltas (DLTINS, auth.036).

Element names follow ESMA65-8-5014 and the auth.017/auth.036 XSDs; the namespace version
differs between releases, so elements are matched by local name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from lxml import etree

from ingestion.domain.field_checks import parsed_or_issue, valid_or_issue
from ingestion.domain.identifiers import (
    Verdict,
    validate_cfi,
    validate_currency,
    validate_isin,
    validate_lei,
    validate_mic,
)
from ingestion.domain.reasons import Reason
from ingestion.domain.records import FieldIssue, FirdsRecordType, Instrument, ParsedItem, Reject
from ingestion.domain.values import parse_date, parse_datetime_utc
from ingestion.parsers.source import ZipLimits, iter_chunks, iter_xml_elements, open_binary

_RECORD_TYPES = {
    "NewRcrd": FirdsRecordType.NEW,
    "ModfdRcrd": FirdsRecordType.MODIFIED,
    "TermntdRcrd": FirdsRecordType.TERMINATED,
    "CancRcrd": FirdsRecordType.CANCELLED,
}

_mic = lru_cache(maxsize=4096)(validate_mic)


class Moment(NamedTuple):
    """A parsed date or timestamp with the texts stored and published of it."""

    value: date
    iso: str  # value.isoformat()
    day: str  # its calendar date (UTC for a timestamp), ISO


# Dates repeat (trading start, termination and publication days of whole venues): each
# text is parsed and formatted once per field (see _Judged).
def _timestamp(text: str) -> Moment:
    value = parse_datetime_utc(text)
    return Moment(value, value.isoformat(), value.date().isoformat())


def _day(text: str) -> Moment:
    value = parse_date(text)
    iso = value.isoformat()
    return Moment(value, iso, iso)


class FirdsRecord(NamedTuple):
    """A record's checked values (an Instrument without the model, for bulk loads)."""

    row: int
    isin: str
    mic: str
    full_name: str | None
    short_name: str | None
    cfi: str | None
    currency: str | None
    issuer_lei: str | None
    record_type: FirdsRecordType | None
    valid_from: Moment | None
    valid_to: Moment | None
    publication_from: Moment | None
    publication_to: Moment | None
    expiry_date: Moment | None
    competent_authority: str | None
    issues: list[FieldIssue]


class _Judged(dict[str, Any]):
    """Each text of one field, checked on first sight: its value, or the FieldIssue it
    raised. Venue, CFI, currency, issuer and date texts repeat across the hundreds of
    thousands of records of a file; a bounded number of distinct texts is kept."""

    LIMIT = 1 << 16

    def __init__(self, judge: Callable[[list[FieldIssue], str], Any]) -> None:
        super().__init__()
        self.judge = judge

    def __missing__(self, text: str) -> Any:
        issues: list[FieldIssue] = []
        value = self.judge(issues, text)
        judged = issues[0] if issues else value
        if len(self) < self.LIMIT:
            self[text] = judged
        return judged


def _checked(field: str, check: Callable[[str], Verdict]) -> _Judged:
    return _Judged(lambda issues, text: valid_or_issue(issues, field, text, check))


def _parsed(field: str, parse: Callable[[str], Moment]) -> _Judged:
    return _Judged(lambda issues, text: parsed_or_issue(issues, field, text, parse))


_CFI = _checked("cfi", validate_cfi)
_CURRENCY = _checked("currency", validate_currency)
_ISSUER = _checked("issuer_lei", validate_lei)
_VALID_FROM = _parsed("valid_from", _timestamp)
_VALID_TO = _parsed("valid_to", _timestamp)
_PUBLICATION_FROM = _parsed("publication_from", _day)
_PUBLICATION_TO = _parsed("publication_to", _day)
_EXPIRY = _parsed("expiry_date", _day)


def _judged(judged: _Judged, text: str | None, issues: list[FieldIssue]) -> Any:
    """The checked value of `text` (None when absent), its issue recorded in `issues`."""
    if not text:
        return None
    value = judged[text]
    if type(value) is FieldIssue:
        issues.append(value)
        return None
    return value


def read_metadata(path: Path, limits: ZipLimits) -> dict[str, str]:
    """Message id, report kind and reporting date from the header, read before any record."""
    found: dict[str, str] = {}
    wanted = {"BizMsgIdr", "MsgDefIdr", "CreDt", "Dt", "FinInstrm", "RefData"}
    with open_binary(path, limits) as stream:
        for element in iter_xml_elements(path, iter_chunks(stream), wanted):
            name = etree.QName(element).localname
            if name in {"FinInstrm", "RefData"}:
                break
            if element.text and name not in found:
                found[name] = element.text.strip()
    metadata: dict[str, str] = {}
    if "BizMsgIdr" in found:
        metadata["message_id"] = found["BizMsgIdr"]
    if "MsgDefIdr" in found:
        metadata["message_definition"] = found["MsgDefIdr"]
    if "CreDt" in found:
        metadata["created_at"] = found["CreDt"]
    if "Dt" in found:
        metadata["reporting_date"] = found["Dt"]
    return metadata


def iter_records(path: Path, limits: ZipLimits) -> Iterator[ParsedItem]:
    """One Instrument or Reject per FinInstrm (delta) or RefData (full) record, in order."""
    with open_binary(path, limits) as stream:
        elements = iter_xml_elements(path, iter_chunks(stream), ("FinInstrm", "RefData"))
        for row, element in enumerate(elements, start=1):
            yield record_from_element(row, element)


class RecordTexts(NamedTuple):
    """The texts a record is read for, stripped, None or "" when absent or blank; what both
    readers (the lxml walk here and the scan of `firds_scan`) hand to `check_record`."""

    isin: str | None
    full_name: str | None
    short_name: str | None
    cfi: str | None
    currency: str | None
    issuer: str | None
    mic: str | None
    admission_approval: str | None
    admission_request: str | None
    first_trade: str | None
    termination: str | None
    maturity: str | None
    expiry: str | None
    competent_authority: str | None
    publication_from: str | None
    publication_range_from: str | None
    publication_range_to: str | None


# Where each of RecordTexts is, as local-name paths below the record body (schema order).
_FIELDS = (
    "FinInstrmGnlAttrbts/Id",
    "FinInstrmGnlAttrbts/FullNm",
    "FinInstrmGnlAttrbts/ShrtNm",
    "FinInstrmGnlAttrbts/ClssfctnTp",
    "FinInstrmGnlAttrbts/NtnlCcy",
    "Issr",
    "TradgVnRltdAttrbts/Id",
    "TradgVnRltdAttrbts/AdmssnApprvlDtByIssr",
    "TradgVnRltdAttrbts/ReqForAdmssnDt",
    "TradgVnRltdAttrbts/FrstTradDt",
    "TradgVnRltdAttrbts/TermntnDt",
    "DebtInstrmAttrbts/MtrtyDt",
    "DerivInstrmAttrbts/XpryDt",
    "TechAttrbts/RlvntCmptntAuthrty",
    "TechAttrbts/PblctnPrd/FrDt",
    "TechAttrbts/PblctnPrd/FrDtToDt/FrDt",
    "TechAttrbts/PblctnPrd/FrDtToDt/ToDt",
)


def _field_tree() -> dict[str, Any]:
    """_FIELDS as nested dicts of local names; a leaf holds the field's full path."""
    tree: dict[str, Any] = {}
    for path in _FIELDS:
        *steps, last = path.split("/")
        node = tree
        for step in steps:
            node = node.setdefault(step, {})
        node[last] = path
    return tree


_FIELD_TREE = _field_tree()


@dataclass(frozen=True, slots=True)
class _FieldNode:
    """Wanted children of one element: by `{namespace}Name` as lxml spells tags, and by
    local name for elements of another namespace. A value is a field path or a node."""

    qualified: dict[Any, Any]
    local: dict[str, Any]


@lru_cache(maxsize=8)
def _field_nodes(ns: str) -> _FieldNode:
    def build(tree: dict[str, Any]) -> _FieldNode:
        local = {name: sub if type(sub) is str else build(sub) for name, sub in tree.items()}
        return _FieldNode({ns + name: value for name, value in local.items()}, local)

    return build(_FIELD_TREE)


def _read_fields(body: etree._Element, ns: str) -> dict[str, str]:
    """Every wanted field of a record body, by path, stripped; empty ones left out.

    One walk over the elements on the wanted paths only (the underlying instrument's
    subtree and other branches are never entered), matching whole tags: about three times
    as fast as one compiled XPath per record, which itself replaced a findtext per field.
    """
    found: dict[str, str] = {}
    pending: list[tuple[etree._Element, _FieldNode]] = [(body, _field_nodes(ns))]
    while pending:
        element, node = pending.pop()
        qualified = node.qualified
        for child in element:
            tag = child.tag
            wanted = qualified.get(tag)
            if wanted is None:
                # a field not wanted, a comment, or an element of another namespace
                if type(tag) is not str or tag.startswith(ns):
                    continue
                wanted = node.local.get(tag.rpartition("}")[2])
                if wanted is None:
                    continue
            if type(wanted) is str:
                text = child.text
                if text and (text := text.strip()) and wanted not in found:
                    found[wanted] = text
            else:
                pending.append((child, wanted))
    return found


def record_from_element(row: int, element: etree._Element, *, line_offset: int = 0) -> ParsedItem:
    """One FinInstrm (delta) or RefData (full) element as an Instrument or a Reject.

    `line_offset` is added to the element's line for messages (a piece of a split file).
    """
    record = read_record(row, element, line_offset=line_offset)
    if isinstance(record, Reject):
        return record
    # Every value is typed and checked, so the model is built without validating it again
    # (a third of the cost of a record when a file holds a million of them).
    return Instrument.model_construct(
        row=row,
        isin=record.isin,
        mic=record.mic,
        full_name=record.full_name,
        short_name=record.short_name,
        cfi=record.cfi,
        currency=record.currency,
        issuer_lei=record.issuer_lei,
        record_type=record.record_type,
        valid_from=_value(record.valid_from),
        valid_to=_value(record.valid_to),
        publication_from=_value(record.publication_from),
        publication_to=_value(record.publication_to),
        expiry_date=_value(record.expiry_date),
        competent_authority=record.competent_authority,
        other_ids={},
        issues=record.issues,
    )


def _value(moment: Moment | None) -> Any:
    return None if moment is None else moment.value


def record_kind(tag: str) -> FirdsRecordType | None:
    """The delta record kind a FinInstrm's child element names (`NewRcrd`...), or None."""
    return _RECORD_TYPES.get(tag)


def read_record(row: int, element: etree._Element, *, line_offset: int = 0) -> FirdsRecord | Reject:
    """The checked values of one FinInstrm (delta) or RefData (full) element, or a Reject."""
    tag = element.tag if isinstance(element.tag, str) else ""
    ns = tag[: tag.index("}") + 1] if tag.startswith("{") else ""
    record_type: FirdsRecordType | None = None
    body = element
    if tag.endswith("FinInstrm"):
        body_or_none = next(iter(element), None)
        if body_or_none is None or not isinstance(body_or_none.tag, str):
            return Reject(row=row, reason=Reason.MISSING_FIELD, detail="empty FinInstrm record")
        body = body_or_none
        kind = body.tag[len(ns) :]
        record_type = _RECORD_TYPES.get(kind)
        if record_type is None:
            return Reject(
                row=row, reason=Reason.MISSING_FIELD, detail=f"unknown FIRDS record kind {kind}"
            )
    fields = _read_fields(body, ns)
    texts = RecordTexts._make(map(fields.get, _FIELDS))
    line = (element.sourceline or 0) + line_offset
    return check_record(row, record_type, texts, line)


def _reject(row: int, mic: str | None, line: int, reason: Reason, what: str) -> Reject:
    where = f"record {row}" + (f", MIC {mic}" if mic else "") + f" (XML line {line})"
    return Reject(row=row, reason=reason, detail=where + what)


def check_record(
    row: int,
    record_type: FirdsRecordType | None,
    texts: RecordTexts,
    line: int,
    *,
    isin_valid: bool = False,
) -> FirdsRecord | Reject:
    """A record's texts checked: its values, or a Reject naming the record by row, MIC and
    the XML line it starts on. `isin_valid`: the ISIN text is already known to be a valid
    ISIN in canonical form (see `valid_canonical_isins`)."""
    isin, mic = texts.isin, texts.mic
    if not isin:
        return _reject(
            row,
            mic,
            line,
            Reason.MISSING_ISIN,
            " has no FinInstrmGnlAttrbts/Id (ISIN); the file may have been cut inside this record",
        )
    if not isin_valid:
        isin_verdict = validate_isin(isin)
        if not isin_verdict.valid:
            return _reject(
                row, mic, line, Reason.INVALID_ISIN, f": ISIN {isin}: {isin_verdict.detail}"
            )
        isin = isin_verdict.normalized or isin
    if not mic:
        return _reject(
            row, mic, line, Reason.MISSING_MIC, f": ISIN {isin} has no TradgVnRltdAttrbts/Id (MIC)"
        )
    mic_verdict = _mic(mic)
    if not mic_verdict.valid:
        return _reject(row, mic, line, Reason.INVALID_MIC, f": ISIN {isin}: {mic_verdict.detail}")

    issues: list[FieldIssue] = []
    first_trade = texts.first_trade or texts.admission_approval or texts.admission_request
    publication_from = texts.publication_from or texts.publication_range_from
    return FirdsRecord(
        row,
        isin,
        mic_verdict.normalized or mic,
        texts.full_name or None,
        texts.short_name or None,
        _judged(_CFI, texts.cfi, issues),
        _judged(_CURRENCY, texts.currency, issues),
        _judged(_ISSUER, texts.issuer, issues),
        record_type,
        _judged(_VALID_FROM, first_trade, issues),
        _judged(_VALID_TO, texts.termination, issues),
        _judged(_PUBLICATION_FROM, publication_from, issues),
        _judged(_PUBLICATION_TO, texts.publication_range_to, issues),
        _judged(_EXPIRY, texts.expiry or texts.maturity, issues),
        texts.competent_authority or None,
        issues,
    )
