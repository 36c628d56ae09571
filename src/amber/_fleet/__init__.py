"""Fleets: workers' sharded checkpoints committed together by epoch.

One layer of docs/architecture.md: it imports only the layers below it."""
