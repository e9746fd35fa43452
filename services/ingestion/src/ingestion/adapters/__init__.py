"""Adapters of the ingestion service: Postgres repository."""
