"""A sharded pool of durable Ray actors for the Ray tests (importable by Ray's workers)."""

from __future__ import annotations

from typing import Any

import amber
import amber.ray

KEY_GROUPS = 16


def accounts_class(pool: str, **options: Any) -> type:
    """Accounts keyed by name, sharded over the pool at ``pool``: ``deposit`` acknowledged."""

    @amber.ray.sharded(pool, tables=("balances",), key_groups=KEY_GROUPS, interval=None, **options)
    class Accounts:
        def __init__(self) -> None:
            self.balances: amber.Table[str, int] = amber.Table()

        @amber.ray.acknowledged
        def deposit(self, key: str, amount: int) -> int:
            self.balances[key] = self.balances.get(key, 0) + amount
            return self.balances[key]

        def balance(self, key: str) -> int:
            return int(self.balances.get(key, 0))

        def everything(self) -> dict[str, int]:
            return dict(self.balances)

    return Accounts
