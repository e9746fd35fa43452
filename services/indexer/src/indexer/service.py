"""Use cases of the indexer service: keep the inputs that arrive as events, and recompute
an index when its definition, holdings, mappings or prices change, publishing only the
levels and rebalances that are new or different."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from indexer.adapters import repository
from indexer.domain.definition import IndexDefinition, PortfolioUniverse
from indexer.domain.levels import IndexInputError, compute_index
from indexer.domain.panel import HoldingsSnapshot, Panel
from secmaster_common.db.uow import UnitOfWork
from secmaster_common.events import Allocation, IndexLevel, IndexLevelsComputed, IndexRebalanced

PRODUCER = "indexer"
# Which identifier of a holding names its security, most specific first (as enrichment).
IDENTIFIER_PREFERENCE = ("FIGI", "ISIN", "CUSIP", "SEDOL", "TICKER")


@dataclass(frozen=True)
class RecomputeOutcome:
    index_id: str
    version: int
    status: str  # computed | waiting | no_definition | error
    detail: str = ""
    published_levels: int = 0
    published_rebalances: int = 0


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


async def recompute(*, uow: UnitOfWork, index_id: str) -> RecomputeOutcome:
    """Recompute one index inside the caller's unit of work (serialised per index)."""
    await uow.conn.execute(
        sa.select(sa.func.pg_advisory_xact_lock(zlib.crc32(f"index:{index_id}".encode())))
    )
    found = await repository.latest_definitions(uow.conn, index_id)
    if not found:
        return RecomputeOutcome(index_id, 0, "no_definition")
    version = int(found[0]["version"])
    definition = IndexDefinition.model_validate(found[0]["definition"])
    snapshots: list[HoldingsSnapshot] = []
    symbols: set[str] = set()
    if isinstance(definition.universe, PortfolioUniverse):
        securities = await repository.securities(uow.conn)
        for as_of, lines in await repository.complete_snapshots(
            uow.conn, definition.universe.portfolio
        ):
            quantities, waiting, _ = resolve_holdings(lines, securities)
            if waiting:
                return RecomputeOutcome(
                    index_id, version, "waiting", f"{len(waiting)} identifiers not mapped yet"
                )
            snapshots.append(HoldingsSnapshot(as_of=as_of, quantities=quantities))
            symbols |= set(quantities)
        if not snapshots:
            return RecomputeOutcome(
                index_id, version, "waiting", "no complete holdings snapshot yet"
            )
    elif hasattr(definition.universe, "constituents"):
        symbols = {c.symbol for c in definition.universe.constituents}
    price_rows = await repository.prices(uow.conn, sorted(symbols))
    priced = {r[1] for r in price_rows}
    if missing := sorted(symbols - priced):
        return RecomputeOutcome(index_id, version, "waiting", f"no prices yet for {missing}")
    try:
        result = compute_index(definition, Panel.from_records(price_rows), holdings=snapshots)
    except IndexInputError as exc:
        return RecomputeOutcome(index_id, version, "waiting", str(exc))
    stored = await repository.stored_levels(uow.conn, index_id, version)
    changed = [row for row in result.rows() if stored.get(row.day) != (row.level, row.divisor)]
    level_rows = [
        {
            "index_id": index_id,
            "version": version,
            "trading_date": row.day,
            "level": row.level,
            "divisor": row.divisor,
            "constituents": len(symbols),
            "stale": [f for f in row.flags],
        }
        for row in changed
    ]
    await repository.upsert_levels(uow.conn, level_rows)
    if changed:
        await uow.publish(
            IndexLevelsComputed(
                index_id=index_id,
                version=version,
                levels=[
                    IndexLevel(
                        date=row.day,
                        level=row.level,
                        divisor=row.divisor,
                        constituents=len(symbols),
                        stale_prices=list(row.flags),
                    )
                    for row in changed
                ],
            ),
            key=index_id,
        )
    rebalances = 0
    for rb in result.rebalances:
        weights, shares = rb.weight_map(), rb.shares_map()
        allocations = [
            {"symbol": s, "weight": weights[s], "shares": shares[s]} for s in sorted(weights)
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
