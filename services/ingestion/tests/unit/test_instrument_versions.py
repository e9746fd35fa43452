"""The rules of an instrument's validity history: what a record adds, and when it adds
nothing (the reason re-ingesting a file publishes nothing new)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingestion.domain.instruments import (
    CurrentVersion,
    InstrumentStatus,
    content_hash,
    key_of,
    next_version,
)
from ingestion.domain.records import FirdsRecordType, Instrument
from ingestion.instrument_writer import recorded_envelope, recorded_event
from ingestion.parsers.instruments_table import instrument_from_record
from secmaster_common.events import Envelope, InstrumentRecorded


def instrument(**changes: object) -> Instrument:
    fields: dict[str, object] = {
        "row": 1,
        "isin": "DE000C4SH1Y6",
        "mic": "XEUR",
        "full_name": "UNHF SI 20210115 CS",
        "cfi": "FFSCSX",
        "currency": "USD",
        "valid_from": datetime(2019, 12, 23, 0, 50, tzinfo=UTC),
        "valid_to": datetime(2021, 1, 15, 23, 59, 59, tzinfo=UTC),
    }
    return Instrument.model_validate(fields | changes)


def stored(record: Instrument, *, version: int = 1) -> CurrentVersion:
    found = next_version(record, None)
    assert found is not None
    return CurrentVersion(version=version, status=found.status, content_hash=found.content_hash)


def test_first_sighting_is_created_and_a_restatement_adds_nothing() -> None:
    first = next_version(instrument(), None)
    assert first is not None
    assert (first.change, first.version, first.status) == ("created", 1, InstrumentStatus.ACTIVE)
    # a later file restates it on another row with another publication period
    again = instrument(row=77, publication_from=datetime(2021, 1, 16).date())
    assert next_version(again, stored(instrument())) is None


def test_a_changed_record_supersedes_as_a_modification() -> None:
    changed = next_version(instrument(full_name="RENAMED"), stored(instrument(), version=3))
    assert changed is not None
    assert (changed.change, changed.version) == ("modified", 4)


@pytest.mark.parametrize(
    ("kind", "change", "status"),
    [
        (FirdsRecordType.TERMINATED, "terminated", InstrumentStatus.TERMINATED),
        (FirdsRecordType.CANCELLED, "cancelled", InstrumentStatus.CANCELLED),
    ],
)
def test_termination_and_cancellation_are_their_own_changes(
    kind: FirdsRecordType, change: str, status: InstrumentStatus
) -> None:
    ended = next_version(instrument(record_type=kind), stored(instrument()))
    assert ended is not None
    assert (ended.change, ended.status, ended.version) == (change, status, 2)
    # the same termination arriving again (next day's delta) adds nothing
    assert next_version(instrument(record_type=kind), stored(instrument(record_type=kind))) is None


def test_a_record_without_venue_is_keyed_with_an_empty_mic() -> None:
    assert key_of(instrument(mic=None)) == ("DE000C4SH1Y6", "")
    assert content_hash(instrument(), InstrumentStatus.ACTIVE) != content_hash(
        instrument(), InstrumentStatus.TERMINATED
    )


def test_the_event_is_a_valid_contract_envelope() -> None:
    version = next_version(instrument(record_type=FirdsRecordType.TERMINATED), None)
    assert version is not None
    env = recorded_envelope(recorded_event(version, source="f.xml"), correlation_id="file:1")
    parsed = Envelope[InstrumentRecorded].model_validate_json(env.model_dump_json())
    assert parsed.event_type == "instrument.recorded" and parsed.producer == "ingestion"
    assert parsed.correlation_id == "file:1"
    payload = parsed.payload
    assert (payload.change, payload.isin, payload.mic) == ("terminated", "DE000C4SH1Y6", "XEUR")
    assert (payload.valid_from.isoformat(), payload.valid_to.isoformat()) == (  # type: ignore[union-attr]
        "2019-12-23",
        "2021-01-15",
    )


def test_a_raw_record_is_judged_like_a_csv_row() -> None:
    ok = instrument_from_record(
        {
            "ISIN": "US0378331005",
            "Name": "Apple",
            "MIC": "XNAS",
            "change": "terminated",
            "valid_to": "2024-05-01",
        }
    )
    assert isinstance(ok, Instrument)
    assert ok.record_type is FirdsRecordType.TERMINATED
    assert ok.valid_to == datetime(2024, 5, 1, tzinfo=UTC)
    bad_kind = instrument_from_record({"isin": "US0378331005", "name": "x", "change": "renamed"})
    assert not isinstance(bad_kind, Instrument) and "renamed" in bad_kind.detail
    no_id = instrument_from_record({"isin": "US0378331006", "name": "typo"})
    assert not isinstance(no_id, Instrument)
    assert no_id.reason == "no_usable_identifier" and "bad_check_digit" in no_id.detail
