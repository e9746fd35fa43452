"""Commands the indexer service contributes to the `secmaster` CLI: offline index
computation from CSV files (`index compute`), risk metrics (`risk`), and the catalogue of
the running service (`index define|list|show|levels`, through Kafka or its database)."""

from __future__ import annotations

import asyncio
import csv
import json
import math
import os
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import numpy as np
import typer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from indexer.adapters import repository
from indexer.domain.definition import (
    DefinitionError,
    IndexDefinition,
    definition_from_json,
    definition_from_yaml,
)
from indexer.domain.levels import IndexInputError, IndexResult, compute_index
from indexer.domain.panel import Event, HoldingsSnapshot, Panel
from indexer.domain.risk import risk_metrics
from indexer.service import PRODUCER, DefinitionStored, store_definition
from indexer.settings import IndexerSettings
from secmaster_common.db.engine import make_engine
from secmaster_common.db.uow import UnitOfWork
from secmaster_common.events import IndexDefinitionPublished, topics
from secmaster_common.kafka import publish_events
from secmaster_common.services import service_dsn
from secmaster_common.settings import redact

__all__ = ["index_app", "register"]

index_app = typer.Typer(
    name="index", help="Define and compute custom indexes.", no_args_is_help=True
)
_stderr = Console(stderr=True)
_T = TypeVar("_T")


class InputFileError(Exception):
    """A CSV or spec file the command cannot use; the message names the file and line."""


def _fail(message: str) -> typer.Exit:
    _stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def _rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of a CSV with a header naming at least `columns`, with their line numbers."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InputFileError(f"{path}: cannot open ({exc.strerror})") from None
    with handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or []]
        absent = [c for c in columns if c not in header]
        if absent:
            raise InputFileError(
                f"{path}: missing column(s) {', '.join(absent)}; the header must be "
                f"{','.join(columns)} (found {','.join(header) or 'no header'})"
            )
        reader.fieldnames = header
        for row in reader:
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}


def _parse_date(text: str, path: Path, line: int) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputFileError(
            f"{path} line {line}: date {text!r} is not a YYYY-MM-DD date"
        ) from None


