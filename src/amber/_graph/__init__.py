"""_graph: see docs/architecture.md."""
