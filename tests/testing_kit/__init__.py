"""Tests of amber.testing, the kit for our users' tests, used the way they would use it."""
