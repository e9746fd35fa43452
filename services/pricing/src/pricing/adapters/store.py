"""Postgres storage of the pricing schema: bars upserted in bulk (COPY into a temporary
staging table, then one INSERT ... ON CONFLICT merge), universe, actions, quarantine,
fundamentals."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any, cast

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from pricing.domain.bars import (
    ActionType,
    CorporateAction,
    FundamentalsSnapshot,
    PriceBar,
    PriceBasis,
)
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
    "basis",
)


DailyRecord = tuple[str, dt.date, str, float, float, float, float, float | None, float, str, str]

_STAGING = "bars_daily_staging"


def _merge_sql(table: str, staging: str, columns: Sequence[str], keys: Sequence[str]) -> str:
    """INSERT ... ON CONFLICT from `staging` into `table`. Rows whose values did not change
    are left alone (no dead tuple, no WAL, not reported), so storing the same bars twice
    reports nothing new."""
    cols = ", ".join(columns)
    values = [c for c in columns if c not in keys]
    return (
        f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {staging} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
        + ", ".join(f"{c} = EXCLUDED.{c}" for c in values)
        + ", updated_at = now() WHERE ("
        + ", ".join(f"{table}.{c}" for c in values)
        + ") IS DISTINCT FROM ("
        + ", ".join(f"EXCLUDED.{c}" for c in values)
        + ")"
    )


_DAILY_KEYS = ("instrument_id", "trading_date")
_MERGE = _merge_sql("bars_daily", _STAGING, _DAILY_COLUMNS, _DAILY_KEYS)

_INTRADAY_COLUMNS = (
    "instrument_id",
    "interval",
    "ts",
    "symbol",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "provider",
    "basis",
)
_INTRADAY_KEYS = ("instrument_id", "interval", "ts")
_INTRADAY_STAGING = "bars_intraday_staging"
_INTRADAY_MERGE = _merge_sql("bars_intraday", _INTRADAY_STAGING, _INTRADAY_COLUMNS, _INTRADAY_KEYS)

IntradayRecord = tuple[str, str, dt.datetime, str, float, float, float, float, float, str, str]


def daily_records(
    instrument_id: str, bars: Iterable[PriceBar], *, basis: PriceBasis
) -> list[DailyRecord]:
    """Bars as COPY records in `_DAILY_COLUMNS` order; `basis` is how their prices are
    adjusted (the FetchResult's), stored with each bar so reads know what to apply."""
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
            basis.value,
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
    """Upsert daily records at COPY speed within the caller's transaction (see
    `_bulk_upsert`). Returns the number of rows inserted or changed and, with
    `returning_dates`, their (instrument_id, trading_date) keys."""
    count, keys = await _bulk_upsert(
        conn,
        table="bars_daily",
        staging=_STAGING,
        columns=_DAILY_COLUMNS,
        keys=_DAILY_KEYS,
        merge=_MERGE,
        rows=list(records),
        returning=returning_dates,
        direct_first=direct_first,
    )
    # Keys are already (instrument_id, trading_date): no second pass over 100k tuples.
    return count, cast(set[tuple[str, dt.date]], keys)


async def _bulk_upsert(
    conn: AsyncConnection,
    *,
    table: str,
    staging: str,
    columns: Sequence[str],
    keys: Sequence[str],
    merge: str,
    rows: list[tuple[Any, ...]],
    returning: bool,
    direct_first: bool,
) -> tuple[int, set[tuple[Any, ...]]]:
    """Upsert rows at COPY speed within the caller's transaction.

    A refresh fetches only ranges with no stored bar, so its bars are almost always new:
    with `direct_first` they are COPYed straight into `table` inside a savepoint, and
    only when that hits an existing key (a restatement, or a concurrent refresh) does it
    roll back to the savepoint and take the general path: binary COPY into a temporary
    staging table (no WAL, no index), then one set-based merge.

    Returns the number of rows inserted or changed and, with `returning`, their keys.
    """
    if not rows:
        return 0, set()
    # Through SQLAlchemy first: its asyncpg adapter opens the driver's transaction only on
    # its own first statement, and a COPY sent on the bare driver before that would run in
    # autocommit (and ON COMMIT DELETE ROWS would empty the staging table at once).
    await conn.execute(
        sa.text(
            f"CREATE TEMP TABLE IF NOT EXISTS {staging} "
            f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
    )
    apg = await _driver(conn)
    if not apg.is_in_transaction():
        raise RuntimeError(f"storing into {table} needs a connection inside a transaction")
    width = len(keys)
    if direct_first:
        try:
            async with apg.transaction():  # a savepoint inside the caller's transaction
                await apg.copy_records_to_table(table, records=rows, columns=list(columns))
        except asyncpg.UniqueViolationError:
            pass
        else:
            return len(rows), ({r[:width] for r in rows} if returning else set())
    # The staging table has no primary key: COPY into it maintains no index, and the
    # merge's ON CONFLICT is checked once against the table's own index.
    await apg.copy_records_to_table(staging, records=rows, columns=list(columns))
    changed: set[tuple[Any, ...]] = set()
    if returning:
        merged = await apg.fetch(merge + f" RETURNING {', '.join(keys)}")
        changed = {tuple(r) for r in merged}
        count = len(merged)
    else:
        status = await apg.execute(merge)
        count = int(status.split()[-1])
    # Several merges may share one transaction; ON COMMIT DELETE ROWS only empties at commit.
    await apg.execute(f"TRUNCATE {staging}")
    return count, changed


async def copy_daily_bars(
    conn: AsyncConnection, instrument_id: str, bars: Sequence[PriceBar], *, basis: PriceBasis
) -> set[dt.date]:
    """Upsert one instrument's daily bars, all of one `basis`; returns the trading dates
    inserted or changed (a bar restated in another basis counts as changed)."""
    if not bars:
        return set()
    _, keys = await merge_daily_records(
        conn, daily_records(instrument_id, bars, basis=basis), returning_dates=True
    )
    return {day for _, day in keys}


def intraday_records(
    instrument_id: str, interval: str, bars: Iterable[PriceBar], *, basis: PriceBasis
) -> list[IntradayRecord]:
    """Intraday bars (each with its UTC `ts`) of one `basis` as COPY records in
    `_INTRADAY_COLUMNS` order."""
    records: list[IntradayRecord] = []
    for b in bars:
        if b.ts is None:
            raise ValueError(f"an intraday bar needs a ts: {b.symbol} {b.trading_date}")
        records.append(
            (
                instrument_id,
                interval,
                b.ts,
                b.symbol,
                b.open,
                b.high,
                b.low,
                b.close,
                b.volume,
                b.provider,
                basis.value,
            )
        )
    return records


async def copy_intraday_bars(
    conn: AsyncConnection,
    instrument_id: str,
    interval: str,
    bars: Sequence[PriceBar],
    *,
    basis: PriceBasis,
) -> set[dt.datetime]:
    """Upsert one instrument's bars of one intraday interval (COPY, then merge on
    conflict); returns the bar starts (UTC) inserted or changed."""
    if not bars:
        return set()
    _, keys = await _bulk_upsert(
        conn,
        table="bars_intraday",
        staging=_INTRADAY_STAGING,
        columns=_INTRADAY_COLUMNS,
        keys=_INTRADAY_KEYS,
        merge=_INTRADAY_MERGE,
        rows=list(intraday_records(instrument_id, interval, bars, basis=basis)),
        returning=True,
        direct_first=True,
    )
    return {k[2] for k in keys}


async def stored_intraday_times(
    conn: AsyncConnection, instrument_id: str, interval: str, start: dt.datetime, end: dt.datetime
) -> list[dt.datetime]:
    """Starts of the stored bars of one interval in [start, end)."""
    rows = await conn.execute(
        sa.text(
            "SELECT ts FROM bars_intraday WHERE instrument_id = :i AND interval = :n "
            "AND ts >= :a AND ts < :z ORDER BY ts"
        ),
        {"i": instrument_id, "n": interval, "a": start, "z": end},
    )
    return [r[0] for r in rows]


async def intraday_bars(
    conn: AsyncConnection,
    instrument_id: str,
    interval: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> list[dict[str, Any]]:
    """Stored bars of one interval with start in [start, end), oldest first."""
    rows = await conn.execute(
        sa.text(
            "SELECT ts, symbol, open, high, low, close, volume, provider, basis FROM bars_intraday "
            "WHERE instrument_id = :i AND interval = :n "
            "AND (CAST(:a AS timestamptz) IS NULL OR ts >= :a) "
            "AND (CAST(:z AS timestamptz) IS NULL OR ts < :z) ORDER BY ts"
        ),
        {"i": instrument_id, "n": interval, "a": start, "z": end},
    )
    return [dict(r._mapping) for r in rows]


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
    market_sector: str | None = None,
    security_type: str | None = None,
) -> None:
    """Add or update a member; `market_sector`/`security_type` (OpenFIGI's) pick its
    asset class and so its provider chain."""
    await conn.execute(
        sa.text(
            "INSERT INTO universe (instrument_id, symbol, figi, id_type, id_value, exch_code, "
            "market_sector, security_type) VALUES (:i, :s, :f, :t, :v, :e, :m, :y) "
            "ON CONFLICT (instrument_id) DO UPDATE SET "
            "symbol = EXCLUDED.symbol, figi = EXCLUDED.figi, exch_code = EXCLUDED.exch_code, "
            "market_sector = EXCLUDED.market_sector, security_type = EXCLUDED.security_type, "
            "active = true, updated_at = now()"
        ),
        {
            "i": instrument_id,
            "s": symbol,
            "f": figi,
            "t": id_type,
            "v": id_value,
            "e": exch_code,
            "m": market_sector,
            "y": security_type,
        },
    )


async def universe(
    conn: AsyncConnection, symbols: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    sql = (
        "SELECT instrument_id, symbol, figi, exch_code, market_sector, security_type "
        "FROM universe WHERE active"
    )
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
                "SELECT instrument_id, symbol, figi, exch_code, market_sector, security_type "
                "FROM universe WHERE symbol = :s OR instrument_id = :s "
                "ORDER BY (instrument_id = :s) DESC, updated_at DESC LIMIT 1"
            ),
            {"s": symbol},
        )
    ).first()
    return dict(row._mapping) if row is not None else None


