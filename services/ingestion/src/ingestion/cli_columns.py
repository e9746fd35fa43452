"""The `--column FIELD=HEADER` option shared by `secmaster parse` and `secmaster ingest`."""

from __future__ import annotations

import typer


def column_mapping(pairs: list[str]) -> dict[str, list[str]] | None:
    """`["quantity=Nominal Held", ...]` as parse_file's `columns` (field -> headings)."""
    mapping: dict[str, list[str]] = {}
    for pair in pairs:
        field, sep, header = pair.partition("=")
        if not sep or not field.strip() or not header.strip():
            raise typer.BadParameter(
                f"{pair!r}: write FIELD=HEADER, e.g. quantity='Shares Held'", param_hint="--column"
            )
        mapping.setdefault(field.strip(), []).append(header.strip())
    return mapping or None
