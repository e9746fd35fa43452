"""Use cases of the indexer service: keep the inputs that arrive as events, queue the
indexes those inputs affect, and recompute queued indexes, publishing only the levels and
rebalances that are new or different."""

from __future__ import annotations

import datetime as dt
import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from indexer.adapters import repository
from indexer.domain.definition import (
    CappedMarketCapWeighting,
    ConstituentUniverse,
    IndexDefinition,
    MarketCapWeighting,
    PortfolioUniverse,
    TopMarketCapUniverse,
)
from indexer.domain.fundamentals import FundamentalsObservation, shares_outstanding_records
from indexer.domain.levels import IndexInputError, IndexResult, compute_index
from indexer.domain.panel import Event, HoldingsSnapshot, Panel
from indexer.domain.risk import risk_metrics
from secmaster_common.db.uow import UnitOfWork
from secmaster_common.events import (
    Allocation,
    BarsPublished,
    FundamentalsObserved,
    HoldingsSnapshotChunk,
    IndexLevel,
    IndexLevelsComputed,
    IndexRebalanced,
    RefreshPrices,
    SecurityMapped,
)
from secmaster_common.logging import get_logger

PRODUCER = "indexer"
# Which identifier of a holding names its security, most specific first (as enrichment).
IDENTIFIER_PREFERENCE = ("FIGI", "ISIN", "CUSIP", "SEDOL", "TICKER")
# Levels per `indexes.levels.v1` message: a 20-year history in one message would pass
# Kafka's default 1 MB `message.max.bytes`.
LEVELS_PER_EVENT = 1000
# A queued recompute that failed this often waits for new input instead of looping hot.
MAX_RECOMPUTE_ATTEMPTS = 5

log = get_logger(__name__)


@dataclass(frozen=True)
class RecomputeOutcome:
    index_id: str
    version: int
    status: str  # computed | waiting | no_definition | error
    detail: str = ""
    published_levels: int = 0
    published_rebalances: int = 0


@dataclass(frozen=True)
class DefinitionStored:
    index_id: str
    version: int
    created: bool  # False: identical to the latest version, nothing to recompute


@dataclass(frozen=True)
class BackfillRequested:
    index_id: str
    symbols: list[str]
    start: dt.date
    end: dt.date


@dataclass
class _Inputs:
    symbols: set[str] = field(default_factory=set)
    snapshots: list[HoldingsSnapshot] = field(default_factory=list)


def resolve_holdings(
    holdings: Sequence[dict[str, Any]], securities: dict[tuple[str, str], dict[str, Any]]
) -> tuple[dict[str, float], list[str], list[str]]:
    """quantities per ticker, identifiers still waiting for a mapping, identifiers not found."""
    quantities: dict[str, float] = {}
    waiting: list[str] = []
    not_found: list[str] = []
    for line in holdings:
        ids = line["identifiers"]
        chosen = next(((t, ids[t]) for t in IDENTIFIER_PREFERENCE if ids.get(t)), None)
        if chosen is None:
            continue
        sec = securities.get(chosen)
        if sec is None:
            waiting.append(f"{chosen[0]}:{chosen[1]}")
        elif sec["status"] == "not_found" or not sec["ticker"]:
            not_found.append(f"{chosen[0]}:{chosen[1]}")
        else:
            quantities[sec["ticker"]] = quantities.get(sec["ticker"], 0.0) + float(line["quantity"])
    return quantities, waiting, not_found


def _needs_shares(definition: IndexDefinition) -> bool:
    return isinstance(
        definition.weighting, MarketCapWeighting | CappedMarketCapWeighting
    ) or isinstance(definition.universe, TopMarketCapUniverse)


