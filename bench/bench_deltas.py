"""Deltas for every way a table changes (issue: deltas that cost only what changed).

    python -m bench.bench_deltas [--accounts N] [--runs R]

The standard workload's accounts and customers in ``amber.Table``s, one participant, an
inline manager (``verify_every=0``). For each way of changing 1% of the accounts (changed in
place and touched; replaced by new records; new keys; deleted; moved to other keys; the
customers they point at changed in place), a fresh service takes a full checkpoint, then R
rounds of change + delta. The first delta after a restore or a full checkpoint is reported
apart from the later ones (median): it may build what later ones reuse. Ratios are against
the full checkpoint of the same service. Prints a Markdown table and writes
bench/results/deltas.json.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import workload
from bench.bench_manager import Service, manager

Change = Callable[[Service, random.Random, int], None]


def in_place(service: Service, rng: random.Random, _: int) -> None:
    for key in rng.sample(sorted(service.accounts), len(service.accounts) // 100):
        service.accounts[key].balance += 1
        service.accounts.touch(key)


def replaced(service: Service, rng: random.Random, _: int) -> None:
    for key in rng.sample(sorted(service.accounts), len(service.accounts) // 100):
        old = service.accounts[key]
        service.accounts[key] = workload.Account(old.id, old.owner, old.balance + 1, list(old.tags), old.updated)


def new_keys(service: Service, rng: random.Random, round_: int) -> None:
    owner = service.customers[0]
    first = 10 * len(service.accounts) * (round_ + 1)
    for key in range(first, first + len(service.accounts) // 100):
        service.accounts[key] = workload.Account(key, owner, 1, [], 0.0)


def deleted(service: Service, rng: random.Random, _: int) -> None:
    for key in rng.sample(sorted(service.accounts), len(service.accounts) // 100):
        del service.accounts[key]


def moved(service: Service, rng: random.Random, round_: int) -> None:
    shift = 100 * len(service.accounts) * (round_ + 1)
    for key in rng.sample(sorted(service.accounts), len(service.accounts) // 100):
        service.accounts[key + shift] = service.accounts.pop(key)


def shared(service: Service, rng: random.Random, _: int) -> None:
    """The customers of 1% of the accounts changed in place (each shared by ~100 accounts)."""
    for key in rng.sample(sorted(service.customers), max(len(service.customers) // 100, 1)):
        service.customers[key].name += "!"
        service.customers.touch(key)


WAYS: dict[str, Change] = {
    "changed in place + touch()": in_place,
    "replaced by new records": replaced,
    "new keys": new_keys,
    "deleted": deleted,
    "moved to other keys": moved,
    "shared records (customers) changed": shared,
}


def measure(accounts: int, runs: int, change: Change, root: Path) -> dict[str, float]:
    service = Service(accounts)
    m = manager(service, root, "inline", verify_every=0, max_chain=runs + 1)
    full = m.checkpoint(full=True)
    rng = random.Random(7)
    seconds, pauses = [], []
    for round_ in range(runs + 1):
        change(service, rng, round_)
        delta = m.checkpoint()
        assert delta.kind == "delta", delta
        seconds.append(delta.seconds)
        pauses.append(delta.pause)
    m.close(final=False)
    return {
        "full_s": full.seconds,
        "full_pause": full.pause,
        "first_s": seconds[0],
        "first_pause": pauses[0],
        "later_s": statistics.median(seconds[1:]),
        "later_pause": statistics.median(pauses[1:]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, Any] = {"accounts": args.accounts, "runs": args.runs, "python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory(prefix="amber-bench-") as tmp:
        for i, (name, change) in enumerate(WAYS.items()):
            results[name] = measure(args.accounts, args.runs, change, Path(tmp) / str(i))
    report(results)
    workload.save_results("deltas", results)


def report(r: dict[str, Any]) -> None:
    print(f"\n{r['accounts']:,} accounts, 1% changed each round, first delta and median of {r['runs']} later\n")
    print("| way | full checkpoint | first delta | ratio | later deltas | ratio | pause ratio (first, later) |")
    print("|---|---|---|---|---|---|---|")
    for name in WAYS:
        x = r[name]
        print(
            f"| {name} | {x['full_s'] * 1000:.0f} ms | {x['first_s'] * 1000:.1f} ms | {x['first_s'] / x['full_s']:.3f}"
            f" | {x['later_s'] * 1000:.1f} ms | {x['later_s'] / x['full_s']:.3f}"
            f" | {x['first_pause'] / x['full_pause']:.3f}, {x['later_pause'] / x['full_pause']:.3f} |"
        )


if __name__ == "__main__":
    main()
