"""Parsers on the real published files in shared/reference, with their counts asserted."""

from __future__ import annotations

import csv
import zipfile
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

from ingestion.domain.reasons import Reason
from ingestion.domain.records import FirdsRecordType, Holding, Instrument
from ingestion.domain.registries import market_identifiers
from ingestion.parsers import detect_format, parse_file


def _holdings(records: list[Instrument | Holding]) -> list[Holding]:
    assert all(isinstance(r, Holding) for r in records)
    return [r for r in records if isinstance(r, Holding)]


def _instruments(records: list[Instrument | Holding]) -> list[Instrument]:
    assert all(isinstance(r, Instrument) for r in records)
    return [r for r in records if isinstance(r, Instrument)]


def test_firds_delta_chunk_accounts_for_all_1382_terminated_records(reference_dir: Path) -> None:
    path = reference_dir / "firds" / "DLTINS_20210117_01of01_part15_kharish1.xml"
    parsed = parse_file(path)
    records, rejects = parsed.collect()
    assert parsed.format == "firds"
    assert len(records) + len(rejects) == 1382
    # the splitter cut the first record: it lost FinInstrmGnlAttrbts and so its ISIN
    assert [(r.row, r.reason) for r in rejects] == [(1, Reason.MISSING_ISIN)]
    instruments = _instruments(records)
    assert {i.record_type for i in instruments} == {FirdsRecordType.TERMINATED}
    assert Counter((i.cfi or "?")[0] for i in instruments) == {"O": 1286, "F": 95}
    assert {i.mic for i in instruments} == {"XEUR", "XEER"}  # Eurex and its segment MIC
    # for derivatives Issr is the venue operator's LEI (Eurex), not an underlying's issuer
    # (the ISO 10383 list gives each MIC's operator LEI: XEUR 529900UT4DG0LG5R9O07)
    mics = market_identifiers()
    assert all(i.mic and i.issuer_lei == mics[i.mic].lei for i in instruments)
    first = instruments[0]
    assert (first.row, first.isin, first.currency) == (2, "DE000C4SH1Y6", "USD")
    assert first.valid_to is not None and first.valid_to.isoformat() == "2021-01-15T23:59:59+00:00"
    assert first.expiry_date == date(2021, 1, 15)
    assert all(not i.issues for i in instruments)


def test_firds_zipped_gives_the_same_records(reference_dir: Path, tmp_path: Path) -> None:
    source = reference_dir / "firds" / "DLTINS_20210117_excerpt_25records.xml"
    archive = tmp_path / "DLTINS_20210117_01of01.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.write(source, "DLTINS_20210117_01of01.xml")
    plain, _ = parse_file(source).collect()
    parsed = parse_file(archive)
    zipped_records, rejects = parsed.collect()
    assert parsed.format == "firds"
    assert len(plain) == 25 and rejects == []
    assert zipped_records == plain


def test_13f_information_table_255_rows_in_dollars(reference_dir: Path) -> None:
    path = reference_dir / "holdings" / "sec" / "13F-HR.infotable.xml"  # starts with a blank line
    parsed = parse_file(path)
    records, rejects = parsed.collect()
    holdings = _holdings(records)
    assert parsed.format == "13f" and rejects == []
    assert len(holdings) == 255
    first = holdings[0]
    assert (first.name, first.identifiers.cusip) == ("3M CO", "88579Y101")
    assert (first.quantity, first.value, first.quantity_unit) == (
        Decimal(2334),
        Decimal(409469),
        "SH",
    )