async def daily_bars(
    conn: AsyncConnection, instrument_id: str, start: dt.date | None, end: dt.date | None
) -> list[tuple[PriceBar, PriceBasis]]:
    """Stored daily bars dated start..end, oldest first, each with its stored basis."""
    rows = await conn.execute(
        sa.text(
            "SELECT trading_date, symbol, open, high, low, close, adj_close, volume, provider, "
            "basis FROM bars_daily WHERE instrument_id = :i "
            "AND (CAST(:a AS date) IS NULL OR trading_date >= :a) "
            "AND (CAST(:z AS date) IS NULL OR trading_date <= :z) ORDER BY trading_date"
        ),
        {"i": instrument_id, "a": start, "z": end},
    )
    out = []
    for r in rows:
        fields = dict(r._mapping)
        basis = PriceBasis(fields.pop("basis"))
        out.append((PriceBar(**fields), basis))
    return out


async def stored_basis(conn: AsyncConnection, instrument_id: str) -> PriceBasis | None:
    """The basis of the instrument's latest stored daily bar (None with no bar): new bars
    must match it, or the series would mix bases."""
    value = await conn.scalar(
        sa.text(
            "SELECT basis FROM bars_daily WHERE instrument_id = :i "
            "ORDER BY trading_date DESC LIMIT 1"
        ),
        {"i": instrument_id},
    )
    return PriceBasis(value) if value is not None else None


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
