"""Use cases of the pricing service: track the universe from mapping events, fetch the
missing ranges through the provider chain, validate, store in bulk and publish bars."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from pricing.adapters import store
from pricing.domain.adjustment import adjust_stored_series, basis_runs
from pricing.domain.bars import (
    ActionType,
    CorporateAction,
    FetchResult,
    Interval,
    PriceBar,
    PriceBasis,
)
from pricing.domain.calendars import calendar_code_for, session_calendar
from pricing.domain.chain import ChainResult, ProviderChain
from pricing.domain.coverage import DateRange, missing_ranges
from pricing.domain.errors import ProviderFailure
from pricing.domain.fundamentals import (
    CombinedFundamentals,
    FundamentalsSource,
    Observation,
    combine,
    next_provider_to_ask,
)
from pricing.domain.validation import RejectedBar, RejectReason, SeriesQuality, validate_series
from secmaster_common.db.tables import inbox
from secmaster_common.db.uow import UnitOfWork
from secmaster_common.events import (
    Bar,
    BarsPublished,
    CorporateActionItem,
    FundamentalsObserved,
)

PRODUCER = "pricing"


@dataclass(frozen=True)
class RefreshOutcome:
    instrument_id: str
    symbol: str
    stored: int
    rejected: int
    provider: str | None
    attempts: tuple[str, ...]
    ranges: tuple[str, ...] = ()
    published: int = 0
    interval: Interval = Interval.D1
    asset_class: str | None = None
    aggregated: bool = False


def validator(result: FetchResult) -> SeriesQuality:
    """Validate a provider's daily series against the calendar of the exchange it says it
    quotes (its time zone), so bars dated on non-sessions are quarantined."""
    if result.interval.is_intraday:
        return validate_series(result.bars)
    code = calendar_code_for(timezone_name=result.exchange_timezone)
    return validate_series(result.bars, calendar=session_calendar(code))


async def already_handled(engine: AsyncEngine, *, consumer: str, event_id: uuid.UUID) -> bool:
    """A cheap look at the inbox before slow work (the claim in the unit of work decides)."""
    async with engine.connect() as conn:
        found = await conn.scalar(
            sa.select(sa.literal(1)).where(
                inbox.c.consumer == consumer, inbox.c.event_id == event_id
            )
        )
    return found is not None


async def ranges_to_fetch(
    *, engine: AsyncEngine, instrument_id: str, start: dt.date, end: dt.date, calendar_code: str
) -> list[DateRange]:
    """The exchange sessions in [start, end] with no stored bar, as fetch ranges."""
    sessions = session_calendar(calendar_code).sessions(start, end)
    if not sessions:
        return []
    async with engine.connect() as conn:
        stored = await store.stored_dates(conn, instrument_id, sessions[0], sessions[-1])
    return missing_ranges(sessions, stored)


async def refresh_instrument(
    *,
    engine: AsyncEngine,
    chain: ProviderChain,
    instrument_id: str,
    symbol: str,
    figi: str | None,
    start: dt.date,
    end: dt.date,
    correlation_id: str | None,
    claim: tuple[str, uuid.UUID, str] | None = None,
    universe_entry: dict[str, str | None] | None = None,
    calendar_code: str | None = None,
    asset_class: str | None = None,
) -> RefreshOutcome:
    """Fetch the sessions of [start, end] that have no stored bar (each missing range
    through the failover chain), store accepted bars, quarantine rejected ones, and
    publish the stored bars on `market.bars.v1` (one batch per instrument per refresh,
    split by provider when ranges came from different ones). One transaction, which also
    holds the inbox claim of the triggering event when there is one.

    The series keeps one price basis: the chain is asked for the basis of the latest
    stored bar (or, for a new instrument, of the first range fetched), and when only a
    provider of another basis has the range, its bars are quarantined as
    `basis_mismatch` instead of stored."""
    exch_code = (universe_entry or {}).get("exch_code")
    code = calendar_code or calendar_code_for(figi_exchange=exch_code)
    ranges = await ranges_to_fetch(
        engine=engine, instrument_id=instrument_id, start=start, end=end, calendar_code=code
    )
    basis: PriceBasis | None = None
    if ranges:
        async with engine.connect() as conn:
            basis = await store.stored_basis(conn, instrument_id)
    results: list[tuple[DateRange, ChainResult]] = []
    for wanted in ranges:
        got = await chain.fetch(
            symbol=symbol, start=wanted.start, end=wanted.end, interval=Interval.D1, basis=basis
        )
        results.append((wanted, got))
        if got.result is not None:
            basis = got.result.basis

    accepted: dict[PriceBasis, list[PriceBar]] = defaultdict(list)
    rejected: list[RejectedBar] = []
    for wanted, got in results:
        if got.result is None:
            if got.set_aside is not None:
                rejected += _basis_mismatches(got.set_aside, wanted, stored=basis)
            continue
        quality = got.quality or validator(got.result)
        # A provider may answer with more than was asked; only the missing range is new.
        accepted[got.result.basis] += [b for b in quality.accepted if b.trading_date in wanted]
        rejected += [r for r in quality.rejected if r.bar.trading_date in wanted]

    published = 0
    async with UnitOfWork(engine, producer=PRODUCER) as uow:
        if claim is not None:
            consumer, event_id, topic = claim
            if not await uow.claim(consumer=consumer, event_id=event_id, topic=topic):
                return RefreshOutcome(instrument_id, symbol, 0, 0, None, ())
        if universe_entry is not None:
            await store.upsert_universe(
                uow.conn,
                instrument_id=instrument_id,
                symbol=symbol,
                figi=universe_entry.get("figi"),
                id_type=universe_entry.get("id_type"),
                id_value=universe_entry.get("id_value"),
                exch_code=exch_code,
                market_sector=universe_entry.get("market_sector"),
                security_type=universe_entry.get("security_type"),
            )
        changed: set[dt.date] = set()
        for bar_basis, bars_of_basis in sorted(accepted.items()):
            changed |= await store.copy_daily_bars(
                uow.conn, instrument_id, bars_of_basis, basis=bar_basis
            )
        await store.quarantine(uow.conn, instrument_id, rejected)
        basis_of: dict[str, str] = {}
        actions_by_provider: dict[str, list[CorporateAction]] = defaultdict(list)
        for wanted, got in results:
            if got.result is not None:
                actions = got.result.within(wanted.start, wanted.end).actions
                await store.save_actions(uow.conn, instrument_id, actions, got.result.provider)
                basis_of[got.result.provider] = str(got.result.basis)
                actions_by_provider[got.result.provider] += actions
        by_provider: dict[str, list[PriceBar]] = defaultdict(list)
        for bar in (b for bars_of_basis in accepted.values() for b in bars_of_basis):
            if bar.trading_date in changed:
                by_provider[bar.provider].append(bar)
        for provider, bars in sorted(by_provider.items()):
            await uow.publish(
                BarsPublished(
                    instrument_id=instrument_id,
                    symbol=symbol,
                    figi=figi,
                    interval="1d",
                    provider=provider,
                    bars=[_bar_event(b) for b in bars],
                    # Consumers need the closes' basis to know which actions still apply.
                    basis=basis_of.get(provider, "raw"),
                    actions=[_action_event(a) for a in actions_by_provider[provider]],
                ),
                key=instrument_id,
                correlation_id=correlation_id,
            )
            published += len(bars)
        await uow.commit()
    providers = sorted({got.provider for _, got in results if got.provider})
    attempts = tuple(f"{a.provider}:{a.outcome}" for _, got in results for a in got.attempts)
    return RefreshOutcome(
        instrument_id=instrument_id,
        symbol=symbol,
        stored=len(changed),
        rejected=len(rejected),
        provider=",".join(providers) or None,
        attempts=attempts,
        ranges=tuple(f"{r.start}..{r.end}" for r in ranges),
        published=published,
        asset_class=asset_class,
    )


def _basis_mismatches(
    result: FetchResult, wanted: DateRange, *, stored: PriceBasis | None
) -> list[RejectedBar]:
    """The bars of a result passed over for its basis, kept in quarantine (never silently
    dropped) with what was stored instead."""
    detail = (
        f"{result.provider} returns {result.basis.value} prices; the stored series is "
        f"{stored.value if stored else 'of another basis'}, so storing them would mix bases"
    )
    return [
        RejectedBar(bar=b, reason=RejectReason.BASIS_MISMATCH, detail=detail)
        for b in result.bars
        if b.trading_date in wanted
    ]


def _action_event(action: CorporateAction) -> CorporateActionItem:
    return CorporateActionItem(
        type="split" if action.type is ActionType.SPLIT else "dividend",
        date=action.ex_date,
        ratio=action.ratio,
        amount=action.amount,
    )


def _bar_event(bar: PriceBar) -> Bar:
    return Bar(
        date=bar.trading_date,
        open=bar.open,
        high=bar.high,
        low=bar.low,
        close=bar.close,
        adj_close=bar.adj_close,
        volume=bar.volume,
    )


@dataclass(frozen=True)
class FundamentalsOutcome:
    instrument_id: str
    symbol: str
    asked: tuple[str, ...]
    failed: tuple[str, ...]
    view: CombinedFundamentals | None
    published: bool


async def refresh_fundamentals(
    *,
    engine: AsyncEngine,
    sources: Sequence[FundamentalsSource],
    instrument_id: str,
    symbol: str,
    ttl: dt.timedelta,
    now: dt.datetime,
    correlation_id: str | None,
) -> FundamentalsOutcome:
    """Ask providers in priority order (the order of `sources`) until both shares
    outstanding and market cap come from fresh observations, skipping any whose last
    observation is younger than `ttl`; store the observations and the combined view, and
    publish `market.fundamentals.v1` when the view changed."""
    priority = [s.name for s in sources]
    by_name = {s.name: s for s in sources}
    async with engine.connect() as conn:
        known = await store.fundamentals_observations(conn, instrument_id)
    fetched: list[Observation] = []
    asked: list[str] = []
    failed: set[str] = set()
    while True:
        name = next_provider_to_ask(
            [*known, *fetched], priority=priority, ttl=ttl, now=now, failed=failed
        )
        if name is None:
            break
        asked.append(name)
        try:
            snapshot = await by_name[name].fundamentals(symbol=symbol, as_of=now.date())
        except ProviderFailure:
            failed.add(name)
            continue
        fetched.append(Observation(snapshot=replace(snapshot, provider=name), fetched_at=now))
    latest = {o.provider: o for o in [*known, *fetched]}
    view = combine(list(latest.values()), priority=priority, ttl=ttl, now=now)
    published = False
    async with UnitOfWork(engine, producer=PRODUCER) as uow:
        await store.save_observations(uow.conn, instrument_id, fetched)
        current = await store.current_fundamentals(uow.conn, instrument_id)
        if view is not None and not view.same_values(current):
            await store.save_fundamentals(uow.conn, instrument_id, view)
            await uow.publish(
                FundamentalsObserved(
                    instrument_id=instrument_id,
                    symbol=symbol,
                    as_of=view.as_of,
                    shares_outstanding=view.shares_outstanding,
                    market_cap=view.market_cap,
                    source=view.source,
                ),
                key=instrument_id,
                correlation_id=correlation_id,
            )
            published = True
        await uow.commit()
    return FundamentalsOutcome(
        instrument_id=instrument_id,
        symbol=symbol,
        asked=tuple(asked),
        failed=tuple(sorted(failed)),
        view=view,
        published=published,
    )


RAW_NOT_RECONSTRUCTED = (
    "prices as the provider returned them; bars of basis split (or split_dividend) are "
    "already adjusted as of when they were fetched, and prices as traded cannot be "
    "reconstructed from them without the full split history, which is not stored"
)


@dataclass(frozen=True)
class BarsView:
    """Stored daily bars of one instrument, as stored or split+dividend adjusted.

    `bases` holds each bar's basis (all split_dividend when adjusted); `basis` is the
    series' single basis, or "mixed"."""

    instrument_id: str
    symbol: str
    adjusted: bool
    bars: tuple[PriceBar, ...]
    actions: tuple[CorporateAction, ...]
    bases: tuple[PriceBasis, ...]

    @property
    def basis(self) -> str:
        kinds = set(self.bases)
        if len(kinds) > 1:
            return "mixed"
        return next(iter(kinds), PriceBasis.RAW).value

    @property
    def note(self) -> str | None:
        """What a reader must know about an unadjusted series that is not as traded."""
        if self.adjusted or set(self.bases) <= {PriceBasis.RAW}:
            return None
        if self.basis == "mixed":
            runs = basis_runs(list(zip(self.bars, self.bases, strict=True)))
            return (
                "the stored bars mix price bases ("
                + "; ".join(r.describe() for r in runs)
                + "): compare closes only within one basis; "
                + RAW_NOT_RECONSTRUCTED
            )
        return RAW_NOT_RECONSTRUCTED


