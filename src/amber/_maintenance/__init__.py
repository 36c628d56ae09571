"""_maintenance: see docs/architecture.md."""
