"""Commands the ingestion service contributes to the `secmaster` CLI."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this service's sub-commands to the `secmaster` app."""