def _declared_members(definition: IndexDefinition) -> list[str] | None:
    """The symbols a definition reads, when the definition alone says (None: a portfolio,
    whose members come from its holdings and the identifier mappings)."""
    universe = definition.universe
    if isinstance(universe, ConstituentUniverse):
        return sorted({c.symbol for c in universe.constituents})
    if isinstance(universe, TopMarketCapUniverse):
        return sorted(set(universe.candidates)) if universe.candidates else [repository.ANY_SYMBOL]
    return None


# --- inputs arriving as events ------------------------------------------------------------


async def store_definition(*, uow: UnitOfWork, definition: IndexDefinition) -> DefinitionStored:
    """Save a definition as a new version (unless it equals the latest) and queue the index,
    so its whole history is computed for the new version; older versions stay as they are."""
    version, created = await repository.save_definition(
        uow.conn, definition.id, definition.model_dump(mode="json")
    )
    if created:
        members = _declared_members(definition)
        if members is not None:
            await repository.replace_members(uow.conn, definition.id, members)
        await repository.mark_pending(uow.conn, [definition.id], f"definition v{version}")
    return DefinitionStored(definition.id, version, created)


async def record_bars(*, uow: UnitOfWork, bars: BarsPublished) -> list[str]:
    """Store a daily bars batch; queue the indexes that read a symbol whose closes changed.
    Returns the queued index ids."""
    if bars.interval != "1d":
        return []
    changed = await repository.save_prices(
        uow.conn,
        [
            {
                "symbol": bars.symbol,
                "trading_date": b.date,
                "close": b.close,
                "adj_close": b.adj_close,
                "provider": bars.provider,
                "basis": bars.basis,
            }
            for b in bars.bars
            if b.date is not None
        ],
    )
    if await repository.save_actions(uow.conn, bars.symbol, bars.actions):
        changed.add(bars.symbol)
    if not changed:
        return []
    affected = await repository.indexes_reading(uow.conn, sorted(changed))
    await repository.mark_pending(uow.conn, affected, f"prices of {bars.symbol}")
    return affected


async def _events(uow: UnitOfWork, symbols: Iterable[str]) -> tuple[list[Event], list[Event]]:
    """Dividends and splits to apply to the stored closes, by the closes' basis: a split is
    applied only to raw closes (split-adjusted ones already absorb it), and a dividend is
    reinvested only when the closes do not already carry it (split_dividend basis)."""
    dividends: list[Event] = []
    splits: list[Event] = []
    for symbol, day, kind, value, basis in await repository.actions(uow.conn, sorted(symbols)):
        if kind == "split" and basis == "raw":
            splits.append(Event(day, symbol, value))
        elif kind == "dividend" and basis != "split_dividend":
            dividends.append(Event(day, symbol, value))
    return dividends, splits


async def record_fundamentals(*, uow: UnitOfWork, observed: FundamentalsObserved) -> list[str]:
    """Store shares outstanding / market cap; queue the market-cap indexes reading the symbol."""
    if observed.shares_outstanding is None and observed.market_cap is None:
        return []
    changed = await repository.save_fundamentals(
        uow.conn,
        symbol=observed.symbol,
        as_of=observed.as_of,
        shares_outstanding=observed.shares_outstanding,
        market_cap=observed.market_cap,
        source=observed.source,
    )
    if not changed:
        return []
    readers = set(await repository.indexes_reading(uow.conn, [observed.symbol]))
    affected = [
        d["index_id"]
        for d in await repository.latest_definitions(uow.conn)
        if d["index_id"] in readers
        and _needs_shares(IndexDefinition.model_validate(d["definition"]))
    ]
    await repository.mark_pending(uow.conn, affected, f"fundamentals of {observed.symbol}")
    return affected


async def record_holdings_chunk(*, uow: UnitOfWork, chunk: HoldingsSnapshotChunk) -> list[str]:
    """Store one chunk of a holdings snapshot; queue the indexes built on that portfolio."""
    await repository.save_holdings_chunk(
        uow.conn,
        snapshot_id=chunk.snapshot_id,
        chunk_index=chunk.chunk_index,
        chunk_count=chunk.chunk_count,
        portfolio_id=chunk.portfolio_id,
        as_of=chunk.as_of,
        holdings=[h.model_dump(mode="json") for h in chunk.holdings],
    )
    affected = (await repository.portfolios_of_definitions(uow.conn)).get(chunk.portfolio_id, [])
    await repository.mark_pending(uow.conn, affected, f"holdings of {chunk.portfolio_id}")
    return affected


