"""``amber.ray``: durable actors on a real local Ray cluster (started here, 2 CPUs)."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest

import amber

ray = pytest.importorskip("ray")

from tests.support.ray_actors import counter_class, notes_class, registry  # noqa: E402 - after the extra is known to be here


def _call_surviving(call: Any) -> Any:
    """A call to an actor Ray is restarting: retried until it answers."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return ray.get(call(), timeout=30)
        except ray.exceptions.RayActorError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.usefixtures("ray_cluster")
def test_a_killed_durable_actor_is_restarted_by_ray_with_every_acknowledged_change(tmp_path: Path) -> None:
    counter = ray.remote(max_restarts=-1, max_task_retries=0)(counter_class(str(tmp_path / "store"))).remote()
    rng = random.Random(3)
    acknowledged: dict[str, int] = {}
    for _ in range(4):  # kill it at random moments: nothing acknowledged is lost
        for _ in range(rng.randrange(1, 8)):
            key = rng.choice("abc")
            acknowledged[key] = ray.get(counter.add.remote(key, rng.randrange(1, 10)))
        pid = ray.get(counter.amber_pid.remote())
        os.kill(pid, signal.SIGKILL)
        assert _call_surviving(counter.total.remote) == acknowledged
        assert ray.get(counter.amber_pid.remote()) != pid  # a new process, restored from the store
    assert ray.get(counter.amber_restored.remote()) is not None


@pytest.mark.usefixtures("ray_cluster")
def test_an_actor_checkpoints_on_demand_and_a_second_copy_cannot_write_beside_it(tmp_path: Path) -> None:
    Counter = ray.remote(max_restarts=0)(counter_class(str(tmp_path / "store"), lock_wait=0.2))
    first = Counter.remote()
    ray.get(first.add.remote("x", 1))
    assert ray.get(first.amber_checkpoint.remote())  # the id of the checkpoint holding it
    second = Counter.remote()
    with pytest.raises(ray.exceptions.RayActorError, match="StoreLockedError"):
        ray.get(second.total.remote(), timeout=60)
    ray.kill(first)


@pytest.mark.usefixtures("ray_cluster")
def test_an_actor_opens_its_store_with_the_options_given_its_registry_among_them(tmp_path: Path) -> None:
    notes = ray.remote(max_restarts=-1, max_task_retries=0)(notes_class(str(tmp_path / "store"))).remote()
    assert ray.get(notes.write.remote("first"), timeout=60) == 1  # its records are its registry's
    os.kill(ray.get(notes.amber_pid.remote()), signal.SIGKILL)
    assert _call_surviving(notes.read.remote) == ["first"]
    assert amber.open_store(tmp_path / "store", registry=registry).load()["notes"]["notes"][0].text == "first"
    ray.kill(notes)
