"""Follower benchmark: failover by promoting a warm follower, against a cold restore.

    python -m bench.bench_followers [--accounts N] [--runs R]

The standard workload's accounts and customers in ``amber.Table``s (default 1,000,000
accounts), held by a manager that checkpoints a full checkpoint, then deltas after 1% of
the balances changed (touched). Measured, R times each, in this process:

- cold restore: a new manager's ``restore()`` of the store (the base and its deltas);
- apply: a follower, caught up, applying the next delta (``catch_up()``): its lag per delta;
- failover: the writer stops after committing one more delta, and a manager is promoted
  from the follower (``Manager.restore(warm=follower)``: it takes the store, the follower
  applies that delta, the participants are restored from its state).

Target: failover at most 10% of a cold restore.

A zero-downtime upgrade, R times: the old release (release 1 of the workload's types) is a
separate process writing under a steady load: 1% of the accounts changed every ``--period``
seconds, spread evenly, each batch acknowledged by the delta that commits it (a group
commit). The new release (``bench/evolved.py``'s ``steps``: ``bank.Account`` v3, reached
through two upgrade steps) follows it in this process, polling every 50 ms, for
``--seconds``:

- lag: for each catch-up, from the commit of the oldest checkpoint it applied to the end of
  applying it (``FollowerCaughtUp.lag_seconds``): median and p99 over every run's catch-ups;
- handover gap: the old release stops taking writes (its last batch acknowledged by a final
  delta, then it lets go of the store), the new one is promoted
  (``Manager.restore(warm=follower)``, waiting for the store), applies the writes that
  arrived meanwhile at the same rate and commits them in its first delta: from the last
  write the old release acknowledged to the first the new one did, against the median
  duration of one of the old release's delta checkpoints in the same run. Target: at most 2x.

Prints Markdown tables and writes bench/results/followers.json.
"""

from __future__ import annotations

import argparse
import queue
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

import amber
from amber.events import Event, FollowerCaughtUp
from bench import evolved, workload

ROOT = Path(__file__).parent.parent
POLL = 0.05  # seconds between a follower's catch-ups


class Bank:
    """The workload as a manager's participant."""

    name = "bank"

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        state = state or {"accounts": {}, "customers": []}
        self.accounts: amber.Table[int, Any] = amber.Table(state["accounts"])
        self.customers: amber.Table[int, Any] = amber.Table(enumerate(state["customers"]))

    def snapshot(self) -> dict[str, Any]:
        return {"accounts": self.accounts, "customers": self.customers}

    def restore(self, state: dict[str, Any]) -> None:
        self.accounts, self.customers = state["accounts"], state["customers"]


def manager(root: Path | amber.CheckpointStore, bank: Bank, lock_wait: float | None = None) -> amber.Manager:
    store = root if isinstance(root, amber.CheckpointStore) else amber.open_store(root, registry=workload.registry)
    return amber.Manager(store, [bank], max_delta_ratio=100.0, max_chain=1000, verify_every=0, lock_wait=lock_wait)


def change(bank: Bank, step: int) -> None:
    for key in list(bank.accounts)[step % 100 :: 100]:
        bank.accounts[key].balance += 1
        bank.accounts.touch(key)


