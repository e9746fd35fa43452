"""Adapters of the enrichment service: the OpenFIGI client, repositories, limiter wiring."""
