"""Commands the pricing service contributes to the `secmaster` CLI: `secmaster prices ...`."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import date
from typing import Annotated, Any

import typer
from rich.console import Console

from pricing.documents import number, result_json
from pricing.domain.bars import FetchResult, Interval
from pricing.domain.errors import ProviderFailure, RateLimited

prices_app = typer.Typer(
    name="prices",
    help="Price bars and corporate actions from market-data providers.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add this service's sub-commands to the `secmaster` app."""
    app.add_typer(prices_app, name="prices")


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
            f"V {number(bar.volume)}{'  (partial)' if bar.is_partial else ''}"
        )
    for action in result.actions:
        what = f"split {action.ratio:g}:1" if action.ratio else f"dividend {action.amount}"
        typer.echo(f"{action.ex_date.isoformat()}  {what}")


async def _refresh(
    *,
    symbols: list[str],
    start: date | None,
    end: date | None,
    interval: Interval,
    show_progress: bool,
) -> dict[str, Any]:
    import datetime as dt
    import os

    import httpx
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from pricing.adapters import store
    from pricing.composition import build_chains, build_fundamentals, history_range
    from pricing.refresh import refresh_members
    from pricing.service import RefreshOutcome
    from pricing.settings import PricingSettings
    from secmaster_common.db.engine import make_engine
    from secmaster_common.db.relay import drain_outbox
    from secmaster_common.services import service_dsn

    settings = PricingSettings()
    default_start, default_end = history_range(settings, interval)
    first, last = start or default_start, end or default_end
    if first > last:
        raise typer.BadParameter(f"--start {first} is after --end {last}", param_hint="--start")
    dsn = service_dsn(settings, "pricing")
    engine = make_engine(dsn, schema="pricing")
    try:
        async with engine.connect() as conn:
            members = await store.universe(conn, symbols or None)
        found = {m["symbol"] for m in members} | {m["instrument_id"] for m in members}
        unknown = [s for s in symbols if s not in found]
        if unknown:
            raise typer.BadParameter(
                f"{', '.join(unknown)} not in the pricing universe; it is filled from "
                "reference.securities.v1 (map the instrument first, e.g. `secmaster ingest`)",
                param_hint="SYMBOL",
            )
        progress = Progress(
            TextColumn("[bold]prices refresh[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=Console(stderr=True),
            disable=not show_progress,
        )
        with progress:
            task = progress.add_task("", total=len(members))

            def done(outcome: RefreshOutcome) -> None:
                progress.update(task, advance=1, description=f"{outcome.symbol} +{outcome.stored}")

            async with httpx.AsyncClient(timeout=30.0) as http:
                outcomes = await refresh_members(
                    engine=engine,
                    chains=build_chains(settings, http),
                    members=members,
                    start=first,
                    end=last,
                    correlation_id=f"cli:prices-refresh:{dt.datetime.now(dt.UTC).isoformat()}",
                    interval=interval,
                    fundamentals=build_fundamentals(settings, http),
                    on_done=done,
                )
        sent = None
        if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            sent = await drain_outbox(
                service="pricing",
                engine=engine,
                bootstrap_servers=settings.kafka_bootstrap_servers,
                topic_prefix=settings.topic_prefix,
                enable_idempotence=settings.kafka_enable_idempotence,
            )
    finally:
        await engine.dispose()
    return {
        "start": first.isoformat(),
        "end": last.isoformat(),
        "interval": interval.value,
        "instruments": [
            {
                "instrument_id": o.instrument_id,
                "symbol": o.symbol,
                "asset_class": o.asset_class,
                "aggregated_from_1m": o.aggregated,
                "stored": o.stored,
                "rejected": o.rejected,
                "provider": o.provider,
                "ranges": list(o.ranges),
                "attempts": list(o.attempts),
            }
            for o in outcomes
        ],
        "stored": sum(o.stored for o in outcomes),
        "failed": [o.symbol for o in outcomes if o.ranges and o.provider is None],
        "published": sent,
    }


@prices_app.command("refresh")
def refresh(
    symbols: Annotated[
        list[str] | None,
        typer.Argument(help="Symbols or instrument ids to refresh (default: the whole universe)."),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="First date, YYYY-MM-DD (default: PRICING_HISTORY_*).")
    ] = None,
    end: Annotated[str | None, typer.Option(help="Last date, YYYY-MM-DD (default: today).")] = None,
    interval: Annotated[
        str,
        typer.Option(
            help="1d (default), or intraday 1m, 5m, 15m, 1h (default range: the last "
            "PRICING_INTRADAY_HISTORY_DAYS)."
        ),
    ] = "1d",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """Fetch the missing bars of tracked instruments through the provider chain of each
    one's asset class, store them (DATABASE_URL, as the pricing app role) and, when
    KAFKA_BOOTSTRAP_SERVERS is set, publish them; progress goes to stderr."""
    refreshable = ("1d", "1m", "5m", "15m", "1h")
    if interval not in refreshable:
        raise typer.BadParameter(
            f"unknown interval {interval!r}; choose one of {', '.join(refreshable)}",
            param_hint="--interval",
        )
    first = _parse_date(start, "--start") if start else None
    last = _parse_date(end, "--end") if end else None
    summary = asyncio.run(
        _refresh(
            symbols=list(symbols or []),
            start=first,
            end=last,
            interval=Interval(interval),
            show_progress=True,
        )
    )
    if as_json:
        json.dump(summary, sys.stdout)
        sys.stdout.write("\n")
    else:
        for row in summary["instruments"]:
            typer.echo(
                f"{row['symbol']:<10} stored {row['stored']:>5}  via {row['provider'] or '-'}"
            )
        typer.echo(f"{summary['stored']} {summary['interval']} bars stored", err=True)
    if summary["failed"]:
        typer.echo(
            f"error: no provider had bars for {', '.join(summary['failed'])}; "
            "check PRICING_PROVIDERS and the providers' keys",
            err=True,
        )
        raise typer.Exit(code=1)