def run(accounts: int, runs: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="amber-bench-followers-"))
    cold: list[float] = []
    apply: list[float] = []
    failover: list[float] = []
    try:
        writer_bank = Bank(workload.build(accounts=accounts, customers=max(10, accounts // 100)))
        writer = manager(folder, writer_bank)
        writer.restore()
        writer.checkpoint(full=True)
        replica = Bank()
        follower = amber.Follower(amber.open_store(folder, registry=workload.registry), [replica])
        follower.catch_up()
        for step in range(runs):
            change(writer_bank, step)
            writer.checkpoint()
            began = time.perf_counter()
            follower.catch_up()
            apply.append(time.perf_counter() - began)
        for step in range(runs):
            change(writer_bank, runs + step)
            writer.checkpoint()
            writer.close(final=False)
            began = time.perf_counter()
            successor = manager(folder, replica)
            successor.restore(warm=follower)
            failover.append(time.perf_counter() - began)
            successor.close(final=False)
            fresh = Bank()
            began = time.perf_counter()
            cold_manager = manager(folder, fresh)
            cold_manager.restore()
            cold.append(time.perf_counter() - began)
            cold_manager.close(final=False)
            writer = manager(folder, writer_bank)  # the writer again, for the next round
            writer.restore(warm=_following(folder, writer_bank))
            follower = _following(folder, replica)
        writer.close(final=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ratios = [f / c for f, c in zip(failover, cold, strict=True)]
    return {
        "accounts": accounts,
        "runs": runs,
        "cold_restore_seconds": statistics.median(cold),
        "apply_delta_seconds": statistics.median(apply),
        "failover_seconds": statistics.median(failover),
        "failover_ratio": statistics.median(ratios),
        "failover_ratio_range": [min(ratios), max(ratios)],
        "target": 0.10,
    }


# --- a zero-downtime upgrade: lag under load, and the handover gap ---------------------------


def write_under_load(root: Path, accounts: int, period: float) -> None:
    """The old release, in its own process (``--writer``): 1% of the accounts changed every
    ``period`` seconds, at an even rate, each batch acknowledged once the delta holding it
    commits. Prints ``READY``, then ``ACK <monotonic time> <seconds of the checkpoint>
    <writes>`` per commit; a line on stdin stops it: the writes since the last commit are
    acknowledged by a final delta (``LAST``), then it lets go of the store (``RELEASED <time>
    <the balances' sum>``)."""
    bank = Bank(workload.build(accounts=accounts, customers=max(10, accounts // 100)))
    writer = manager(root, bank)
    writer.restore()
    writer.checkpoint(full=True)
    stop = threading.Event()
    threading.Thread(target=_stop_on_input, args=(stop,), daemon=True).start()
    print("READY", flush=True)
    rate, keys, rng = max(1, accounts // 100) / period, list(bank.accounts), random.Random(7)
    began = last = time.monotonic()
    done = pending = 0
    while True:
        due = int((time.monotonic() - began) * rate) - done
        for key in rng.choices(keys, k=due):
            bank.accounts[key].balance += 1
            bank.accounts.touch(key)
        done, pending = done + due, pending + due
        final = stop.is_set()
        if final or time.monotonic() - last >= period:
            started = time.perf_counter()
            writer.checkpoint()
            seconds, last = time.perf_counter() - started, time.monotonic()
            print(f"{'LAST' if final else 'ACK'} {last} {seconds} {pending}", flush=True)
            pending = 0
        if final:
            break
        time.sleep(0.005)
    writer.close(final=False)
    released = time.monotonic()
    print(f"RELEASED {released} {sum(a.balance for a in bank.accounts.values())}", flush=True)


def _stop_on_input(stop: threading.Event) -> None:
    sys.stdin.readline()
    stop.set()


class NewBank(Bank):
    """The new release: the same participant, its accounts ``evolved.AccountV3``."""

    def write(self, keys: list[int]) -> None:
        for key in keys:
            self.accounts[key].balance_cents += 100
            self.accounts.touch(key)


def upgrade(accounts: int, seconds: float, period: float) -> dict[str, Any]:
    """One zero-downtime upgrade (see the module): the follower's catch-ups, the old release's
    deltas, and the handover."""
    folder = Path(tempfile.mkdtemp(prefix="amber-bench-upgrade-"))
    command = [sys.executable, "-m", "bench.bench_followers", "--writer", str(folder)]
    command += ["--accounts", str(accounts), "--period", str(period)]
    old = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read_lines, args=(old.stdout, lines), daemon=True).start()
    caught_up: list[FollowerCaughtUp] = []

    def heard(event: Event) -> None:
        if isinstance(event, FollowerCaughtUp):
            caught_up.append(event)

    try:
        _until(lines, "READY", old)
        replica = NewBank()
        store = amber.open_store(folder, registry=evolved.steps, listeners=[heard])
        follower = amber.Follower(store, [replica])
        follower.start(interval=POLL)  # its first catch-up loads the newest checkpoint whole
        while follower.lag().checkpoints:  # what was committed meanwhile: not the steady state
            time.sleep(POLL)
        following_from = time.time()
        time.sleep(seconds)
        stopped_wall = time.time()
        figures = _hand_over(old, lines, follower, replica, max(1, accounts // 100) / period)
    finally:
        old.kill()
        old.wait()
        shutil.rmtree(folder, ignore_errors=True)
    following = [e for e in caught_up if following_from <= e.start and e.time < stopped_wall]
    return {
        "lags": [e.lag_seconds for e in following],
        "applies": [e.seconds / e.applied for e in following],
        "whole": sum(e.whole for e in following),
        **figures,
    }


def _hand_over(
    old: subprocess.Popen[str], lines: queue.Queue[str], follower: amber.Follower, replica: NewBank, rate: float
) -> dict[str, float]:
    """Stop the old release, promote the follower, acknowledge the writes that arrived at
    ``rate`` meanwhile; check the store holds every acknowledged write, in the new shape."""
    assert old.stdin is not None
    old.stdin.write("stop\n")
    old.stdin.flush()
    stopped = time.monotonic()
    successor = manager(follower.store, replica, lock_wait=120.0)
    successor.restore(warm=follower)  # waits for the old release to let go of the store
    promoted = time.monotonic()
    arrived = random.Random(8).choices(list(replica.accounts), k=max(1, int((promoted - stopped) * rate)))
    replica.write(arrived)
    written, began = time.monotonic(), time.perf_counter()
    first = successor.checkpoint()
    first_ack, first_seconds = time.monotonic(), time.perf_counter() - began
    successor.close(final=False)
    acks = [line.split() for line in _until(lines, "RELEASED", old)]
    deltas = [float(a[2]) for a in acks if a[0] == "ACK"]
    if first.kind != "delta" or acks[-2][0] != "LAST" or not deltas:
        raise RuntimeError(f"expected deltas from both releases, found {first.kind} and {acks[-3:]}")
    held = amber.open_store(follower.store.url, registry=evolved.steps).load()["bank"]["accounts"]
    if not all(type(a) is evolved.AccountV3 for a in held.values()):
        raise RuntimeError("the new release holds accounts that are not in its shape")
    if sum(a.balance_cents for a in held.values()) != 100 * (int(acks[-1][2]) + len(arrived)):
        raise RuntimeError("the store lacks writes the old release or the new one acknowledged")
    last_ack, released = float(acks[-2][1]), float(acks[-1][1])
    return {
        "delta_seconds": statistics.median(deltas),
        "gap_seconds": first_ack - last_ack,
        "released_seconds": released - last_ack,  # the old release's close, after its last ack
        "promote_seconds": promoted - released,  # the store taken, the last delta applied, online
        "writes_seconds": written - promoted,  # the new release applying the writes that arrived meanwhile
        "first_delta_seconds": first_seconds,
    }


def _read_lines(stream: IO[str] | None, lines: queue.Queue[str]) -> None:
    assert stream is not None
    for line in stream:
        lines.put(line.strip())
    lines.put("")  # the process is gone


def _until(lines: queue.Queue[str], word: str, process: subprocess.Popen[str]) -> list[str]:
    """The lines up to and including the first that starts with ``word``."""
    seen = []
    while True:
        line = lines.get(timeout=600)
        if not line:
            raise RuntimeError(f"the old release exited ({process.wait()}) before saying {word}")
        seen.append(line)
        if line.startswith(word):
            return seen


def run_upgrades(accounts: int, runs: int, seconds: float, period: float) -> dict[str, Any]:
    results = [upgrade(accounts, seconds, period) for _ in range(runs)]
    lags = sorted(lag for r in results for lag in r["lags"])
    ratios = [r["gap_seconds"] / r["delta_seconds"] for r in results]
    median = {k: statistics.median(r[k] for r in results) for k in results[0] if k.endswith("_seconds")}
    return {
        "accounts": accounts,
        "runs": runs,
        "seconds": seconds,
        "period": period,
        "poll": POLL,
        "lag_median_seconds": statistics.median(lags) if lags else 0.0,
        "lag_p99_seconds": _p99(lags),
        "lag_max_seconds": lags[-1] if lags else 0.0,
        "catch_ups": len(lags),
        "loaded_whole": sum(r["whole"] for r in results),
        "apply_delta_seconds": statistics.median(a for r in results for a in r["applies"]) if lags else 0.0,
        **median,
        "gap_ratio": statistics.median(ratios),
        "gap_ratio_range": [min(ratios), max(ratios)],
        "gap_target": 2.0,
        "each_run": [{k: v for k, v in r.items() if k.endswith("_seconds")} for r in results],
    }


def _p99(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def _following(folder: Path, bank: Bank) -> amber.Follower:
    follower = amber.Follower(amber.open_store(folder, registry=workload.registry), [bank])
    follower.catch_up()
    return follower


def table(results: dict[str, Any]) -> str:
    low, high = results["failover_ratio_range"]
    return "\n".join(
        [
            "| measure | seconds | against a cold restore |",
            "|---|---|---|",
            f"| cold restore (base and deltas) | {results['cold_restore_seconds']:.3f} | 1 |",
            f"| a follower applying one delta (1% of the accounts) | {results['apply_delta_seconds']:.3f} | |",
            f"| failover: promote the follower | {results['failover_seconds']:.3f} | "
            f"{results['failover_ratio']:.3f}x ({low:.3f}-{high:.3f}), target <= 0.10x |",
        ]
    )


def upgrade_table(results: dict[str, Any]) -> str:
    low, high = results["gap_ratio_range"]
    delta = results["delta_seconds"]
    return "\n".join(
        [
            "| measure | seconds | against one delta checkpoint of the old release |",
            "|---|---|---|",
            f"| one delta checkpoint of the old release (1% of the accounts) | {delta:.3f} | 1 |",
            f"| follower lag, median of {results['catch_ups']} catch-ups (polling every {results['poll']:.2f} s) | "
            f"{results['lag_median_seconds']:.3f} | {results['lag_median_seconds'] / delta:.2f}x |",
            f"| follower lag, p99 | {results['lag_p99_seconds']:.3f} | {results['lag_p99_seconds'] / delta:.2f}x |",
            f"| a follower applying one delta through the upgrade steps | {results['apply_delta_seconds']:.3f} | "
            f"{results['apply_delta_seconds'] / delta:.2f}x |",
            f"| handover: promotion, from the store let go of to the new release online | "
            f"{results['promote_seconds']:.3f} | {results['promote_seconds'] / delta:.2f}x |",
            f"| handover: the new release applying the writes that arrived meanwhile | "
            f"{results['writes_seconds']:.3f} | {results['writes_seconds'] / delta:.2f}x |",
            f"| handover: the new release's first delta, acknowledging them | {results['first_delta_seconds']:.3f} | "
            f"{results['first_delta_seconds'] / delta:.2f}x |",
            f"| **handover gap**: last write acknowledged by the old release to the first by the new | "
            f"{results['gap_seconds']:.3f} | **{results['gap_ratio']:.2f}x** ({low:.2f}-{high:.2f}), target <= 2x |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="of load while the new release follows")
    parser.add_argument("--period", type=float, default=0.5, help="seconds between the old release's commits")
    parser.add_argument("--writer", type=Path, help=argparse.SUPPRESS)  # the old release's process
    args = parser.parse_args()
    if args.writer is not None:
        write_under_load(args.writer, args.accounts, args.period)
        return
    results = run(args.accounts, args.runs)
    print(table(results))
    results["upgrade"] = run_upgrades(args.accounts, args.runs, args.seconds, args.period)
    print()
    print(upgrade_table(results["upgrade"]))
    print(f"written to {workload.save_results('followers', results)}")


if __name__ == "__main__":
    main()
