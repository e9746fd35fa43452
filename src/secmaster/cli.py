"""The `secmaster` command: sub-commands contributed by the services plus the stack verbs.

Each service registers its commands through the `secmaster.cli` entry-point group
(`<service>.cli:register(app)`), so this module never imports a service directly.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import typer


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="secmaster",
        help="Security master, market data and custom indexes.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
    )
    from secmaster import stack_cli

    stack_cli.register(app)
    for ep in sorted(entry_points(group="secmaster.cli"), key=lambda e: e.name):
        register = ep.load()
        register(app)
    return app


def main() -> None:
    build_app()()
