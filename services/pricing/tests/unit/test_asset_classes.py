"""Asset classes from OpenFIGI's marketSector/securityType, the PRICING_CHAINS setting, and
one provider chain per class sharing provider objects and health."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from pydantic import ValidationError

from pricing.adapters.providers.sandbox import sandbox_series
from pricing.composition import build_chains
from pricing.domain.asset_classes import (
    AssetClass,
    ChainPlan,
    ProviderChains,
    asset_class_for,
    calendar_code_for_class,
)
from pricing.domain.bars import FetchResult, Interval
from pricing.domain.errors import ProviderError
from pricing.settings import PricingSettings

START, END = date(2024, 3, 1), date(2024, 3, 28)


class ScriptedSource:
    """A provider that always fails or always answers with the sandbox series."""

    def __init__(self, name: str, *, fails: bool = False) -> None:
        self.name = name
        self.fails = fails
        self.symbols: list[str] = []

    async def fetch(
        self, *, symbol: str, start: date, end: date, interval: Interval
    ) -> FetchResult:
        self.symbols.append(symbol)
        if self.fails:
            raise ProviderError(self.name, "HTTP 503")
        series = sandbox_series(symbol, start, end)
        return FetchResult(symbol=symbol, provider=self.name, interval=interval, bars=series.bars)


@pytest.mark.parametrize(
    ("sector", "security_type", "expected"),
    [
        ("Equity", "Common Stock", AssetClass.EQUITY),
        ("Pfd", "Preferred", AssetClass.EQUITY),
        ("Curncy", "Currency spot.", AssetClass.FX),
        ("Curncy", "Crypto", AssetClass.CRYPTO),
        ("Comdty", "Commodity Future.", AssetClass.COMMODITY),
        ("Index", "Index", AssetClass.INDEX),
        ("Corp", "Corp Bond", AssetClass.FIXED_INCOME),
        ("Govt", None, AssetClass.FIXED_INCOME),
        ("M-Mkt", None, AssetClass.FIXED_INCOME),
    ],
)
def test_openfigi_market_sectors_map_to_asset_classes(
    sector: str, security_type: str | None, expected: AssetClass
) -> None:
    assert asset_class_for(market_sector=sector, security_type=security_type) is expected


def test_unknown_or_missing_sector_takes_the_configured_default() -> None:
    assert asset_class_for(market_sector=None) is AssetClass.EQUITY
    assert asset_class_for(market_sector="Warrant?") is AssetClass.EQUITY
    assert asset_class_for(market_sector="Warrant?", default=AssetClass.INDEX) is AssetClass.INDEX


def test_chains_setting_names_classes_and_falls_back_to_pricing_providers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRICING_PROVIDERS", "yahoo")
    monkeypatch.setenv("PRICING_CHAINS", '{"crypto": "polygon, yahoo", "FX": "twelvedata"}')
    plan = PricingSettings().chain_plan()
    assert plan.providers_for(AssetClass.CRYPTO) == ("polygon", "yahoo")
    assert plan.providers_for(AssetClass.FX) == ("twelvedata",)
    assert plan.providers_for(AssetClass.EQUITY) == ("yahoo",)
    assert plan.providers_for(AssetClass.COMMODITY) == ("yahoo",)
    assert plan.all_providers == ("yahoo", "polygon", "twelvedata")

    monkeypatch.delenv("PRICING_CHAINS")
    only_default = PricingSettings().chain_plan()
    assert {only_default.providers_for(c) for c in AssetClass} == {("yahoo",)}


def test_a_misspelt_class_or_empty_chain_fails_at_start_up_saying_which(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRICING_CHAINS", '{"equities": "yahoo"}')
    with pytest.raises(ValidationError, match="unknown asset class 'equities'"):
        PricingSettings()
    monkeypatch.setenv("PRICING_CHAINS", '{"crypto": " , "}')
    with pytest.raises(ValidationError, match="crypto chain in PRICING_CHAINS names no provider"):
        PricingSettings()
    monkeypatch.delenv("PRICING_CHAINS")
    monkeypatch.setenv("PRICING_DEFAULT_ASSET_CLASS", "stocks")
    with pytest.raises(ValidationError, match="unknown asset class 'stocks'"):
        PricingSettings()


async def test_each_class_fetches_through_its_own_chain() -> None:
    yahoo, polygon = ScriptedSource("yahoo"), ScriptedSource("polygon")
    chains = ProviderChains(
        ChainPlan(default=("yahoo",), by_class={AssetClass.CRYPTO: ("polygon", "yahoo")}),
        {"yahoo": yahoo, "polygon": polygon},
    )
    crypto_class, crypto = chains.for_instrument(market_sector="Curncy", security_type="Crypto")
    equity_class, equity = chains.for_instrument(market_sector="Equity", security_type=None)
    assert (crypto_class, equity_class) == (AssetClass.CRYPTO, AssetClass.EQUITY)

    got_crypto = await crypto.fetch(symbol="BTCUSD", start=START, end=END, interval=Interval.D1)
    got_equity = await equity.fetch(symbol="ACME", start=START, end=END, interval=Interval.D1)
    assert (got_crypto.provider, got_equity.provider) == ("polygon", "yahoo")
    assert (polygon.symbols, yahoo.symbols) == (["BTCUSD"], ["ACME"])


async def test_health_is_shared_so_a_failing_provider_drops_in_every_chain() -> None:
    flaky, steady = ScriptedSource("flaky", fails=True), ScriptedSource("steady")
    chains = ProviderChains(
        ChainPlan(
            default=("flaky", "steady"),
            by_class={AssetClass.FX: ("flaky", "steady"), AssetClass.CRYPTO: ("steady",)},
        ),
        {"flaky": flaky, "steady": steady},
    )
    fx = chains.for_class(AssetClass.FX)
    assert [p.name for p in fx.order()] == ["flaky", "steady"]
    equity = chains.for_class(AssetClass.EQUITY)
    for _ in range(3):
        got = await equity.fetch(symbol="ACME", start=START, end=END, interval=Interval.D1)
        assert got.provider == "steady"
    # The equity chain learnt that `flaky` fails: the fx chain now asks `steady` first.
    assert [p.name for p in fx.order()] == ["steady", "flaky"]
    await fx.fetch(symbol="EURUSD", start=START, end=END, interval=Interval.D1)
    # One failure was enough: neither chain asked `flaky` again.
    assert flaky.symbols == ["ACME"]
    assert steady.symbols == ["ACME"] * 3 + ["EURUSD"]
    assert [p.name for p in chains.for_class(AssetClass.CRYPTO).order()] == ["steady"]


async def test_composition_builds_each_provider_once_for_all_chains() -> None:
    settings = PricingSettings(
        pricing_providers="yahoo,stooq",
        pricing_chains={"crypto": "yahoo", "index": "stooq,yahoo"},
        pricing_default_asset_class="index",
    )
    async with httpx.AsyncClient() as http:
        chains = build_chains(settings, http)
    equity = chains.for_class(AssetClass.EQUITY).order()
    crypto = chains.for_class(AssetClass.CRYPTO).order()
    index = chains.for_class(AssetClass.INDEX).order()
    assert [p.name for p in equity] == ["yahoo", "stooq"]
    assert [p.name for p in index] == ["stooq", "yahoo"]
    # One adapter object, so one limiter and one breaker, however many chains name it.
    assert equity[0] is crypto[0] is index[1]
    assert chains.class_of(market_sector=None, security_type=None) is AssetClass.INDEX


def test_crypto_and_fx_trade_on_their_own_calendars() -> None:
    assert calendar_code_for_class(AssetClass.CRYPTO, figi_exchange="US") == "24/7"
    assert calendar_code_for_class(AssetClass.FX, figi_exchange=None) == "24/5"
    assert calendar_code_for_class(AssetClass.EQUITY, figi_exchange="LN") == "XLON"
