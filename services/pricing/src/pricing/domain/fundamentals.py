"""Shares outstanding and market cap of one instrument combined across providers: each
field comes from the highest-priority provider whose observation is still fresh (TTL)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from pricing.domain.bars import FundamentalsSnapshot


class FundamentalsSource(Protocol):
    """What a refresh needs from a provider that has fundamentals."""

    @property
    def name(self) -> str: ...

    async def fundamentals(self, *, symbol: str, as_of: date) -> FundamentalsSnapshot: ...


@dataclass(frozen=True, slots=True)
class Observation:
    """A provider's snapshot and when we fetched it (the TTL runs from the fetch)."""

    snapshot: FundamentalsSnapshot
    fetched_at: datetime

    @property
    def provider(self) -> str:
        return self.snapshot.provider

    def fresh(self, *, now: datetime, ttl: timedelta) -> bool:
        return now - self.fetched_at <= ttl


@dataclass(frozen=True, slots=True)
class CombinedFundamentals:
    """The view published on `market.fundamentals.v1`. `as_of` is the latest as-of date of
    the observations used."""

    symbol: str
    as_of: date
    shares_outstanding: float | None
    shares_source: str | None
    market_cap: float | None
    market_cap_source: str | None

    @property
    def source(self) -> str:
        """One provider name, or `shares_provider+market_cap_provider` when they differ."""
        names = [s for s in (self.shares_source, self.market_cap_source) if s]
        return "+".join(dict.fromkeys(names))

    def same_values(self, other: CombinedFundamentals | None) -> bool:
        return other is not None and (
            self.as_of,
            self.shares_outstanding,
            self.shares_source,
            self.market_cap,
            self.market_cap_source,
        ) == (
            other.as_of,
            other.shares_outstanding,
            other.shares_source,
            other.market_cap,
            other.market_cap_source,
        )


def _ranked(
    observations: Sequence[Observation], priority: Sequence[str], now: datetime, ttl: timedelta
) -> list[Observation]:
    rank = {name: i for i, name in enumerate(priority)}
    usable = [o for o in observations if o.provider in rank and o.fresh(now=now, ttl=ttl)]
    return sorted(usable, key=lambda o: rank[o.provider])


def combine(
    observations: Sequence[Observation],
    *,
    priority: Sequence[str],
    ttl: timedelta,
    now: datetime,
) -> CombinedFundamentals | None:
    """Each field from the first provider in `priority` with a fresh, non-null value;
    providers not in `priority` are ignored. None when no field has a value."""
    ranked = _ranked(observations, priority, now, ttl)
    shares = next((o for o in ranked if o.snapshot.shares_outstanding is not None), None)
    cap = next((o for o in ranked if o.snapshot.market_cap is not None), None)
    used = [o for o in (shares, cap) if o is not None]
    if not used:
        return None
    return CombinedFundamentals(
        symbol=used[0].snapshot.symbol,
        as_of=max(o.snapshot.as_of for o in used),
        shares_outstanding=shares.snapshot.shares_outstanding if shares else None,
        shares_source=shares.provider if shares else None,
        market_cap=cap.snapshot.market_cap if cap else None,
        market_cap_source=cap.provider if cap else None,
    )


def next_provider_to_ask(
    observations: Sequence[Observation],
    *,
    priority: Sequence[str],
    ttl: timedelta,
    now: datetime,
    failed: Collection[str] = (),
) -> str | None:
    """The next provider to fetch, walking `priority`: None once both fields are supplied
    by fresh observations of providers ranked so far (asking a lower one could not change
    the view). A provider with a fresh observation is not asked again before its TTL
    runs out, nor is one that already failed in this refresh (`failed`)."""
    fresh = {o.provider: o for o in _ranked(observations, priority, now, ttl)}
    have_shares = have_cap = False
    for name in priority:
        if have_shares and have_cap:
            return None
        seen = fresh.get(name)
        if seen is None:
            if name in failed:
                continue
            return name
        have_shares = have_shares or seen.snapshot.shares_outstanding is not None
        have_cap = have_cap or seen.snapshot.market_cap is not None
    return None
