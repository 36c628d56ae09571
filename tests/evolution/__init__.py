"""Tests of schema evolution (amber._evolution): the planner and the type judgement pure,
upgrades, the lock file, the migration matrix."""
