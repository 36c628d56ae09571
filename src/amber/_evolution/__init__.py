"""_evolution: see docs/architecture.md."""
