"""Commands the indexer service contributes to the `secmaster` CLI: offline index
computation from CSV files (`secmaster index compute`) and risk metrics (`secmaster risk`)."""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from indexer.domain.definition import (
    DefinitionError,
    IndexDefinition,
    definition_from_json,
    definition_from_yaml,
)
from indexer.domain.levels import IndexInputError, IndexResult, compute_index
from indexer.domain.panel import Event, HoldingsSnapshot, Panel
from indexer.domain.risk import risk_metrics

__all__ = ["index_app", "register"]

index_app = typer.Typer(
    name="index", help="Define and compute custom indexes.", no_args_is_help=True
)
_stderr = Console(stderr=True)


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


def register(app: typer.Typer) -> None:
    """Add this service's sub-commands to the `secmaster` app."""
    app.add_typer(index_app, name="index")
    app.command("risk")(risk_command)
