"""`secmaster-emulator`: serve a local emulator of an external API (one sub-command each)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="secmaster-emulator",
    help="Local emulators of the external APIs secmaster talks to.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _emulators() -> None:
    """Pick an emulator: `secmaster-emulator openfigi --seed FILE`."""


@app.command("openfigi")
def openfigi(
    seed: Annotated[
        Path,
        typer.Option(
            help="Seed JSON file, or a reference/openfigi directory to build the seed from.",
            exists=True,
        ),
    ],
    port: Annotated[int, typer.Option(help="TCP port (0 picks a free one).")] = 8765,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    keyed: Annotated[
        bool,
        typer.Option(
            "--keyed/--no-key",
            help="--keyed: requests must carry a valid X-OPENFIGI-APIKEY (401 otherwise).",
        ),
    ] = False,
    api_key: Annotated[
        list[str] | None,
        typer.Option(
            help="A valid API key (repeatable). Default: env OPENFIGI_EMULATOR_KEYS "
            "(comma-separated), else any key is accepted.",
        ),
    ] = None,
    mapping_keyed: Annotated[
        str, typer.Option(help="Mapping limit with a key, N/SECONDS.")
    ] = "25/6",
    mapping_anonymous: Annotated[str, typer.Option(help="Mapping limit without a key.")] = "25/60",
    search_keyed: Annotated[str, typer.Option(help="Search/filter limit with a key.")] = "20/60",
    search_anonymous: Annotated[
        str, typer.Option(help="Search/filter limit without one.")
    ] = "5/60",
    jobs_keyed: Annotated[int, typer.Option(help="Max jobs per mapping request with a key.")] = 100,
    jobs_anonymous: Annotated[int, typer.Option(help="Max jobs per request without one.")] = 10,
    synthesize: Annotated[
        bool,
        typer.Option(help="Map unknown well-formed identifiers to made-up listings (benchmarks)."),
    ] = False,
    latency_ms: Annotated[float, typer.Option(help="Added to every answer.")] = 0.0,
) -> None:
    """Serve the OpenFIGI v3 emulator (POST /v3/mapping, /v3/search, /v3/filter,
    GET /v3/mapping/values/{key}; admin under /_emulator/)."""
    import uvicorn

    from secmaster_emulators.openfigi import OpenFigiLimits, WindowLimit, create_app

    keys = api_key or [k for k in os.environ.get("OPENFIGI_EMULATOR_KEYS", "").split(",") if k]
    try:
        limits = OpenFigiLimits(
            mapping_keyed=WindowLimit.parse(mapping_keyed),
            mapping_anonymous=WindowLimit.parse(mapping_anonymous),
            search_keyed=WindowLimit.parse(search_keyed),
            search_anonymous=WindowLimit.parse(search_anonymous),
            jobs_keyed=jobs_keyed,
            jobs_anonymous=jobs_anonymous,
        )
    except ValueError as exc:
        raise typer.BadParameter(f"limits are written N/SECONDS, e.g. 25/6 ({exc})") from exc
    emulator = create_app(
        seed,
        require_key=keyed,
        api_keys=frozenset(keys) if keys else None,
        limits=limits,
        synthesize=synthesize,
        latency_s=latency_ms / 1000,
    )
    typer.echo(f"OpenFIGI emulator on http://{host}:{port}", err=True)
    uvicorn.run(emulator, host=host, port=port, log_level="warning")


@app.command("provider")
def provider(
    port: Annotated[int, typer.Option(help="TCP port.")] = 8766,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    no_limits: Annotated[
        bool, typer.Option("--no-limits", help="Serve without the providers' published limits.")
    ] = False,
    latency_ms: Annotated[float, typer.Option(help="Added to every answer.")] = 0.0,
) -> None:
    """Serve the market-data provider emulator (Yahoo chart v8, Alpaca v2 bars, Polygon
    aggregates, Alpha Vantage) over one deterministic synthetic series; admin under /_admin/."""
    import uvicorn

    from secmaster_emulators.providers.app import create_app

    emulator = create_app(enforce_limits=not no_limits, latency_s=latency_ms / 1000)
    typer.echo(f"provider emulator on http://{host}:{port}", err=True)
    uvicorn.run(emulator, host=host, port=port, log_level="warning")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
