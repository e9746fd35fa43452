"""Write a synthetic ESMA FIRDS full file (FULINS, auth.017.001.02) of N records.

Element layout follows the real DLTINS sample in shared/reference/firds; ISINs carry correct
check digits, MICs and LEIs come from the ISO 10383 list, so every record validates.

    uv run python bench/ingestion/generate_firds.py OUT.xml --records 1000000 [--zip]
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

from stdnum import isin as std_isin

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<BizData xmlns="urn:iso:std:iso:20022:tech:xsd:head.003.001.01">'
    '<Hdr><AppHdr xmlns="urn:iso:std:iso:20022:tech:xsd:head.001.001.01">'
    "<Fr><OrgId><Id><OrgId><Othr><Id>EU</Id></Othr></OrgId></Id></OrgId></Fr>"
    "<BizMsgIdr>FULINS_E_20210116_01of01</BizMsgIdr><MsgDefIdr>auth.017.001.02</MsgDefIdr>"
    "<CreDt>2021-01-16T08:00:00Z</CreDt></AppHdr></Hdr><Pyld>"
    '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:auth.017.001.02">'
    "<FinInstrmRptgRefDataRpt><RptHdr><RptgNtty><NtlCmptntAuthrty>EU</NtlCmptntAuthrty>"
    "</RptgNtty><RptgPrd><Dt>2021-01-16</Dt></RptgPrd></RptHdr>\n"
)
TAIL = "</FinInstrmRptgRefDataRpt></Document></Pyld></BizData>\n"
VENUES = (("XEUR", "529900UT4DG0LG5R9O07"), ("EBSF", "2138004TYNQCB7MLTG76"))
CFIS = ("ESVUFR", "OPAIPS", "FFSCSX", "DBFTFB")


def record(n: int) -> str:
    body = f"DE{n:09d}"
    code = body + std_isin.calc_check_digit(body)
    mic, lei = VENUES[n % len(VENUES)]
    return (
        "<RefData><FinInstrmGnlAttrbts>"
        f"<Id>{code}</Id><FullNm>SYNTHETIC INSTRUMENT {n}</FullNm><ShrtNm>SYN/{n}</ShrtNm>"
        f"<ClssfctnTp>{CFIS[n % len(CFIS)]}</ClssfctnTp><NtnlCcy>EUR</NtnlCcy>"
        "<CmmdtyDerivInd>false</CmmdtyDerivInd></FinInstrmGnlAttrbts>"
        f"<Issr>{lei}</Issr><TradgVnRltdAttrbts><Id>{mic}</Id><IssrReq>false</IssrReq>"
        "<FrstTradDt>2019-12-23T00:50:00Z</FrstTradDt><TermntnDt>2031-01-15T23:59:59Z</TermntnDt>"
        "</TradgVnRltdAttrbts><DerivInstrmAttrbts><XpryDt>2031-01-15</XpryDt>"
        "<PricMltplr>100</PricMltplr><UndrlygInstrm><Sngl><ISIN>US91324P1021</ISIN></Sngl>"
        "</UndrlygInstrm><DlvryTp>CASH</DlvryTp></DerivInstrmAttrbts><TechAttrbts>"
        "<RlvntCmptntAuthrty>DE</RlvntCmptntAuthrty><PblctnPrd><FrDt>2019-12-24</FrDt>"
        f"</PblctnPrd><RlvntTradgVn>{mic}</RlvntTradgVn></TechAttrbts></RefData>\n"
    )


def write(path: Path, records: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write(HEAD)
        for n in range(records):
            out.write(record(n))
        out.write(TAIL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--zip", action="store_true", help="also write OUT.zip")
    args = parser.parse_args()
    write(args.out, args.records)
    if args.zip:
        with zipfile.ZipFile(args.out.with_suffix(".zip"), "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(args.out, args.out.name)


if __name__ == "__main__":
    main()
