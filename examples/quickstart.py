"""The quickstart demo (`make demo`): declare types, save a state, crash-proof reload, inspect.

Runs on a local store in a temporary directory and prints what it did at each step.
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import amber
from amber import commands


@amber.record("bank.Customer", version=1)
class Customer(amber.Record):
    id: int
    name: str


@amber.record("bank.Account", version=1)
class Account(amber.Record):
    id: int
    owner: Customer  # many accounts share one Customer object
    balance_cents: int
    tags: list[str] = []


@amber.record("bank.Branch", version=1)
class Branch(amber.Record):
    name: str
    parent: Branch | None = None  # a cycle: children point back at their parent
    children: list[Branch] = []


# The next release of the same service: balances in euros, tags renamed to labels.
release2 = amber.Registry()


@release2.record("bank.Customer", version=1)
class Customer2(amber.Record):
    id: int
    name: str


@release2.record("bank.Account", version=2)
class Account2(amber.Record):
    id: int
    owner: Customer2
    balance_eur: float
    labels: Annotated[list[str], amber.field(aliases=["tags"])] = []


@release2.record("bank.Branch", version=1)
class Branch2(amber.Record):
    name: str
    parent: Branch2 | None = None
    children: list[Branch2] = []


@release2.upgrade("bank.Account", 1)
def to_euros(fields: dict[str, Any]) -> dict[str, Any]:
    fields["balance_eur"] = fields.pop("balance_cents") / 100
    return fields


def build_state(accounts: int) -> dict[str, Any]:
    rng = random.Random(7)
    customers = [Customer(i, f"customer-{i}") for i in range(accounts // 100 + 1)]
    head = Branch("head office")
    head.children = [Branch(f"branch-{n}", parent=head) for n in range(3)]
    return {
        "customers": customers,
        "accounts": {
            i: Account(i, rng.choice(customers), rng.randrange(10**7), rng.sample(["vip", "eur", "new"], i % 3))
            for i in range(accounts)
        },
        "branches": head,
    }


def step(text: str) -> None:
    print(f"\n== {text}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="amber-demo-") as tmp:
        url = str(Path(tmp) / "state")
        store = amber.open_store(url)
        first = save_and_load(store)
        show_crash_safety_and_cli(store, url)
        show_corruption(store, url, first)
        show_evolution(store, url, first)
    print("\nDone. See README.md for the API, docs/schema-evolution.md and docs/format.md.")


def save_and_load(store: amber.CheckpointStore) -> amber.CheckpointInfo:
    step("1. save a state of 100,000 accounts sharing 1,001 customers, plus a tree with back-pointers")
    state = build_state(100_000)
    started = time.perf_counter()
    info = store.save(state, meta={"service": "demo-bank", "release": "1.0"})
    print(f"   checkpoint {info.id}: {info.size / 1e6:.1f} MB in {time.perf_counter() - started:.2f} s")
    print(f"   types held: {info.types}, records: {info.counts}")

    step("2. change some balances and save again; the first checkpoint stays as it was")
    for account in list(state["accounts"].values())[:500]:
        account.balance_cents += 1
    second = store.save(state)
    print(f"   checkpoint {second.id}, digest {second.digest} (first was {info.digest})")

    step("3. load the newest checkpoint back: identity and cycles survive")
    started = time.perf_counter()
    loaded = store.load()
    print(f"   loaded in {time.perf_counter() - started:.2f} s")
    accounts = loaded["accounts"]
    shared = accounts[0].owner is next(c for c in loaded["customers"] if c.id == accounts[0].owner.id)
    head = loaded["branches"]
    print(f"   account 0's owner is the same object as in the customer list: {shared}")
    print(f"   every branch's parent is the head office object: {all(b.parent is head for b in head.children)}")
    assert shared
    assert loaded["accounts"][3] == state["accounts"][3]
    return info


def show_crash_safety_and_cli(store: amber.CheckpointStore, url: str) -> None:
    step("4. a crash between writing data and committing leaves nothing visible")
    (Path(url) / "data" / ("0" * 32 + ".seg")).write_bytes(b"half-written checkpoint")
    print(f"   committed checkpoints: {store.ids()} (the stray data file is ignored)")

    step("5. the operator CLI needs no application code: amber ls / verify / show / dump")
    for args in (["ls", url], ["verify", url], ["show", url, "1"]):
        print(f"   $ amber {' '.join(args)}")
        out = subprocess.run([sys.executable, "-m", "amber", *args], check=True, capture_output=True, text=True)
        print("\n".join("     " + line for line in out.stdout.splitlines()))
    dump = subprocess.run([sys.executable, "-m", "amber", "dump", url], check=True, capture_output=True, text=True)
    print(f"   $ amber dump {url} | head -n 8")
    print("\n".join("     " + line for line in dump.stdout.splitlines()[:8]))


def show_corruption(store: amber.CheckpointStore, url: str, first: amber.CheckpointInfo) -> None:
    step("6. a corrupted byte is caught, named, and nothing is lost")
    data_file = Path(url) / store.manifest().data
    blob = bytearray(data_file.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    data_file.write_bytes(bytes(blob))
    try:
        store.load()
    except amber.CorruptCheckpointError as e:
        print(f"   refused: {e}")
    print(f"   the previous checkpoint still loads: {len(store.load(first.id)['accounts'])} accounts")


def show_evolution(store: amber.CheckpointStore, url: str, first: amber.CheckpointInfo) -> None:
    step("7. the next release changes the schema; old checkpoints upgrade, and migrate, with an undo")
    print(f"   first, make a sound checkpoint the newest again: {commands.rollback(url, to=first.id)['target']}")
    upgraded = amber.open_store(url, registry=release2)
    print("   plan: " + "; ".join(upgraded.plan().describe()))
    migrated = commands.migrate(upgraded)
    print(f"   amber migrate: {migrated['source']} -> {migrated['target']} ({migrated['records']} records)")
    account = upgraded.load()["accounts"][3]
    print(f"   account 3 under release 2: balance_eur={account.balance_eur}, labels={account.labels}")
    print("   amber log: " + " | ".join(f"{e['action']} {e['outcome']}" for e in commands.log(url)))
    back = commands.rollback(url)
    newest = len(store.load()["accounts"])
    print(f"   amber rollback: {back['target']} restores {back['restored']}; release 1 reads it: {newest} accounts")


if __name__ == "__main__":
    main()
