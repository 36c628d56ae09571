"""An inventory service as a durable Ray actor (run it with python -m examples.ray_inventory)."""
