"""Bars stored per second through the pricing service's storage path, against a bare
asyncpg COPY into an identical table and a row-by-row SQLAlchemy ORM insert, in one run
on a throwaway database.

    uv run python bench/pricing/run.py --bars 5000000 [--batch 100000] [--orm-bars 20000]

The database (on DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/postgres) gets
the real schemas and migrations, and is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pricing.adapters import store
from pricing.domain.bars import PriceBar, PriceBasis
from secmaster_common.db.engine import make_engine
from secmaster_common.services import service_role_dsn
from secmaster_common.testing.databases import create_service_database, drop_database

DAYS_PER_INSTRUMENT = 2500  # about ten years of sessions
FIRST_DAY = dt.date(2010, 1, 4)


class Base(DeclarativeBase):
    pass


class OrmBar(Base):
    """The ORM baseline's row: the same columns as pricing.bars_daily."""

    __tablename__ = "bars_daily_orm"
    __table_args__ = {"schema": "pricing"}  # noqa: RUF012

    instrument_id: Mapped[str] = mapped_column(primary_key=True)
    trading_date: Mapped[dt.date] = mapped_column(primary_key=True)
    symbol: Mapped[str]
    open: Mapped[float]
    high: Mapped[float]
    low: Mapped[float]
    close: Mapped[float]
    adj_close: Mapped[float | None]
    volume: Mapped[float]
    provider: Mapped[str]


def bars(first: int, count: int, offset: int = 0) -> list[PriceBar]:
    """`count` bars from position `first`: instrument i//days, day i%days (business days)."""
    out = []
    for i in range(first, first + count):
        instrument, day = divmod(i, DAYS_PER_INSTRUMENT)
        weeks, weekday = divmod(day, 5)
        close = 50.0 + (i % 997) * 0.1
        out.append(
            PriceBar(
                symbol=f"S{instrument + offset:06d}",
                trading_date=FIRST_DAY + dt.timedelta(days=7 * weeks + weekday),
                open=close - 0.2,
                high=close + 0.5,
                low=close - 0.5,
                close=close,
                adj_close=close,
                volume=1_000_000.0 + i % 5000,
                provider="bench",
            )
        )
    return out


def batches(total: int, size: int) -> Iterator[tuple[int, int]]:
    for first in range(0, total, size):
        yield first, min(size, total - first)


