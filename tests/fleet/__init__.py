"""Tests of fleets (amber._fleet): sharded checkpoints across workers, and the ballot's rules on
literal values."""
