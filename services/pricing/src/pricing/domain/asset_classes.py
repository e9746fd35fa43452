"""Asset classes of universe members (from OpenFIGI's marketSector and securityType) and
the ordered provider chain configured for each class."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pricing.domain.calendars import calendar_code_for
from pricing.domain.chain import PriceSource, ProviderChain, ProviderHealth, Validator


class AssetClass(enum.StrEnum):
    EQUITY = "equity"
    FX = "fx"
    CRYPTO = "crypto"
    COMMODITY = "commodity"
    INDEX = "index"
    FIXED_INCOME = "fixed_income"


# OpenFIGI's marketSecDes values (specs/openfigi.md section 1: Comdty, Corp, Curncy, Equity,
# Govt, Index, M-Mkt, Mtge, Muni, Pfd). Preferred shares quote like stocks, so they take
# the equity chain; every debt sector takes the fixed-income one.
MARKET_SECTORS: Mapping[str, AssetClass] = {
    "equity": AssetClass.EQUITY,
    "pfd": AssetClass.EQUITY,
    "curncy": AssetClass.FX,
    "comdty": AssetClass.COMMODITY,
    "index": AssetClass.INDEX,
    "corp": AssetClass.FIXED_INCOME,
    "govt": AssetClass.FIXED_INCOME,
    "muni": AssetClass.FIXED_INCOME,
    "mtge": AssetClass.FIXED_INCOME,
    "m-mkt": AssetClass.FIXED_INCOME,
}


def asset_class_for(
    *,
    market_sector: str | None,
    security_type: str | None = None,
    default: AssetClass = AssetClass.EQUITY,
) -> AssetClass:
    """The class of an instrument as OpenFIGI describes it. Crypto coins sit in the Curncy
    sector with securityType "Crypto" (OpenFIGI's securityType enum), so the type decides
    between crypto and fx; an unknown or missing sector gets `default`."""
    if security_type is not None and security_type.strip().lower() == "crypto":
        return AssetClass.CRYPTO
    if market_sector is None:
        return default
    return MARKET_SECTORS.get(market_sector.strip().lower(), default)


def parse_asset_class(text: str) -> AssetClass:
    """A configured class name, with an error that lists the valid ones."""
    try:
        return AssetClass(text.strip().lower())
    except ValueError:
        choices = ", ".join(c.value for c in AssetClass)
        raise ValueError(f"unknown asset class {text!r}; choose one of {choices}") from None


def provider_names(text: str) -> tuple[str, ...]:
    """`"yahoo, stooq"` -> ("yahoo", "stooq"): a comma-separated chain, blanks dropped."""
    return tuple(p.strip() for p in text.split(",") if p.strip())


@dataclass(frozen=True)
class ChainPlan:
    """Which providers, in failover order, serve each asset class. A class with no chain of
    its own uses `default` (the PRICING_PROVIDERS chain)."""

    default: tuple[str, ...]
    by_class: Mapping[AssetClass, tuple[str, ...]] = field(default_factory=dict)

    def providers_for(self, asset_class: AssetClass) -> tuple[str, ...]:
        return self.by_class.get(asset_class, self.default)

    @property
    def all_providers(self) -> tuple[str, ...]:
        """Every provider some chain names, each once, in first-seen order."""
        seen = dict.fromkeys(self.default)
        for chain in self.by_class.values():
            seen.update(dict.fromkeys(chain))
        return tuple(seen)

    @classmethod
    def parse(cls, *, default: str, by_class: Mapping[str, str]) -> ChainPlan:
        """From the settings: the default chain text and {class name: chain text}."""
        fallback = provider_names(default)
        if not fallback:
            raise ValueError("the default provider chain (PRICING_PROVIDERS) names no provider")
        chains: dict[AssetClass, tuple[str, ...]] = {}
        for name, text in by_class.items():
            asset_class = parse_asset_class(name)
            providers = provider_names(text)
            if not providers:
                raise ValueError(f"the {asset_class} chain in PRICING_CHAINS names no provider")
            chains[asset_class] = providers
        return cls(default=fallback, by_class=chains)


class ProviderChains:
    """One ProviderChain per asset class over shared provider objects (so a provider's
    limiter and breaker hold across every chain naming it) and one shared health record
    (a provider failing for equities is failing for crypto too); each chain is still
    ordered by that health among its own providers only."""

    def __init__(
        self,
        plan: ChainPlan,
        providers: Mapping[str, PriceSource],
        *,
        validate: Validator | None = None,
        min_quality: float = 0.5,
        reorder_by_health: bool = True,
        health: ProviderHealth | None = None,
        default_class: AssetClass = AssetClass.EQUITY,
    ) -> None:
        missing = [n for n in plan.all_providers if n not in providers]
        if missing:
            raise ValueError(f"no provider object for {', '.join(missing)}")
        self.plan = plan
        self.default_class = default_class
        self.health = health or ProviderHealth()

        def chain_of(names: Sequence[str]) -> ProviderChain:
            return ProviderChain(
                [providers[n] for n in names],
                validate=validate,
                min_quality=min_quality,
                reorder_by_health=reorder_by_health,
                health=self.health,
            )

        self._default = chain_of(plan.default)
        self._chains = {c: chain_of(names) for c, names in plan.by_class.items()}

    def for_class(self, asset_class: AssetClass) -> ProviderChain:
        return self._chains.get(asset_class, self._default)

    def class_of(self, *, market_sector: str | None, security_type: str | None) -> AssetClass:
        return asset_class_for(
            market_sector=market_sector, security_type=security_type, default=self.default_class
        )

    def for_instrument(
        self, *, market_sector: str | None, security_type: str | None
    ) -> tuple[AssetClass, ProviderChain]:
        asset_class = self.class_of(market_sector=market_sector, security_type=security_type)
        return asset_class, self.for_class(asset_class)


# Crypto trades around the clock and spot FX from Sunday evening to Friday evening;
# exchange-calendars models both ("24/7", "24/5"), whatever venue code the FIGI carries.
_CLASS_CALENDARS: Mapping[AssetClass, str] = {
    AssetClass.CRYPTO: "24/7",
    AssetClass.FX: "24/5",
}


def calendar_code_for_class(asset_class: AssetClass, *, figi_exchange: str | None) -> str:
    """The session calendar of a member: its class's when the class trades off-exchange,
    else its listing exchange's (OpenFIGI exchCode)."""
    return _CLASS_CALENDARS.get(asset_class) or calendar_code_for(figi_exchange=figi_exchange)
