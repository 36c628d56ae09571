"""The inventory on a local Ray cluster: stock it, take orders, SIGKILL the actor, and see Ray
restart it with every acknowledged change. ``python -m examples.ray_inventory [--store DIR]``."""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import time
from typing import Any

import ray

from examples.ray_inventory.service import inventory_actor


def surviving(call: Any) -> Any:
    """The answer of a call to an actor Ray may be restarting: retried until it comes."""
    deadline = time.monotonic() + 120
    while True:
        try:
            return ray.get(call(), timeout=60)
        except ray.exceptions.RayActorError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=None, help="the store's folder or s3:// URL (default: a new folder)")
    store = parser.parse_args().store or tempfile.mkdtemp(prefix="ray-inventory-")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        inventory = inventory_actor(store, interval=None).remote()  # every change is acknowledged
        print("restocked: available", ray.get(inventory.restock.remote("kettle", 10)))
        print("order-1 reserved 4:", ray.get(inventory.reserve.remote("order-1", "kettle", 4)))
        print("order-2 reserved 8:", ray.get(inventory.reserve.remote("order-2", "kettle", 8)))  # only 6 left
        print("order-1 shipped:", ray.get(inventory.ship.remote("order-1")))
        print("order-3 reserved 5:", ray.get(inventory.reserve.remote("order-3", "kettle", 5)))
        before = ray.get(inventory.stock.remote())

        os.kill(ray.get(inventory.amber_pid.remote()), signal.SIGKILL)  # the actor's process dies
        after = surviving(inventory.stock.remote)  # Ray restarts it; its start restores the store
        print("after a SIGKILL:", after, "(restored from", ray.get(inventory.amber_restored.remote()) + ")")
        assert after == before  # every acknowledged change: none lost
        print("order-3 reserved again:", surviving(lambda: inventory.reserve.remote("order-3", "kettle", 5)))
        print("available:", ray.get(inventory.available.remote("kettle")), "; store:", store)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
