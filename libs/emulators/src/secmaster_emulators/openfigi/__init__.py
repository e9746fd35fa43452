"""OpenFIGI v3 emulator: `create_app(seed, ...)` builds it, `serve_in_thread(app)` runs it on
a local socket, `build_seed_from_reference(dir)` makes a seed from the real recordings."""

from secmaster_emulators.openfigi.app import API_KEY_HEADER, FaultSpec, create_app
from secmaster_emulators.openfigi.catalog import synthetic_row
from secmaster_emulators.openfigi.identifiers import is_valid_id_value
from secmaster_emulators.openfigi.limits import OpenFigiLimits, WindowLimit
from secmaster_emulators.openfigi.seed import (
    OpenFigiSeed,
    SeedMapping,
    SeedQuery,
    build_seed_from_reference,
)
from secmaster_emulators.openfigi.server import serve_in_thread

__all__ = [
    "API_KEY_HEADER",
    "FaultSpec",
    "OpenFigiLimits",
    "OpenFigiSeed",
    "SeedMapping",
    "SeedQuery",
    "WindowLimit",
    "build_seed_from_reference",
    "create_app",
    "is_valid_id_value",
    "serve_in_thread",
    "synthetic_row",
]
