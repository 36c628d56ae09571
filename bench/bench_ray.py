"""Ray benchmark: a durable actor's checkpoints and restore against the same manager in a
plain process.

    python -m bench.bench_ray [--accounts N] [--runs R]

The standard workload's accounts and customers in ``amber.Table``s (default 1,000,000
accounts), held once by a durable Ray actor (``@amber.ray.durable``, on a local Ray cluster
started here) and once by a plain process without Ray (a child of this one), each with the
same participant, the same manager options and its own local store. Measured, R times each,
the two sides taking turns within each run:

- full checkpoint: the actor's ``amber_checkpoint(full=True)`` as its caller waits for it
  (Ray's call and reply included), against the plain manager's ``checkpoint(full=True)``;
- delta checkpoint: the same after 1% of the accounts changed (touched), 5 times a run;
- restore after a restart: the actor's process is SIGKILLed and Ray restarts it; its
  restore (the manager's, as its ``RestoreFinished`` event times it) against a plain
  manager's ``restore()`` of the same checkpoint in a fresh process. Also reported: the
  restart as a caller sees it (SIGKILL to the first answer), and Ray's own part of it, the
  same restart of the actor with an empty store.

Targets: checkpoints at most 1.1x the plain process's, the restore at most 1.2x. Prints a
Markdown table and writes bench/results/ray.json.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import signal
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import amber
import amber.ray
from amber.events import CheckpointCommitted, Event, RestoreFinished
from bench import workload

ROOT = Path(__file__).parent.parent
OPTIONS: dict[str, Any] = {"max_delta_ratio": 100.0, "max_chain": 1000, "verify_every": 0}  # both sides
DELTAS = 5  # delta checkpoints per run, short and so noisier than the rest
_timings: dict[str, float] = {}  # this process's last checkpoint and restore, by their events


def timed(event: Event) -> None:
    """A listener keeping the manager's own times (in the actor's process as in the plain one)."""
    if isinstance(event, CheckpointCommitted):
        _timings["checkpoint"] = event.seconds
    elif isinstance(event, RestoreFinished):
        _timings["restore"] = event.seconds


def timings() -> dict[str, float]:
    return dict(_timings)


class Bank:
    """The workload as a manager's participant (the plain process's)."""

    name = "bank"

    def __init__(self) -> None:
        self.accounts: amber.Table[int, Any] = amber.Table()
        self.customers: amber.Table[int, Any] = amber.Table()

    def fill(self, accounts: int) -> None:
        state = workload.build(accounts=accounts, customers=max(10, accounts // 100))
        self.accounts = amber.Table(state["accounts"])
        self.customers = amber.Table(enumerate(state["customers"]))

    def change(self, step: int) -> None:
        """1% of the accounts, a different 1% each step, changed in place and touched."""
        for key in list(self.accounts)[step % 100 :: 100]:
            self.accounts[key].balance += 1
            self.accounts.touch(key)

    def snapshot(self) -> dict[str, Any]:
        return {"accounts": self.accounts, "customers": self.customers}

    def restore(self, state: dict[str, Any]) -> None:
        self.accounts, self.customers = state["accounts"], state["customers"]


def bank_actor(store: str) -> Any:
    """The same participant as a durable Ray actor in ``store``."""
    import ray

    @ray.remote(max_restarts=-1, max_task_retries=0)
    @amber.ray.durable(
        store, name="bank", interval=None, store_options={"registry": workload.registry}, listeners=[timed], **OPTIONS
    )
    class BankActor(Bank):
        def timings(self) -> dict[str, float]:
            return timings()

        def niceness(self) -> int:
            return os.nice(0)  # Ray's workers run at 15 by default (RAY_worker_niceness)

    return BankActor


def plain(connection: Connection, store: str, accounts: int) -> None:
    """The plain process: the same manager, driven by the benchmark through ``connection``."""
    bank = Bank()
    manager = amber.Manager(amber.open_store(store, registry=workload.registry), [bank], listeners=[timed], **OPTIONS)
    manager.restore()
    bank.fill(accounts)
    connection.send("ready")
    while (order := connection.recv()) != "close":
        kind, step = order
        if kind == "change":
            bank.change(step)
            connection.send(None)
        else:
            began = time.perf_counter()
            manager.checkpoint(full=kind == "full")
            connection.send((time.perf_counter() - began, _timings["checkpoint"]))
    manager.close(final=False)
    connection.send("closed")


def plain_restore(connection: Connection, store: str) -> None:
    """A fresh plain process restoring the store: the manager's restore, timed by its event."""
    manager = amber.Manager(amber.open_store(store, registry=workload.registry), [Bank()], listeners=[timed], **OPTIONS)
    began = time.perf_counter()
    manager.restore()
    connection.send((time.perf_counter() - began, _timings["restore"]))
    manager.close(final=False)


class Plain:
    """The plain process, started fresh (spawned: no Ray, nothing inherited)."""

    def __init__(self, store: Path, accounts: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=plain, args=(child, str(store), accounts))
        self.process.start()
        child.close()  # the child's end is the child's: its death ends recv() here
        assert self.connection.recv() == "ready"

    def change(self, step: int) -> None:
        self.connection.send(("change", step))
        self.connection.recv()

    def checkpoint(self, full: bool) -> tuple[float, float]:
        self.connection.send(("full" if full else "delta", 0))
        return self.connection.recv()  # type: ignore[no-any-return]

    def close(self) -> None:
        self.connection.send("close")
        self.connection.recv()
        self.process.join()