def test_13f_full_submission_with_cover_page_period(reference_dir: Path) -> None:
    path = reference_dir / "holdings" / "sec" / "13F.0001894188-23-000007.txt"
    parsed = parse_file(path)
    records, rejects = parsed.collect()
    holdings = _holdings(records)
    assert parsed.format == "13f" and rejects == []
    assert parsed.metadata["report_period"] == "2023-09-30"
    assert parsed.metadata["table_entry_total"] == str(len(holdings)) == "14"
    assert sum(h.value or 0 for h in holdings) == Decimal(parsed.metadata["table_value_total"])
    assert parsed.portfolio_id == "0001894188"
    assert {h.as_of for h in holdings} == {date(2023, 9, 30)}
    amazon = next(h for h in holdings if h.identifiers.cusip == "023135106")
    # $17,479,000 for 137,500 shares is $127.12 a share: values are dollars, not thousands
    assert amazon.value == Decimal(17479000) and amazon.quantity == Decimal(137500)


def test_13f_cover_page_alone_gives_period_and_no_rows(reference_dir: Path) -> None:
    parsed = parse_file(reference_dir / "holdings" / "sec" / "metlife.13F-HR.primarydoc.xml")
    records, rejects = parsed.collect()
    assert parsed.format == "13f" and records == [] and rejects == []
    assert parsed.as_of == date(2021, 12, 31)
    assert parsed.metadata["report_type"] == "13F COMBINATION REPORT"


def test_13f_filed_before_2023_reports_thousands_scaled_to_dollars(
    reference_dir: Path, tmp_path: Path
) -> None:
    real = reference_dir / "holdings" / "sec" / "13F.0001894188-23-000007.txt"
    older = tmp_path / "13F-2021.txt"
    older.write_bytes(
        real.read_bytes()
        .replace(b"CONFORMED PERIOD OF REPORT:\t20230930", b"CONFORMED PERIOD OF REPORT:\t20210930")
        .replace(b"09-30-2023", b"09-30-2021")
    )
    now, _ = parse_file(real).collect()
    then = parse_file(older)
    scaled, _ = then.collect()
    assert then.metadata["report_period"] == "2021-09-30"
    assert [h.value * 1000 for h in _holdings(now) if h.value] == [
        h.value for h in _holdings(scaled)
    ]


def test_nport_goldman_fund_keeps_all_1685_positions_and_names_dirty_ids(
    reference_dir: Path,
) -> None:
    path = reference_dir / "holdings" / "sec" / "NPORT_Sample_7_GoldmanSachsBondFund_2023-03-31.xml"
    parsed = parse_file(path)
    records, rejects = parsed.collect()
    holdings = _holdings(records)
    assert parsed.format == "nport"
    assert len(holdings) + len(rejects) == 1685
    assert rejects == []  # every position has a CUSIP, ISIN or a filer-given other identifier
    issues = Counter((i.field, i.reason) for h in holdings for i in h.issues)
    assert issues[("cusip", Reason.PLACEHOLDER)] == 795
    assert issues[("lei", Reason.NOT_AVAILABLE)] == 97
    assert sum(1 for h in holdings if h.identifiers.isin is None) == 774
    assert all(h.identifiers.cusip != "000000000" for h in holdings)
    assert (parsed.portfolio_id, parsed.as_of) == ("S000013795", date(2023, 3, 31))
    reg_s = [h for h in holdings if h.identifiers.isin in {"USG6108MAB84", "USP6629MAA01"}]
    assert len(reg_s) == 2
    forward = next(h for h in holdings if "23CJKBB56P4" in h.identifiers.other.values())
    assert forward.currency == "JPY" and forward.value == Decimal("1099.61")


def test_nport_dupree_55_munis_with_cusip_and_isin(reference_dir: Path) -> None:
    parsed = parse_file(reference_dir / "holdings" / "sec" / "NPORT.Dupree.xml")
    records, rejects = parsed.collect()
    holdings = _holdings(records)
    assert rejects == [] and len(holdings) == 55
    assert all(h.identifiers.cusip and h.identifiers.isin for h in holdings)
    assert all(
        h.identifiers.isin == f"US{h.identifiers.cusip}" + h.identifiers.isin[-1] for h in holdings
    )  # type: ignore[operator]


