"""Use cases for intraday bars (1m/5m/15m/1h): fetch the sessions not yet stored through
their close, aggregate 1-minute bars when no provider serves the asked interval, store in
bulk into `bars_intraday` and publish what changed on `market.bars.v1`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from pricing.adapters import store
from pricing.domain.aggregation import aggregate_minutes
from pricing.domain.asset_classes import asset_class_for, calendar_code_for_class
from pricing.domain.bars import FetchResult, Interval, PriceBar, PriceBasis
from pricing.domain.calendars import SessionCalendar, session_calendar
from pricing.domain.chain import Attempt, ProviderChain
from pricing.domain.coverage import DateRange, Session, complete_sessions, missing_ranges
from pricing.domain.validation import RejectedBar
from pricing.service import PRODUCER, RefreshOutcome, validator
from secmaster_common.db.uow import UnitOfWork
from secmaster_common.events import Bar, BarsPublished

# The intervals `market.bars.v1` carries (its `interval` field) other than 1d.
INTRADAY_INTERVALS = (Interval.M1, Interval.M5, Interval.M15, Interval.H1)

# A month of 1-minute bars is ~8,000 bars, ~1 MB of JSON: over Kafka's default 1 MB
# message.max.bytes. Batches are cut well below it.
MAX_BARS_PER_EVENT = 2_000


@dataclass(frozen=True)
class IntradayFetch:
    """What one missing range yielded: accepted and rejected bars of the asked interval,
    the attempts made, the provider(s) kept, and whether 1m bars were aggregated."""

    accepted: tuple[PriceBar, ...]
    rejected: tuple[RejectedBar, ...]
    attempts: tuple[Attempt, ...]
    provider: str | None
    aggregated_from: Interval | None = None
    basis: PriceBasis = PriceBasis.RAW


async def fetch_interval(
    *,
    chain: ProviderChain,
    symbol: str,
    wanted: DateRange,
    interval: Interval,
    calendar: SessionCalendar,
) -> IntradayFetch:
    """Bars of `interval` over `wanted`, from the first provider in the chain that serves
    it; when none does (most free feeds keep only 1m, or refuse longer steps), 1-minute
    bars through the same chain rolled up within the exchange's sessions."""
    got = await chain.fetch(symbol=symbol, start=wanted.start, end=wanted.end, interval=interval)
    if got.result is not None:
        quality = got.quality or validator(got.result)
        return IntradayFetch(
            accepted=tuple(b for b in quality.accepted if b.trading_date in wanted),
            rejected=tuple(r for r in quality.rejected if r.bar.trading_date in wanted),
            attempts=got.attempts,
            provider=got.provider,
            basis=got.result.basis,
        )
    if interval is Interval.M1:
        return IntradayFetch((), (), got.attempts, None)
    minutes = await chain.fetch(
        symbol=symbol, start=wanted.start, end=wanted.end, interval=Interval.M1
    )
    attempts = got.attempts + tuple(
        Attempt(f"{a.provider}[1m]", a.outcome, a.detail, a.latency_s, a.retry_after)
        for a in minutes.attempts
    )
    if minutes.result is None:
        return IntradayFetch((), (), attempts, None)
    minute_quality = minutes.quality or validator(minutes.result)
    rolled = aggregate_minutes(
        [b for b in minute_quality.accepted if b.trading_date in wanted],
        target=interval,
        calendar=calendar,
    )
    # The rolled-up series is judged like a native one: a last bucket still forming is
    # partial and is quarantined rather than stored as final.
    quality = validator(
        FetchResult(
            symbol=minutes.result.symbol,
            provider=minutes.result.provider,
            interval=interval,
            bars=rolled.bars,
        )
    )
    return IntradayFetch(
        accepted=quality.accepted,
        rejected=tuple(r for r in minute_quality.rejected if r.bar.trading_date in wanted)
        + quality.rejected,
        attempts=attempts,
        provider=minutes.provider,
        aggregated_from=Interval.M1,
        basis=minutes.result.basis,
    )


def sessions_of(calendar: SessionCalendar, start: dt.date, end: dt.date) -> list[Session]:
    return [Session(day, *calendar.open_close(day)) for day in calendar.sessions(start, end)]


async def intraday_ranges_to_fetch(
    *,
    engine: AsyncEngine,
    instrument_id: str,
    interval: Interval,
    sessions: list[Session],
) -> list[DateRange]:
    """The sessions not stored through their close, as fetch ranges."""
    if not sessions:
        return []
    async with engine.connect() as conn:
        stored = await store.stored_intraday_times(
            conn, instrument_id, interval.value, sessions[0].opens, sessions[-1].closes
        )
    done = complete_sessions(sessions, stored, step=dt.timedelta(minutes=interval.minutes))
    return missing_ranges([s.day for s in sessions], done)


