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


async def save_definition(
    conn: AsyncConnection, index_id: str, definition: dict[str, Any]
) -> tuple[int, bool]:
    """Store a definition as the next version unless it equals the latest; returns the
    version and whether it is new."""
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
        return int(latest.version), False
    version = (int(latest.version) + 1) if latest is not None else 1
    await conn.execute(
        sa.text(
            "INSERT INTO index_definitions (index_id, version, definition) "
            "VALUES (:i, :v, CAST(:d AS jsonb))"
        ),
        {"i": index_id, "v": version, "d": json.dumps({**body, "version": version}, default=str)},
    )
    return version, True


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
            "INSERT INTO holdings_chunks "
            "(snapshot_id, chunk_index, chunk_count, portfolio_id, as_of, holdings) "
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
            "latest AS (SELECT DISTINCT ON (as_of) snapshot_id, as_of FROM complete "
            "  ORDER BY as_of, received DESC) "
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
) -> bool:
    """Store a mapping; True when it is new or differs from the stored one."""
    result = await conn.execute(
        sa.text(
            "INSERT INTO securities (id_type, id_value, ticker, figi, status) "
            "VALUES (:t, :v, :k, :f, :s) ON CONFLICT (id_type, id_value) DO UPDATE SET "
            "ticker = EXCLUDED.ticker, figi = EXCLUDED.figi, "
            "status = EXCLUDED.status, updated_at = now() "
            "WHERE (securities.ticker, securities.figi, securities.status) IS DISTINCT FROM "
            "(EXCLUDED.ticker, EXCLUDED.figi, EXCLUDED.status) RETURNING 1"
        ),
        {"t": id_type, "v": id_value, "k": ticker, "f": figi, "s": status},
    )
    return result.first() is not None


async def securities(conn: AsyncConnection) -> dict[tuple[str, str], dict[str, Any]]:
    rows = await conn.execute(
        sa.text("SELECT id_type, id_value, ticker, figi, status FROM securities")
    )
    return {(r.id_type, r.id_value): dict(r._mapping) for r in rows}


