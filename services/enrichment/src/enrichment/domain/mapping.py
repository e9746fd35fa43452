"""What we ask OpenFIGI (`MappingJob`), what one listing is (`FigiListing`) and what a job's
answer means for us (`MappingResult`: mapped, not found, or invalid)."""

from __future__ import annotations

import enum
import operator
from collections.abc import Sequence
from dataclasses import dataclass

from enrichment.domain.primary_listing import DEFAULT_EXCHANGE_PREFERENCE, select_primary_listing

# The 28 idType values `GET /v3/mapping/values/idType` returned on 2023-04-25 and on
# 2025-09-30 (specs/openfigi.md section 1); the schema's enum lists only 24 of them.
ID_TYPES: frozenset[str] = frozenset(
    {
        "BARCLAYS_TICKER",
        "BASE_TICKER",
        "COMPOSITE_ID_BB_GLOBAL",
        "ID_BB",
        "ID_BB_8_CHR",
        "ID_BB_GLOBAL",
        "ID_BB_GLOBAL_SHARE_CLASS_LEVEL",
        "ID_BB_SEC_NUM_DES",
        "ID_BB_UNIQUE",
        "ID_CINS",
        "ID_COMMON",
        "ID_CUSIP",
        "ID_CUSIP_8_CHR",
        "ID_EXCH_SYMBOL",
        "ID_FULL_EXCHANGE_SYMBOL",
        "ID_ISIN",
        "ID_ITALY",
        "ID_SEDOL",
        "ID_SHORT_CODE",
        "ID_TRACE",
        "ID_WERTPAPIER",
        "OCC_SYMBOL",
        "OPRA_SYMBOL",
        "TICKER",
        "TRADEBOOK_TICKER",
        "TRADING_SYSTEM_IDENTIFIER",
        "UNIQUE_ID_FUT_OPT",
        "VENDOR_INDEX_CODE",
    }
)

NumberRange = tuple[float | None, float | None]
DateRange = tuple[str | None, str | None]

# Python attribute name -> OpenFIGI field name, for every filter a v3 MappingJob accepts.
FILTER_FIELDS: dict[str, str] = {
    "exch_code": "exchCode",
    "mic_code": "micCode",
    "currency": "currency",
    "market_sec_des": "marketSecDes",
    "security_type": "securityType",
    "security_type2": "securityType2",
    "include_unlisted_equities": "includeUnlistedEquities",
    "option_type": "optionType",
    "strike": "strike",
    "contract_size": "contractSize",
    "coupon": "coupon",
    "expiration": "expiration",
    "maturity": "maturity",
    "state_code": "stateCode",
}


@dataclass(frozen=True, slots=True)
class MappingJob:
    """One identifier to map, with the filters that narrow OpenFIGI's answer.

    Two jobs with the same id but different filters are different questions (and
    different cache entries): `TICKER IBM` gives 73 rows, with `securityType2` 61.
    """

    id_type: str
    id_value: str
    exch_code: str | None = None
    mic_code: str | None = None
    currency: str | None = None
    market_sec_des: str | None = None
    security_type: str | None = None
    security_type2: str | None = None
    include_unlisted_equities: bool | None = None
    option_type: str | None = None
    strike: NumberRange | None = None
    contract_size: NumberRange | None = None
    coupon: NumberRange | None = None
    expiration: DateRange | None = None
    maturity: DateRange | None = None
    state_code: str | None = None

    def filters(self) -> dict[str, object]:
        """The filters that are set, under their OpenFIGI names."""
        out: dict[str, object] = {}
        for attr, api_name in FILTER_FIELDS.items():
            value = getattr(self, attr)
            if value is not None:
                out[api_name] = list(value) if isinstance(value, tuple) else value
        return out

    @property
    def filter_key(self) -> str:
        """A stable text key for the filters ("" when none): `name=value` pairs sorted by
        OpenFIGI field name and joined by `|`, so equal filters always give equal keys."""
        # Almost every job has no filter: one C-level read of all fields answers that
        # (a cache lookup of 100,000 jobs asks this 100,000 times).
        if _filter_values(self).count(None) == len(FILTER_FIELDS):
            return ""
        parts = []
        for name, value in sorted(self.filters().items()):
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, list):
                text = ",".join("" if v is None else _number_text(v) for v in value)
            else:
                text = str(value)
            parts.append(f"{name}={text}")
        return "|".join(parts)

    @classmethod
    def from_filters(cls, id_type: str, id_value: str, filters: dict[str, object]) -> MappingJob:
        """Build a job from OpenFIGI-named filters (`{"exchCode": "US"}`); unknown names raise."""
        by_api_name = {api: attr for attr, api in FILTER_FIELDS.items()}
        kwargs: dict[str, object] = {}
        for name, value in filters.items():
            if name not in by_api_name:
                raise ValueError(f"unknown OpenFIGI mapping filter {name!r}")
            kwargs[by_api_name[name]] = tuple(value) if isinstance(value, list) else value
        return cls(id_type, id_value, **kwargs)  # type: ignore[arg-type]


