"""_fleet: see docs/architecture.md."""
