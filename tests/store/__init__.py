"""Tests of the store and its commit protocol (amber._store): commits, leases, the writer lock,
memory bounds, crashes."""
