"""pytest plugin: fixtures for real resources (`kafka_bootstrap`, `pg_dsn`) and shared data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _find_reference_dir() -> Path:
    env = os.environ.get("SECMASTER_REFERENCE_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent.parent / "shared" / "reference"
        if (parent / "pyproject.toml").exists() and candidate.is_dir():
            return candidate
    return Path.cwd().parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The public reference data set (`../shared/reference` beside the repo), read in place."""
    path = _find_reference_dir()
    if not path.is_dir():
        pytest.fail(
            f"reference data not found at {path}; set SECMASTER_REFERENCE_DIR to the "
            "shared/reference directory"
        )
    return path
