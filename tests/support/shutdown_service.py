"""A service that gets SIGTERM in the middle of an on-demand checkpoint, run as a real process
by the report tests: ``python -m tests.support.shutdown_service STORE``.

Its participant's first ``snapshot()`` says ``CAPTURING`` and then takes its time, so the test's
SIGTERM lands while the checkpoint captures; ``with manager:`` then takes the final checkpoint.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import amber


class SlowFirstSnapshot:
    name = "slow"

    def __init__(self) -> None:
        self.table: amber.Table[str, int] = amber.Table()
        self.snapshots = 0

    def snapshot(self) -> Any:
        self.snapshots += 1
        if self.snapshots == 1:
            print("CAPTURING", flush=True)
            time.sleep(30)  # on the manager's helper thread: the SIGTERM comes meanwhile
        return {"table": self.table}

    def restore(self, state: Any) -> None:
        self.table = state["table"]


def main() -> None:
    service = SlowFirstSnapshot()
    with amber.Manager(amber.open_store(sys.argv[1]), [service]) as manager:
        service.table["a"] = 1
        manager.checkpoint()
    print("UNREACHABLE: the checkpoint should have been cut short", flush=True)


if __name__ == "__main__":
    main()
