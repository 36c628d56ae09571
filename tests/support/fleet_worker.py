"""One worker of a test fleet, run as its own process by tests/fleet/test_fleet.py.

    python -m tests.support.fleet_worker URL WORKER WORKERS FIRST LAST [--die-at EPOCH --die-in data|vote]

It joins the fleet, restores its keys, then for each epoch sets every key it owns to the
epoch number and checkpoints; it prints one JSON line per epoch. With ``--die-at`` it kills
itself with SIGKILL at that epoch: in the middle of writing its shard's data file (``data``),
or with its shard committed but before its vote (``vote``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import amber

registry = amber.Registry()
KEYS = 600
KEY_GROUPS = 32


@registry.record("fleet.Item", version=1)
class Item(amber.Record):
    key: int
    epoch: int
    payload: str


def _die_while_writing(put: Any) -> Any:
    def put_then_die(key: str, chunks: Iterable[bytes], **options: Any) -> int:
        if not key.startswith("data/"):
            return int(put(key, chunks, **options))

        def first_chunk_only() -> Iterator[bytes]:
            yield next(iter(chunks))
            os.kill(os.getpid(), signal.SIGKILL)  # mid-upload

        return int(put(key, first_chunk_only(), **options))

    return put_then_die


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("url", "worker", "workers", "first", "last"):
        parser.add_argument(name)
    parser.add_argument("--die-at", type=int, default=0)
    parser.add_argument("--die-in", choices=["data", "vote"], default="data")
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args()
    fleet = amber.open_fleet(args.url, key_groups=KEY_GROUPS, registry=registry, fsync=False)
    me = fleet.join(int(args.worker), int(args.workers), lease_seconds=2.0, wait=20)
    tables = me.restore()
    items = tables.setdefault("items", amber.Table())
    print(json.dumps({"restored": me.epoch, "keys": sorted(items)}), flush=True)
    for epoch in range(int(args.first), int(args.last) + 1):
        for key in range(KEYS):
            if me.owns(key):
                items[key] = Item(key, epoch, "x" * (key % 50))
        if epoch == args.die_at and args.die_in == "data":
            me.store.storage.put = _die_while_writing(me.store.storage.put)  # type: ignore[method-assign]
        if epoch == args.die_at and args.die_in == "vote":
            me.ballot.vote = lambda *_: os.kill(os.getpid(), signal.SIGKILL)  # type: ignore[method-assign,assignment]
        try:
            done = me.checkpoint(tables, epoch=epoch, timeout=args.timeout)
        except amber.FleetCheckpointAbortedError as e:
            print(json.dumps({"epoch": epoch, "outcome": "abort", "missing": list(e.missing)}), flush=True)
            sys.exit(0)
        print(json.dumps({"epoch": epoch, "outcome": "commit", "kind": done.kind}), flush=True)
    me.leave()


if __name__ == "__main__":
    main()
