"""secmaster platform: the CLI and the embedded stack."""