_filter_values = operator.attrgetter(*FILTER_FIELDS)

_RANGE_FILTERS = {"strike": float, "contractSize": float, "coupon": float,
                  "expiration": str, "maturity": str}  # fmt: skip


def filters_from_key(filter_key: str) -> dict[str, object]:
    """The OpenFIGI-named filters a `MappingJob.filter_key` was made from (its inverse),
    so a cached row can be asked again exactly as it was asked first."""
    out: dict[str, object] = {}
    if not filter_key:
        return out
    for part in filter_key.split("|"):
        name, sep, text = part.partition("=")
        if not sep:
            raise ValueError(f"malformed filter key part {part!r} in {filter_key!r}")
        if name == "includeUnlistedEquities":
            out[name] = text == "true"
        elif name in _RANGE_FILTERS:
            cast = _RANGE_FILTERS[name]
            out[name] = [None if v == "" else cast(v) for v in text.split(",")]
        else:
            out[name] = text
    return out


def _number_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True, slots=True)
class FigiListing:
    """One row of a mapping answer: one FIGI, usually one listing on one exchange."""

    figi: str
    name: str | None = None
    ticker: str | None = None
    exch_code: str | None = None
    composite_figi: str | None = None
    security_type: str | None = None
    market_sector: str | None = None
    share_class_figi: str | None = None
    security_type2: str | None = None
    security_description: str | None = None
    metadata: str | None = None

    @property
    def is_composite(self) -> bool:
        """True for the row that stands for the whole country (its FIGI is the composite)."""
        return self.composite_figi is not None and self.figi == self.composite_figi


class MappingStatus(enum.StrEnum):
    MAPPED = "mapped"
    NOT_FOUND = "not_found"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class MappingResult:
    """OpenFIGI's answer to one job.

    `NOT_FOUND` comes from a `warning` ("No identifier found.") and is a real negative
    answer; `INVALID` comes from an `error` (malformed value, bad idType, or a server
    side failure) and says nothing about the identifier, so it must never be cached as
    a negative result (eBull's #2304 mislabelled 14,477 invalid CUSIPs that way).
    """

    job: MappingJob
    status: MappingStatus
    listings: tuple[FigiListing, ...] = ()
    message: str | None = None

    @classmethod
    def mapped(cls, job: MappingJob, listings: Sequence[FigiListing]) -> MappingResult:
        if not listings:
            raise ValueError("a mapped result needs at least one listing")
        return cls(job, MappingStatus.MAPPED, tuple(listings))

    @classmethod
    def not_found(cls, job: MappingJob, warning: str = "No identifier found.") -> MappingResult:
        return cls(job, MappingStatus.NOT_FOUND, (), warning)

    @classmethod
    def invalid(cls, job: MappingJob, error: str) -> MappingResult:
        return cls(job, MappingStatus.INVALID, (), error)

    @property
    def is_negative(self) -> bool:
        """A cacheable "this identifier does not exist" (only a warning qualifies)."""
        return self.status is MappingStatus.NOT_FOUND

    def primary_listing(
        self,
        *,
        exchange_preference: Sequence[str] = DEFAULT_EXCHANGE_PREFERENCE,
        home_composites: dict[str, str] | None = None,
    ) -> FigiListing | None:
        """The listing we publish for this job (None unless mapped); see
        `select_primary_listing`."""
        if self.status is not MappingStatus.MAPPED:
            return None
        return select_primary_listing(
            id_type=self.job.id_type,
            id_value=self.job.id_value,
            listings=self.listings,
            exchange_preference=exchange_preference,
            home_composites=home_composites,
        )


__all__ = [
    "FILTER_FIELDS",
    "ID_TYPES",
    "FigiListing",
    "MappingJob",
    "MappingResult",
    "MappingStatus",
    "filters_from_key",
]
