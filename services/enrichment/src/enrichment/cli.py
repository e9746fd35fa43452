"""Commands the enrichment service contributes to the `secmaster` CLI: `secmaster figi ...`."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
import typer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from enrichment.adapters import cache
from enrichment.adapters.legacy_cache import LegacyCacheError, read_legacy_cache
from enrichment.adapters.openfigi import (
    DEFAULT_BASE_URL,
    OpenFigiClient,
    OpenFigiConfigurationError,
    OpenFigiError,
)
from enrichment.domain import ID_TYPES, MappingJob, MappingResult, guess_id_type
from enrichment.service import (
    IdentifierAnswer,
    Progress,
    import_answers,
    map_identifiers,
    refresh_stale,
)
from enrichment.settings import EnrichmentSettings
from enrichment.wiring import SERVICE, build_client, cache_policy, database_dsn
from secmaster_common.breaker import CircuitOpenError
from secmaster_common.db.engine import make_engine
from secmaster_common.settings import redact

figi_app = typer.Typer(
    name="figi",
    help="Map identifiers (ISIN, CUSIP, SEDOL, FIGI, ticker, ...) to FIGIs and tickers.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add this service's sub-commands to the `secmaster` app."""
    app.add_typer(figi_app, name="figi")


_LISTING_FIELDS = (
    "figi",
    "ticker",
    "exch_code",
    "composite_figi",
    "share_class_figi",
    "name",
    "security_type",
    "market_sector",
)


def _record(
    job: Any, status: str, primary: Any, listings: int, message: str | None
) -> dict[str, Any]:
    """The JSON shape of one answer: the primary listing's fields plus the listing count."""
    return {
        "id_type": job.id_type,
        "id_value": job.id_value,
        "status": status,
        **{name: getattr(primary, name) if primary else None for name in _LISTING_FIELDS},
        "listings": listings,
        "message": message,
    }


def result_record(result: MappingResult) -> dict[str, Any]:
    """One client answer (`--no-cache`)."""
    return _record(
        result.job,
        result.status.value,
        result.primary_listing(),
        len(result.listings),
        result.message,
    )


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


BaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        envvar="OPENFIGI_BASE_URL",
        help=f"OpenFIGI base URL (or env OPENFIGI_BASE_URL; default {DEFAULT_BASE_URL}).",
        show_default=False,
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        envvar="OPENFIGI_API_KEY",
        help="OpenFIGI API key (or env OPENFIGI_API_KEY); without one the lower "
        "anonymous limits apply.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


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
        bool,
        typer.Option(
            "--no-cache",
            help="Ask OpenFIGI directly (no database, in-process rate limit only).",
        ),
    ] = False,
    base_url: BaseUrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list on stdout.")] = False,
) -> None:
    """Map identifiers to FIGIs; the answers come back in the order of the inputs.

    By default answers come from the enrichment cache (DATABASE_URL, as the enrichment app
    role) and only missing or stale ones are asked of OpenFIGI, within the API key's budget
    shared with the running service; new answers are cached.
    """
    if id_type is not None and id_type not in ID_TYPES:
        raise typer.BadParameter(
            f"unknown idType {id_type!r}; use one of: {', '.join(sorted(ID_TYPES))}",
            param_hint="--id-type",
        )
    identifiers = _read_values(values, file)
    jobs = [MappingJob(id_type or guess_id_type(v), v.strip()) for v in identifiers]
    url = base_url or DEFAULT_BASE_URL
    if no_cache:
        results = _run_openfigi(_map(jobs, base_url=url, api_key=api_key), base_url=url)
        records = [result_record(r) for r in results]
    else:
        answers = _run_openfigi(
            _map_cached(jobs, base_url=base_url, api_key=api_key, progress=_progress(len(jobs))),
            base_url=url,
        )
        records = [answer_record(a) for a in answers]
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    _print_table(records)


def answer_record(answer: IdentifierAnswer) -> dict[str, Any]:
    """A cache-first answer, plus whether it came from the cache."""
    return {
        **_record(answer.job, answer.status.value, answer.primary, answer.listings, answer.message),
        "cached": answer.cached,
    }


T = TypeVar("T")


def _run_openfigi(work: Coroutine[Any, Any, T], *, base_url: str) -> T:
    """Run a command's coroutine; OpenFIGI and database failures become a message on
    stderr and a distinct exit code."""
    try:
        return asyncio.run(work)
    except OpenFigiConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(3) from None
    except CircuitOpenError as exc:
        typer.echo(
            f"error: OpenFIGI at {base_url} keeps failing ({exc}); answers received so far "
            "are cached, run again later",
            err=True,
        )
        raise typer.Exit(4) from None
    except OpenFigiError as exc:
        typer.echo(f"error: OpenFIGI at {base_url} could not answer: {exc}", err=True)
        raise typer.Exit(4) from None
    except DatabaseUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(5) from None


async def _map(
    jobs: list[MappingJob], *, base_url: str, api_key: str | None
) -> list[MappingResult]:
    async with OpenFigiClient(base_url, api_key) as client:
        return await client.map(jobs)


class DatabaseUnavailable(Exception):
    """The enrichment database cannot be reached or is not migrated."""


