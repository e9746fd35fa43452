"""Fixtures for the enrichment integration tests: the enrichment schema of a fresh real
Postgres database as the app role, and OpenFIGI emulators on real local sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from secmaster_common.db.engine import make_engine
from secmaster_common.services import service_role_dsn
from secmaster_emulators.openfigi import (
    OpenFigiSeed,
    SeedMapping,
    build_seed_from_reference,
    create_app,
    serve_in_thread,
)
from secmaster_emulators.openfigi.identifiers import cusip_check_digit

StartEmulator = Callable[..., tuple[str, Any]]


@pytest.fixture(scope="session")
def openfigi_seed(reference_dir: Path) -> OpenFigiSeed:
    return build_seed_from_reference(reference_dir / "openfigi")


@pytest.fixture
def start_emulator(openfigi_seed: OpenFigiSeed) -> Iterator[StartEmulator]:
    """`start_emulator(seed=None, **create_app_kwargs) -> (base_url, emulator_state)`;
    the default seed is built from the real recordings."""
    with ExitStack() as stack:

        def start(seed: OpenFigiSeed | None = None, **kwargs: Any) -> tuple[str, Any]:
            app = create_app(seed or openfigi_seed, **kwargs)
            return stack.enter_context(serve_in_thread(app)), app.state.emulator

        yield start


@pytest.fixture
def app_dsn(fresh_database: str) -> str:
    """The fresh database as the enrichment app role (what the service runs with)."""
    return service_role_dsn(fresh_database, "enrichment", "app")


@pytest.fixture
async def engine(app_dsn: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(app_dsn, schema="enrichment", pool_size=4)
    try:
        yield eng
    finally:
        await eng.dispose()


def one_listing_seed(id_type: str, id_value: str, **row: Any) -> OpenFigiSeed:
    """A seed that knows one identifier, answered by one composite listing."""
    listing = {
        "name": "SOME CORP",
        "exchCode": "US",
        "securityType": "Common Stock",
        "marketSector": "Equity",
        "securityType2": "Common Stock",
        **row,
    }
    listing.setdefault("compositeFIGI", listing["figi"])
    return OpenFigiSeed(mappings=[SeedMapping(idType=id_type, idValue=id_value, data=[listing])])


def cusips(n: int, start: int = 1000) -> list[str]:
    """`n` distinct well-formed CUSIPs (valid check digits)."""
    return [f"{i:08d}" + cusip_check_digit(f"{i:08d}") for i in range(start, start + n)]


async def emulator_stats(url: str, window_s: float | None = None) -> dict[str, Any]:
    params = {"window_s": window_s} if window_s is not None else {}
    async with httpx.AsyncClient() as admin:
        return dict((await admin.get(url + "/_emulator/stats", params=params)).json())
