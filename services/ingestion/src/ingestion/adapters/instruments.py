"""Postgres access for instrument versions: read the current version of many keys at once,
supersede them, and COPY new versions and their outbox rows in bulk."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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
    # LATERAL with LIMIT 1 (which the planner may not flatten into a join) makes it one
    # index probe per key: with no statistics yet for rows just copied, a join scans and
    # sorts every current instrument once per batch (quadratic in the file size).
    rows = await conn.execute(
        sa.text(
            "SELECT k.isin, k.mic, i.version, i.status, i.content_hash "
            "FROM unnest(CAST(:isins AS text[]), CAST(:mics AS text[])) AS k(isin, mic) "
            "CROSS JOIN LATERAL (SELECT version, status, content_hash FROM instruments "
            "WHERE isin = k.isin AND mic = k.mic AND superseded_at IS NULL LIMIT 1) AS i"
        ),
        {"isins": [k[0] for k in keys], "mics": [k[1] for k in keys]},
    )
    return {
        (r.isin, r.mic): CurrentVersion(
            version=r.version,
            status=InstrumentStatus(r.status),
            content_hash=r.content_hash,
        )
        for r in rows
    }


# The versions named by (isin, mic, version) stop being current. Each is found by its own
# primary-key probe (LATERAL, as in current_versions), then updated by its row address,
# which holds within the statement.
_SUPERSEDE = (
    "UPDATE instruments SET superseded_at = now() WHERE ctid = ANY(ARRAY("
    "SELECT i.ctid FROM unnest($1::text[], $2::text[], $3::int[]) AS k(isin, mic, version) "
    "CROSS JOIN LATERAL (SELECT ctid FROM instruments "
    "WHERE isin = k.isin AND mic = k.mic AND version = k.version) AS i))"
)


async def supersede(conn: AsyncConnection, versions: Sequence[tuple[str, str, int]]) -> None:
    """Close the given versions, each named by (ISIN, MIC, version): they stop being
    current (their rows stay as history)."""
    if versions:
        driver: Any = (await conn.get_raw_connection()).driver_connection
        await _supersede(driver, versions)


async def _supersede(driver: Any, versions: Sequence[tuple[str, str, int]]) -> None:
    isins, mics, numbers = zip(*versions, strict=True)
    await driver.execute(_SUPERSEDE, list(isins), list(mics), list(numbers))


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


STAGE = "instrument_stage"


@dataclass(frozen=True, slots=True)
class StagedMerge:
    """What merging a staged piece did, by the rows' 1-based places in the piece."""

    # Both by place, with the change each row was staged as:
    unchanged: dict[int, str]  # restated its key's current version: nothing stored
    known: dict[int, str]  # stored as the next version of a known key


async def create_stage(conn: AsyncConnection) -> None:
    """The temporary staging table of `merge_staged_text`, for this transaction: the
    COPY columns, and each row's place in its piece, numbered as COPY writes them."""
    driver: Any = (await conn.get_raw_connection()).driver_connection
    await driver.execute(
        f"CREATE TEMP TABLE {STAGE} ON COMMIT DROP AS "
        f"SELECT {', '.join(INSTRUMENT_COLUMNS)} FROM instruments WITH NO DATA"
    )
    await driver.execute(
        f"ALTER TABLE {STAGE} ADD COLUMN place bigint GENERATED ALWAYS AS IDENTITY"
    )


async def merge_staged_text(conn: AsyncConnection, text: bytes) -> StagedMerge | None:
    """Store a piece of new versions (COPY text, INSTRUMENT_COLUMNS, version 1) whose keys
    may be known: each row is compared with its key's current version (by content hash),
    an equal one is dropped, a different one supersedes it as the next version (a `created`
    change becomes `modified`). Set-based, through the staging table of `create_stage` (no
    index, no WAL). None when the piece holds a key twice (take the record-by-record path)."""
    driver: Any = (await conn.get_raw_connection()).driver_connection
    columns = ", ".join(INSTRUMENT_COLUMNS)
    await driver.execute(f"TRUNCATE {STAGE} RESTART IDENTITY")
    await driver.copy_to_table(
        STAGE, source=_OneBlock(text), columns=list(INSTRUMENT_COLUMNS), format="text"
    )
    twice = await driver.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM {STAGE} GROUP BY isin, mic HAVING count(*) > 1)"
    )
    if twice:
        return None
    # One index probe per staged row: LIMIT 1 (a key has one current version) keeps the
    # planner from flattening the LATERAL into a join that, with the statistics of a table
    # that has just been loaded, sorts every current instrument once per piece.
    rows = await driver.fetch(
        f"SELECT s.place, s.change, s.isin, s.mic, i.version, "
        f"i.content_hash = s.content_hash AS same "
        f"FROM {STAGE} s CROSS JOIN LATERAL (SELECT version, content_hash FROM instruments "
        "WHERE isin = s.isin AND mic = s.mic AND superseded_at IS NULL LIMIT 1) AS i"
    )
    unchanged = {r["place"]: r["change"] for r in rows if r["same"]}
    changed = [r for r in rows if not r["same"]]
    if changed:
        await _supersede(driver, [(r["isin"], r["mic"], r["version"]) for r in changed])
    rest = ", ".join(f"s.{c}" for c in INSTRUMENT_COLUMNS[5:])
    await driver.execute(
        f"INSERT INTO instruments ({columns}) "
        "SELECT s.isin, s.mic, coalesce(k.version, 0) + 1, s.status, "
        "CASE WHEN k.place IS NOT NULL AND s.change = 'created' THEN 'modified' "
        f"ELSE s.change END, {rest} "
        f"FROM {STAGE} s "
        "LEFT JOIN unnest($1::bigint[], $2::int[]) AS k(place, version) ON k.place = s.place "
        "LEFT JOIN unnest($3::bigint[]) AS u(place) ON u.place = s.place "
        "WHERE u.place IS NULL ORDER BY s.place",
        [r["place"] for r in changed],
        [r["version"] for r in changed],
        list(unchanged),
    )
    return StagedMerge(unchanged, {r["place"]: r["change"] for r in changed})


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
