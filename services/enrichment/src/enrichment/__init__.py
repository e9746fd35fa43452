"""secmaster enrichment service."""
