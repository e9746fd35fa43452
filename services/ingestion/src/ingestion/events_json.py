"""The `reference.instruments.v1` envelope as JSON from a template, for bulk loads (a
module of its own, light to import: bulk-load worker processes import it)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from secmaster_common.events import InstrumentRecorded

PRODUCER = "ingestion"

# Quotes and escapes a string as pydantic writes it (non-ASCII kept as UTF-8), in C.
_json_text: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]
_JSON_HEAD = f'"event_type":"{InstrumentRecorded.event_type}","occurred_at":"'
_JSON_MIDDLE = f'","producer":"{PRODUCER}","correlation_id":'
_JSON_SCHEMA = f',"schema_version":{InstrumentRecorded.schema_version},"payload":{{"change":"'


def _json_or_null(value: str | None) -> str:
    return "null" if value is None else _json_text(value)


def utc_stamp(moment: datetime) -> str:
    """A UTC time as pydantic writes it on the wire (`...Z`)."""
    return moment.isoformat().replace("+00:00", "Z")


def recorded_json(
    *,
    event_id: str,
    occurred_at: str,
    correlation_id: str,
    change: str,
    isin: str,
    mic: str | None,
    name: str | None,
    cfi: str | None,
    currency: str | None,
    valid_from: str | None,
    valid_to: str | None,
    other_ids: dict[str, str],
    source_file: str | None,
) -> bytes:
    """A `reference.instruments.v1` envelope as JSON, byte for byte what
    `envelope_json(recorded_envelope(recorded_event(...)))` writes (a test holds them equal),
    built from a template: five times faster, for files of millions of records.
    `valid_from`/`valid_to` are ISO dates; `occurred_at` comes from `utc_stamp`."""
    ids = _encode_json(other_ids) if other_ids else "{}"
    return (
        f'{{"event_id":"{event_id}",{_JSON_HEAD}{occurred_at}{_JSON_MIDDLE}'
        f'{_json_text(correlation_id)}{_JSON_SCHEMA}{change}","isin":{_json_text(isin)},'
        f'"mic":{_json_or_null(mic)},"name":{_json_or_null(name)},"cfi":{_json_or_null(cfi)},'
        f'"currency":{_json_or_null(currency)},"valid_from":{_json_or_null(valid_from)},'
        f'"valid_to":{_json_or_null(valid_to)},"other_ids":{ids},'
        f'"source_file":{_json_or_null(source_file)}}}}}'
    ).encode()


_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


_CREATED = b'"payload":{"change":"created"'
_MODIFIED = b'"payload":{"change":"modified"'


def as_modification(value: bytes) -> bytes:
    """A `recorded_json` event of a `created` change, as the `modified` one it turns out to
    be once its key is found known (the template writes the change first in the payload)."""
    if _CREATED not in value:
        raise ValueError("not a created-instrument event of this template")
    return value.replace(_CREATED, _MODIFIED, 1)
