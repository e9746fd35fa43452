"""secmaster ingestion service."""
