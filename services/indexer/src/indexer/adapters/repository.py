"""Postgres access for the indexer schema: definitions, the holdings/securities/prices it
keeps from events, and the levels and rebalances it computed."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection


async def save_definition(conn: AsyncConnection, index_id: str, definition: dict[str, Any]) -> int:
    """Store a definition as the next version unless it equals the latest; returns the version."""
    latest = (
        await conn.execute(
            sa.text(
                "SELECT version, definition FROM index_definitions WHERE index_id = :i "
                "ORDER BY version DESC LIMIT 1"
            ),
            {"i": index_id},
        )
    ).first()
    body = {k: v for k, v in definition.items() if k != "version"}
    if (
        latest is not None
        and {k: v for k, v in latest.definition.items() if k != "version"} == body
    ):
        return int(latest.version)
    version = (int(latest.version) + 1) if latest is not None else 1
    await conn.execute(
        sa.text(
            "INSERT INTO index_definitions (index_id, version, definition) "
            "VALUES (:i, :v, CAST(:d AS jsonb))"
        ),
        {"i": index_id, "v": version, "d": json.dumps({**body, "version": version}, default=str)},
    )
    return version


async def latest_definitions(
    conn: AsyncConnection, index_id: str | None = None
) -> list[dict[str, Any]]:
    rows = await conn.execute(
        sa.text(
            "SELECT DISTINCT ON (index_id) index_id, version, definition FROM index_definitions "
            "WHERE CAST(:i AS text) IS NULL OR index_id = :i ORDER BY index_id, version DESC"
        ),
        {"i": index_id},
    )
    return [dict(r._mapping) for r in rows]


async def save_holdings_chunk(
    conn: AsyncConnection,
    *,
    snapshot_id: uuid.UUID,
    chunk_index: int,
    chunk_count: int,
    portfolio_id: str,
    as_of: dt.date,
    holdings: list[dict[str, Any]],
) -> None:
    await conn.execute(
        sa.text(
            "INSERT INTO holdings_chunks (snapshot_id, chunk_index, chunk_count, portfolio_id, as_of, holdings) "
            "VALUES (:s, :ci, :cc, :p, :a, CAST(:h AS jsonb)) ON CONFLICT DO NOTHING"
        ),
        {
            "s": snapshot_id,
            "ci": chunk_index,
            "cc": chunk_count,
            "p": portfolio_id,
            "a": as_of,
            "h": json.dumps(holdings, default=str),
        },
    )


async def complete_snapshots(
    conn: AsyncConnection, portfolio_id: str
) -> list[tuple[dt.date, list[dict[str, Any]]]]:
    """Complete snapshots of a portfolio (every chunk received), the latest per as-of date."""
    rows = await conn.execute(
        sa.text(
            "WITH complete AS ("
            "  SELECT snapshot_id, as_of, max(received_at) AS received FROM holdings_chunks "
            "  WHERE portfolio_id = :p GROUP BY snapshot_id, as_of "
            "  HAVING count(*) = max(chunk_count)), "
            "latest AS (SELECT DISTINCT ON (as_of) snapshot_id, as_of FROM complete ORDER BY as_of, received DESC) "
            "SELECT l.as_of, c.holdings FROM latest l JOIN holdings_chunks c USING (snapshot_id) "
            "ORDER BY l.as_of, c.chunk_index"
        ),
        {"p": portfolio_id},
    )
    out: dict[dt.date, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r.as_of, []).extend(r.holdings)
    return sorted(out.items())


async def portfolios_of_definitions(conn: AsyncConnection) -> dict[str, list[str]]:
    """portfolio id -> index ids whose universe is that portfolio."""
    out: dict[str, list[str]] = {}
    for d in await latest_definitions(conn):
        portfolio = (d["definition"].get("universe") or {}).get("portfolio")
        if portfolio:
            out.setdefault(portfolio, []).append(d["index_id"])
    return out


async def save_security(
    conn: AsyncConnection,
    *,
    id_type: str,
    id_value: str,
    ticker: str | None,
    figi: str | None,
    status: str,
) -> None:
    await conn.execute(
        sa.text(
            "INSERT INTO securities (id_type, id_value, ticker, figi, status) VALUES (:t, :v, :k, :f, :s) "
            "ON CONFLICT (id_type, id_value) DO UPDATE SET ticker = EXCLUDED.ticker, figi = EXCLUDED.figi, "
            "status = EXCLUDED.status, updated_at = now()"
        ),
        {"t": id_type, "v": id_value, "k": ticker, "f": figi, "s": status},
    )


async def securities(conn: AsyncConnection) -> dict[tuple[str, str], dict[str, Any]]:
    rows = await conn.execute(
        sa.text("SELECT id_type, id_value, ticker, figi, status FROM securities")
    )
    return {(r.id_type, r.id_value): dict(r._mapping) for r in rows}


async def save_prices(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    await conn.execute(
        sa.text(
            "INSERT INTO prices (symbol, trading_date, close, adj_close, provider) "
            "VALUES (:symbol, :trading_date, :close, :adj_close, :provider) "
            "ON CONFLICT (symbol, trading_date) DO UPDATE SET close = EXCLUDED.close, "
            "adj_close = EXCLUDED.adj_close, provider = EXCLUDED.provider"
        ),
        list(rows),
    )


async def prices(conn: AsyncConnection, symbols: Sequence[str]) -> list[tuple[dt.date, str, float]]:
    rows = await conn.execute(
        sa.text(
            "SELECT trading_date, symbol, close FROM prices WHERE symbol = ANY(:s) ORDER BY trading_date"
        ),
        {"s": list(symbols)},
    )
    return [(r.trading_date, r.symbol, float(r.close)) for r in rows]


async def stored_levels(
    conn: AsyncConnection, index_id: str, version: int
) -> dict[dt.date, tuple[float, float]]:
    rows = await conn.execute(
        sa.text(
            "SELECT trading_date, level, divisor FROM index_levels WHERE index_id = :i AND version = :v"
        ),
        {"i": index_id, "v": version},
    )
    return {r.trading_date: (float(r.level), float(r.divisor)) for r in rows}


async def upsert_levels(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    await conn.execute(
        sa.text(
            "INSERT INTO index_levels (index_id, version, trading_date, level, divisor, constituents, stale_prices) "
            "VALUES (:index_id, :version, :trading_date, :level, :divisor, :constituents, CAST(:stale AS jsonb)) "
            "ON CONFLICT (index_id, version, trading_date) DO UPDATE SET level = EXCLUDED.level, "
            "divisor = EXCLUDED.divisor, constituents = EXCLUDED.constituents, "
            "stale_prices = EXCLUDED.stale_prices, computed_at = now()"
        ),
        [{**r, "stale": json.dumps(r["stale"])} for r in rows],
    )


async def upsert_rebalance(conn: AsyncConnection, row: dict[str, Any]) -> bool:
    """True when this rebalance is new or changed."""
    result = await conn.execute(
        sa.text(
            "INSERT INTO rebalances (index_id, version, trading_date, divisor, allocations) "
            "VALUES (:index_id, :version, :trading_date, :divisor, CAST(:allocations AS jsonb)) "
            "ON CONFLICT (index_id, version, trading_date) DO UPDATE SET divisor = EXCLUDED.divisor, "
            "allocations = EXCLUDED.allocations "
            "WHERE rebalances.allocations <> EXCLUDED.allocations OR rebalances.divisor <> EXCLUDED.divisor "
            "RETURNING 1"
        ),
        {**row, "allocations": json.dumps(row["allocations"])},
    )
    return result.first() is not None


async def levels(
    conn: AsyncConnection, index_id: str, start: dt.date | None, end: dt.date | None
) -> list[dict[str, Any]]:
    rows = await conn.execute(
        sa.text(
            "SELECT l.trading_date, l.level, l.divisor, l.constituents, l.stale_prices, l.version "
            "FROM index_levels l WHERE l.index_id = :i AND l.version = "
            "(SELECT max(version) FROM index_levels WHERE index_id = :i) "
            "AND (CAST(:a AS date) IS NULL OR l.trading_date >= :a) "
            "AND (CAST(:z AS date) IS NULL OR l.trading_date <= :z) ORDER BY l.trading_date"
        ),
        {"i": index_id, "a": start, "z": end},
    )
    return [dict(r._mapping) for r in rows]
