"""ESMA FIRDS reference data: full files (FULINS, auth.017) and deltas (DLTINS, auth.036).

Element names follow ESMA65-8-5014 and the auth.017/auth.036 XSDs; the namespace version
differs between releases, so elements are matched by local name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from lxml import etree

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

T = TypeVar("T")

_RECORD_TYPES = {
    "NewRcrd": FirdsRecordType.NEW,
    "ModfdRcrd": FirdsRecordType.MODIFIED,
    "TermntdRcrd": FirdsRecordType.TERMINATED,
    "CancRcrd": FirdsRecordType.CANCELLED,
}

# Venue, CFI, currency and issuer values repeat across hundreds of thousands of records.
_mic = lru_cache(maxsize=4096)(validate_mic)
_cfi = lru_cache(maxsize=8192)(validate_cfi)
_currency = lru_cache(maxsize=512)(validate_currency)
_lei = lru_cache(maxsize=8192)(validate_lei)
# Dates repeat too (trading start, termination and publication days of whole venues).
_timestamp = lru_cache(maxsize=8192)(parse_datetime_utc)
_day = lru_cache(maxsize=8192)(parse_date)


def _checked(
    issues: list[FieldIssue], field: str, value: str | None, check: Callable[[str], Verdict]
) -> str | None:
    """The normalized value, or None with the failed check recorded as an issue."""
    if value is None:
        return None
    verdict = check(value)
    if verdict.valid:
        return verdict.normalized
    reason = verdict.reason or Reason.BAD_FORMAT
    issues.append(FieldIssue(field=field, value=value, reason=reason, detail=verdict.detail))
    return None


def _parsed(
    issues: list[FieldIssue], field: str, value: str | None, parse: Callable[[str], T]
) -> T | None:
    """The parsed date or timestamp, or None with the bad value recorded as an issue."""
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        issues.append(FieldIssue(field=field, value=value, reason=Reason.BAD_DATE, detail=str(exc)))
        return None


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


# Every field a record is read for, as local-name paths below the record body.
_FIELDS = (
    "FinInstrmGnlAttrbts/Id",
    "FinInstrmGnlAttrbts/FullNm",
    "FinInstrmGnlAttrbts/ShrtNm",
    "FinInstrmGnlAttrbts/ClssfctnTp",
    "FinInstrmGnlAttrbts/NtnlCcy",
    "Issr",
    "TradgVnRltdAttrbts/Id",
    "TradgVnRltdAttrbts/FrstTradDt",
    "TradgVnRltdAttrbts/AdmssnApprvlDtByIssr",
    "TradgVnRltdAttrbts/ReqForAdmssnDt",
    "TradgVnRltdAttrbts/TermntnDt",
    "TechAttrbts/PblctnPrd/FrDt",
    "TechAttrbts/PblctnPrd/FrDtToDt/FrDt",
    "TechAttrbts/PblctnPrd/FrDtToDt/ToDt",
    "TechAttrbts/RlvntCmptntAuthrty",
    "DerivInstrmAttrbts/XpryDt",
    "DebtInstrmAttrbts/MtrtyDt",
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


def _read_fields(body: etree._Element, ns: str) -> dict[str, str]:
    """Every wanted field of a record body, by path, stripped; empty ones left out.

    One walk over the elements on the wanted paths only (the underlying instrument's
    subtree and other branches are never entered): about twice as fast as one compiled
    XPath per record, which itself replaced a findtext per field.
    """
    cut = len(ns)
    found: dict[str, str] = {}
    pending: list[tuple[etree._Element, dict[str, Any]]] = [(body, _FIELD_TREE)]
    while pending:
        element, node = pending.pop()
        for child in element:
            tag = child.tag
            if type(tag) is not str:  # a comment or processing instruction
                continue
            wanted = node.get(tag[cut:] if tag.startswith(ns) else tag.rpartition("}")[2])
            if wanted is None:
                continue
            if type(wanted) is str:
                text = child.text
                if text and (text := text.strip()) and wanted not in found:
                    found[wanted] = text
            else:
                pending.append((child, wanted))
    return found


def _where(row: int, mic: str | None, element: etree._Element, line_offset: int) -> str:
    line = (element.sourceline or 0) + line_offset
    return f"record {row}" + (f", MIC {mic}" if mic else "") + f" (XML line {line})"


def record_from_element(row: int, element: etree._Element, *, line_offset: int = 0) -> ParsedItem:
    """One FinInstrm (delta) or RefData (full) element as an Instrument or a Reject.

    `line_offset` is added to the element's line for messages (a piece of a split file).
    """
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

    isin = fields.get("FinInstrmGnlAttrbts/Id")
    mic = fields.get("TradgVnRltdAttrbts/Id")
    if isin is None:
        return Reject(
            row=row,
            reason=Reason.MISSING_ISIN,
            detail=f"{_where(row, mic, element, line_offset)} has no FinInstrmGnlAttrbts/Id "
            "(ISIN); the file may have been cut inside this record",
        )
    isin_verdict = validate_isin(isin)
    if not isin_verdict.valid:
        return Reject(
            row=row,
            reason=Reason.INVALID_ISIN,
            detail=f"{_where(row, mic, element, line_offset)}: ISIN {isin}: {isin_verdict.detail}",
        )
    if mic is None:
        return Reject(
            row=row,
            reason=Reason.MISSING_MIC,
            detail=f"{_where(row, mic, element, line_offset)}: ISIN {isin} has no "
            "TradgVnRltdAttrbts/Id (MIC)",
        )
    mic_verdict = _mic(mic)
    if not mic_verdict.valid:
        return Reject(
            row=row,
            reason=Reason.INVALID_MIC,
            detail=f"{_where(row, mic, element, line_offset)}: ISIN {isin}: {mic_verdict.detail}",
        )

    issues: list[FieldIssue] = []
    get = fields.get
    cfi = get("FinInstrmGnlAttrbts/ClssfctnTp")
    currency = get("FinInstrmGnlAttrbts/NtnlCcy")
    issuer = get("Issr")
    first_trade = (
        get("TradgVnRltdAttrbts/FrstTradDt")
        or get("TradgVnRltdAttrbts/AdmssnApprvlDtByIssr")
        or get("TradgVnRltdAttrbts/ReqForAdmssnDt")
    )
    # Every value is typed and checked above, so the model is built without validating it
    # again (a third of the cost of a record when a file holds a million of them).
    return Instrument.model_construct(
        row=row,
        isin=isin_verdict.normalized,
        mic=mic_verdict.normalized,
        full_name=get("FinInstrmGnlAttrbts/FullNm"),
        short_name=get("FinInstrmGnlAttrbts/ShrtNm"),
        cfi=_checked(issues, "cfi", cfi, _cfi),
        currency=_checked(issues, "currency", currency, _currency),
        issuer_lei=_checked(issues, "issuer_lei", issuer, _lei),
        record_type=record_type,
        valid_from=_parsed(issues, "valid_from", first_trade, _timestamp),
        valid_to=_parsed(issues, "valid_to", get("TradgVnRltdAttrbts/TermntnDt"), _timestamp),
        publication_from=_parsed(
            issues,
            "publication_from",
            get("TechAttrbts/PblctnPrd/FrDt") or get("TechAttrbts/PblctnPrd/FrDtToDt/FrDt"),
            _day,
        ),
        publication_to=_parsed(
            issues, "publication_to", get("TechAttrbts/PblctnPrd/FrDtToDt/ToDt"), _day
        ),
        expiry_date=_parsed(
            issues,
            "expiry_date",
            get("DerivInstrmAttrbts/XpryDt") or get("DebtInstrmAttrbts/MtrtyDt"),
            _day,
        ),
        competent_authority=get("TechAttrbts/RlvntCmptntAuthrty"),
        other_ids={},
        issues=issues,
    )
