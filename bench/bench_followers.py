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

Target: failover at most 10% of a cold restore. Prints a Markdown table and writes
bench/results/followers.json.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import amber
from bench import workload


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


def manager(root: Path, bank: Bank) -> amber.Manager:
    store = amber.open_store(root, registry=workload.registry)
    return amber.Manager(store, [bank], max_delta_ratio=100.0, max_chain=1000, verify_every=0)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = run(args.accounts, args.runs)
    print(table(results))
    print(f"written to {workload.save_results('followers', results)}")


if __name__ == "__main__":
    main()