async def record_security(*, uow: UnitOfWork, mapped: SecurityMapped) -> list[str]:
    """Store an identifier mapping; when it changed, queue the portfolio indexes holding it."""
    changed = await repository.save_security(
        uow.conn,
        id_type=mapped.id_type,
        id_value=mapped.id_value,
        ticker=mapped.ticker,
        figi=mapped.figi,
        status=mapped.status,
    )
    if not changed:
        return []
    portfolios = await repository.portfolios_holding(uow.conn, mapped.id_type, mapped.id_value)
    by_portfolio = await repository.portfolios_of_definitions(uow.conn)
    affected = sorted({i for p in portfolios for i in by_portfolio.get(p, [])})
    await repository.mark_pending(uow.conn, affected, f"mapping of {mapped.id_value}")
    return affected


async def request_backfill(
    *,
    uow: UnitOfWork,
    index_id: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> BackfillRequested | None:
    """Ask pricing for the closes of every member from `start` (default: the base date) to
    `end` (default: today), and queue the index; None when the index is unknown."""
    found = await repository.latest_definitions(uow.conn, index_id)
    if not found:
        return None
    definition = IndexDefinition.model_validate(found[0]["definition"])
    symbols = await repository.members(uow.conn, index_id)
    if repository.ANY_SYMBOL in symbols:
        symbols = await repository.price_symbols(uow.conn)
    first = start or definition.base_date
    last = end or dt.datetime.now(dt.UTC).date()
    if symbols:
        await uow.publish(RefreshPrices(symbols=symbols, start=first, end=last), key=index_id)
    await repository.mark_pending(uow.conn, [index_id], "backfill")
    return BackfillRequested(index_id, symbols, first, last)


# --- computation ---------------------------------------------------------------------------


async def _gather_inputs(
    uow: UnitOfWork, index_id: str, definition: IndexDefinition
) -> _Inputs | str:
    """The symbols (and holdings snapshots) the definition reads, or why it must wait."""
    universe = definition.universe
    if isinstance(universe, PortfolioUniverse):
        inputs = _Inputs()
        securities = await repository.securities(uow.conn)
        waiting_for: list[str] = []
        for as_of, lines in await repository.complete_snapshots(uow.conn, universe.portfolio):
            quantities, waiting, _ = resolve_holdings(lines, securities)
            waiting_for += waiting
            inputs.snapshots.append(HoldingsSnapshot(as_of=as_of, quantities=quantities))
            inputs.symbols |= set(quantities)
        # Members are known as far as mappings go, so the closes of those already mapped
        # queue this index even while it waits for the others.
        await repository.replace_members(uow.conn, index_id, sorted(inputs.symbols))
        if waiting_for:
            return f"{len(waiting_for)} identifiers not mapped yet"
        if not inputs.snapshots:
            return "no complete holdings snapshot yet"
        return inputs
    members = _declared_members(definition)
    assert members is not None
    await repository.replace_members(uow.conn, index_id, members)
    if members == [repository.ANY_SYMBOL]:
        return _Inputs(symbols=set(await repository.price_symbols(uow.conn)))
    return _Inputs(symbols=set(members))


async def refresh_members(*, uow: UnitOfWork, index_id: str) -> None:
    """Store which symbols a portfolio index reads, from its holdings and the mappings
    known now (other universes store theirs with the definition)."""
    found = await repository.latest_definitions(uow.conn, index_id)
    if found:
        definition = IndexDefinition.model_validate(found[0]["definition"])
        if isinstance(definition.universe, PortfolioUniverse):
            await _gather_inputs(uow, index_id, definition)


async def _shares_panel(uow: UnitOfWork, symbols: set[str], closes: Panel) -> Panel | None:
    observations = [
        FundamentalsObservation(*row)
        for row in await repository.fundamentals(uow.conn, sorted(symbols))
    ]
    records = shares_outstanding_records(observations, closes)
    return Panel.from_records(records, field_name="shares outstanding") if records else None


def _constituents_per_day(result: IndexResult) -> list[int]:
    """How many constituents the index holds after each day's close."""
    table = result.allocations
    held = (table.shares != 0).sum(axis=1)
    in_force = np.searchsorted(
        np.asarray(table.days, dtype="datetime64[D]"), result.dates, side="right"
    )
    return [int(n) for n in held[in_force - 1]]


async def recompute(*, uow: UnitOfWork, index_id: str) -> RecomputeOutcome:
    """Recompute one index's latest version inside the caller's unit of work (serialised
    per index); store and publish only the levels and rebalances that changed."""
    await uow.conn.execute(
        sa.select(sa.func.pg_advisory_xact_lock(zlib.crc32(f"index:{index_id}".encode())))
    )
    found = await repository.latest_definitions(uow.conn, index_id)
    if not found:
        return RecomputeOutcome(index_id, 0, "no_definition")
    version = int(found[0]["version"])
    definition = IndexDefinition.model_validate(found[0]["definition"])
    outcome = await _compute_and_publish(uow, index_id, version, definition)
    await repository.save_status(uow.conn, index_id, version, outcome.status, outcome.detail)
    return outcome


async def _compute_and_publish(
    uow: UnitOfWork, index_id: str, version: int, definition: IndexDefinition
) -> RecomputeOutcome:
    gathered = await _gather_inputs(uow, index_id, definition)
    if isinstance(gathered, str):
        return RecomputeOutcome(index_id, version, "waiting", gathered)
    price_rows = await repository.prices(uow.conn, sorted(gathered.symbols))
    priced = {r[1] for r in price_rows}
    if not isinstance(definition.universe, TopMarketCapUniverse) and (
        missing := sorted(gathered.symbols - priced)
    ):
        return RecomputeOutcome(index_id, version, "waiting", f"no prices yet for {missing}")
    if not price_rows:
        return RecomputeOutcome(index_id, version, "waiting", "no prices yet")
    closes = Panel.from_records(price_rows, field_name="closes")
    try:
        shares = (
            await _shares_panel(uow, gathered.symbols, closes)
            if _needs_shares(definition)
            else None
        )
        dividends, splits = await _events(uow, gathered.symbols)
        result = compute_index(
            definition,
            closes,
            shares=shares,
            dividends=dividends,
            splits=splits,
            holdings=gathered.snapshots,
        )
    except IndexInputError as exc:
        return RecomputeOutcome(index_id, version, "waiting", str(exc))

    stored = await repository.stored_levels(uow.conn, index_id, version)
    counts = _constituents_per_day(result)
    changed = [
        IndexLevel(
            date=row.day,
            level=row.level,
            divisor=row.divisor,
            constituents=n,
            stale_prices=list(row.flags),
        )
        for row, n in zip(result.rows(), counts, strict=True)
        if stored.get(row.day) != (row.level, row.divisor, n, row.flags)
    ]
    await repository.upsert_levels(
        uow.conn,
        [
            {
                "index_id": index_id,
                "version": version,
                "trading_date": lv.date,
                "level": lv.level,
                "divisor": lv.divisor,
                "constituents": lv.constituents,
                "stale": lv.stale_prices,
            }
            for lv in changed
        ],
    )
    for first in range(0, len(changed), LEVELS_PER_EVENT):
        await uow.publish(
            IndexLevelsComputed(
                index_id=index_id,
                version=version,
                levels=changed[first : first + LEVELS_PER_EVENT],
            ),
            key=index_id,
        )
    rebalances = 0
    for rb in result.rebalances:
        weights, shares_map = rb.weight_map(), rb.shares_map()
        allocations = [
            {"symbol": s, "weight": weights[s], "shares": shares_map[s]} for s in sorted(weights)
        ]
        if await repository.upsert_rebalance(
            uow.conn,
            {
                "index_id": index_id,
                "version": version,
                "trading_date": rb.day,
                "divisor": rb.divisor,
                "allocations": allocations,
            },
        ):
            rebalances += 1
            await uow.publish(
                IndexRebalanced(
                    index_id=index_id,
                    version=version,
                    date=rb.day,
                    divisor=rb.divisor,
                    allocations=[Allocation(**a) for a in allocations],
                ),
                key=index_id,
            )
    return RecomputeOutcome(index_id, version, "computed", "", len(changed), rebalances)


async def recompute_pending(*, engine: AsyncEngine) -> list[RecomputeOutcome]:
    """Recompute every queued index once, each in its own transaction; however many inputs
    queued an index since the last round, it is read and computed once. A failure stays
    queued with its error (retried up to MAX_RECOMPUTE_ATTEMPTS times, or on new input)."""
    async with engine.connect() as conn:
        queued = await repository.pending(conn, max_attempts=MAX_RECOMPUTE_ATTEMPTS)
    outcomes: list[RecomputeOutcome] = []
    for index_id, generation in queued:
        try:
            # Members first, in their own transaction: closes committed after this see the
            # index as a reader and queue it again; closes committed before are read below.
            # (In one transaction a close arriving mid-computation could go unseen by both.)
            async with UnitOfWork(engine, producer=PRODUCER) as uow:
                await refresh_members(uow=uow, index_id=index_id)
                await uow.commit()
            async with UnitOfWork(engine, producer=PRODUCER) as uow:
                outcome = await recompute(uow=uow, index_id=index_id)
                await repository.clear_pending(uow.conn, index_id, generation)
                await uow.commit()
        except Exception as exc:
            log.exception("index recompute failed", index_id=index_id)
            async with UnitOfWork(engine, producer=PRODUCER) as uow:
                await repository.record_pending_failure(
                    uow.conn, index_id, generation, f"{type(exc).__name__}: {exc}"
                )
                await uow.commit()
            outcome = RecomputeOutcome(index_id, 0, "error", f"{type(exc).__name__}: {exc}")
        log.info("index recomputed", **outcome.__dict__)
        outcomes.append(outcome)
    return outcomes


# --- reading results -------------------------------------------------------------------------


def index_risk(
    levels: Sequence[tuple[dt.date, float]],
    benchmark: Sequence[tuple[dt.date, float]] | None = None,
) -> dict[str, Any]:
    """Risk metrics of an index's daily returns; with a benchmark, both series are taken
    on the dates they share so each return spans the same interval."""
    own = dict(levels)
    days = sorted(own)
    theirs: dict[dt.date, float] = {}
    if benchmark is not None:
        theirs = dict(benchmark)
        days = sorted(own.keys() & theirs.keys())
    if len(days) < 3:
        raise ValueError(f"risk metrics need at least 3 shared levels, there are {len(days)}")
    own_levels = np.asarray([own[d] for d in days])
    returns = own_levels[1:] / own_levels[:-1] - 1.0
    bench_returns = None
    if benchmark is not None:
        bench_levels = np.asarray([theirs[d] for d in days])
        bench_returns = bench_levels[1:] / bench_levels[:-1] - 1.0
    metrics = risk_metrics(returns, bench_returns)
    return {
        "start": days[0].isoformat(),
        "end": days[-1].isoformat(),
        "returns": len(days) - 1,
        # JSON has no NaN: an undefined metric (e.g. Sharpe of constant returns) is null.
        "metrics": {k: (v if math.isfinite(v) else None) for k, v in metrics.items()},
    }
