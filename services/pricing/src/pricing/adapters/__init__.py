"""Adapters of the pricing service: provider clients (and, later, storage)."""
