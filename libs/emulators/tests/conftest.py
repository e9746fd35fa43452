"""Fixtures for the emulator tests: the seed built from the real recordings, and a factory
that serves an emulator on a real local socket for the length of a test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from secmaster_emulators.openfigi import (
    OpenFigiSeed,
    build_seed_from_reference,
    create_app,
    serve_in_thread,
)

StartEmulator = Callable[..., str]


@pytest.fixture(scope="session")
def openfigi_reference(reference_dir: Path) -> Path:
    return reference_dir / "openfigi"


@pytest.fixture(scope="session")
def openfigi_seed(openfigi_reference: Path) -> OpenFigiSeed:
    return build_seed_from_reference(openfigi_reference)


@pytest.fixture
def start_emulator(openfigi_seed: OpenFigiSeed) -> Iterator[StartEmulator]:
    """`start_emulator(**create_app_kwargs) -> base_url`; stopped when the test ends."""
    with ExitStack() as stack:

        def start(**kwargs: Any) -> str:
            return stack.enter_context(serve_in_thread(create_app(openfigi_seed, **kwargs)))

        yield start
