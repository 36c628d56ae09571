"""Tests of events, logs, metrics and spans, and of the contrib/ rules and dashboard built on
them."""
