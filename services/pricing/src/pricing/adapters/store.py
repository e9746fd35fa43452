"""Postgres storage of the pricing schema: bars upserted in bulk (COPY into a temporary
staging table, then one INSERT ... ON CONFLICT merge), universe, actions, quarantine,
fundamentals."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from pricing.domain.bars import ActionType, CorporateAction, FundamentalsSnapshot, PriceBar
from pricing.domain.fundamentals import CombinedFundamentals, Observation
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


DailyRecord = tuple[str, dt.date, str, float, float, float, float, float | None, float, str]

_STAGING = "bars_daily_staging"
_COLS = ", ".join(_DAILY_COLUMNS)
# Rows whose values did not change are left alone (no dead tuple, no WAL, not reported),
# so storing the same bars twice reports nothing new.
_MERGE = (
    f"INSERT INTO bars_daily ({_COLS}) SELECT {_COLS} FROM {_STAGING} "
    f"ON CONFLICT (instrument_id, trading_date) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _DAILY_COLUMNS[2:])
    + ", updated_at = now() WHERE ("
    + ", ".join(f"bars_daily.{c}" for c in _DAILY_COLUMNS[2:])
    + ") IS DISTINCT FROM ("
    + ", ".join(f"EXCLUDED.{c}" for c in _DAILY_COLUMNS[2:])
    + ")"
)


def daily_records(instrument_id: str, bars: Iterable[PriceBar]) -> list[DailyRecord]:
    """Bars as COPY records in `_DAILY_COLUMNS` order."""
    return [
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
    ]


async def _driver(conn: AsyncConnection) -> Any:
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def merge_daily_records(
    conn: AsyncConnection,
    records: Iterable[DailyRecord],
    *,
    returning_dates: bool = False,
    direct_first: bool = True,
) -> tuple[int, set[tuple[str, dt.date]]]:
    """Upsert records at COPY speed within the caller's transaction.

    A refresh fetches only sessions with no stored bar, so its bars are almost always new:
    with `direct_first` they are COPYed straight into bars_daily inside a savepoint, and
    only when that hits an existing key (a restatement, or a concurrent refresh) does it
    roll back to the savepoint and take the general path: binary COPY into a temporary
    staging table (no WAL, no index), then one set-based merge.

    Returns the number of rows inserted or changed and, with `returning_dates`, their
    (instrument_id, trading_date) keys.
    """
    rows = list(records)
    if not rows:
        return 0, set()
    # Through SQLAlchemy first: its asyncpg adapter opens the driver's transaction only on
    # its own first statement, and a COPY sent on the bare driver before that would run in
    # autocommit (and ON COMMIT DELETE ROWS would empty the staging table at once).
    await conn.execute(
        sa.text(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} "
            "(LIKE bars_daily INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
    )
    apg = await _driver(conn)
    if not apg.is_in_transaction():
        raise RuntimeError("merge_daily_records needs a connection inside a transaction")
    if direct_first:
        try:
            async with apg.transaction():  # a savepoint inside the caller's transaction
                await apg.copy_records_to_table(
                    "bars_daily", records=rows, columns=list(_DAILY_COLUMNS)
                )
        except asyncpg.UniqueViolationError:
            pass
        else:
            keys = {(r[0], r[1]) for r in rows} if returning_dates else set()
            return len(rows), keys
    # The staging table has no primary key: COPY into it maintains no index, and the
    # merge's ON CONFLICT is checked once against bars_daily's own index.
    await apg.copy_records_to_table(_STAGING, records=rows, columns=list(_DAILY_COLUMNS))
    keys = set()
    if returning_dates:
        merged = await apg.fetch(_MERGE + " RETURNING instrument_id, trading_date")
        keys = {(r[0], r[1]) for r in merged}
        count = len(merged)
    else:
        status = await apg.execute(_MERGE)
        count = int(status.split()[-1])
    # Several merges may share one transaction; ON COMMIT DELETE ROWS only empties at commit.
    await apg.execute(f"TRUNCATE {_STAGING}")
    return count, keys


async def copy_daily_bars(
    conn: AsyncConnection, instrument_id: str, bars: Sequence[PriceBar]
) -> set[dt.date]:
    """Upsert one instrument's daily bars; returns the trading dates inserted or changed."""
    if not bars:
        return set()
    _, keys = await merge_daily_records(
        conn, daily_records(instrument_id, bars), returning_dates=True
    )
    return {day for _, day in keys}


async def stored_dates(
    conn: AsyncConnection, instrument_id: str, start: dt.date, end: dt.date
) -> set[dt.date]:
    rows = await conn.execute(
        sa.text(
            "SELECT trading_date FROM bars_daily WHERE instrument_id = :i "
            "AND trading_date BETWEEN :a AND :z"
        ),
        {"i": instrument_id, "a": start, "z": end},
    )
    return {r[0] for r in rows}


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
    sql = "SELECT instrument_id, symbol, figi, exch_code FROM universe WHERE active"
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


