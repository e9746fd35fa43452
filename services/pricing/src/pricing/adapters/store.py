"""Postgres storage of the pricing schema: bars upserted in bulk (COPY into a temporary
staging table, then one INSERT ... ON CONFLICT merge), universe, actions, quarantine."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from pricing.domain.bars import CorporateAction, PriceBar
from pricing.domain.validation import RejectedBar

_DAILY_COLUMNS = (
    "instrument_id",
    "trading_date",
    "symbol",
    "open",
    "high",
    "low",
    "close",
    "adj_close",
    "volume",
    "provider",
)


async def copy_daily_bars(
    conn: AsyncConnection, instrument_id: str, bars: Sequence[PriceBar]
) -> int:
    """Upsert daily bars at COPY speed within the caller's transaction."""
    if not bars:
        return 0
    raw = await conn.get_raw_connection()
    apg: Any = raw.driver_connection
    await apg.execute(
        "CREATE TEMP TABLE IF NOT EXISTS bars_daily_staging "
        "(LIKE bars_daily INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    await apg.copy_records_to_table(
        "bars_daily_staging",
        records=[
            (
                instrument_id,
                b.trading_date,
                b.symbol,
                b.open,
                b.high,
                b.low,
                b.close,
                b.adj_close,
                b.volume,
                b.provider,
            )
            for b in bars
        ],
        columns=list(_DAILY_COLUMNS),
    )
    cols = ", ".join(_DAILY_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _DAILY_COLUMNS[2:])
    status = await apg.execute(
        f"INSERT INTO bars_daily ({cols}) SELECT {cols} FROM bars_daily_staging "
        f"ON CONFLICT (instrument_id, trading_date) DO UPDATE SET {updates}, updated_at = now()"
    )
    await apg.execute("TRUNCATE bars_daily_staging")
    return int(status.split()[-1])


async def upsert_universe(
    conn: AsyncConnection,
    *,
    instrument_id: str,
    symbol: str,
    figi: str | None,
    id_type: str | None,
    id_value: str | None,
    exch_code: str | None,
) -> None:
    await conn.execute(
        sa.text(
            "INSERT INTO universe (instrument_id, symbol, figi, id_type, id_value, exch_code) "
            "VALUES (:i, :s, :f, :t, :v, :e) ON CONFLICT (instrument_id) DO UPDATE SET "
            "symbol = EXCLUDED.symbol, figi = EXCLUDED.figi, exch_code = EXCLUDED.exch_code, "
            "active = true, updated_at = now()"
        ),
        {"i": instrument_id, "s": symbol, "f": figi, "t": id_type, "v": id_value, "e": exch_code},
    )


async def universe(
    conn: AsyncConnection, symbols: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    sql = "SELECT instrument_id, symbol, figi FROM universe WHERE active"
    params: dict[str, Any] = {}
    if symbols:
        sql += " AND (symbol = ANY(:s) OR instrument_id = ANY(:s))"
        params["s"] = list(symbols)
    return [dict(r._mapping) for r in await conn.execute(sa.text(sql + " ORDER BY symbol"), params)]


async def last_bar_date(conn: AsyncConnection, instrument_id: str) -> dt.date | None:
    value = await conn.scalar(
        sa.text("SELECT max(trading_date) FROM bars_daily WHERE instrument_id = :i"),
        {"i": instrument_id},
    )
    return value if isinstance(value, dt.date) else None


async def save_actions(
    conn: AsyncConnection, instrument_id: str, actions: Sequence[CorporateAction], provider: str
) -> None:
    if not actions:
        return
    await conn.execute(
        sa.text(
            "INSERT INTO corporate_actions (instrument_id, ex_date, kind, value, provider) "
            "VALUES (:i, :d, :k, :v, :p) ON CONFLICT (instrument_id, ex_date, kind) DO UPDATE "
            "SET value = EXCLUDED.value, provider = EXCLUDED.provider"
        ),
        [
            {
                "i": instrument_id,
                "d": a.ex_date,
                "k": str(a.type),
                "v": a.ratio if a.ratio is not None else a.amount,
                "p": provider,
            }
            for a in actions
        ],
    )


async def quarantine(
    conn: AsyncConnection, instrument_id: str, rejected: Sequence[RejectedBar]
) -> None:
    if not rejected:
        return
    await conn.execute(
        sa.text(
            "INSERT INTO bar_quarantine (instrument_id, provider, bar_key, reason, detail, raw) "
            "VALUES (:i, :p, :k, :r, :d, CAST(:raw AS jsonb))"
        ),
        [
            {
                "i": instrument_id,
                "p": r.bar.provider,
                "k": str(r.bar.key),
                "r": str(r.reason),
                "d": r.detail,
                "raw": json.dumps(
                    {
                        "open": r.bar.open,
                        "high": r.bar.high,
                        "low": r.bar.low,
                        "close": r.bar.close,
                        "volume": r.bar.volume,
                    }
                ),
            }
            for r in rejected
        ],
    )


async def daily_bars(
    conn: AsyncConnection, symbol: str, start: dt.date | None, end: dt.date | None
) -> list[dict[str, Any]]:
    rows = await conn.execute(
        sa.text(
            "SELECT b.trading_date, b.open, b.high, b.low, b.close, b.adj_close, b.volume, b.provider "
            "FROM bars_daily b JOIN universe u USING (instrument_id) "
            "WHERE (u.symbol = :s OR u.instrument_id = :s) "
            "AND (CAST(:a AS date) IS NULL OR b.trading_date >= :a) "
            "AND (CAST(:z AS date) IS NULL OR b.trading_date <= :z) ORDER BY b.trading_date"
        ),
        {"s": symbol, "a": start, "z": end},
    )
    return [dict(r._mapping) for r in rows]


async def stats(conn: AsyncConnection) -> dict[str, Any]:
    row = (
        await conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM universe WHERE active) AS universe, "
                "count(DISTINCT instrument_id) AS instruments, count(*) AS bars, "
                "max(trading_date) AS last_date, "
                "(SELECT count(*) FROM bar_quarantine) AS quarantined FROM bars_daily"
            )
        )
    ).one()
    out = dict(row._mapping)
    out["last_date"] = out["last_date"].isoformat() if out["last_date"] else None
    return out
