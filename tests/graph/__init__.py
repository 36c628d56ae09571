"""Tests of the object graph (amber._graph): states saved and loaded with their values, sharing
and cycles, and deltas."""
