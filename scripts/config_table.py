"""Print the configuration reference: every environment variable of every settings class,
with its default and meaning, as Markdown (`--write` refreshes docs/configuration.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import inspect
import json
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from secmaster_common.services import installed_services
from secmaster_common.settings import CommonSettings

DOCS_PATH = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
COMMAND = "uv run python scripts/config_table.py --write"


@dataclass(frozen=True)
class EnvVar:
    name: str
    type: str
    default: str
    meaning: str


def service_settings() -> list[tuple[str, type[CommonSettings]]]:
    """(service, settings class) for every installed service, in pipeline order: the class
    its `<service>.settings` module defines on top of CommonSettings."""
    found = []
    for svc in installed_services():
        module = importlib.import_module(f"{svc.name}.settings")
        classes = [
            obj
            for _, obj in inspect.getmembers(module, inspect.isclass)
            if issubclass(obj, CommonSettings)
            and obj is not CommonSettings
            and obj.__module__ == module.__name__
        ]
        if len(classes) != 1:
            raise LookupError(
                f"{module.__name__} defines {len(classes)} settings classes; expected exactly one"
            )
        found.append((svc.name, classes[0]))
    return found


def env_name(settings_cls: type[CommonSettings], field: str) -> str:
    # pydantic-settings reads `env_prefix + field name`, case-insensitively.
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    return (prefix + field).upper()


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        inner = [a for a in get_args(annotation) if a is not type(None)]
        return " or ".join(_type_name(a) for a in inner)
    if origin is dict or annotation is dict:
        return "JSON object"
    if origin is list or annotation is list:
        return "JSON list"
    names = {
        SecretStr: "secret",
        bool: "bool",
        int: "int",
        float: "float",
        str: "str",
        Path: "path",
        dt.date: "date (YYYY-MM-DD)",
    }
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if value is None:
        return "unset"
    # A default is never a secret (no password is ever a default), so it is shown.
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, dict | list):
        return f"`{json.dumps(value)}`"
    if value == "":
        return '`""`'
    return f"`{value}`"


def env_vars(settings_cls: type[CommonSettings], *, skip: set[str] | None = None) -> list[EnvVar]:
    """One row per field of `settings_cls` (fields named in `skip` left out)."""
    rows = []
    for field_name, field in settings_cls.model_fields.items():
        if skip and field_name in skip:
            continue
        rows.append(
            EnvVar(
                name=env_name(settings_cls, field_name),
                type=_type_name(field.annotation),
                default=_default(field),
                meaning=field.description or "",
            )
        )
    return rows


def role_password_vars(services: list[str]) -> list[EnvVar]:
    """The role passwords read by `secmaster migrate` / the embedded stack
    (`secmaster_common.services.service_role_dsn`) and by deploy/postgres/20-passwords.sh."""
    rows = []
    for svc in services:
        rows.append(
            EnvVar(
                f"{svc}_APP_PASSWORD".upper(),
                "secret",
                "unset",
                f"Password of the `{svc}_app` role (the running service), set on the server by "
                f"20-passwords.sh and used when `{svc.upper()}_DATABASE_URL` is unset",
            )
        )
        rows.append(
            EnvVar(
                f"{svc}_MIGRATOR_PASSWORD".upper(),
                "secret",
                "unset",
                f"Password of the `{svc}_migrator` role, which `secmaster migrate` runs "
                f"{svc}'s Alembic migrations as",
            )
        )
    return rows


def _table(rows: list[EnvVar]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    lines += [
        f"| `{r.name}` | {cell(r.type)} | {cell(r.default)} | {cell(r.meaning)} |" for r in rows
    ]
    return lines


def render() -> str:
    services = service_settings()
    common = set(CommonSettings.model_fields)
    lines = [
        "# Configuration",
        "",
        "Every service reads its configuration from environment variables (pydantic-settings,",
        "names case-insensitive, no prefix). Values of type `secret` never appear in logs.",
        "JSON-typed variables take a JSON document, e.g. "
        '`PRICING_API_KEYS=\'{"polygon": "..."}\'`.',
        "",
        f"Generated from the settings classes by `{COMMAND}`; do not edit by hand",
        "(tests/contracts/test_deploy_files.py fails when this page and the code disagree).",
        "",
        "## Every service (`CommonSettings`)",
        "",
        *_table(env_vars(CommonSettings)),
    ]
    for name, cls in services:
        lines += [
            "",
            f"## {name} (`{cls.__name__}`)",
            "",
            f"Run as `python -m {name}.app`; also reads every variable of the section above.",
            "",
            *_table(env_vars(cls, skip=common)),
        ]
    lines += [
        "",
        "## Database roles",
        "",
        "Each service owns one schema, migrated by its `<service>_migrator` role and used by its",
        "`<service>_app` role. `secmaster migrate` takes the admin DSN from `DATABASE_URL` and",
        "derives each role's DSN from it with these passwords (trust auth needs none).",
        "",
        *_table(role_password_vars([name for name, _ in services])),
    ]
    return "\n".join(lines) + "\n"


README_PATH = Path(__file__).resolve().parents[1] / "README.md"
README_START = "<!-- configuration:start (generated by scripts/config_table.py) -->"
README_END = "<!-- configuration:end -->"


def readme_with_tables(readme: str, rendered: str) -> str:
    """The README with the generated tables (the page without its title and preamble)
    between its configuration markers."""
    body = rendered[rendered.index("\n## ") + 1 :]
    head, _, rest = readme.partition(README_START)
    _, _, tail = rest.partition(README_END)
    return f"{head}{README_START}\n{body}{README_END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"write {DOCS_PATH.name}")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        DOCS_PATH.parent.mkdir(parents=True, exist_ok=True)
        DOCS_PATH.write_text(text)
        README_PATH.write_text(readme_with_tables(README_PATH.read_text(), text))
        print(f"wrote {DOCS_PATH} and the README's configuration tables", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
