"""Version 2 of the sample bank (tests/support/sample.py), as the next release of an app declares it.

Used by the migration tests through ``--app tests.support.migration_app:registry``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import amber

registry = amber.Registry()


@registry.record("bank.Customer", version=1)
class Customer(amber.Record):
    id: int
    name: str


@registry.record("bank.Account", version=2)
class Account(amber.Record):
    id: int
    owner: Customer
    balance_cents: int
    tags: list[str] = []
    opened: float = 0.0


@registry.record("bank.Branch", version=1)
class Branch(amber.Record):
    name: str
    parent: Branch | None = None
    children: list[Branch] = []
    manager: Customer | None = None


@registry.upgrade("bank.Account", 1)
def to_cents(fields: dict[str, Any]) -> dict[str, Any]:
    if os.environ.get("AMBER_TEST_SLOW_STEP"):  # lets crash tests kill a migration mid-way
        time.sleep(float(os.environ["AMBER_TEST_SLOW_STEP"]))
    fields["balance_cents"] = fields.pop("balance") * 100
    return fields
