"""secmaster pricing service."""
