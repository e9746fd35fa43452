"""pytest plugin and helpers shared by every service's tests."""
