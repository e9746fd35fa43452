"""Commands the enrichment service contributes to the `secmaster` CLI: `secmaster figi ...`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from enrichment.adapters.openfigi import (
    DEFAULT_BASE_URL,
    OpenFigiClient,
    OpenFigiConfigurationError,
    OpenFigiError,
)
from enrichment.domain import ID_TYPES, MappingJob, MappingResult, guess_id_type

figi_app = typer.Typer(
    name="figi",
    help="Map identifiers (ISIN, CUSIP, SEDOL, FIGI, ticker, ...) to FIGIs and tickers.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add this service's sub-commands to the `secmaster` app."""
    app.add_typer(figi_app, name="figi")


def result_record(result: MappingResult) -> dict[str, Any]:
    """The JSON shape of one answer: the primary listing's fields plus the listing count."""
    primary = result.primary_listing()
    return {
        "id_type": result.job.id_type,
        "id_value": result.job.id_value,
        "status": result.status.value,
        "figi": primary.figi if primary else None,
        "ticker": primary.ticker if primary else None,
        "exch_code": primary.exch_code if primary else None,
        "composite_figi": primary.composite_figi if primary else None,
        "share_class_figi": primary.share_class_figi if primary else None,
        "name": primary.name if primary else None,
        "security_type": primary.security_type if primary else None,
        "market_sector": primary.market_sector if primary else None,
        "listings": len(result.listings),
        "message": result.message,
    }


def _read_values(values: list[str] | None, file: Path | None) -> list[str]:
    if values and file is not None:
        raise typer.BadParameter("give identifiers as arguments or with --file, not both")
    if file is not None:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot read {file}: {exc.strerror}", param_hint="--file"
            ) from None
        found = [line.strip() for line in lines if line.strip()]
        if not found:
            raise typer.BadParameter(f"{file} holds no identifiers", param_hint="--file")
        return found
    if not values:
        raise typer.BadParameter("give at least one identifier, or --file with one per line")
    return values


@figi_app.command("map")
def map_command(
    values: Annotated[
        list[str] | None, typer.Argument(help="Identifiers to map.", show_default=False)
    ] = None,
    id_type: Annotated[
        str | None,
        typer.Option(
            "--id-type",
            help="OpenFIGI idType for every value (ID_ISIN, ID_CUSIP, TICKER, ...). "
            "Default: recognised per value (ISIN, FIGI, CUSIP, SEDOL, else TICKER).",
        ),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="A file with one identifier per line.")
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Ask OpenFIGI directly (no database).")
    ] = False,
    base_url: Annotated[str, typer.Option(help="OpenFIGI base URL.")] = DEFAULT_BASE_URL,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="OPENFIGI_API_KEY",
            help="OpenFIGI API key (or env OPENFIGI_API_KEY); without one the lower "
            "anonymous limits apply.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list on stdout.")] = False,
) -> None:
    """Map identifiers to FIGIs; the answers come back in the order of the inputs."""
    if id_type is not None and id_type not in ID_TYPES:
        raise typer.BadParameter(
            f"unknown idType {id_type!r}; use one of: {', '.join(sorted(ID_TYPES))}",
            param_hint="--id-type",
        )
    identifiers = _read_values(values, file)
    if not no_cache:
        typer.echo(
            "error: the cached lookup needs the enrichment database "
            "(enrichment.security_mappings), which this build does not wire yet; "
            "run again with --no-cache to ask OpenFIGI directly.",
            err=True,
        )
        raise typer.Exit(2)
    jobs = [MappingJob(id_type or guess_id_type(v), v.strip()) for v in identifiers]
    try:
        results = asyncio.run(_map(jobs, base_url=base_url, api_key=api_key))
    except OpenFigiConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(3) from None
    except OpenFigiError as exc:
        typer.echo(f"error: OpenFIGI at {base_url} could not answer: {exc}", err=True)
        raise typer.Exit(4) from None
    records = [result_record(r) for r in results]
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    _print_table(records)


async def _map(
    jobs: list[MappingJob], *, base_url: str, api_key: str | None
) -> list[MappingResult]:
    async with OpenFigiClient(base_url, api_key) as client:
        return await client.map(jobs)


def _print_table(records: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("id_type", "id_value", "status", "figi", "ticker", "exch", "name", "listings")
    for r in records:
        table.add_row(
            r["id_type"],
            r["id_value"],
            r["status"] if r["status"] != "invalid" else f"invalid: {r['message']}",
            r["figi"] or "",
            r["ticker"] or "",
            r["exch_code"] or "",
            r["name"] or "",
            str(r["listings"]),
        )
    Console().print(table)
