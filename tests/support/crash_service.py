"""A bank service run as a real process by the crash tests:
``python -m tests.support.crash_service STORE CAPTURE SEED``.

It restores, then works and checkpoints in a loop, printing before each checkpoint the
digest of the state it is about to capture (``WILL``) and after it the committed id
(``ACK``). The test kills it with SIGKILL at a random moment and checks the store.
"""

from __future__ import annotations

import hashlib
import random
import sys

import amber
from tests.support.bank_service import Bank, registry


def digest(bank: Bank) -> str:
    text = repr(sorted(bank.balances().items())) + repr((bank.ledger.total, bank.ledger.transfers))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def serve_until_sigterm(path: str) -> None:
    """``with manager:`` around a service loop: SIGTERM must end in a final checkpoint."""
    store = amber.open_store(path, registry=registry)
    bank = Bank()
    rng = random.Random(0)
    try:
        with amber.Manager(store, bank.participants, interval=0.2):
            bank.open_accounts(10, 500)
            print("READY", flush=True)
            while True:
                bank.random_work(rng, 10)
    finally:
        print(f"FINAL {digest(bank)}", flush=True)


def main() -> None:
    if sys.argv[2] == "sigterm":
        serve_until_sigterm(sys.argv[1])
        return
    path, capture, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = amber.open_store(path, registry=registry)
    bank = Bank()
    manager = amber.Manager(store, bank.participants, capture=capture, max_chain=4, max_delta_ratio=10.0)  # type: ignore[arg-type]
    report = manager.restore()
    print(f"RESTORED {report.checkpoint} {digest(bank)}", flush=True)
    if report.checkpoint is None:
        bank.open_accounts(50, 3000)
    rng = random.Random(seed)
    while True:
        bank.random_work(rng, rng.randint(1, 200))
        print(f"WILL {digest(bank)}", flush=True)
        info = manager.checkpoint(full=rng.random() < 0.2).info
        print(f"ACK {info.id}", flush=True)


if __name__ == "__main__":
    main()