def records(batch: list[PriceBar]) -> list[store.DailyRecord]:
    """Records per instrument as the service builds them (one instrument per refresh)."""
    out: list[store.DailyRecord] = []
    start = 0
    for end in range(1, len(batch) + 1):
        if end == len(batch) or batch[end].symbol != batch[start].symbol:
            out += store.daily_records(
                f"BBG{batch[start].symbol}", batch[start:end], basis=PriceBasis.RAW
            )
            start = end
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    server = args.dsn
    dsn = await create_service_database(server, f"bench_pricing_{uuid.uuid4().hex[:8]}")
    try:
        admin = await asyncpg.connect(dsn)
        await admin.execute("SET search_path = pricing")
        await admin.execute("CREATE TABLE bars_daily_copy (LIKE bars_daily INCLUDING ALL)")
        await admin.execute("CREATE TABLE bars_daily_orm (LIKE bars_daily INCLUDING ALL)")
        await admin.execute("GRANT ALL ON bars_daily_orm TO pricing_app")
        engine = make_engine(service_role_dsn(dsn, "pricing", "app"), schema="pricing")
        columns = list(store._DAILY_COLUMNS)
        t_copy = t_service = t_direct = 0.0
        timings: dict[str, float] = {}
        try:
            # Interleaved batch by batch, so checkpoints and cache state hit both alike: the
            # service's default path (new bars: direct COPY inside a savepoint) against a bare
            # COPY of the same rows.
            for first, count in batches(args.bars, args.batch):
                batch = bars(first, count)
                ready = records(batch)
                began = time.perf_counter()
                async with admin.transaction():
                    await admin.copy_records_to_table(
                        "bars_daily_copy", records=ready, columns=columns
                    )
                t_copy += time.perf_counter() - began

                # Both paths get the same ready-made records: storage is what is timed.
                began = time.perf_counter()
                async with engine.begin() as conn:
                    await store.merge_daily_records(conn, ready, returning_dates=True)
                t_service += time.perf_counter() - began
                print(f"{first + count:>10,} bars", file=sys.stderr, flush=True)

            # The staging + merge path (what runs when some bars already exist) on fresh
            # instruments, and the same bars again (all conflict: nothing changes).
            sample = min(args.bars, args.merge_bars)
            for first, count in batches(sample, args.batch):
                batch = bars(first, count, offset=1_000_000)
                began = time.perf_counter()
                async with engine.begin() as conn:
                    await store.merge_daily_records(
                        conn, records(batch), returning_dates=True, direct_first=False
                    )
                t_direct += time.perf_counter() - began
            began = time.perf_counter()
            restated = 0
            for first, count in batches(sample, args.batch):
                batch = bars(first, count, offset=1_000_000)
                async with engine.begin() as conn:
                    n, _ = await store.merge_daily_records(
                        conn, records(batch), returning_dates=True
                    )
                    restated += n
            timings["restate_all_conflict_s"] = time.perf_counter() - began
            assert restated == 0, "storing the same bars again changed rows"

            sessions = async_sessionmaker(engine, expire_on_commit=False)
            orm = bars(0, args.orm_bars)
            began = time.perf_counter()
            async with sessions() as session:
                await orm_insert(session, orm)
            t_orm = time.perf_counter() - began

            stored = await admin.fetchval("SELECT count(*) FROM bars_daily")
            copied = await admin.fetchval("SELECT count(*) FROM bars_daily_copy")
            assert copied == args.bars and stored == args.bars + sample, (copied, stored)
        finally:
            await engine.dispose()
            await admin.close()
    finally:
        await drop_database(server, dsn)

    copy_rate = args.bars / t_copy
    service_rate = args.bars / t_service
    merge_rate = sample / t_direct
    orm_rate = args.orm_bars / t_orm
    return {
        "bars": args.bars,
        "batch": args.batch,
        "bare_copy_rows_per_s": round(copy_rate),
        "service_rows_per_s": round(service_rate),
        "service_ratio_to_copy": round(service_rate / copy_rate, 3),
        "goal_service_ratio_to_copy": ">= 0.7",
        "staging_merge_rows": sample,
        "staging_merge_rows_per_s": round(merge_rate),
        "staging_merge_ratio_to_copy": round(merge_rate / copy_rate, 3),
        "restate_all_conflict_rows_per_s": round(sample / timings["restate_all_conflict_s"]),
        "orm_rows": args.orm_bars,
        "orm_row_by_row_rows_per_s": round(orm_rate),
        "orm_extrapolated_s_for_all_bars": round(args.bars / orm_rate),
        "service_speedup_over_orm": round(service_rate / orm_rate, 1),
        "seconds": {
            "bare_copy": round(t_copy, 1),
            "service": round(t_service, 1),
            "orm_sample": round(t_orm, 1),
        },
    }


async def orm_insert(session: AsyncSession, rows: list[PriceBar]) -> None:
    """Row by row: one INSERT round trip per bar (flush after each add), commit every 1000."""
    for i, bar in enumerate(rows, 1):
        session.add(
            OrmBar(
                instrument_id=f"BBG{bar.symbol}",
                trading_date=bar.trading_date,
                symbol=bar.symbol,
                open=bar.open,
                high=bar.high,
                low=bar.low,
                close=bar.close,
                adj_close=bar.adj_close,
                volume=bar.volume,
                provider=bar.provider,
            )
        )
        await session.flush()
        if i % 1000 == 0:
            await session.commit()
    await session.commit()
    count = await session.scalar(sa.select(sa.func.count()).select_from(OrmBar))
    assert count == len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=5_000_000, help="bars stored per path")
    parser.add_argument("--batch", type=int, default=100_000, help="bars per transaction")
    parser.add_argument("--orm-bars", type=int, default=20_000, help="ORM sample (extrapolated)")
    parser.add_argument(
        "--merge-bars",
        type=int,
        default=1_000_000,
        help="bars for the staging+merge sample (the path taken when bars already exist)",
    )
    parser.add_argument(
        "--dsn",
        default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="admin DSN of the Postgres server (a throwaway database is created on it)",
    )
    result = asyncio.run(run(parser.parse_args()))
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
