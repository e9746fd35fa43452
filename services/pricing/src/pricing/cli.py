"""Commands the pricing service contributes to the `secmaster` CLI: `secmaster prices ...`."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import date
from typing import Annotated, Any

import typer

from pricing.domain.bars import FetchResult, Interval, PriceBar
from pricing.domain.errors import ProviderFailure, RateLimited

prices_app = typer.Typer(
    name="prices",
    help="Price bars and corporate actions from market-data providers.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add this service's sub-commands to the `secmaster` app."""
    app.add_typer(prices_app, name="prices")


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def bar_json(bar: PriceBar) -> dict[str, Any]:
    row: dict[str, Any] = (
        {"ts": bar.ts.isoformat().replace("+00:00", "Z")}
        if bar.ts is not None
        else {"date": bar.trading_date.isoformat()}
    )
    row.update(
        open=bar.open,
        high=bar.high,
        low=bar.low,
        close=bar.close,
        adj_close=bar.adj_close,
        volume=_number(bar.volume),
    )
    if bar.is_partial:
        row["partial"] = True
    return row


def result_json(result: FetchResult) -> dict[str, Any]:
    """The `prices fetch --json` document for one provider result."""
    actions: list[dict[str, Any]] = []
    for action in result.actions:
        if action.ratio is not None:
            actions.append(
                {"type": "split", "date": action.ex_date.isoformat(), "ratio": action.ratio}
            )
        else:
            actions.append(
                {"type": "dividend", "date": action.ex_date.isoformat(), "amount": action.amount}
            )
    return {
        "symbol": result.symbol,
        "provider": result.provider,
        "interval": result.interval.value,
        "basis": result.basis.value,
        "currency": result.currency,
        "synthetic": result.synthetic,
        "bars": [bar_json(b) for b in result.bars],
        "actions": actions,
        "skipped": [{"row": s.position, "reason": s.reason} for s in result.skipped],
    }


def _parse_date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date; write it as YYYY-MM-DD", param_hint=option
        ) from None


async def _fetch(
    *,
    provider: str,
    symbol: str,
    start: date,
    end: date,
    interval: Interval,
    base_url: str | None,
    api_key: str | None,
) -> FetchResult:
    import httpx

    from pricing.adapters.providers import build_provider

    async with httpx.AsyncClient() as client:
        source = build_provider(provider, client=client, base_url=base_url, api_key=api_key)
        return await source.fetch(symbol=symbol, start=start, end=end, interval=interval)


@prices_app.command("fetch")
def fetch(
    provider: Annotated[
        str,
        typer.Option(
            help="yahoo, alpaca, polygon, twelvedata, alphavantage, fmp, stooq, local, sandbox."
        ),
    ],
    symbol: Annotated[str, typer.Option(help="Ticker as the provider spells it, e.g. AAPL.")],
    start: Annotated[str, typer.Option(help="First trading date, YYYY-MM-DD (inclusive).")],
    end: Annotated[str, typer.Option(help="Last trading date, YYYY-MM-DD (inclusive).")],
    interval: Annotated[str, typer.Option(help="1m, 5m, 15m, 30m, 1h or 1d.")] = "1d",
    base_url: Annotated[
        str | None,
        typer.Option(help="Provider base URL (an emulator); for `local`, the data directory."),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="SECMASTER_PROVIDER_API_KEY",
            help="API key (Alpaca: KEY_ID:SECRET). Never printed.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Fetch bars and actions for one symbol from one provider, without any database."""
    from pricing.adapters.providers import PROVIDER_NAMES

    if provider not in PROVIDER_NAMES:
        raise typer.BadParameter(
            f"unknown provider {provider!r}; choose one of {', '.join(PROVIDER_NAMES)}",
            param_hint="--provider",
        )
    try:
        chosen_interval = Interval(interval)
    except ValueError:
        raise typer.BadParameter(
            f"unknown interval {interval!r}; choose one of {', '.join(i.value for i in Interval)}",
            param_hint="--interval",
        ) from None
    first, last = _parse_date(start, "--start"), _parse_date(end, "--end")
    if first > last:
        raise typer.BadParameter(f"--start {first} is after --end {last}", param_hint="--start")
    try:
        result = asyncio.run(
            _fetch(
                provider=provider,
                symbol=symbol,
                start=first,
                end=last,
                interval=chosen_interval,
                base_url=base_url,
                api_key=api_key,
            )
        )
    except RateLimited as exc:
        wait = f" retry in {exc.retry_after:.0f}s," if exc.retry_after is not None else ""
        typer.echo(f"error: {exc} —{wait} or use another --provider", err=True)
        raise typer.Exit(code=1) from None
    except ProviderFailure as exc:
        typer.echo(
            f"error: {exc} — check the symbol and dates, the --api-key, or use another --provider",
            err=True,
        )
        raise typer.Exit(code=1) from None
    if not result.bars:
        typer.echo(f"warning: {provider} returned no bars for {symbol} {first}..{last}", err=True)
    if result.synthetic:
        typer.echo("note: synthetic data (sandbox), not market prices", err=True)
    if as_json:
        json.dump(result_json(result), sys.stdout)
        sys.stdout.write("\n")
        return
    for bar in result.bars:
        when = bar.ts.isoformat() if bar.ts else bar.trading_date.isoformat()
        typer.echo(
            f"{when}  O {bar.open:<10g} H {bar.high:<10g} L {bar.low:<10g} C {bar.close:<10g} "
            f"V {_number(bar.volume)}{'  (partial)' if bar.is_partial else ''}"
        )
    for action in result.actions:
        what = f"split {action.ratio:g}:1" if action.ratio else f"dividend {action.amount}"
        typer.echo(f"{action.ex_date.isoformat()}  {what}")
