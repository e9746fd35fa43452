"""SEC Form N-PORT portfolio holdings (namespace http://www.sec.gov/edgar/nport)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

from lxml import etree

from ingestion.domain.field_checks import valid_or_issue
from ingestion.domain.holdings import check_identifiers
from ingestion.domain.identifiers import validate_currency
from ingestion.domain.reasons import Reason
from ingestion.domain.records import Holding, ParsedItem, Reject
from ingestion.domain.values import parse_decimal
from ingestion.parsers.source import ZipLimits, iter_chunks, iter_xml_elements, open_binary

_GEN_INFO = {
    "regName": "registrant_name",
    "regCik": "registrant_cik",
    "regLei": "registrant_lei",
    "seriesName": "series_name",
    "seriesId": "series_id",
    "seriesLei": "series_lei",
    "repPdEnd": "period_end",
    "repPdDate": "report_period",
    "submissionType": "submission_type",
}


def read_metadata(path: Path, limits: ZipLimits) -> dict[str, str]:
    """Registrant, series and reporting period from headerData and genInfo."""
    metadata: dict[str, str] = {}
    tags = (*_GEN_INFO, "genInfo", "invstOrSec")
    with open_binary(path, limits) as stream:
        for element in iter_xml_elements(path, iter_chunks(stream), tags):
            name = etree.QName(element).localname
            if name in {"genInfo", "invstOrSec"}:
                break
            if element.text and element.text.strip():
                metadata.setdefault(_GEN_INFO[name], element.text.strip())
    return metadata


def iter_records(
    path: Path,
    limits: ZipLimits,
    *,
    metadata: dict[str, str],
    portfolio_id: str | None,
    as_of: date | None,
) -> Iterator[ParsedItem]:
    """One Holding or Reject per invstOrSec, in filing order."""
    portfolio_id = portfolio_id or metadata.get("series_id") or metadata.get("registrant_cik")
    if as_of is None and "report_period" in metadata:
        as_of = date.fromisoformat(metadata["report_period"])
    with open_binary(path, limits) as stream:
        rows = iter_xml_elements(path, iter_chunks(stream), ("invstOrSec",))
        for row, element in enumerate(rows, start=1):
            yield _holding(row, element, portfolio_id, as_of)


def _holding(
    row: int, element: etree._Element, portfolio_id: str | None, as_of: date | None
) -> ParsedItem:
    tag = element.tag if isinstance(element.tag, str) else ""
    ns = tag[: tag.index("}") + 1] if tag.startswith("{") else ""

    def text(name: str) -> str | None:
        value = element.findtext(ns + name)
        return value.strip() if value and value.strip() else None

    def attribute(path: str, name: str) -> str | None:
        found = element.find(ns + path.replace("/", "/" + ns))
        return found.get(name) if found is not None else None

    others = [
        (other.get("otherDesc") or "other", other.get("value") or "")
        for other in element.iterfind(f"{ns}identifiers/{ns}other")
    ]
    checked = check_identifiers(
        {
            "cusip": text("cusip"),
            "isin": attribute("identifiers/isin", "value"),
            "ticker": attribute("identifiers/ticker", "value"),
            "lei": text("lei"),
        },
        other=others,
    )
    if not checked.usable:
        return checked.reject(row)
    issues = list(checked.issues)
    currency = text("curCd") or attribute("currencyConditional", "curCd")
    currency = valid_or_issue(issues, "currency", currency, validate_currency)
    try:
        quantity = _number(text("balance"))
        value = _number(text("valUSD"))
        weight = _number(text("pctVal"))
    except ValueError as exc:
        return Reject(
            row=row,
            reason=Reason.BAD_NUMBER,
            detail=f"invstOrSec {row} (XML line {element.sourceline}): {exc}",
        )
    return Holding(
        row=row,
        portfolio_id=portfolio_id,
        as_of=as_of,
        identifiers=checked.identifiers,
        name=text("name"),
        title=text("title"),
        quantity=quantity,
        quantity_unit=text("units"),
        value=value,
        value_currency="USD",
        currency=currency,
        weight_pct=weight,
        asset_category=text("assetCat") or attribute("assetConditional", "assetCat"),
        issues=issues,
    )


def _number(text: str | None) -> Decimal | None:
    return parse_decimal(text) if text is not None else None
