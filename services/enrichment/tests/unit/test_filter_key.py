"""A cached row is asked again exactly as first asked: `filters_from_key` inverts
`MappingJob.filter_key` for every kind of filter (text, bool, number and date ranges)."""

from __future__ import annotations

import pytest

from enrichment.domain import MappingJob, filters_from_key


@pytest.mark.parametrize(
    "job",
    [
        MappingJob("ID_ISIN", "US0378331005"),
        MappingJob("ID_ISIN", "US0378331005", currency="EUR", mic_code="XETR"),
        MappingJob("TICKER", "IBM", security_type2="Common Stock", include_unlisted_equities=True),
        MappingJob(
            "BASE_TICKER",
            "IBM",
            security_type2="Option",
            strike=(100.5, None),
            expiration=("2025-01-01", "2025-06-30"),
            option_type="Call",
        ),
    ],
)
def test_filters_rebuilt_from_the_key_give_the_same_job(job: MappingJob) -> None:
    rebuilt = MappingJob.from_filters(job.id_type, job.id_value, filters_from_key(job.filter_key))
    assert rebuilt == job
    assert rebuilt.filter_key == job.filter_key


def test_a_malformed_key_is_refused() -> None:
    with pytest.raises(ValueError, match="malformed filter key"):
        filters_from_key("exchCode")
