"""What an index is: its universe, weighting, rebalance schedule and return type.

Definitions arrive as YAML or JSON (files, the `indexes.definitions.v1` event); a change
is a new `version` of the same `id`.
"""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "CappedMarketCapWeighting",
    "Constituent",
    "ConstituentUniverse",
    "DefinitionError",
    "EqualWeighting",
    "FixedWeighting",
    "HoldingsWeighting",
    "IndexDefinition",
    "MarketCapWeighting",
    "PortfolioUniverse",
    "PriceWeighting",
    "RebalanceFrequency",
    "ReturnType",
    "TopMarketCapUniverse",
    "Universe",
    "Weighting",
    "definition_from_json",
    "definition_from_yaml",
]

RebalanceFrequency = Literal["never", "daily", "weekly", "monthly", "quarterly"]
ReturnType = Literal["price", "total"]

_Symbol = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^\S+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EqualWeighting(_Strict):
    method: Literal["equal"] = "equal"


class MarketCapWeighting(_Strict):
    method: Literal["market_cap"] = "market_cap"


class CappedMarketCapWeighting(_Strict):
    method: Literal["capped_market_cap"] = "capped_market_cap"
    cap: float = Field(gt=0.0, le=1.0, description="largest weight one constituent may have")


class PriceWeighting(_Strict):
    method: Literal["price"] = "price"


class FixedWeighting(_Strict):
    method: Literal["fixed"] = "fixed"
    weights: dict[_Symbol, float] = Field(min_length=1)

    @field_validator("weights")
    @classmethod
    def _weights_are_a_distribution(cls, weights: dict[str, float]) -> dict[str, float]:
        if any(not math.isfinite(w) or w <= 0.0 for w in weights.values()):
            raise ValueError("every fixed weight must be a positive number")
        total = math.fsum(weights.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"fixed weights must sum to 1 (they sum to {total!r})")
        return weights


class HoldingsWeighting(_Strict):
    """Index shares are a portfolio's quantities (its latest snapshot at each rebalance)."""

    method: Literal["holdings"] = "holdings"


Weighting = Annotated[
    EqualWeighting
    | MarketCapWeighting
    | CappedMarketCapWeighting
    | PriceWeighting
    | FixedWeighting
    | HoldingsWeighting,
    Field(discriminator="method"),
]


class Constituent(_Strict):
    """A member of an explicit universe: added at the close of `start`, removed at the
    close of `end` (either open-ended), so membership is point in time."""

    symbol: _Symbol
    start: date | None = None
    end: date | None = None

    @model_validator(mode="after")
    def _end_after_start(self) -> Constituent:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"{self.symbol}: end {self.end} must be after start {self.start}")
        return self


class ConstituentUniverse(_Strict):
    constituents: list[Constituent] = Field(min_length=1)

    @field_validator("constituents", mode="before")
    @classmethod
    def _bare_symbols(cls, value: Any) -> Any:
        # YAML users write `constituents: [AAPL, MSFT]`; accept that shorthand.
        if isinstance(value, list):
            return [{"symbol": v} if isinstance(v, str) else v for v in value]
        return value


class PortfolioUniverse(_Strict):
    """The members of a portfolio's holdings snapshot in force at each rebalance."""

    portfolio: str = Field(min_length=1)


class TopMarketCapUniverse(_Strict):
    """The `n` largest candidates by market cap, chosen again at every rebalance."""

    rule: Literal["top_market_cap"] = "top_market_cap"
    n: int = Field(ge=1)
    candidates: list[_Symbol] | None = Field(
        default=None, description="symbols to choose from; all priced symbols if omitted"
    )


def _universe_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if not isinstance(value, dict):
        return None
    for key, kind in (("constituents", "constituents"), ("portfolio", "portfolio")):
        if key in value:
            return kind
    if "rule" in value:
        return "rule"
    return None


Universe = Annotated[
    Annotated[ConstituentUniverse, Tag("constituents")]
    | Annotated[PortfolioUniverse, Tag("portfolio")]
    | Annotated[TopMarketCapUniverse, Tag("rule")],
    Discriminator(
        _universe_kind,
        custom_error_type="universe_kind",
        custom_error_message=(
            "universe needs one of: `constituents: [...]`, `portfolio: ID`, "
            "or `rule: top_market_cap` with `n`"
        ),
    ),
]


class IndexDefinition(_Strict):
    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    name: str = Field(min_length=1)
    version: int = Field(default=1, ge=1)
    base_date: date
    base_value: float = Field(default=100.0, gt=0.0, allow_inf_nan=False)
    weighting: Weighting
    universe: Universe
    rebalance: RebalanceFrequency = "monthly"
    return_type: ReturnType = "price"
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")

    @field_validator("weighting", mode="before")
    @classmethod
    def _weighting_shorthand(cls, value: Any) -> Any:
        # `weighting: equal` is the natural YAML spelling for methods without parameters.
        return {"method": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _weighting_fits_universe(self) -> IndexDefinition:
        if isinstance(self.weighting, HoldingsWeighting) and not isinstance(
            self.universe, PortfolioUniverse
        ):
            raise ValueError("weighting `holdings` needs a `portfolio` universe")
        if isinstance(self.weighting, FixedWeighting):
            if not isinstance(self.universe, ConstituentUniverse):
                raise ValueError("weighting `fixed` needs an explicit `constituents` universe")
            members = {c.symbol for c in self.universe.constituents}
            missing = sorted(members - self.weighting.weights.keys())
            extra = sorted(self.weighting.weights.keys() - members)
            if missing or extra:
                raise ValueError(
                    "fixed weights must name exactly the constituents"
                    f" (no weight for {missing}, weight for non-members {extra})"
                )
        return self


class DefinitionError(ValueError):
    """A definition document that cannot be used; the message says where and why."""


def _from_document(document: Any, source: str) -> IndexDefinition:
    if not isinstance(document, dict):
        raise DefinitionError(
            f"{source}: an index definition must be a mapping with id, name, base_date, "
            f"weighting and universe; got {type(document).__name__}"
        )
    try:
        return IndexDefinition.model_validate(document)
    except ValidationError as exc:
        problems = [
            f"  {'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise DefinitionError(
            f"{source}: invalid index definition ({len(problems)} problem(s)):\n"
            + "\n".join(problems)
        ) from None


def definition_from_yaml(text: str, *, source: str = "<yaml>") -> IndexDefinition:
    """Parse and validate a YAML definition; errors name the field and the fix."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DefinitionError(f"{source}: not valid YAML: {exc}") from None
    return _from_document(document, source)


def definition_from_json(text: str, *, source: str = "<json>") -> IndexDefinition:
    """Parse and validate a JSON definition; errors name the field and the fix."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DefinitionError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from None
    return _from_document(document, source)
