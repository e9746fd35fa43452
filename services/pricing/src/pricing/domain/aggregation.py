"""Aggregation of 1-minute bars to 5m/15m/30m/1h/1d bars inside exchange sessions.

Buckets are anchored at the session open (09:30, 09:35, ... for XNYS; the 1h bars are
09:30-10:30, ... as Yahoo's 60m bars are) and cut at the session close, so an early
close gives a short last bucket rather than one spilling past the close.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pricing.domain.bars import Interval, PriceBar
from pricing.domain.calendars import SessionCalendar


@dataclass(frozen=True, slots=True)
class Aggregation:
    bars: tuple[PriceBar, ...]
    outside_session: tuple[PriceBar, ...]


def aggregate_minutes(
    bars: Sequence[PriceBar], *, target: Interval, calendar: SessionCalendar
) -> Aggregation:
    """Roll 1-minute bars up to `target`. Minute bars outside regular sessions are
    returned apart, not folded in. The last bucket is marked partial when the data stops
    before the bucket's end (a bar still forming); a bucket holding a partial minute is
    partial too."""
    if target is Interval.M1:
        raise ValueError("target must be longer than 1m")
    minutes = sorted((b for b in bars if b.ts is not None), key=lambda b: b.ts or datetime.min)
    if len(minutes) != len(bars):
        raise ValueError("aggregation needs intraday bars with a `ts`")
    sessions: dict[date, tuple[datetime, datetime]] = {}
    buckets: dict[tuple[date, datetime], list[PriceBar]] = {}
    bucket_end: dict[tuple[date, datetime], datetime] = {}
    outside: list[PriceBar] = []
    step = timedelta(minutes=target.minutes)
    for bar in minutes:
        assert bar.ts is not None
        day = bar.trading_date
        if day not in sessions:
            if not calendar.is_session(day):
                outside.append(bar)
                continue
            sessions[day] = calendar.open_close(day)
        opened, closed = sessions[day]
        if not opened <= bar.ts < closed:
            outside.append(bar)
            continue
        if target is Interval.D1:
            start, end = opened, closed
        else:
            start = opened + ((bar.ts - opened) // step) * step
            end = min(start + step, closed)
        key = (day, start)
        buckets.setdefault(key, []).append(bar)
        bucket_end[key] = end

    last_minute_end = minutes[-1].ts + timedelta(minutes=1) if minutes and minutes[-1].ts else None
    out: list[PriceBar] = []
    keys = sorted(buckets)
    for key in keys:
        members = buckets[key]
        first, last = members[0], members[-1]
        partial = any(m.is_partial for m in members)
        if key == keys[-1] and last_minute_end is not None and last_minute_end < bucket_end[key]:
            partial = True
        adj = last.adj_close if all(m.adj_close is not None for m in members) else None
        out.append(
            PriceBar(
                symbol=first.symbol,
                trading_date=key[0],
                open=first.open,
                high=max(m.high for m in members),
                low=min(m.low for m in members),
                close=last.close,
                volume=sum(m.volume for m in members),
                provider=first.provider,
                interval=target,
                ts=None if target is Interval.D1 else key[1],
                adj_close=adj,
                is_partial=partial,
                synthetic=all(m.synthetic for m in members),
            )
        )
    return Aggregation(bars=tuple(out), outside_session=tuple(outside))