def _parse_number(text: str, column: str, path: Path, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputFileError(f"{path} line {line}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise InputFileError(f"{path} line {line}: {column} {text!r} is not a finite number")
    return value


def _read_records(path: Path, column: str) -> list[tuple[date, str, float]]:
    records = []
    for line, row in _rows(path, ("date", "symbol", column)):
        if not row["symbol"]:
            raise InputFileError(f"{path} line {line}: empty symbol")
        if not row[column]:
            continue  # an empty cell is a missing observation, not a zero
        day = _parse_date(row["date"], path, line)
        records.append((day, row["symbol"], _parse_number(row[column], column, path, line)))
    if not records:
        raise InputFileError(f"{path}: no rows with a {column}")
    return records


def _read_panel(path: Path, column: str) -> Panel:
    try:
        return Panel.from_records(_read_records(path, column), field_name=f"{path}")
    except ValueError as exc:
        raise InputFileError(str(exc)) from None


def _read_events(path: Path, column: str) -> list[Event]:
    return [Event(day, symbol, value) for day, symbol, value in _read_records(path, column)]


def _read_holdings(path: Path) -> list[HoldingsSnapshot]:
    by_day: dict[date, dict[str, float]] = defaultdict(dict)
    for day, symbol, quantity in _read_records(path, "quantity"):
        by_day[day][symbol] = quantity
    return [HoldingsSnapshot(day, quantities) for day, quantities in sorted(by_day.items())]


def _read_definition(path: Path) -> IndexDefinition:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read ({exc.strerror})") from None
    if path.suffix.lower() == ".json":
        return definition_from_json(text, source=str(path))
    return definition_from_yaml(text, source=str(path))


def _result_document(result: IndexResult) -> dict[str, Any]:
    return {
        "index_id": result.index_id,
        "version": result.version,
        "levels": [
            {
                "date": row.day.isoformat(),
                "level": row.level,
                "divisor": row.divisor,
                "flags": list(row.flags),
            }
            for row in result.rows()
        ],
        "rebalances": [
            {
                "date": rb.day.isoformat(),
                "reason": rb.reason,
                "divisor": rb.divisor,
                "weights": rb.weight_map(),
                "shares": rb.shares_map(),
            }
            for rb in result.rebalances
        ],
    }


@index_app.command("compute")
def compute_command(
    spec: Annotated[Path, typer.Option("--spec", help="index definition, YAML or JSON")],
    prices: Annotated[Path, typer.Option("--prices", help="CSV date,symbol,close")],
    shares: Annotated[
        Path | None, typer.Option("--shares", help="CSV date,symbol,shares (outstanding)")
    ] = None,
    dividends: Annotated[
        Path | None, typer.Option("--dividends", help="CSV date,symbol,amount (ex-dates)")
    ] = None,
    splits: Annotated[
        Path | None, typer.Option("--splits", help="CSV date,symbol,ratio (new per old share)")
    ] = None,
    holdings: Annotated[
        Path | None, typer.Option("--holdings", help="CSV date,symbol,quantity snapshots")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON to stdout")] = False,
) -> None:
    """Compute an index's daily levels and rebalances from files, without the database."""
    try:
        definition = _read_definition(spec)
        result = compute_index(
            definition,
            _read_panel(prices, "close"),
            shares=_read_panel(shares, "shares") if shares else None,
            dividends=_read_events(dividends, "amount") if dividends else (),
            splits=_read_events(splits, "ratio") if splits else (),
            holdings=_read_holdings(holdings) if holdings else (),
        )
    except (InputFileError, DefinitionError, IndexInputError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(_result_document(result)))
        return
    table = Table(title=f"{definition.name} ({definition.id} v{definition.version})")
    for name in ("date", "level", "divisor", "flags"):
        table.add_column(name, justify="right" if name in ("level", "divisor") else "left")
    rows = result.rows()
    shown = rows if len(rows) <= 20 else [*rows[:10], None, *rows[-10:]]
    for row in shown:
        if row is None:
            table.add_row("...", "", "", "")
        else:
            table.add_row(
                row.day.isoformat(), f"{row.level:.6f}", f"{row.divisor:.6g}", " ".join(row.flags)
            )
    Console().print(table)
    typer.echo(f"{len(rows)} levels, {len(result.rebalances)} rebalances")


def _read_returns(path: Path) -> tuple[list[str], dict[str, np.ndarray[Any, Any]]]:
    columns: list[str] = []
    values: dict[str, list[float]] = {}
    for line, row in _rows(path, ("date",)):
        if not columns:
            columns = [c for c in row if c != "date"]
            if not columns:
                raise InputFileError(f"{path}: no return columns beside date")
            values = {c: [] for c in columns}
        _parse_date(row["date"], path, line)
        for c in columns:
            cell = row.get(c, "")
            values[c].append(math.nan if cell == "" else _parse_number(cell, c, path, line))
    if not columns:
        raise InputFileError(f"{path}: no rows")
    return columns, {c: np.asarray(v, dtype=np.float64) for c, v in values.items()}


def _json_number(value: float) -> float | None:
    # JSON has no NaN: an undefined metric (e.g. a Sharpe ratio of constant returns) is null.
    return value if math.isfinite(value) else None


def risk_command(
    returns: Annotated[
        Path,
        typer.Option("--returns", help="CSV: date, then one column of daily returns per series"),
    ],
    benchmark: Annotated[
        str | None, typer.Option("--benchmark", help="the column to measure the others against")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON to stdout")] = False,
) -> None:
    """Risk metrics (252 periods a year) of every return series in a CSV."""
    try:
        columns, series = _read_returns(returns)
    except InputFileError as exc:
        raise _fail(str(exc)) from None
    if benchmark is not None and benchmark not in series:
        raise _fail(
            f"{returns}: no column {benchmark!r} for --benchmark; columns are {', '.join(columns)}"
        )
    bench = series[benchmark] if benchmark is not None else None
    report = {
        name: {k: _json_number(v) for k, v in risk_metrics(series[name], bench).items()}
        for name in columns
        if name != benchmark
    }
    if as_json:
        typer.echo(json.dumps(report))
        return
    names = list(report)
    table = Table(title=f"risk metrics ({returns.name})")
    table.add_column("metric")
    for name in names:
        table.add_column(name, justify="right")
    for metric in next(iter(report.values()), {}):
        cells = [report[n][metric] for n in names]
        table.add_row(metric, *("n/a" if v is None else f"{v:.6f}" for v in cells))
    Console().print(table)


# --- the service's catalogue: definitions in, levels out ------------------------------------


def _engine() -> AsyncEngine:
    settings = IndexerSettings()
    dsn = service_dsn(settings, "indexer")
    return make_engine(dsn, schema="indexer", pool_size=1)


def _with_database(work: Callable[[AsyncEngine], Awaitable[_T]]) -> _T:
    """Run `work` against the indexer schema as the app role; connection problems become
    an error message naming the (password-free) DSN and the variable to set."""

    async def run() -> _T:
        engine = _engine()
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except (OSError, DBAPIError) as exc:
        settings = IndexerSettings()
        target = redact(
            settings.indexer_database_url.get_secret_value()
            if settings.indexer_database_url
            else settings.database_url.get_secret_value()
        )
        raise _fail(
            f"cannot use the indexer database at {target} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); set DATABASE_URL (or "
            "INDEXER_DATABASE_URL) to a reachable, migrated database"
        ) from None


async def _publish_definition(definition: IndexDefinition, settings: IndexerSettings) -> str:
    payload = IndexDefinitionPublished(
        index_id=definition.id, definition=definition.model_dump(mode="json")
    )
    [env] = await publish_events(
        settings.kafka_bootstrap_servers,
        [(payload, definition.id)],
        producer="secmaster-cli",
        topic_prefix=settings.topic_prefix,
        enable_idempotence=settings.kafka_enable_idempotence,
    )
    return str(env.event_id)


@index_app.command("define")
def define_command(
    file: Annotated[Path, typer.Argument(help="index definition, YAML or JSON")],
    direct: Annotated[
        bool,
        typer.Option(
            "--direct",
            help="store in the indexer database (DATABASE_URL) instead of publishing to Kafka",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON to stdout")] = False,
) -> None:
    """Validate a definition and hand it to the indexer: publish it on
    indexes.definitions.v1 (needs KAFKA_BOOTSTRAP_SERVERS), or store it with --direct.
    A changed definition becomes the next version and its history is recomputed."""
    try:
        definition = _read_definition(file)
    except (InputFileError, DefinitionError) as exc:
        raise _fail(str(exc)) from None
    if direct:

        async def store(engine: AsyncEngine) -> DefinitionStored:
            async with UnitOfWork(engine, producer=PRODUCER) as uow:
                stored = await store_definition(uow=uow, definition=definition)
                await uow.commit()
            return stored

        stored = _with_database(store)
        report: dict[str, Any] = {
            "index_id": stored.index_id,
            "version": stored.version,
            "created": stored.created,
            "via": "database",
        }
        message = (
            f"stored {stored.index_id} as version {stored.version}; the indexer recomputes it"
            if stored.created
            else f"{stored.index_id} is unchanged (still version {stored.version})"
        )
    else:
        if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            raise _fail(
                "KAFKA_BOOTSTRAP_SERVERS is not set: set it to the broker to publish the "
                "definition, or pass --direct to store it in the indexer database"
            )
        settings = IndexerSettings()
        try:
            event_id = asyncio.run(_publish_definition(definition, settings))
        except (KafkaError, OSError, TimeoutError) as exc:
            raise _fail(
                f"cannot publish to {settings.kafka_bootstrap_servers} "
                f"({type(exc).__name__}: {exc}); check KAFKA_BOOTSTRAP_SERVERS or use --direct"
            ) from None
        topic = settings.topic_prefix + topics.INDEXES_DEFINITIONS
        report = {"index_id": definition.id, "event_id": event_id, "topic": topic, "via": "kafka"}
        message = f"published {definition.id} on {topic} (event {event_id})"
    if as_json:
        typer.echo(json.dumps(report))
    else:
        typer.echo(message)


def _jsonable(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    definition = row["definition"]
    return {
        "index_id": row["index_id"],
        "name": definition.get("name"),
        "version": row["version"],
        "weighting": (definition.get("weighting") or {}).get("method"),
        "rebalance": definition.get("rebalance"),
        "status": row["status"] or "queued",
        "detail": row["detail"] or "",
        "levels": int(row["levels"]),
        "last_date": _jsonable(row["last_date"]),
        "pending": row["pending_reason"],
        "error": row["last_error"],
    }


@index_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON to stdout")] = False,
) -> None:
    """Every index the service knows: latest version, status, and its levels so far."""

    async def load(engine: AsyncEngine) -> list[dict[str, Any]]:
        async with engine.connect() as conn:
            return await repository.index_summaries(conn)

    summaries = [_summary(r) for r in _with_database(load)]
    if as_json:
        typer.echo(json.dumps(summaries))
        return
    table = Table(title=f"{len(summaries)} index(es)")
    for name in ("index", "version", "weighting", "status", "levels", "last date"):
        table.add_column(name, justify="right" if name in ("version", "levels") else "left")
    for s in summaries:
        status = s["status"] + (f" ({s['detail']})" if s["detail"] else "")
        table.add_row(
            s["index_id"],
            str(s["version"]),
            s["weighting"] or "",
            status,
            str(s["levels"]),
            s["last_date"] or "",
        )
    Console().print(table)


@index_app.command("show")
def show_command(
    index_id: Annotated[str, typer.Argument(help="the index id")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON to stdout")] = False,
) -> None:
    """One index: its latest definition, status and every version with its levels span."""

    async def load(engine: AsyncEngine) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        async with engine.connect() as conn:
            summaries = await repository.index_summaries(conn)
            found = next((r for r in summaries if r["index_id"] == index_id), None)
            return found, await repository.definition_versions(conn, index_id)

    found, versions = _with_database(load)
    if found is None:
        raise _fail(f"no index {index_id!r}; `secmaster index list` shows the known ones")
    document = {
        **_summary(found),
        "definition": found["definition"],
        "versions": [{k: _jsonable(v) for k, v in row.items()} for row in versions],
    }
    if as_json:
        typer.echo(json.dumps(document))
        return
    console = Console()
    console.print(f"[bold]{index_id}[/] {document['name']} (version {document['version']})")
    console.print(f"status: {document['status']} {document['detail']}".rstrip())
    if document["pending"]:
        console.print(
            f"queued: {document['pending']}"
            + (f", error: {document['error']}" if document["error"] else "")
        )
    console.print(json.dumps(found["definition"], indent=2))
    table = Table(title="versions")
    for name in ("version", "created", "levels", "first date", "last date"):
        table.add_column(name)
    for v in document["versions"]:
        table.add_row(
            str(v["version"]),
            v["created_at"],
            str(v["levels"]),
            v["first_date"] or "",
            v["last_date"] or "",
        )
    console.print(table)


@index_app.command("levels")
def levels_command(
    index_id: Annotated[str, typer.Argument(help="the index id")],
    start: Annotated[
        datetime | None, typer.Option("--start", formats=["%Y-%m-%d"], help="first date")
    ] = None,
    end: Annotated[
        datetime | None, typer.Option("--end", formats=["%Y-%m-%d"], help="last date")
    ] = None,
    version: Annotated[
        int | None, typer.Option("--version", help="a definition version (default: latest)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON to stdout")] = False,
) -> None:
    """The stored daily levels of an index."""

    async def load(engine: AsyncEngine) -> list[dict[str, Any]]:
        async with engine.connect() as conn:
            return await repository.levels(
                conn,
                index_id,
                start.date() if start else None,
                end.date() if end else None,
                version,
            )

    rows = _with_database(load)
    if not rows:
        raise _fail(
            f"no levels for index {index_id!r}"
            + (f" version {version}" if version else "")
            + " in that range; `secmaster index show ID` says what it is waiting for"
        )
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "index_id": index_id,
                    "version": rows[0]["version"],
                    "levels": [
                        {
                            "date": r["trading_date"].isoformat(),
                            "level": r["level"],
                            "divisor": r["divisor"],
                            "constituents": r["constituents"],
                            "flags": r["stale_prices"],
                        }
                        for r in rows
                    ],
                }
            )
        )
        return
    table = Table(title=f"{index_id} v{rows[0]['version']}: {len(rows)} levels")
    for name in ("date", "level", "divisor", "constituents", "flags"):
        table.add_column(name, justify="left" if name in ("date", "flags") else "right")
    for r in rows:
        table.add_row(
            r["trading_date"].isoformat(),
            f"{r['level']:.6f}",
            f"{r['divisor']:.6g}",
            str(r["constituents"]),
            " ".join(r["stale_prices"]),
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add this service's sub-commands to the `secmaster` app."""
    app.add_typer(index_app, name="index")
    app.command("risk")(risk_command)
