"""Reason codes: why an identifier was judged unusable or why an input row was quarantined."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Stable, machine-readable codes; they appear in `parse --json` rejects and `id validate`."""

    # identifier and code checks
    EMPTY = "empty"
    NOT_AVAILABLE = "not_available"
    BAD_FORMAT = "bad_format"
    BAD_LENGTH = "bad_length"
    BAD_CHECK_DIGIT = "bad_check_digit"
    UNKNOWN_COUNTRY = "unknown_country"
    RESERVED_PREFIX = "reserved_prefix"
    PLACEHOLDER = "placeholder"
    CASH_PLACEHOLDER = "cash_placeholder"
    SAMPLE_VALUE = "sample_value"
    LOST_LEADING_ZERO = "lost_leading_zero"
    UNKNOWN_TYPE = "unknown_type"
    UNKNOWN_CFI = "unknown_cfi"
    UNKNOWN_MIC = "unknown_mic"
    UNKNOWN_CURRENCY = "unknown_currency"
    BAD_DATE = "bad_date"
    BAD_NUMBER = "bad_number"
    # row-level outcomes
    MISSING_FIELD = "missing_field"
    MISSING_ISIN = "missing_isin"
    MISSING_MIC = "missing_mic"
    INVALID_ISIN = "invalid_isin"
    INVALID_MIC = "invalid_mic"
    NO_USABLE_IDENTIFIER = "no_usable_identifier"
