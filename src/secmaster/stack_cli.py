"""The stack verbs of the `secmaster` CLI: `up`, `demo`, `migrate`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from secmaster.demo import run_demo
from secmaster.stack import Stack
from secmaster_common.db.migrations import bootstrap_database
from secmaster_common.services import migrate_all

err = Console(stderr=True)
HOME = Path(os.environ.get("SECMASTER_HOME", ".secmaster"))


def _say(message: str) -> None:
    err.print(message)


def _print_where(stack: Stack) -> None:
    table = Table(title="secmaster is running", show_header=True)
    table.add_column("component")
    table.add_column("where")
    for name, where in stack.describe():
        table.add_row(name, where)
    err.print(table)


def _serve_until_signal(stack: Stack) -> None:
    stop = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        err.print(f"received {signal.Signals(signum).name}: stopping")
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    err.print("serving; press Ctrl-C to stop")
    while not stop.wait(1.0):
        for p in stack.processes:
            if p.proc.poll() is not None:
                err.print(f"[red]{p.name} exited with {p.proc.returncode}; see {p.log}[/red]")
                stop.set()
                break


def up(
    sandbox: Annotated[
        bool, typer.Option(help="Start local emulators for OpenFIGI and a price provider")
    ] = False,
) -> None:
    """Start Postgres, the broker, migrations and the four services; serve until Ctrl-C."""
    stack = Stack(home=HOME, sandbox=sandbox)
    try:
        stack.start(say=_say)
        _print_where(stack)
        _serve_until_signal(stack)
    finally:
        stack.stop()
        err.print("stopped")


def demo(
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON object")
    ] = False,
    serve: Annotated[
        bool, typer.Option(help="Keep the stack serving after the demo (make run)")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the flow")] = 180.0,
) -> None:
    """Run the walking skeleton end to end, offline, on the embedded stack in sandbox mode."""
    stack = Stack(
        home=HOME,
        sandbox=True,
        extra_env={
            "PRICING_HISTORY_START": "2024-01-02",
            "PRICING_HISTORY_END": "2024-03-28",
        },
    )
    code = 0
    try:
        stack.start(say=_say)
        _print_where(stack)
        result = run_demo(stack, say=_say, timeout=timeout)
        levels = result["index_levels"]
        err.print(
            f"[bold]demo complete[/bold]: {result['instruments']} holdings -> "
            f"{result['securities_mapped']} securities mapped -> {result['bars']} daily bars -> "
            f"{len(levels)} index levels; {levels[0]['index_id']} went from "
            f"{levels[0]['level']:.2f} on {levels[0]['date']} to "
            f"{levels[-1]['level']:.2f} on {levels[-1]['date']} "
            f"in {result['elapsed_s']:.1f}s"
        )
        if json_out:
            print(json.dumps(result))
        if serve:
            _serve_until_signal(stack)
    except Exception as exc:
        err.print(f"[red]demo failed: {exc}[/red]")
        code = 1
    finally:
        stack.stop()
    if code:
        raise typer.Exit(code)


def migrate(
    database_url: Annotated[
        str | None, typer.Option(envvar="DATABASE_URL", help="Admin DSN of the target database")
    ] = None,
    only: Annotated[list[str] | None, typer.Option(help="Migrate only these services")] = None,
    bootstrap: Annotated[bool, typer.Option(help="Create schemas and roles first")] = True,
) -> None:
    """Create the schemas and roles, then run every service's migrations as its migrator role."""
    if not database_url:
        err.print(
            "[red]set DATABASE_URL or pass --database-url "
            "(an admin DSN of the target database)[/red]"
        )
        raise typer.Exit(2)
    if bootstrap:
        asyncio.run(bootstrap_database(database_url))
    done = asyncio.run(migrate_all(database_url, only=only))
    err.print(f"migrated: {', '.join(done)}")


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(demo)
    app.command()(migrate)
