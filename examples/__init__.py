"""Example services built with Amber (run them with python -m examples.NAME)."""
