"""Tests of the example services under examples/, run as real processes."""
