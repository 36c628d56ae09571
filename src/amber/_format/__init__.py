"""_format: see docs/architecture.md."""