@asynccontextmanager
async def _database(settings: EnrichmentSettings) -> AsyncIterator[AsyncEngine]:
    dsn = database_dsn(settings)
    engine = make_engine(dsn, schema=SERVICE, pool_size=4)
    try:
        try:
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1 FROM security_mappings LIMIT 1"))
        except (OSError, DBAPIError) as exc:
            reason = str(getattr(exc, "orig", exc) or type(exc).__name__).splitlines()[0]
            raise DatabaseUnavailable(
                f"the enrichment cache at {redact(dsn)} is not usable ({reason}); set "
                "DATABASE_URL (or ENRICHMENT_DATABASE_URL), run `secmaster migrate`, or "
                "use --no-cache to ask OpenFIGI directly"
            ) from None
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def _cached_client(
    base_url: str | None, api_key: str | None
) -> AsyncIterator[tuple[EnrichmentSettings, AsyncEngine, OpenFigiClient]]:
    settings = EnrichmentSettings()
    async with _database(settings) as engine:
        client = build_client(settings, engine, base_url=base_url, api_key=api_key)
        async with client:
            yield settings, engine, client


async def _map_cached(
    jobs: list[MappingJob],
    *,
    base_url: str | None,
    api_key: str | None,
    progress: Progress | None,
) -> list[IdentifierAnswer]:
    async with _cached_client(base_url, api_key) as (settings, engine, client):
        return await map_identifiers(
            engine=engine,
            client=client,
            jobs=jobs,
            policy=cache_policy(settings),
            progress=progress,
        )


# Progress lines only for runs long enough to need them, at most one a second.
PROGRESS_MIN_IDENTIFIERS = 500


def _progress(total: int, *, force: bool = False) -> Progress | None:
    if total < PROGRESS_MIN_IDENTIFIERS and not force:
        return None
    last = [0.0]

    def report(stage: str, done: int, of: int) -> None:
        now = time.monotonic()
        if done < of and now - last[0] < 1.0:
            return
        last[0] = now
        verb = {"cache": "answered from the cache", "openfigi": "answered by OpenFIGI",
                "import": "imported"}.get(stage, stage)  # fmt: skip
        typer.echo(f"{stage}: {done:,}/{of:,} {verb}", err=True)

    return report


# ---- secmaster figi cache ... ---------------------------------------------------------------

cache_app = typer.Typer(
    name="cache",
    help="The enrichment cache of OpenFIGI answers (DATABASE_URL, as the enrichment app role).",
    no_args_is_help=True,
)
figi_app.add_typer(cache_app, name="cache")


def _print_json_or_lines(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    for key, value in data.items():
        typer.echo(f"{key:>16}  {value}")


@cache_app.command("stats")
def cache_stats(as_json: JsonOption = False) -> None:
    """Counts: current mapped and negative rows, stale rows, closed history rows, stored
    listings, queued and parked (error-answered) identifiers."""

    async def run() -> dict[str, int]:
        settings = EnrichmentSettings()
        policy = cache_policy(settings)
        async with _database(settings) as engine, engine.connect() as conn:
            return await cache.stats(
                conn, negative_ttl=policy.negative_ttl, positive_ttl=policy.positive_ttl
            )

    _print_json_or_lines(_run_openfigi(run(), base_url=""), as_json)


@cache_app.command("clear")
def cache_clear(
    negatives: Annotated[
        bool, typer.Option("--negatives", help="Forget only current not-found answers.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Forget cached answers (all of them with their history, or only the negatives)."""
    what = "every current not-found answer" if negatives else "every cached answer and its history"
    if not yes and not typer.confirm(f"Forget {what}?", err=True):
        raise typer.Exit(1)

    async def run() -> dict[str, int]:
        async with _database(EnrichmentSettings()) as engine, engine.begin() as conn:
            return await cache.clear(conn, negatives_only=negatives)

    _print_json_or_lines({"deleted": _run_openfigi(run(), base_url="")}, as_json)


@cache_app.command("refresh-stale")
def cache_refresh_stale(
    limit: Annotated[
        int | None, typer.Option(min=1, help="Refresh at most this many (oldest first).")
    ] = None,
    base_url: BaseUrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ask OpenFIGI again about answers older than their TTL (not-found answers after
    ENRICHMENT_NEGATIVE_TTL_DAYS, mappings after ENRICHMENT_POSITIVE_REFRESH_DAYS)."""

    async def run() -> dict[str, int]:
        async with _cached_client(base_url, api_key) as (settings, engine, client):
            return await refresh_stale(
                engine=engine,
                client=client,
                policy=cache_policy(settings),
                limit=limit,
                progress=_progress(0, force=True),
            )

    url = base_url or DEFAULT_BASE_URL
    _print_json_or_lines(_run_openfigi(run(), base_url=url), as_json)


@cache_app.command("import")
def cache_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="A legacy JSON cache ('<idType>_<idValue>' keys, or a list of "
            "{idType, idValue, data|warning|primary} entries) or a CSV with ticker, ISIN, "
            "CUSIP and FIGI columns.",
            show_default=False,
        ),
    ],
    fetched_at: Annotated[
        dt.datetime | None,
        typer.Option(
            help="When these answers were fetched (they age from then); default: the "
            "file's modification time.",
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Add a legacy cache's answers for identifiers the cache holds nothing for; `error`
    answers are never imported (they are not negatives)."""
    try:
        legacy = read_legacy_cache(file)
    except LegacyCacheError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for reason in legacy.skipped[:10]:
        typer.echo(f"skipped: {reason}", err=True)
    if len(legacy.skipped) > 10:
        typer.echo(f"skipped: ... and {len(legacy.skipped) - 10} more", err=True)
    when = fetched_at or dt.datetime.fromtimestamp(file.stat().st_mtime, dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)

    async def run() -> dict[str, int]:
        async with _database(EnrichmentSettings()) as engine:
            return await import_answers(
                engine=engine,
                results=legacy.results,
                fetched_at=when,
                progress=_progress(len(legacy.results)),
            )

    summary = {**legacy.counts, **_run_openfigi(run(), base_url="")}
    _print_json_or_lines(summary, as_json)


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
