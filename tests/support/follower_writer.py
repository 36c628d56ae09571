"""A writer the follower tests SIGKILL under load: ``python -m tests.support.follower_writer STORE [LEASE]``.

A bank service transfers money between its accounts without pause and checkpoints after
every few transfers (a delta each), printing ``ACK <checkpoint> <balances as JSON>`` once
each is committed: what it acknowledged. It runs until killed, or until its lease is taken
over: then its checkpoint aborts (its cause a ``FencedError``), and it prints
``FENCED <that error>`` and exits with status 3. With ``LEASE`` (seconds; an object store),
it takes the store's lease for that long itself, before its manager starts.
"""

from __future__ import annotations

import json
import random
import sys

import amber
from tests.support.bank_service import Bank, registry

FENCED_STATUS = 3


def main() -> None:
    bank = Bank()
    store = amber.open_store(sys.argv[1], registry=registry)
    if len(sys.argv) > 2:  # else the manager takes it, for 30 s
        store.acquire_lease(seconds=float(sys.argv[2]))
    manager = amber.Manager(store, bank.participants, max_delta_ratio=100.0)
    manager.restore()
    if not bank.accounts:
        bank.open_accounts(10, 200)
    rng = random.Random(7)
    while True:
        for _ in range(rng.randrange(1, 20)):
            bank.transfer(rng.randrange(200), rng.randrange(200), rng.randrange(1, 50))
        try:
            info = manager.checkpoint().info
        except amber.CheckpointAbortedError as e:
            if not isinstance(e.__cause__, amber.FencedError):
                raise
            print("FENCED", e.__cause__, flush=True)  # a successor holds the store: stop
            sys.exit(FENCED_STATUS)
        balances = {k: a.balance for k, a in bank.accounts.items()}
        print("ACK", info.id, json.dumps(balances), flush=True)


if __name__ == "__main__":
    main()
