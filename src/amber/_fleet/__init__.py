"""Fleets: workers' sharded checkpoints committed together by epoch.

Key groups (``_keys``); the objects a fleet stores and the pure rules about them
(``_records``); one worker's vote, the tally and the decision (``_ballot``); the worker
(``_worker``); the fleet as any process reads it, and ``open_fleet`` (``_fleet``).

One layer of docs/architecture.md: it imports only the layers below it."""
