"""Postgres access for the ingestion schema: file registry, holdings rows, quarantine
(a row from a file names its file; one from a topic names its source and event id)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

files = sa.table(
    "files",
    sa.column("id"),
    sa.column("sha256"),
    sa.column("source"),
    sa.column("format"),
    sa.column("portfolio_id"),
    sa.column("as_of"),
    sa.column("rows_read"),
    sa.column("records"),
    sa.column("published"),
    sa.column("quarantined"),
    sa.column("status"),
)


async def find_file(
    conn: AsyncConnection, *, sha256: str, fmt: str, portfolio_id: str, as_of: dt.date | None
) -> int | None:
    row = (
        await conn.execute(
            sa.text(
                "SELECT id FROM files WHERE sha256 = :sha AND format = :fmt AND portfolio_id = :p "
                "AND coalesce(as_of, '1900-01-01') = coalesce(CAST(:as_of AS date), '1900-01-01')"
            ),
            {"sha": sha256, "fmt": fmt, "p": portfolio_id, "as_of": as_of},
        )
    ).first()
    return int(row[0]) if row else None


async def register_file(
    conn: AsyncConnection,
    *,
    sha256: str,
    source: str,
    fmt: str,
    portfolio_id: str,
    as_of: dt.date | None,
) -> int:
    return int(
        (
            await conn.execute(
                sa.insert(files)
                .values(
                    sha256=sha256, source=source, format=fmt, portfolio_id=portfolio_id, as_of=as_of
                )
                .returning(files.c.id)
            )
        ).scalar_one()
    )


async def set_file_sha256(conn: AsyncConnection, file_id: int, sha256: str) -> None:
    """The checksum of a file registered before it was known (a bulk load computes it
    while it loads)."""
    await conn.execute(sa.update(files).where(files.c.id == file_id).values(sha256=sha256))


async def finish_file(
    conn: AsyncConnection,
    file_id: int,
    *,
    rows_read: int,
    records: int,
    published: int,
    quarantined: int,
) -> None:
    await conn.execute(
        sa.update(files)
        .where(files.c.id == file_id)
        .values(rows_read=rows_read, records=records, published=published, quarantined=quarantined)
    )


async def insert_holdings(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    await conn.execute(
        sa.text(
            "INSERT INTO holdings (file_id, line_no, portfolio_id, as_of, identifiers, quantity, "
            "market_value, currency, name) VALUES (:file_id, :line_no, :portfolio_id, :as_of, "
            "CAST(:identifiers AS jsonb), :quantity, :market_value, :currency, :name)"
        ),
        [{**r, "identifiers": json.dumps(r["identifiers"])} for r in rows],
    )


async def insert_quarantine(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    await conn.execute(
        sa.text(
            "INSERT INTO quarantine (file_id, row_no, reason, detail, raw, source, event_id) "
            "VALUES (:file_id, :row_no, :reason, :detail, CAST(:raw AS jsonb), :source, :event_id)"
        ),
        [
            {
                "file_id": r.get("file_id"),
                "row_no": r.get("row_no"),
                "reason": r["reason"],
                "detail": r["detail"],
                "raw": json.dumps(r.get("raw")),
                "source": r.get("source"),
                "event_id": r.get("event_id"),
            }
            for r in rows
        ],
    )


async def file_counts(conn: AsyncConnection, file_id: int) -> tuple[int, int, dict[str, int]]:
    """(rows read, records kept, quarantined by reason) of a registered file."""
    read, records = (
        await conn.execute(
            sa.select(files.c.rows_read, files.c.records).where(files.c.id == file_id)
        )
    ).one()
    reasons = await conn.execute(
        sa.text("SELECT reason, count(*) FROM quarantine WHERE file_id = :id GROUP BY reason"),
        {"id": file_id},
    )
    return int(read), int(records), {str(r): int(n) for r, n in reasons}
