"""secmaster indexer service."""