async def read_bars(
    *,
    engine: AsyncEngine,
    symbol: str,
    start: dt.date | None,
    end: dt.date | None,
    adjusted: bool,
) -> BarsView | None:
    """Stored bars, as stored or split+dividend adjusted. Unadjusted, each bar is in the
    basis its provider returned (raw, split or split_dividend; see `RAW_NOT_RECONSTRUCTED`).
    Adjusted series are computed on read from the stored bars and actions, applying only
    what the stored basis lacks (nothing adjusted is stored, so a late dividend never
    leaves a stale adjusted copy); factors need the whole history, so the range is cut
    afterwards. Raises `MixedBasis` for an adjusted read of a series mixing bases."""
    async with engine.connect() as conn:
        member = await store.instrument_for(conn, symbol)
        if member is None:
            return None
        instrument_id = member["instrument_id"]
        actions = await store.corporate_actions(conn, instrument_id)
        stored = await store.daily_bars(conn, instrument_id, None if adjusted else start, end)
    if adjusted:
        series = adjust_stored_series(member["symbol"], stored, actions)
        bars = tuple(b for b in series if start is None or b.trading_date >= start)
        bases = (PriceBasis.SPLIT_DIVIDEND,) * len(bars)
    else:
        bars = tuple(b for b, _ in stored)
        bases = tuple(basis for _, basis in stored)
    in_range = tuple(
        a
        for a in actions
        if (start is None or a.ex_date >= start) and (end is None or a.ex_date <= end)
    )
    return BarsView(instrument_id, member["symbol"], adjusted, bars, in_range, bases)


@dataclass(frozen=True)
class FundamentalsPlan:
    """Fundamentals sources in priority order and the TTL of an observation."""

    sources: tuple[FundamentalsSource, ...]
    ttl: dt.timedelta