def test_spy_csv_503_names_plus_cash(reference_dir: Path) -> None:
    for name in ("SPY_holdings_2024-03-19.csv", "SPY_holdings_2024-05-10.csv"):
        parsed = parse_file(reference_dir / "holdings" / "etf" / name, portfolio_id="SPY")
        records, rejects = parsed.collect()
        holdings = _holdings(records)
        assert parsed.format == "etf" and rejects == []
        securities = [h for h in holdings if not h.is_cash]
        cash = [h for h in holdings if h.is_cash]
        assert len(securities) == 503
        assert all(h.identifiers.cusip and h.identifiers.sedol for h in securities)
        assert [(c.name, c.currency) for c in cash] == [("US DOLLAR", "USD")]
        assert {h.portfolio_id for h in holdings} == {"SPY"}


def test_spy_xlsx_with_banner_and_footer(reference_dir: Path) -> None:
    path = reference_dir / "holdings" / "etf" / "holdings-daily-us-en-spy_iswong_2024.xlsx"
    parsed = parse_file(path)
    records, rejects = parsed.collect()
    holdings = _holdings(records)
    assert parsed.format == "etf" and rejects == []
    assert (parsed.portfolio_id, parsed.as_of) == ("SPY", date(2024, 3, 19))
    assert len([h for h in holdings if not h.is_cash]) == 503
    assert len([h for h in holdings if h.is_cash]) == 1  # listed after the disclaimer footer
    assert parsed.metadata["note_rows"] == "6"  # the disclaimer paragraphs
    csv_records, _ = parse_file(
        reference_dir / "holdings" / "etf" / "SPY_holdings_2024-03-19.csv"
    ).collect()
    by_cusip = {h.identifiers.cusip: h.quantity for h in _holdings(csv_records)}
    assert {h.identifiers.cusip: h.quantity for h in holdings} == by_cusip


def test_generic_holdings_csv_keeps_rows_with_one_usable_identifier(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text(
        "portfolio_id,as_of,identifier,quantity,name\n"
        "P1,2024-03-19,US0378331005,100,Apple\n"
        "P1,2024-03-19,037833100,5,Apple by CUSIP\n"
        "P1,2024-03-19,MSFT,7,Microsoft by ticker\n"
        "P1,2024-03-19,000000000,3,placeholder only\n"
        "P1,2024-03-19,US0378331003,4,bad check digit\n"
        "P1,2024-03-19,US0378331005,,no quantity\n",
        encoding="utf-8",
    )
    assert detect_format(path) == "holdings"
    records, rejects = parse_file(path).collect()
    holdings = _holdings(records)
    assert [h.row for h in holdings] == [2, 3, 4]
    assert holdings[0].identifiers.isin == "US0378331005"
    assert holdings[1].identifiers.cusip == "037833100"
    assert holdings[2].identifiers.ticker == "MSFT"
    assert {(h.portfolio_id, h.as_of) for h in holdings} == {("P1", date(2024, 3, 19))}
    assert [(r.row, r.reason) for r in rejects] == [
        (5, Reason.NO_USABLE_IDENTIFIER),
        (6, Reason.NO_USABLE_IDENTIFIER),
        (7, Reason.MISSING_FIELD),
    ]
    assert "placeholder" in rejects[0].detail


def test_instruments_csv_from_financedatabase(reference_dir: Path) -> None:
    source = reference_dir / "symbology" / "financedatabase" / "equities_NGM.csv"
    parsed = parse_file(source)
    records, rejects = parsed.collect()
    instruments = _instruments(records)
    with source.open(encoding="utf-8", newline="") as handle:
        data_rows = sum(1 for row in csv.reader(handle) if any(row)) - 1
    assert parsed.format == "instruments"
    assert len(instruments) + len(rejects) == data_rows
    assert {r.reason for r in rejects} == {Reason.NO_USABLE_IDENTIFIER}
    assert all(i.isin or i.other_ids for i in instruments)
