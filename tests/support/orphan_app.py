"""A service whose forked checkpoint child outlives it: ``python -m tests.support.orphan_app STORE ROLE``.

``seed`` commits a full checkpoint of 300 KB of rows; ``a`` starts a slow full checkpoint
(a write rate of 100 KB/s) and says when it is committing, for the test to SIGKILL it there;
``b`` restores, commits a change of its own, and says which checkpoint it restored;
``hang`` starts a checkpoint whose invariants hang in the forked child, and says when it is
validating, for the test to SIGKILL it there.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

import amber

registry = amber.Registry()


@registry.record("orphan.Row", version=1)
class Row(amber.Record):
    id: int
    blob: str


class Rows:
    name = "rows"

    def __init__(self) -> None:
        self.rows: amber.Table[int, Row] = amber.Table()
        self.writer = ""

    def snapshot(self) -> Any:
        return {"rows": self.rows, "writer": self.writer}

    def restore(self, state: Any) -> None:
        self.rows, self.writer = state["rows"], state["writer"]

    def invariants(self) -> list[str]:
        if self.writer == "hang" and os.getpid() != SERVICE:  # in the checkpoint's child only
            time.sleep(120)  # a lock no thread will release, say
        return []


SERVICE = os.getpid()


def main(path: str, role: str) -> None:
    rows = Rows()
    manager = amber.Manager(amber.open_store(path, registry=registry), [rows], capture="fork", lock_wait=60)
    restored = manager.restore().checkpoint
    if role == "seed":
        rows.rows.update({i: Row(i, os.urandom(150).hex()) for i in range(1000)})
        manager.checkpoint(full=True)
    elif role in ("a", "hang"):
        rows.writer, manager.write_rate = role, 100_000
        threading.Thread(target=manager.checkpoint, kwargs={"full": True}, daemon=True).start()
        while manager.phase != ("committing" if role == "a" else "validating"):
            time.sleep(0.001)
        print(json.dumps({"phase": manager.phase}), flush=True)
        time.sleep(60)  # killed here
    else:
        rows.writer = "b"
        print(json.dumps({"restored": restored, "committed": manager.checkpoint().info.id}), flush=True)
    manager.close(final=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
