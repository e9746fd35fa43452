"""Run-time failover: with fake providers, and with real adapters against the provider
emulator over a socket (Yahoo 429s, Alpaca has no data, Polygon has the bars)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date

import httpx
import pytest

from pricing.adapters.providers import AlpacaProvider, PolygonProvider, YahooProvider
from pricing.adapters.providers.sandbox import sandbox_series
from pricing.domain.bars import FetchResult, Interval, PriceBasis
from pricing.domain.calendars import session_calendar
from pricing.domain.chain import Outcome, ProviderChain
from pricing.domain.errors import EmptyData, InvalidData, ProviderError, RateLimited
from pricing.domain.validation import validate_series
from secmaster_common.limiter import WindowLimiter

START, END = date(2024, 3, 1), date(2024, 3, 28)


class FakeSource:
    """Answers from a script: a FetchResult to return or an exception to raise, in turn."""

    def __init__(self, name: str, *answers: FetchResult | Exception) -> None:
        self.name = name
        self.answers = list(answers)
        self.calls: list[str] = []

    async def fetch(
        self, *, symbol: str, start: date, end: date, interval: Interval
    ) -> FetchResult:
        self.calls.append(symbol)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _series(provider: str, symbol: str = "ACME") -> FetchResult:
    result = sandbox_series(symbol, START, END)
    bars = tuple(replace(b, provider=provider) for b in result.bars)
    return FetchResult(symbol=symbol, provider=provider, interval=Interval.D1, bars=bars)


async def test_each_failure_kind_moves_the_symbol_on() -> None:
    chain = ProviderChain(
        [
            FakeSource("a", RateLimited("a", "429", retry_after=3.0)),
            FakeSource("b", EmptyData("b", "nothing")),
            FakeSource("c", ProviderError("c", "HTTP 503", status=503)),
            FakeSource("d", InvalidData("d", "not JSON")),
            FakeSource("e", _series("e")),
        ]
    )
    got = await chain.fetch(symbol="ACME", start=START, end=END, interval=Interval.D1)
    assert got.provider == "e"
    assert [(a.provider, a.outcome) for a in got.attempts] == [
        ("a", Outcome.RATE_LIMITED),
        ("b", Outcome.EMPTY),
        ("c", Outcome.ERROR),
        ("d", Outcome.INVALID),
        ("e", Outcome.OK),
    ]
    assert got.attempts[0].retry_after == 3.0
    assert {b.provider for b in got.bars} == {"e"}


async def test_bars_failing_validation_count_as_invalid_data() -> None:
    good = _series("good")
    # Every other bar quoted in cents: half the series is a 100x unit error.
    broken = tuple(
        replace(
            b,
            provider="cents",
            open=b.open * 100,
            high=b.high * 100,
            low=b.low * 100,
            close=b.close * 100,
        )
        if i % 2
        else replace(b, provider="cents")
        for i, b in enumerate(good.bars)
    )
    calendar = session_calendar("XNYS")
    chain = ProviderChain(
        [
            FakeSource("cents", FetchResult("ACME", "cents", Interval.D1, broken)),
            FakeSource("good", good),
        ],
        validate=lambda r: validate_series(r.bars, calendar=calendar),
    )
    got = await chain.fetch(symbol="ACME", start=START, end=END, interval=Interval.D1)
    assert got.provider == "good"
    assert got.attempts[0].outcome is Outcome.INVALID
    # The synthetic series follows the NYSE calendar, so every good bar is kept.
    assert len(got.bars) == len(good.bars) == 20


async def test_all_failing_returns_no_bars_and_every_attempt() -> None:
    chain = ProviderChain(
        [FakeSource("a", EmptyData("a", "x")), FakeSource("b", RuntimeError("bug"))]
    )
    got = await chain.fetch(symbol="ACME", start=START, end=END, interval=Interval.D1)
    assert not got.ok and got.bars == ()
    assert [a.outcome for a in got.attempts] == [Outcome.EMPTY, Outcome.ERROR]
    assert "RuntimeError: bug" in got.attempts[1].detail


async def test_health_reorders_the_chain() -> None:
    flaky = FakeSource("flaky", ProviderError("flaky", "down"))
    steady = FakeSource("steady", _series("steady"))
    chain = ProviderChain([flaky, steady], reorder_by_health=True)
    for _ in range(3):
        got = await chain.fetch(symbol="ACME", start=START, end=END, interval=Interval.D1)
        assert got.provider == "steady"
    # After its failures the flaky provider is asked after the steady one, then not at all.
    assert [p.name for p in chain.order()] == ["steady", "flaky"]
    assert len(flaky.calls) == 1
    assert chain.health.success_rate("steady") == pytest.approx(4 / 5)


async def test_symbols_fail_over_independently() -> None:
    first = FakeSource("first", EmptyData("first", "unknown symbol"), _series("first", "BBB"))
    second = FakeSource("second", _series("second", "AAA"))
    got = await ProviderChain([first, second]).fetch_many(
        symbols=["AAA", "BBB"], start=START, end=END, interval=Interval.D1
    )
    assert {s: r.provider for s, r in got.items()} == {"AAA": "second", "BBB": "first"}


async def test_failover_over_the_emulator_socket(emulator_url: str) -> None:
    """Yahoo answers 429 (its text/plain body), Alpaca an empty page, Polygon the bars:
    the bars come from Polygon, one per session, none lost, none doubled."""
    limiter = WindowLimiter(10_000, 1.0)
    async with httpx.AsyncClient() as client:
        for fault in (
            {"provider": "yahoo", "kind": "rate_limit", "count": None},
            {"provider": "alpaca", "kind": "empty", "count": None},
        ):
            (await client.post(f"{emulator_url}/_admin/faults", json=fault)).raise_for_status()
        chain = ProviderChain(
            [
                YahooProvider(client=client, base_url=emulator_url, limiter=limiter),
                AlpacaProvider(
                    client=client, base_url=emulator_url, api_key="id:s", limiter=limiter
                ),
                PolygonProvider(client=client, base_url=emulator_url, api_key="k", limiter=limiter),
            ],
            validate=lambda r: validate_series(r.bars, start=START, end=END),
        )
        got = await chain.fetch(symbol="ACME", start=START, end=END, interval=Interval.D1)
        log = (await client.get(f"{emulator_url}/_admin/requests")).json()["requests"]
    assert [(a.provider, a.outcome) for a in got.attempts] == [
        ("yahoo", Outcome.RATE_LIMITED),
        ("alpaca", Outcome.EMPTY),
        ("polygon", Outcome.OK),
    ]
    assert "Too Many Requests" in got.attempts[0].detail
    dates = [b.trading_date for b in got.bars]
    expected = [b.trading_date for b in sandbox_series("ACME", START, END).bars]
    assert dates == expected and len(dates) == 20
    assert Counter(dates).most_common(1)[0][1] == 1
    assert {b.provider for b in got.bars} == {"polygon"}
    assert [(r["provider"], r["status"], r["fault"]) for r in log] == [
        ("yahoo", 429, "rate_limit"),
        ("alpaca", 200, "empty"),
        ("polygon", 200, None),
    ]


async def test_a_result_in_another_basis_is_passed_over_and_set_aside() -> None:
    raw = _series("alpaca")
    split = replace(_series("yahoo"), basis=PriceBasis.SPLIT)
    chain = ProviderChain([FakeSource("alpaca", raw), FakeSource("yahoo", split)])

    got = await chain.fetch(
        symbol="ACME", start=START, end=END, interval=Interval.D1, basis=PriceBasis.SPLIT
    )
    assert (got.provider, got.result) == ("yahoo", split)
    assert [(a.provider, a.outcome) for a in got.attempts] == [
        ("alpaca", Outcome.BASIS_MISMATCH),
        ("yahoo", Outcome.OK),
    ]
    assert "raw prices where split are stored" in got.attempts[0].detail
    # The provider answered well: its health does not suffer for another series' basis.
    assert chain.health.success_rate("alpaca") == chain.health.success_rate("yahoo")

    only_raw = ProviderChain([FakeSource("alpaca", raw)])
    nothing = await only_raw.fetch(
        symbol="ACME", start=START, end=END, interval=Interval.D1, basis=PriceBasis.SPLIT
    )
    assert (nothing.result, nothing.set_aside) == (None, raw)
    # Without a basis to keep, the first good answer wins as before.
    first = await only_raw.fetch(symbol="ACME", start=START, end=END, interval=Interval.D1)
    assert first.result == raw
