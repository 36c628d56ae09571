"""The object graph: a state into per-type tables and a root (the writer), and back (the
reader).

One layer of docs/architecture.md: it imports only the layers below it."""