async def refresh_intraday(
    *,
    engine: AsyncEngine,
    chain: ProviderChain,
    instrument_id: str,
    symbol: str,
    figi: str | None,
    interval: Interval,
    start: dt.date,
    end: dt.date,
    calendar_code: str,
    correlation_id: str | None,
    claim: tuple[str, uuid.UUID, str] | None = None,
    asset_class: str | None = None,
) -> RefreshOutcome:
    """Fetch the sessions of [start, end] not yet stored through their close (each
    missing range through the failover chain, aggregating 1m bars when the interval is not
    served), upsert the accepted bars into `bars_intraday`, quarantine rejected ones, and
    publish only inserted or changed bars on `market.bars.v1` (batches per instrument,
    interval and provider). One transaction, holding the inbox claim when there is one."""
    if interval not in INTRADAY_INTERVALS:
        choices = ", ".join(i.value for i in INTRADAY_INTERVALS)
        raise ValueError(f"{interval} is not an intraday interval of market.bars.v1 ({choices})")
    calendar = session_calendar(calendar_code)
    ranges = await intraday_ranges_to_fetch(
        engine=engine,
        instrument_id=instrument_id,
        interval=interval,
        sessions=sessions_of(calendar, start, end),
    )
    fetched = [
        await fetch_interval(
            chain=chain, symbol=symbol, wanted=wanted, interval=interval, calendar=calendar
        )
        for wanted in ranges
    ]
    accepted = [b for f in fetched for b in f.accepted]
    rejected = [r for f in fetched for r in f.rejected]

    published = 0
    async with UnitOfWork(engine, producer=PRODUCER) as uow:
        if claim is not None:
            consumer, event_id, topic = claim
            if not await uow.claim(consumer=consumer, event_id=event_id, topic=topic):
                return RefreshOutcome(instrument_id, symbol, 0, 0, None, (), interval=interval)
        changed: set[dt.datetime] = set()
        for basis in sorted({f.basis for f in fetched if f.accepted}):
            of_basis = [b for f in fetched if f.basis is basis for b in f.accepted]
            changed |= await store.copy_intraday_bars(
                uow.conn, instrument_id, interval.value, of_basis, basis=basis
            )
        await store.quarantine(uow.conn, instrument_id, rejected)
        by_provider: dict[str, list[PriceBar]] = defaultdict(list)
        for bar in sorted(accepted, key=lambda b: b.ts or dt.datetime.min.replace(tzinfo=dt.UTC)):
            if bar.ts in changed:
                by_provider[bar.provider].append(bar)
        for provider, bars in sorted(by_provider.items()):
            for first in range(0, len(bars), MAX_BARS_PER_EVENT):
                await uow.publish(
                    BarsPublished(
                        instrument_id=instrument_id,
                        symbol=symbol,
                        figi=figi,
                        interval=interval.value,
                        provider=provider,
                        bars=[_bar_event(b) for b in bars[first : first + MAX_BARS_PER_EVENT]],
                    ),
                    key=instrument_id,
                    correlation_id=correlation_id,
                )
            published += len(bars)
        await uow.commit()
    providers = sorted({f.provider for f in fetched if f.provider})
    return RefreshOutcome(
        instrument_id=instrument_id,
        symbol=symbol,
        stored=len(changed),
        rejected=len(rejected),
        provider=",".join(providers) or None,
        attempts=tuple(f"{a.provider}:{a.outcome}" for f in fetched for a in f.attempts),
        ranges=tuple(f"{r.start}..{r.end}" for r in ranges),
        published=published,
        interval=interval,
        asset_class=asset_class,
        aggregated=any(f.aggregated_from is not None for f in fetched),
    )


def _bar_event(bar: PriceBar) -> Bar:
    return Bar(
        ts=bar.ts,
        open=bar.open,
        high=bar.high,
        low=bar.low,
        close=bar.close,
        volume=bar.volume,
    )


@dataclass(frozen=True)
class IntradayView:
    """Stored bars of one instrument and intraday interval."""

    instrument_id: str
    symbol: str
    interval: Interval
    bars: tuple[PriceBar, ...]


async def read_intraday_bars(
    *,
    engine: AsyncEngine,
    symbol: str,
    interval: Interval,
    start: dt.date | None,
    end: dt.date | None,
    calendar_code: str | None = None,
) -> IntradayView | None:
    """Stored bars of `interval` whose start falls on exchange-local dates start..end
    (either open-ended). None when the symbol is not in the universe."""
    async with engine.connect() as conn:
        member = await store.instrument_for(conn, symbol)
        if member is None:
            return None
        code = calendar_code or calendar_code_for_class(
            asset_class_for(
                market_sector=member.get("market_sector"),
                security_type=member.get("security_type"),
            ),
            figi_exchange=member.get("exch_code"),
        )
        calendar = session_calendar(code)
        lo = calendar.day_bounds(start, start)[0] if start else None
        hi = calendar.day_bounds(end, end)[1] if end else None
        rows = await store.intraday_bars(conn, member["instrument_id"], interval.value, lo, hi)
    bars = tuple(
        PriceBar(
            symbol=r["symbol"],
            trading_date=calendar.trading_date_of(r["ts"]),
            open=r["open"],
            high=r["high"],
            low=r["low"],
            close=r["close"],
            volume=r["volume"],
            provider=r["provider"],
            interval=interval,
            ts=r["ts"].astimezone(dt.UTC),
        )
        for r in rows
    )
    return IntradayView(member["instrument_id"], member["symbol"], interval, bars)
