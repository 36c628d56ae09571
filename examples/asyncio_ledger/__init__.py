"""An asyncio service whose state an event loop changes, checkpointed under load.

Fifty coroutines move money between accounts held in an ``amber.Table``; each transfer
changes two accounts within one step of the loop (no ``await`` in between), so the books
balance at every step boundary. ``amber.LoopFence`` parks the loop while a checkpoint takes
the state, from the periodic thread, from ``await manager.acheckpoint()``, and from a plain
``manager.checkpoint()`` called on the loop itself. Every checkpoint checks the invariant.

    python -m examples.asyncio_ledger STORE [--capture inline|fork] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import random
from typing import Any

import amber

registry = amber.Registry()


@registry.record("ledger.Account", version=1)
class Account(amber.Record):
    id: int
    cents: int


TOTAL = 1_000 * 10_000


class Ledger(amber.LoopFence):
    """The participant: its state is the accounts table; the fence is the loop's."""

    name = "ledger"

    def __init__(self, accounts: int = 1_000) -> None:
        super().__init__()
        self.accounts: amber.Table[int, Account] = amber.Table(
            (i, Account(i, TOTAL // accounts)) for i in range(accounts)
        )
        self.transfers = 0

    def transfer(self, a: int, b: int, cents: int) -> None:  # one step of the loop: atomic
        if a != b and self.accounts[a].cents >= cents:
            self.accounts[a] = Account(a, self.accounts[a].cents - cents)
            self.accounts[b] = Account(b, self.accounts[b].cents + cents)
            self.transfers += 1

    def snapshot(self) -> Any:
        return {"accounts": self.accounts, "transfers": self.transfers}

    def restore(self, state: Any) -> None:
        self.accounts, self.transfers = state["accounts"], state["transfers"]

    def invariants(self) -> list[str]:
        total = sum(a.cents for a in self.accounts.values())
        return [] if total == TOTAL else [f"the books hold {total} cents, not {TOTAL}"]


async def client(ledger: Ledger, stop: asyncio.Event, seed: int) -> None:
    rng = random.Random(seed)
    n = len(ledger.accounts)
    while not stop.is_set():
        ledger.transfer(rng.randrange(n), rng.randrange(n), rng.randrange(1, 500))
        await asyncio.sleep(0.002)  # a step boundary (and a request's I/O): where checkpoints may see the state


async def serve(store_url: str, capture: str, seconds: float) -> dict[str, int]:
    ledger = Ledger()
    committed = aborted = 0

    def count(event: amber.events.Event) -> None:
        nonlocal committed, aborted
        committed += isinstance(event, amber.events.CheckpointCommitted)
        aborted += isinstance(event, amber.events.CheckpointAborted)

    store = amber.open_store(store_url, registry=registry)
    manager = amber.Manager(store, [ledger], interval=0.05, capture=capture, listeners=[count])  # type: ignore[arg-type]
    async with manager:
        stop = asyncio.Event()
        clients = [asyncio.create_task(client(ledger, stop, seed)) for seed in range(50)]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            await manager.acheckpoint()  # on a worker thread: the fence parks the loop
            manager.checkpoint()  # on the loop itself: parked already
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*clients)
    return {"transfers": ledger.transfers, "committed": committed, "aborted": aborted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--capture", choices=["inline", "fork"], default="inline")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(asyncio.run(serve(args.store, args.capture, args.seconds)))
