"""The refresh of universe members: each member through the provider chain of its asset
class, at the asked interval (daily bars and fundamentals, or intraday bars)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from pricing.domain.asset_classes import AssetClass, ProviderChains, calendar_code_for_class
from pricing.domain.bars import Interval
from pricing.intraday import refresh_intraday
from pricing.service import (
    FundamentalsPlan,
    RefreshOutcome,
    refresh_fundamentals,
    refresh_instrument,
)


def member_class(chains: ProviderChains, member: Mapping[str, Any]) -> AssetClass:
    return chains.class_of(
        market_sector=member.get("market_sector"), security_type=member.get("security_type")
    )


async def refresh_members(
    *,
    engine: AsyncEngine,
    chains: ProviderChains,
    members: Sequence[Mapping[str, Any]],
    start: dt.date,
    end: dt.date,
    correlation_id: str | None,
    interval: Interval = Interval.D1,
    fundamentals: FundamentalsPlan | None = None,
    claim: tuple[str, uuid.UUID, str] | None = None,
    on_done: Callable[[RefreshOutcome], None] | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> list[RefreshOutcome]:
    """Refresh universe members one by one, each through its asset class's chain: daily
    bars then fundamentals (when planned), or bars of one intraday interval. The claim of
    the triggering event rides on the last member's transaction: a crash before it redoes
    the refresh, which only fetches what is still missing."""
    outcomes = []
    for i, member in enumerate(members):
        asset_class = member_class(chains, member)
        chain = chains.for_class(asset_class)
        code = calendar_code_for_class(asset_class, figi_exchange=member.get("exch_code"))
        member_claim = claim if i == len(members) - 1 else None
        if interval.is_intraday:
            outcome = await refresh_intraday(
                engine=engine,
                chain=chain,
                instrument_id=member["instrument_id"],
                symbol=member["symbol"],
                figi=member.get("figi"),
                interval=interval,
                start=start,
                end=end,
                calendar_code=code,
                correlation_id=correlation_id,
                claim=member_claim,
                asset_class=asset_class.value,
            )
        else:
            outcome = await refresh_instrument(
                engine=engine,
                chain=chain,
                instrument_id=member["instrument_id"],
                symbol=member["symbol"],
                figi=member.get("figi"),
                start=start,
                end=end,
                correlation_id=correlation_id,
                calendar_code=code,
                claim=member_claim,
                asset_class=asset_class.value,
            )
            if fundamentals is not None and fundamentals.sources:
                await refresh_fundamentals(
                    engine=engine,
                    sources=fundamentals.sources,
                    instrument_id=member["instrument_id"],
                    symbol=member["symbol"],
                    ttl=fundamentals.ttl,
                    now=now(),
                    correlation_id=correlation_id,
                )
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
    return outcomes
