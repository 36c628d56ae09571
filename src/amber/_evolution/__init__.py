"""Schema evolution: whether one field type reads as another, the planner through every
declared version, applying a plan to decoded columns, write pins, the lock file.

One layer of docs/architecture.md: it imports only the layers below it."""