async def instrument_for(conn: AsyncConnection, symbol: str) -> dict[str, Any] | None:
    """The universe member a symbol or instrument id names (the symbol may be reused; the
    most recently updated member wins)."""
    row = (
        await conn.execute(
            sa.text(
                "SELECT instrument_id, symbol, figi, exch_code FROM universe "
                "WHERE symbol = :s OR instrument_id = :s "
                "ORDER BY (instrument_id = :s) DESC, updated_at DESC LIMIT 1"
            ),
            {"s": symbol},
        )
    ).first()
    return dict(row._mapping) if row is not None else None


async def daily_bars(
    conn: AsyncConnection, instrument_id: str, start: dt.date | None, end: dt.date | None
) -> list[PriceBar]:
    rows = await conn.execute(
        sa.text(
            "SELECT trading_date, symbol, open, high, low, close, adj_close, volume, provider "
            "FROM bars_daily WHERE instrument_id = :i "
            "AND (CAST(:a AS date) IS NULL OR trading_date >= :a) "
            "AND (CAST(:z AS date) IS NULL OR trading_date <= :z) ORDER BY trading_date"
        ),
        {"i": instrument_id, "a": start, "z": end},
    )
    return [PriceBar(**r._mapping) for r in rows]


async def corporate_actions(conn: AsyncConnection, instrument_id: str) -> list[CorporateAction]:
    rows = await conn.execute(
        sa.text(
            "SELECT u.symbol, a.ex_date, a.kind, a.value FROM corporate_actions a "
            "JOIN universe u USING (instrument_id) WHERE a.instrument_id = :i ORDER BY a.ex_date"
        ),
        {"i": instrument_id},
    )
    out = []
    for r in rows:
        if r.kind == ActionType.SPLIT:
            out.append(CorporateAction.split(r.symbol, r.ex_date, r.value))
        else:
            out.append(CorporateAction.dividend(r.symbol, r.ex_date, r.value))
    return out


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


async def fundamentals_observations(conn: AsyncConnection, instrument_id: str) -> list[Observation]:
    rows = await conn.execute(
        sa.text(
            "SELECT provider, symbol, as_of, shares_outstanding, market_cap, currency, fetched_at "
            "FROM fundamentals_observations WHERE instrument_id = :i"
        ),
        {"i": instrument_id},
    )
    return [
        Observation(
            snapshot=FundamentalsSnapshot(
                symbol=r.symbol,
                as_of=r.as_of,
                provider=r.provider,
                market_cap=r.market_cap,
                shares_outstanding=r.shares_outstanding,
                currency=r.currency,
            ),
            fetched_at=r.fetched_at,
        )
        for r in rows
    ]


async def save_observations(
    conn: AsyncConnection, instrument_id: str, observations: Sequence[Observation]
) -> None:
    if not observations:
        return
    await conn.execute(
        sa.text(
            "INSERT INTO fundamentals_observations (instrument_id, provider, symbol, as_of, "
            "shares_outstanding, market_cap, currency, fetched_at) "
            "VALUES (:i, :p, :s, :d, :so, :mc, :c, :f) ON CONFLICT (instrument_id, provider) "
            "DO UPDATE SET symbol = EXCLUDED.symbol, as_of = EXCLUDED.as_of, "
            "shares_outstanding = EXCLUDED.shares_outstanding, market_cap = EXCLUDED.market_cap, "
            "currency = EXCLUDED.currency, fetched_at = EXCLUDED.fetched_at"
        ),
        [
            {
                "i": instrument_id,
                "p": o.provider,
                "s": o.snapshot.symbol,
                "d": o.snapshot.as_of,
                "so": o.snapshot.shares_outstanding,
                "mc": o.snapshot.market_cap,
                "c": o.snapshot.currency,
                "f": o.fetched_at,
            }
            for o in observations
        ],
    )


async def current_fundamentals(
    conn: AsyncConnection, instrument_id: str
) -> CombinedFundamentals | None:
    row = (
        await conn.execute(
            sa.text(
                "SELECT symbol, as_of, shares_outstanding, shares_source, market_cap, "
                "market_cap_source FROM fundamentals WHERE instrument_id = :i"
            ),
            {"i": instrument_id},
        )
    ).first()
    return CombinedFundamentals(**row._mapping) if row is not None else None


async def save_fundamentals(
    conn: AsyncConnection, instrument_id: str, view: CombinedFundamentals
) -> None:
    await conn.execute(
        sa.text(
            "INSERT INTO fundamentals (instrument_id, symbol, as_of, shares_outstanding, "
            "shares_source, market_cap, market_cap_source) VALUES (:i, :s, :d, :so, :ss, :mc, :ms) "
            "ON CONFLICT (instrument_id) DO UPDATE SET symbol = EXCLUDED.symbol, "
            "as_of = EXCLUDED.as_of, shares_outstanding = EXCLUDED.shares_outstanding, "
            "shares_source = EXCLUDED.shares_source, market_cap = EXCLUDED.market_cap, "
            "market_cap_source = EXCLUDED.market_cap_source, updated_at = now()"
        ),
        {
            "i": instrument_id,
            "s": view.symbol,
            "d": view.as_of,
            "so": view.shares_outstanding,
            "ss": view.shares_source,
            "mc": view.market_cap,
            "ms": view.market_cap_source,
        },
    )
