"""Tests of the operator's changes to a store (amber._maintenance): migrate, copy, gc, diff,
report."""
