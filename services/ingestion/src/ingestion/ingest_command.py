"""`secmaster ingest PATH...`: store files in the ingestion schema (as its app role), then
run the outbox relay until everything committed is on the broker; progress on stderr."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from ingestion.cli_columns import column_mapping
from ingestion.parsers import FORMATS, InputFileError, parse_file
from ingestion.service import ingest_file
from ingestion.settings import IngestionSettings
from ingestion.summary import IngestSummary
from secmaster_common.db.engine import make_engine
from secmaster_common.db.relay import drain_outbox
from secmaster_common.services import service_dsn
from secmaster_common.settings import redact

EXIT_BAD_INPUT = 2
EXIT_DATABASE = 3
EXIT_BROKER = 4


@dataclass
class IngestRun:
    """What one `secmaster ingest` did across its files."""

    files: list[IngestSummary] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    relayed: int = 0
    relay_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        quarantined: Counter[str] = Counter()
        for f in self.files:
            quarantined.update(f.quarantined)
        return {
            "files": [f.as_dict() for f in self.files],
            "errors": self.errors,
            "totals": {
                "read": sum(f.rows_read for f in self.files),
                "records": sum(f.records for f in self.files),
                "published": sum(f.published for f in self.files),
                "quarantined": dict(quarantined),
            },
            "relayed": self.relayed,
            "relay_error": self.relay_error,
        }


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


async def _database_answers(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1 FROM files LIMIT 1"))


async def run_ingest(
    *,
    paths: list[Path],
    fmt: str | None,
    portfolio_id: str | None,
    as_of: dt.date | None,
    settings: IngestionSettings,
    console: Console,
    columns: dict[str, list[str]] | None = None,
) -> IngestRun:
    """Ingest each path in its own transaction, then relay the outbox to the broker. A bad
    file is reported and skipped; the others still go in."""
    run = IngestRun()
    # Headers first, so a file that is empty, of no known format or not XML at all is
    # reported before anything connects (and a run of only such files touches nothing).
    readable: list[Path] = []
    for path in paths:
        try:
            parse_file(path, fmt, portfolio_id=portfolio_id, as_of=as_of, columns=columns)
        except InputFileError as exc:
            run.errors.append({"path": str(path), "code": exc.code, "error": str(exc)})
        else:
            readable.append(path)
    if not readable:
        return run
    dsn = service_dsn(settings, "ingestion")
    engine = make_engine(dsn, schema="ingestion", pool_size=2)
    try:
        try:
            await _database_answers(engine)
        except (OSError, sa.exc.SQLAlchemyError) as exc:
            raise DatabaseUnavailableError(
                f"cannot use the ingestion schema at {redact(dsn)}: {type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:300]}. Set DATABASE_URL (or INGESTION_DATABASE_URL) "
                "to a Postgres migrated with `secmaster migrate`"
            ) from exc
        with _progress(console) as bar:
            for path in readable:
                task = bar.add_task(f"reading {path.name}", total=None, rate="")
                started = asyncio.get_running_loop().time()

                def advance(n: int, task: Any = task, started: float = started) -> None:
                    bar.advance(task, n)
                    done = bar.tasks[task].completed
                    seconds = asyncio.get_running_loop().time() - started
                    bar.update(task, rate=f"{done / max(seconds, 1e-9):,.0f} rows/s")

                try:
                    summary = await ingest_file(
                        engine=engine,
                        path=path,
                        fmt=fmt,
                        portfolio_id=portfolio_id,
                        as_of=as_of,
                        chunk_size=settings.ingestion_chunk_size,
                        parse_workers=settings.ingestion_parse_workers,
                        topic_partitions=settings.kafka_topic_partitions,
                        progress=advance,
                        columns=columns,
                    )
                except InputFileError as exc:
                    bar.update(task, description=f"[red]failed[/red] {path.name}", total=1)
                    run.errors.append({"path": str(path), "code": exc.code, "error": str(exc)})
                    continue
                bar.update(
                    task,
                    description=f"stored {path.name}",
                    total=summary.rows_read,
                    completed=summary.rows_read,
                )
                run.files.append(summary)
            if run.files:
                task = bar.add_task(
                    f"publishing to {settings.kafka_bootstrap_servers}", total=None, rate=""
                )
                try:
                    run.relayed = await drain_outbox(
                        service="ingestion",
                        engine=engine,
                        bootstrap_servers=settings.kafka_bootstrap_servers,
                        topic_prefix=settings.topic_prefix,
                        enable_idempotence=settings.kafka_enable_idempotence,
                        batch_size=max(settings.outbox_batch_size, 5000),
                        progress=lambda n: bar.advance(task, n),
                    )
                    bar.update(task, total=run.relayed, completed=run.relayed)
                except Exception as exc:  # the broker's many failure types all mean the same
                    run.relay_error = (
                        f"could not publish to the broker at {settings.kafka_bootstrap_servers}: "
                        f"{type(exc).__name__}: {exc}. The events are committed in the outbox; "
                        "run the ingestion service (or this command again) once "
                        "KAFKA_BOOTSTRAP_SERVERS points at a reachable broker"
                    )
    finally:
        await engine.dispose()
    return run


class DatabaseUnavailableError(Exception):
    """Postgres cannot be reached, or the ingestion schema is not there."""


def _describe(summary: IngestSummary) -> str:
    published = f"published {summary.published:,}"
    if summary.changes:
        published += " (" + ", ".join(f"{k} {v:,}" for k, v in summary.changes.items()) + ")"
    parts = [
        f"{summary.path}: {summary.format}",
        f"read {summary.rows_read:,}",
        f"kept {summary.records:,}",
        published,
    ]
    if summary.duplicate_of is not None:
        parts.append(f"already ingested as file {summary.duplicate_of}: nothing new")
    if summary.unchanged:
        parts.append(f"unchanged {summary.unchanged:,}")
    quarantined = sum(summary.quarantined.values())
    text = ", ".join(parts) + f", quarantined {quarantined:,}"
    for reason, count in summary.quarantined.most_common():
        text += f"\n  quarantined {count:,}: {reason}"
    for reason, count in summary.field_issues.most_common():
        text += f"\n  values dropped {count:,}: {reason}"
    return text


def ingest_command(
    paths: Annotated[
        list[Path], typer.Argument(help="Files to ingest (plain, or a zip holding one file).")
    ],
    format: Annotated[
        str | None,
        typer.Option("--format", "-f", help=f"One of {', '.join(FORMATS)}; detected if omitted."),
    ] = None,
    portfolio_id: Annotated[
        str | None, typer.Option(help="Portfolio of a holdings file that does not name one.")
    ] = None,
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="As-of date of a holdings file (YYYY-MM-DD)."),
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            help="FIELD=HEADER: read our field from a CSV column with another heading "
            "(repeatable), as in `secmaster parse`.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Store files (FIRDS, instruments CSV, 13F, N-PORT, ETF and holdings tables) and publish
    their events: instruments that are new or changed, complete holdings snapshots.

    Connects as the ingestion app role derived from DATABASE_URL and publishes to
    KAFKA_BOOTSTRAP_SERVERS. Exit codes: 2 bad input, 3 database, 4 broker.
    """
    console = Console(stderr=True)
    try:
        run = asyncio.run(
            run_ingest(
                paths=paths,
                fmt=format,
                portfolio_id=portfolio_id,
                as_of=as_of.date() if as_of else None,
                settings=IngestionSettings(),
                console=console,
                columns=column_mapping(column or []),
            )
        )
    except DatabaseUnavailableError as exc:
        typer.echo(f"error [database]: {exc}", err=True)
        raise typer.Exit(code=EXIT_DATABASE) from None
    if as_json:
        typer.echo(json.dumps(run.as_dict()))
    else:
        for summary in run.files:
            typer.echo(_describe(summary))
        if run.files:
            typer.echo(f"relayed {run.relayed:,} events to the broker")
    for error in run.errors:
        typer.echo(f"error [{error['code']}]: {error['error']}", err=True)
    if run.relay_error:
        typer.echo(f"error [broker]: {run.relay_error}", err=True)
    if run.errors:
        raise typer.Exit(code=EXIT_BAD_INPUT)
    if run.relay_error:
        raise typer.Exit(code=EXIT_BROKER)
