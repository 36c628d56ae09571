"""_schema: see docs/architecture.md."""
