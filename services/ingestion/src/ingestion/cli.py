"""Commands the ingestion service contributes to the `secmaster` CLI: `ingest` (database and
broker), and the offline `parse` and `id validate` (neither touches a database or a broker)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from ingestion.cli_columns import column_mapping
from ingestion.domain.identifiers import Scheme, validate
from ingestion.domain.records import Reject
from ingestion.ingest_command import ingest_command
from ingestion.parsers import FORMATS, InputFileError, parse_file

id_app = typer.Typer(name="id", help="Check security and entity identifiers.", no_args_is_help=True)


def _fail(exc: InputFileError) -> typer.Exit:
    typer.echo(f"error [{exc.code}]: {exc}", err=True)
    return typer.Exit(code=2)


def parse_command(
    path: Annotated[Path, typer.Argument(help="File to read (plain, or a zip holding one file).")],
    format: Annotated[
        str | None,
        typer.Option("--format", "-f", help=f"One of {', '.join(FORMATS)}; detected if omitted."),
    ] = None,
    portfolio_id: Annotated[
        str | None, typer.Option(help="Portfolio for holdings whose file does not name one.")
    ] = None,
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="As-of date for holdings (YYYY-MM-DD)."),
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="Text encoding of a CSV (default UTF-8).")
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            help="FIELD=HEADER: read our field from a CSV column with another heading, e.g. "
            "--column quantity='Nominal Held' (repeatable; for etf, holdings, instruments).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")] = False,
) -> None:
    """Dry run: read a file and show every record and every quarantined row, storing nothing."""
    try:
        parsed = parse_file(
            path,
            format,
            portfolio_id=portfolio_id,
            as_of=as_of.date() if as_of else None,
            encoding=encoding,
            columns=column_mapping(column or []),
        )
    except InputFileError as exc:
        raise _fail(exc) from exc
    out = sys.stdout
    rejects: list[Reject] = []
    records = 0
    try:
        if as_json:
            # records stream out as they are parsed so a large FIRDS file needs no list in memory
            head = {"format": parsed.format, "metadata": parsed.metadata}
            out.write(json.dumps(head)[:-1] + ', "records": [')
        for item in parsed.items:
            if isinstance(item, Reject):
                rejects.append(item)
                continue
            if as_json:
                out.write((",\n" if records else "\n") + item.model_dump_json())
            records += 1
    except InputFileError as exc:
        if as_json:
            out.write("\n")
        raise _fail(exc) from exc
    if as_json:
        listed = [{"row": r.row, "reason": r.reason.value, "detail": r.detail} for r in rejects]
        out.write('\n], "rejects": ' + json.dumps(listed) + "}\n")
        return
    typer.echo(f"{path}: format {parsed.format}, {records} records, {len(rejects)} rejects")
    for key, value in parsed.metadata.items():
        typer.echo(f"  {key}: {value}")
    for reason, count in Counter(r.reason.value for r in rejects).most_common():
        typer.echo(f"  rejected {count}: {reason}")


@id_app.command("validate")
def validate_command(
    values: Annotated[list[str], typer.Argument(help="Identifiers to check.")],
    type_: Annotated[
        str | None,
        typer.Option(
            "--type",
            "-t",
            help="ISIN, CUSIP, SEDOL, LEI, FIGI (or CFI, MIC, CURRENCY); detected if omitted.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")] = False,
) -> None:
    """Judge each value; the exit code is 0 whatever the verdicts (they are in the output)."""
    scheme: Scheme | None = None
    if type_ is not None:
        try:
            scheme = Scheme(type_.upper())
        except ValueError:
            typer.echo(
                f"error: unknown --type {type_!r}; use one of {', '.join(s.value for s in Scheme)}",
                err=True,
            )
            raise typer.Exit(code=2) from None
    results: list[dict[str, Any]] = []
    for value in values:
        verdict = validate(value, scheme)
        results.append(
            {
                "value": value,
                "type": verdict.scheme.value if verdict.scheme else None,
                "valid": verdict.valid,
                "reason": verdict.reason.value if verdict.reason else None,
            }
        )
        if not as_json:
            status = "valid" if verdict.valid else f"INVALID ({verdict.reason}: {verdict.detail})"
            typer.echo(f"{value}\t{verdict.scheme or '?'}\t{status}")
    if as_json:
        typer.echo(json.dumps(results))


def register(app: typer.Typer) -> None:
    """Add this service's sub-commands to the `secmaster` app."""
    app.command("ingest")(ingest_command)
    app.command("parse")(parse_command)
    app.add_typer(id_app, name="id")
