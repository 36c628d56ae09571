"""The standard workload every benchmark uses (issue: core).

1,000,000 ``bank.Account`` records (id, an ``owner`` reference to one of 10,000 shared
``bank.Customer`` records, an int balance, a list of 0-3 short tags, a float timestamp) in a
dict keyed by id, plus the customers.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import amber

registry = amber.Registry()


@registry.record("bank.Customer", version=1)
class Customer(amber.Record):
    id: int
    name: str


@registry.record("bank.Account", version=1)
class Account(amber.Record):
    id: int
    owner: Customer
    balance: int
    tags: list[str]
    updated: float


TAGS = ["vip", "eur", "usd", "new", "frozen", "audit", "retail", "corp", "promo"]


def build(accounts: int = 1_000_000, customers: int = 10_000, seed: int = 1) -> dict[str, Any]:
    rng = random.Random(seed)
    people = [Customer(i, f"customer-{i:05d}") for i in range(customers)]
    table = {
        i: Account(
            i,
            people[rng.randrange(customers)],
            rng.randrange(-(10**6), 10**9),
            rng.sample(TAGS, rng.randrange(4)),
            1.7e9 + rng.random() * 1e7,
        )
        for i in range(accounts)
    }
    return {"accounts": table, "customers": people}


def save_results(name: str, results: dict[str, Any]) -> Path:
    """Write a benchmark's figures to bench/results/NAME.json (``AMBER_BENCH_RESULTS``: elsewhere,
    for a smoke run whose tiny figures must not replace the committed ones)."""
    folder = Path(os.environ.get("AMBER_BENCH_RESULTS") or Path(__file__).parent / "results")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path
