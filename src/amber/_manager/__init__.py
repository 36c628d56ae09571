"""amber.Manager: the checkpoint lifecycle over participants, inline and forked capture,
verified restore, health, asyncio fences.

One layer of docs/architecture.md: it imports only the layers below it."""
