"""Fixtures for the enrichment unit tests: the real OpenFIGI recordings (read in place),
factories for domain objects, and an OpenFIGI emulator on a real local socket."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from enrichment.domain import FigiListing
from secmaster_emulators.openfigi import (
    OpenFigiSeed,
    build_seed_from_reference,
    create_app,
    serve_in_thread,
)

StartEmulator = Callable[..., tuple[str, Any]]


@pytest.fixture(scope="session")
def openfigi_reference(reference_dir: Path) -> Path:
    return reference_dir / "openfigi"


@pytest.fixture(scope="session")
def load_recording(openfigi_reference: Path) -> Callable[[str], Any]:
    def load(relative: str) -> Any:
        return json.loads((openfigi_reference / relative).read_text(encoding="utf-8"))

    return load


@pytest.fixture(scope="session")
def known_mappings(openfigi_reference: Path) -> list[dict[str, Any]]:
    data = json.loads((openfigi_reference / "known_mappings.json").read_text(encoding="utf-8"))
    return list(data["mappings"])


@pytest.fixture(scope="session")
def openfigi_seed(openfigi_reference: Path) -> OpenFigiSeed:
    return build_seed_from_reference(openfigi_reference)


@pytest.fixture
def start_emulator(openfigi_seed: OpenFigiSeed) -> Iterator[StartEmulator]:
    """`start_emulator(**create_app_kwargs) -> (base_url, emulator_state)`."""
    with ExitStack() as stack:

        def start(**kwargs: Any) -> tuple[str, Any]:
            app = create_app(openfigi_seed, **kwargs)
            return stack.enter_context(serve_in_thread(app)), app.state.emulator

        yield start


def make_listing(
    figi: str,
    exch_code: str | None,
    composite_figi: str | None = None,
    *,
    ticker: str = "TICK",
    name: str = "SOME CORP",
) -> FigiListing:
    """A listing; `composite_figi` defaults to the row's own FIGI (a composite row)."""
    return FigiListing(
        figi=figi,
        name=name,
        ticker=ticker,
        exch_code=exch_code,
        composite_figi=figi if composite_figi is None else composite_figi,
        security_type="Common Stock",
        market_sector="Equity",
    )
