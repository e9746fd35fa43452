"""secmaster common library."""
