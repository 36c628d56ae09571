"""_store: see docs/architecture.md."""
