"""Tests of the persistence manager (amber._manager): lifecycle, capture modes, fences,
verification, health."""
