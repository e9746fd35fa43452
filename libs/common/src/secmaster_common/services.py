"""Discovery of the installed services (entry-point group `secmaster.services`) and
migration of all of them, each as its own migrator role."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from secmaster_common.db.migrations import upgrade
from secmaster_common.settings import CommonSettings, role_dsn


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    schema: str
    migrations_dir: Path


def installed_services() -> list[ServiceInfo]:
    order = {"ingestion": 0, "enrichment": 1, "pricing": 2, "indexer": 3}
    found = []
    for ep in entry_points(group="secmaster.services"):
        module = ep.load()
        found.append(ServiceInfo(ep.name, module.SCHEMA, module.MIGRATIONS_DIR))
    return sorted(found, key=lambda s: order.get(s.name, 99))


def service_role_dsn(base_dsn: str, service: str, kind: str) -> str:
    """The DSN for `<service>_<kind>` (kind: app | migrator), its password from
    `<SERVICE>_<KIND>_PASSWORD` when set (trust/peer auth needs none)."""
    password = os.environ.get(f"{service}_{kind}_PASSWORD".upper())
    return role_dsn(base_dsn, user=f"{service}_{kind}", password=password)


async def migrate_all(base_dsn: str, *, only: list[str] | None = None) -> list[str]:
    done = []
    for svc in installed_services():
        if only and svc.name not in only:
            continue
        await upgrade(
            migrator_dsn=service_role_dsn(base_dsn, svc.name, "migrator"),
            schema=svc.schema,
            script_location=svc.migrations_dir,
        )
        done.append(svc.name)
    return done


def service_dsn(settings: CommonSettings, service: str) -> str:
    """The DSN `service` runs with: its `<SERVICE>_DATABASE_URL` setting when set, else
    `DATABASE_URL` with the service's app role swapped in."""
    explicit = getattr(settings, f"{service}_database_url", None)
    return app_dsn(
        explicit.get_secret_value() if explicit is not None else None,
        settings.database_url.get_secret_value(),
        service,
    )


def app_dsn(settings_dsn: str | None, base_dsn: str, service: str) -> str:
    """The DSN a service runs with: its explicit `<SERVICE>_DATABASE_URL`, else the base
    DSN with the service's app role swapped in."""
    return settings_dsn or service_role_dsn(base_dsn, service, "app")
