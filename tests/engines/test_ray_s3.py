"""``amber.ray`` on object storage: a durable actor on moto's S3 server, paused (SIGSTOP),
replaced, then resumed (SIGCONT), is fenced: its commits fail and readers never see them."""

from __future__ import annotations

import os
import signal

import pytest

import amber

ray = pytest.importorskip("ray")

from tests.support.ray_actors import counter_class  # noqa: E402 - after the extra is known to be here

LEASE_SECONDS = 2.0  # short, so that the replacement need not wait long for the paused actor's lease
DEADLINE = 120.0  # for liveness only: the machine may be slow or busy


@pytest.mark.usefixtures("ray_cluster")
def test_a_paused_actor_replaced_and_resumed_is_fenced_and_readers_never_see_its_commit(s3_url: str) -> None:
    """Ray sees a stopped process as alive (it restarts only dead ones), so the replacement,
    what a scheduler would start for an actor it believes lost, is a second copy of the
    actor on the same store: it waits for the paused one's lease to expire and takes it."""
    Counter = ray.remote(max_restarts=0, max_task_retries=0)(
        counter_class(s3_url, lease_seconds=LEASE_SECONDS, lock_wait=DEADLINE)
    )
    paused = Counter.remote()
    assert ray.get(paused.add.remote("a", 1), timeout=DEADLINE) == 1
    pid = ray.get(paused.amber_pid.remote(), timeout=DEADLINE)
    os.kill(pid, signal.SIGSTOP)
    try:
        replacement = Counter.remote()  # starts once the lease has expired, restored from the store
        assert ray.get(replacement.add.remote("a", 10), timeout=DEADLINE) == 11
        assert ray.get(replacement.amber_pid.remote(), timeout=DEADLINE) != pid
    finally:
        os.kill(pid, signal.SIGCONT)

    with pytest.raises(amber.CheckpointAbortedError) as acknowledged:  # an acknowledged call
        ray.get(paused.add.remote("a", 100), timeout=DEADLINE)
    with pytest.raises(amber.CheckpointAbortedError) as on_demand:
        ray.get(paused.amber_checkpoint.remote(), timeout=DEADLINE)
    for raised in (acknowledged.value, on_demand.value):
        actors = getattr(raised, "cause")  # noqa: B009 - Ray's error holds the actor's, with its own cause
        cause = actors.__cause__
        assert isinstance(cause, amber.FencedError) and "taken over" in str(cause)
    assert ray.get(paused.total.remote(), timeout=DEADLINE) == {"a": 101}  # held, never committed

    fresh = amber.open_store(s3_url).load()  # a reader sees the replacement's write only
    assert dict(fresh["counter"]["counts"]) == {"a": 11}
    assert ray.get(replacement.add.remote("b", 1), timeout=DEADLINE) == 1  # the replacement writes on
    assert dict(amber.open_store(s3_url).load()["counter"]["counts"]) == {"a": 11, "b": 1}
    ray.kill(paused)
    ray.kill(replacement)
