"""Postgres access for instrument versions: read the current version of many keys at once,
supersede them, and COPY new versions and their outbox rows in bulk."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ingestion.domain.instruments import CurrentVersion, InstrumentStatus, InstrumentVersion

INSTRUMENT_COLUMNS = (
    "isin",
    "mic",
    "version",
    "status",
    "change",
    "full_name",
    "short_name",
    "cfi",
    "currency",
    "issuer_lei",
    "valid_from",
    "valid_to",
    "expiry_date",
    "competent_authority",
    "other_ids",
    "content_hash",
    "file_id",
    "source",
)
OUTBOX_COLUMNS = ("event_id", "topic", "key", "headers", "value")


async def current_versions(
    conn: AsyncConnection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], CurrentVersion]:
    """The current version of each (ISIN, MIC) in `keys` that has one; one round trip."""
    if not keys:
        return {}
    # LATERAL makes it one index probe per key: inside the loading transaction the planner
    # has no statistics for the rows just copied and otherwise picks a hash join over a
    # sequential scan of the whole table, once per batch (quadratic in the file size).
    rows = await conn.execute(
        sa.text(
            "SELECT k.isin, k.mic, i.id, i.version, i.status, i.content_hash "
            "FROM unnest(CAST(:isins AS text[]), CAST(:mics AS text[])) AS k(isin, mic) "
            "CROSS JOIN LATERAL (SELECT id, version, status, content_hash FROM instruments "
            "WHERE isin = k.isin AND mic = k.mic AND superseded_at IS NULL) AS i"
        ),
        {"isins": [k[0] for k in keys], "mics": [k[1] for k in keys]},
    )
    return {
        (r.isin, r.mic): CurrentVersion(
            row_id=r.id,
            version=r.version,
            status=InstrumentStatus(r.status),
            content_hash=r.content_hash,
        )
        for r in rows
    }


async def supersede(conn: AsyncConnection, row_ids: Sequence[int]) -> None:
    """Close the given versions: they stop being current (their rows stay as history)."""
    if row_ids:
        await conn.execute(
            sa.text(
                "UPDATE instruments SET superseded_at = now() "
                "WHERE id = ANY(CAST(:ids AS bigint[]))"
            ),
            {"ids": list(row_ids)},
        )


def version_record(
    version: InstrumentVersion, *, file_id: int | None, source: str
) -> tuple[Any, ...]:
    """One `instruments` row, in INSTRUMENT_COLUMNS order, for COPY."""
    r = version.record
    return (
        version.isin,
        version.mic,
        version.version,
        version.status.value,
        version.change,
        r.full_name,
        r.short_name,
        r.cfi,
        r.currency,
        r.issuer_lei,
        r.valid_from,
        r.valid_to,
        r.expiry_date,
        r.competent_authority,
        json.dumps(r.other_ids),
        version.content_hash,
        file_id,
        source,
    )


async def copy_text(conn: AsyncConnection, table: str, columns: Sequence[str], text: bytes) -> None:
    """COPY rows already in COPY's text format (tab-separated, \\N for NULL) into `table`."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_to_table(table, source=_OneBlock(text), columns=list(columns), format="text")


class _OneBlock:
    """An async iterable of one bytes block: what asyncpg's copy_to_table reads."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __aiter__(self) -> _OneBlock:
        return self

    async def __anext__(self) -> bytes:
        if not self._data:
            raise StopAsyncIteration
        data, self._data = self._data, b""
        return data


async def copy_rows(
    conn: AsyncConnection, table: str, columns: Sequence[str], records: Iterable[tuple[Any, ...]]
) -> None:
    """COPY rows into `table` on this connection, inside its open transaction.

    COPY moves rows several times faster than a multi-row INSERT (asyncpg's binary COPY
    protocol); the transaction must already have begun, which every caller's earlier
    statement guarantees.
    """
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    if driver is None:  # pragma: no cover - a pooled connection always has one
        raise RuntimeError("no driver connection")
    await driver.copy_records_to_table(table, records=list(records), columns=list(columns))
