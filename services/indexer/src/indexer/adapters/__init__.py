"""Adapters of the indexer service: Postgres repository."""
