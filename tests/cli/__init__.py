"""Tests of the amber command, run as a real process."""
