"""Local emulators of the external APIs secmaster talks to."""