def restore_in_fresh_process(store: Path) -> tuple[float, float]:
    context = multiprocessing.get_context("spawn")
    connection, child = context.Pipe()
    process = context.Process(target=plain_restore, args=(child, str(store)))
    process.start()
    child.close()
    result: tuple[float, float] = connection.recv()
    process.join()
    return result


def restart(actor: Any) -> float:
    """SIGKILL the actor's process; the seconds until the restarted actor answers."""
    import ray

    pid = ray.get(actor.amber_pid.remote())
    began = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 600
    while True:
        try:
            ray.get(actor.timings.remote(), timeout=300)
            return time.perf_counter() - began
        except ray.exceptions.RayActorError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def run(accounts: int, runs: int) -> dict[str, Any]:
    import ray

    folder = Path(tempfile.mkdtemp(prefix="amber-bench-ray-"))
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
    )
    measured: dict[str, list[float]] = {}

    def note(name: str, seconds: float) -> None:
        measured.setdefault(name, []).append(seconds)

    def actor_checkpoint(full: bool) -> None:
        began = time.perf_counter()
        ray.get(actor.amber_checkpoint.remote(full))
        note(f"actor_{'full' if full else 'delta'}", time.perf_counter() - began)
        note(f"actor_{'full' if full else 'delta'}_inside", ray.get(actor.timings.remote())["checkpoint"])

    def plain_checkpoint(full: bool) -> None:
        caller, inside = side.checkpoint(full)
        note(f"plain_{'full' if full else 'delta'}", caller)
        note(f"plain_{'full' if full else 'delta'}_inside", inside)

    try:
        actor = bank_actor(str(folder / "actor")).remote()
        ray.get(actor.fill.remote(accounts))
        niceness = ray.get(actor.niceness.remote())
        side = Plain(folder / "plain", accounts)
        ray.get(actor.amber_checkpoint.remote(True))  # the first of each: not measured
        side.checkpoint(True)
        for step in range(runs):
            for full in (True, *[False] * DELTAS):
                if not full:
                    ray.get(actor.change.remote(len(measured.get("actor_delta", ()))))
                    side.change(len(measured.get("plain_delta", ())))
                first, second = (actor_checkpoint, plain_checkpoint)[:: 1 if step % 2 == 0 else -1]
                first(full)
                second(full)
        side.checkpoint(True)  # both stores end with a full checkpoint of the same state
        side.close()

        def plain_restore() -> None:
            wall, inside = restore_in_fresh_process(folder / "plain")
            note("plain_restore_wall", wall)
            note("plain_restore", inside)

        for step in range(runs):
            ray.get(actor.amber_checkpoint.remote(True))
            if step % 2:
                plain_restore()
            note("restart", restart(actor))
            note("actor_restore", ray.get(actor.timings.remote())["restore"])
            if step % 2 == 0:
                plain_restore()
        ray.kill(actor)
        empty = bank_actor(str(folder / "empty")).remote()
        ray.get(empty.timings.remote())
        for _ in range(runs):
            note("ray_restart", restart(empty))
        ray.kill(empty)
    finally:
        ray.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
    return summary(accounts, runs, measured, niceness)


def summary(accounts: int, runs: int, measured: dict[str, list[float]], niceness: int) -> dict[str, Any]:
    def ratios(actor: str, plain: str) -> list[float]:
        return [a / p for a, p in zip(measured[actor], measured[plain], strict=True)]

    results: dict[str, Any] = {"accounts": accounts, "runs": runs, "actor_niceness": niceness}
    for name, values in measured.items():
        results[f"{name}_seconds"] = statistics.median(values)
    for kind, target in (("full", 1.1), ("delta", 1.1), ("restore", 1.2)):
        values = ratios(f"actor_{kind}", f"plain_{kind}")
        results[f"{kind}_ratio"] = statistics.median(values)
        results[f"{kind}_ratio_range"] = [min(values), max(values)]
        results[f"{kind}_target"] = target
    return results


def table(results: dict[str, Any]) -> str:
    def row(label: str, kind: str) -> str:
        low, high = results[f"{kind}_ratio_range"]
        return (
            f"| {label} | {results[f'actor_{kind}_seconds']:.3f} s | {results[f'plain_{kind}_seconds']:.3f} s | "
            f"**{results[f'{kind}_ratio']:.2f}x** ({low:.2f}-{high:.2f}) | <= {results[f'{kind}_target']}x | "
            f"{'yes' if results[f'{kind}_ratio'] <= results[f'{kind}_target'] else '**no**'} |"
        )

    return "\n".join(
        [
            "| measure | durable actor | plain process | ratio | target | met |",
            "|---|---|---|---|---|---|",
            row("full checkpoint, as its caller waits", "full"),
            row("delta checkpoint (1% changed), as its caller waits", "delta"),
            row("restore after a restart (the manager's)", "restore"),
            f"| of which the manager's own checkpoint time | full {results['actor_full_inside_seconds']:.3f} s, "
            f"delta {results['actor_delta_inside_seconds']:.3f} s | full {results['plain_full_inside_seconds']:.3f} s, "
            f"delta {results['plain_delta_inside_seconds']:.3f} s | | | |",
            f"| restart: SIGKILL to the first answer | {results['restart_seconds']:.3f} s | "
            f"plain restore's wall time {results['plain_restore_wall_seconds']:.3f} s | | report | - |",
            f"| Ray's own restart (the actor with an empty store) | {results['ray_restart_seconds']:.3f} s "
            "| | | report | - |",
            "",
            f"The actor's process ran at niceness {results['actor_niceness']}, the plain process at {os.nice(0)}.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results = run(args.accounts, args.runs)
    print(table(results))
    print(f"written to {workload.save_results('ray', results)}")


if __name__ == "__main__":
    main()
