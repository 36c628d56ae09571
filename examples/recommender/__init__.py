"""An online recommender: pydantic models and numpy arrays, checkpointed with fork capture
and deltas (README.md; run it with python -m examples.recommender.service)."""