async def save_prices(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Upsert closes in one statement; returns the symbols whose stored closes changed
    (a redelivered or repeated batch changes nothing)."""
    if not rows:
        return set()
    result = await conn.execute(
        sa.text(
            "INSERT INTO prices (symbol, trading_date, close, adj_close, provider, basis) "
            "SELECT * FROM unnest(CAST(:s AS text[]), CAST(:d AS date[]), CAST(:c AS float8[]), "
            "CAST(:a AS float8[]), CAST(:p AS text[]), CAST(:b AS text[])) "
            "ON CONFLICT (symbol, trading_date) DO UPDATE SET close = EXCLUDED.close, "
            "adj_close = EXCLUDED.adj_close, provider = EXCLUDED.provider, basis = EXCLUDED.basis "
            "WHERE (prices.close, prices.adj_close, prices.basis) IS DISTINCT FROM "
            "(EXCLUDED.close, EXCLUDED.adj_close, EXCLUDED.basis) "
            "RETURNING symbol"
        ),
        {
            "s": [r["symbol"] for r in rows],
            "d": [r["trading_date"] for r in rows],
            "c": [r["close"] for r in rows],
            "a": [r["adj_close"] for r in rows],
            "p": [r["provider"] for r in rows],
            "b": [r.get("basis", "raw") for r in rows],
        },
    )
    return {r.symbol for r in result}


async def save_actions(conn: AsyncConnection, symbol: str, actions: Sequence[Any]) -> bool:
    """Upsert splits and dividends of one symbol; True when something new or changed."""
    if not actions:
        return False
    result = await conn.execute(
        sa.text(
            "INSERT INTO corporate_actions (symbol, ex_date, kind, value) "
            "SELECT :s, * FROM unnest(CAST(:d AS date[]), CAST(:k AS text[]), "
            "CAST(:v AS float8[])) "
            "ON CONFLICT (symbol, ex_date, kind) DO UPDATE SET value = EXCLUDED.value "
            "WHERE corporate_actions.value IS DISTINCT FROM EXCLUDED.value RETURNING 1"
        ),
        {
            "s": symbol,
            "d": [a.date for a in actions],
            "k": [a.type for a in actions],
            "v": [a.ratio if a.type == "split" else a.amount for a in actions],
        },
    )
    return result.first() is not None


async def actions(
    conn: AsyncConnection, symbols: Sequence[str]
) -> list[tuple[str, dt.date, str, float, str]]:
    """(symbol, ex-date, kind, value, basis of the symbol's latest close) for `symbols`."""
    rows = await conn.execute(
        sa.text(
            "SELECT a.symbol, a.ex_date, a.kind, a.value, coalesce(("
            "  SELECT p.basis FROM prices p WHERE p.symbol = a.symbol "
            "  ORDER BY p.trading_date DESC LIMIT 1), 'raw') AS basis "
            "FROM corporate_actions a WHERE a.symbol = ANY(:s) ORDER BY a.ex_date, a.symbol"
        ),
        {"s": list(symbols)},
    )
    return [(r.symbol, r.ex_date, r.kind, float(r.value), r.basis) for r in rows]


async def price_symbols(conn: AsyncConnection) -> list[str]:
    rows = await conn.execute(sa.text("SELECT DISTINCT symbol FROM prices ORDER BY symbol"))
    return [r.symbol for r in rows]


async def prices(conn: AsyncConnection, symbols: Sequence[str]) -> list[tuple[dt.date, str, float]]:
    rows = await conn.execute(
        sa.text(
            "SELECT trading_date, symbol, close FROM prices WHERE symbol = ANY(:s) "
            "ORDER BY trading_date"
        ),
        {"s": list(symbols)},
    )
    return [(r.trading_date, r.symbol, float(r.close)) for r in rows]


async def stored_levels(
    conn: AsyncConnection, index_id: str, version: int
) -> dict[dt.date, tuple[float, float, int, tuple[str, ...]]]:
    """date -> (level, divisor, constituents, flags) of one index version."""
    rows = await conn.execute(
        sa.text(
            "SELECT trading_date, level, divisor, constituents, stale_prices FROM index_levels "
            "WHERE index_id = :i AND version = :v"
        ),
        {"i": index_id, "v": version},
    )
    return {
        r.trading_date: (
            float(r.level),
            float(r.divisor),
            int(r.constituents),
            tuple(r.stale_prices),
        )
        for r in rows
    }


async def upsert_levels(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    await conn.execute(
        sa.text(
            "INSERT INTO index_levels "
            "(index_id, version, trading_date, level, divisor, constituents, stale_prices) "
            "VALUES (:index_id, :version, :trading_date, :level, :divisor, :constituents, "
            "CAST(:stale AS jsonb)) "
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
            "ON CONFLICT (index_id, version, trading_date) DO UPDATE SET "
            "divisor = EXCLUDED.divisor, allocations = EXCLUDED.allocations "
            "WHERE rebalances.allocations <> EXCLUDED.allocations "
            "OR rebalances.divisor <> EXCLUDED.divisor "
            "RETURNING 1"
        ),
        {**row, "allocations": json.dumps(row["allocations"])},
    )
    return result.first() is not None


async def levels(
    conn: AsyncConnection,
    index_id: str,
    start: dt.date | None,
    end: dt.date | None,
    version: int | None = None,
) -> list[dict[str, Any]]:
    """Levels of one version (default: the newest version that has levels), by date."""
    rows = await conn.execute(
        sa.text(
            "SELECT l.trading_date, l.level, l.divisor, l.constituents, l.stale_prices, l.version "
            "FROM index_levels l WHERE l.index_id = :i AND l.version = "
            "coalesce(CAST(:v AS integer), "
            "(SELECT max(version) FROM index_levels WHERE index_id = :i)) "
            "AND (CAST(:a AS date) IS NULL OR l.trading_date >= :a) "
            "AND (CAST(:z AS date) IS NULL OR l.trading_date <= :z) ORDER BY l.trading_date"
        ),
        {"i": index_id, "a": start, "z": end, "v": version},
    )
    return [dict(r._mapping) for r in rows]


async def definition_versions(conn: AsyncConnection, index_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        sa.text(
            "SELECT d.version, d.created_at, count(l.trading_date) AS levels, "
            "min(l.trading_date) AS first_date, max(l.trading_date) AS last_date "
            "FROM index_definitions d LEFT JOIN index_levels l "
            "ON l.index_id = d.index_id AND l.version = d.version "
            "WHERE d.index_id = :i GROUP BY d.version, d.created_at ORDER BY d.version"
        ),
        {"i": index_id},
    )
    return [dict(r._mapping) for r in rows]


async def index_summaries(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Per index: its latest definition, last computation status, pending recompute, and
    the span of the latest version's levels."""
    rows = await conn.execute(
        sa.text(
            "SELECT d.index_id, d.version, d.definition, s.status, s.detail, s.computed_at, "
            "p.reason AS pending_reason, p.attempts AS pending_attempts, p.last_error, "
            "(SELECT count(*) FROM index_levels l WHERE l.index_id = d.index_id "
            " AND l.version = d.version) AS levels, "
            "(SELECT max(trading_date) FROM index_levels l WHERE l.index_id = d.index_id "
            " AND l.version = d.version) AS last_date "
            "FROM (SELECT DISTINCT ON (index_id) index_id, version, definition "
            "      FROM index_definitions ORDER BY index_id, version DESC) d "
            "LEFT JOIN index_status s USING (index_id) "
            "LEFT JOIN pending_recomputes p USING (index_id) ORDER BY d.index_id"
        )
    )
    return [dict(r._mapping) for r in rows]


# Which indexes read which symbols. ANY_SYMBOL stands for "every priced symbol" (a top-N
# rule without candidates); symbols cannot contain whitespace but may be "*", so the
# marker has a space in it.
ANY_SYMBOL = "* any"


async def replace_members(conn: AsyncConnection, index_id: str, symbols: Sequence[str]) -> None:
    await conn.execute(sa.text("DELETE FROM index_members WHERE index_id = :i"), {"i": index_id})
    if symbols:
        await conn.execute(
            sa.text(
                "INSERT INTO index_members (index_id, symbol) SELECT :i, unnest(CAST(:s AS text[]))"
            ),
            {"i": index_id, "s": sorted(set(symbols))},
        )


async def members(conn: AsyncConnection, index_id: str) -> list[str]:
    rows = await conn.execute(
        sa.text("SELECT symbol FROM index_members WHERE index_id = :i ORDER BY symbol"),
        {"i": index_id},
    )
    return [r.symbol for r in rows]


async def indexes_reading(conn: AsyncConnection, symbols: Sequence[str]) -> list[str]:
    """Indexes whose inputs include any of `symbols`."""
    rows = await conn.execute(
        sa.text(
            "SELECT DISTINCT index_id FROM index_members "
            "WHERE symbol = ANY(CAST(:s AS text[])) OR symbol = :any ORDER BY index_id"
        ),
        {"s": list(symbols), "any": ANY_SYMBOL},
    )
    return [r.index_id for r in rows]


async def portfolios_holding(conn: AsyncConnection, id_type: str, id_value: str) -> list[str]:
    """Portfolios with a holding identified by (id_type, id_value) in any snapshot."""
    rows = await conn.execute(
        sa.text(
            "SELECT DISTINCT portfolio_id FROM holdings_chunks WHERE holdings @> CAST(:j AS jsonb)"
        ),
        {"j": json.dumps([{"identifiers": {id_type: id_value}}])},
    )
    return [r.portfolio_id for r in rows]


async def mark_pending(conn: AsyncConnection, index_ids: Sequence[str], reason: str) -> None:
    """Queue indexes for recomputation. A new mark bumps the generation, so a worker that
    read an older generation does not clear it (it recomputes again next round)."""
    if not index_ids:
        return
    await conn.execute(
        sa.text(
            "INSERT INTO pending_recomputes (index_id, reason) "
            "SELECT unnest(CAST(:i AS text[])), :r "
            "ON CONFLICT (index_id) DO UPDATE SET generation = pending_recomputes.generation + 1, "
            "reason = EXCLUDED.reason, attempts = 0, last_error = NULL, requested_at = now()"
        ),
        {"i": sorted(set(index_ids)), "r": reason},
    )


async def pending(conn: AsyncConnection, *, max_attempts: int) -> list[tuple[str, int]]:
    rows = await conn.execute(
        sa.text(
            "SELECT index_id, generation FROM pending_recomputes WHERE attempts < :m "
            "ORDER BY requested_at, index_id"
        ),
        {"m": max_attempts},
    )
    return [(r.index_id, int(r.generation)) for r in rows]


async def clear_pending(conn: AsyncConnection, index_id: str, generation: int) -> None:
    await conn.execute(
        sa.text("DELETE FROM pending_recomputes WHERE index_id = :i AND generation = :g"),
        {"i": index_id, "g": generation},
    )


async def record_pending_failure(
    conn: AsyncConnection, index_id: str, generation: int, error: str
) -> None:
    await conn.execute(
        sa.text(
            "UPDATE pending_recomputes SET attempts = attempts + 1, last_error = :e "
            "WHERE index_id = :i AND generation = :g"
        ),
        {"i": index_id, "g": generation, "e": error[:2000]},
    )


async def save_status(
    conn: AsyncConnection, index_id: str, version: int, status: str, detail: str
) -> None:
    await conn.execute(
        sa.text(
            "INSERT INTO index_status (index_id, version, status, detail) VALUES (:i, :v, :s, :d) "
            "ON CONFLICT (index_id) DO UPDATE SET version = EXCLUDED.version, "
            "status = EXCLUDED.status, detail = EXCLUDED.detail, computed_at = now()"
        ),
        {"i": index_id, "v": version, "s": status, "d": detail},
    )


async def save_fundamentals(
    conn: AsyncConnection,
    *,
    symbol: str,
    as_of: dt.date,
    shares_outstanding: float | None,
    market_cap: float | None,
    source: str,
) -> bool:
    """Store an observation; True when it is new or differs from the stored one."""
    result = await conn.execute(
        sa.text(
            "INSERT INTO fundamentals (symbol, as_of, shares_outstanding, market_cap, source) "
            "VALUES (:s, :a, :n, :m, :src) ON CONFLICT (symbol, as_of) DO UPDATE SET "
            "shares_outstanding = EXCLUDED.shares_outstanding, market_cap = EXCLUDED.market_cap, "
            "source = EXCLUDED.source, received_at = now() "
            "WHERE (fundamentals.shares_outstanding, fundamentals.market_cap) IS DISTINCT FROM "
            "(EXCLUDED.shares_outstanding, EXCLUDED.market_cap) RETURNING 1"
        ),
        {"s": symbol, "a": as_of, "n": shares_outstanding, "m": market_cap, "src": source},
    )
    return result.first() is not None


async def fundamentals(
    conn: AsyncConnection, symbols: Sequence[str] | None
) -> list[tuple[dt.date, str, float | None, float | None]]:
    """(as_of, symbol, shares outstanding, market cap) rows, of `symbols` or all."""
    rows = await conn.execute(
        sa.text(
            "SELECT as_of, symbol, shares_outstanding, market_cap FROM fundamentals "
            "WHERE CAST(:s AS text[]) IS NULL OR symbol = ANY(CAST(:s AS text[])) "
            "ORDER BY as_of, symbol"
        ),
        {"s": list(symbols) if symbols is not None else None},
    )
    return [(r.as_of, r.symbol, r.shares_outstanding, r.market_cap) for r in rows]
