"""A writer the follower tests SIGKILL under load: ``python -m tests.support.follower_writer STORE``.

A bank service transfers money between its accounts without pause and checkpoints after
every few transfers (a delta each), printing ``ACK <checkpoint> <balances as JSON>`` once
each is committed: what it acknowledged. It runs until killed.
"""

from __future__ import annotations

import json
import random
import sys

import amber
from tests.support.bank_service import Bank, registry


def main() -> None:
    bank = Bank()
    manager = amber.Manager(amber.open_store(sys.argv[1], registry=registry), bank.participants, max_delta_ratio=100.0)
    manager.restore()
    if not bank.accounts:
        bank.open_accounts(10, 200)
    rng = random.Random(7)
    while True:
        for _ in range(rng.randrange(1, 20)):
            bank.transfer(rng.randrange(200), rng.randrange(200), rng.randrange(1, 50))
        info = manager.checkpoint().info
        balances = {k: a.balance for k, a in bank.accounts.items()}
        print("ACK", info.id, json.dumps(balances), flush=True)


if __name__ == "__main__":
    main()
