"""Which of OpenFIGI's many listings we publish for an identifier (the "primary listing").

An unfiltered CUSIP or ISIN answer holds every listing worldwide (AAPL's CUSIP: 255 rows),
and `data[0]` is not always the home composite (AMZN's CUSIP led with a Lima row), so the
choice is made by rule here and never by position.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from enrichment.domain.mapping import FigiListing

# ISO country -> Bloomberg composite exchange code of that country. Taken from the
# "Composite Code" / "ISO COUNTRY" columns of OpenFIGI's MIC<->exchCode table
# (reference/openfigi/openfigi_rs_2025/enum_values/mapping_mic_figi-exchange-codes.csv);
# where that table lists pan-European or venue codes for a country (GB: EO, LI, ...)
# the country's own composite (GB: LN) is kept.
HOME_COMPOSITE_EXCH_CODES: Mapping[str, str] = {
    "US": "US",
    "GB": "LN",
    "DE": "GR",
    "FR": "FP",
    "NL": "NA",
    "BE": "BB",
    "IT": "IM",
    "ES": "SM",
    "PT": "PL",
    "IE": "ID",
    "CH": "SW",
    "AT": "AV",
    "SE": "SS",
    "DK": "DC",
    "NO": "NO",
    "FI": "FH",
    "PL": "PW",
    "JP": "JP",
    "HK": "HK",
    "CN": "CH",
    "KR": "KS",
    "TW": "TT",
    "SG": "SP",
    "IN": "IN",
    "AU": "AU",
    "NZ": "NZ",
    "CA": "CN",
    "MX": "MM",
    "BR": "BZ",
    "ZA": "SJ",
    "IL": "IT",
}

# After the home composite: other country composites, then US venues (NYSE UN, NASDAQ UW
# and UQ, NYSE American UA, NYSE Arca UP), for identifiers without a home market (tickers,
# FIGIs) and ISINs issued in one country but listed in another (KY, BM, JE, ...).
DEFAULT_EXCHANGE_PREFERENCE: tuple[str, ...] = (
    "US",
    "LN",
    "GR",
    "FP",
    "NA",
    "SW",
    "JP",
    "HK",
    "CN",
    "AU",
    "UN",
    "UW",
    "UQ",
    "UA",
    "UP",
)

_CUSIP_ID_TYPES = frozenset({"ID_CUSIP", "ID_CUSIP_8_CHR"})


def home_country(id_type: str, id_value: str) -> str | None:
    """The identifier's home market: the ISIN's country prefix, US for a CUSIP, else None
    (tickers, FIGIs and SEDOLs do not name one country)."""
    if id_type == "ID_ISIN":
        prefix = id_value.strip()[:2].upper()
        return prefix if len(prefix) == 2 and prefix.isalpha() else None
    if id_type in _CUSIP_ID_TYPES:
        return "US"
    return None


def select_primary_listing(
    *,
    id_type: str,
    id_value: str,
    listings: Sequence[FigiListing],
    exchange_preference: Sequence[str] = DEFAULT_EXCHANGE_PREFERENCE,
    home_composites: Mapping[str, str] | None = None,
) -> FigiListing | None:
    """Pick, in order: the composite row (figi == compositeFIGI) of the home market; the
    first exchange of `exchange_preference` present (its composite row first); any
    composite row; the first row. None only for an empty list."""
    if not listings:
        return None
    table = HOME_COMPOSITE_EXCH_CODES if home_composites is None else home_composites
    country = home_country(id_type, id_value)
    home_code = table.get(country) if country else None
    if home_code is not None:
        home = _first(row for row in listings if row.is_composite and row.exch_code == home_code)
        if home is not None:
            return home
    for code in exchange_preference:
        on_exchange = [row for row in listings if row.exch_code == code]
        if on_exchange:
            return _first(row for row in on_exchange if row.is_composite) or on_exchange[0]
    return _first(row for row in listings if row.is_composite) or listings[0]


def _first(rows: Iterable[FigiListing]) -> FigiListing | None:
    return next(iter(rows), None)
