"""Checkpoints in a storage: the commit protocol, reading and verifying, the memory bound,
leases and fences, the writer lock, collections kept out of writes, the history journal,
open_store.

One layer of docs/architecture.md: it imports only the layers below it."""
