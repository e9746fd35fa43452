"""The enrichment domain: mapping jobs, FIGI listings, mapping results and the
primary-listing rule. Pure: no I/O, no framework imports."""

from enrichment.domain.identifiers import guess_id_type, is_cusip, is_figi, is_isin, is_sedol
from enrichment.domain.mapping import (
    FILTER_FIELDS,
    ID_TYPES,
    FigiListing,
    MappingJob,
    MappingResult,
    MappingStatus,
    filters_from_key,
)
from enrichment.domain.primary_listing import (
    DEFAULT_EXCHANGE_PREFERENCE,
    HOME_COMPOSITE_EXCH_CODES,
    home_country,
    select_primary_listing,
)

__all__ = [
    "DEFAULT_EXCHANGE_PREFERENCE",
    "FILTER_FIELDS",
    "HOME_COMPOSITE_EXCH_CODES",
    "ID_TYPES",
    "FigiListing",
    "MappingJob",
    "MappingResult",
    "MappingStatus",
    "filters_from_key",
    "guess_id_type",
    "home_country",
    "is_cusip",
    "is_figi",
    "is_isin",
    "is_sedol",
    "select_primary_listing",
]
