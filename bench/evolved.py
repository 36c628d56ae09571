"""Later versions of the standard workload's types, for the evolution benchmark.

``rules``: bank.Account v2 differs from v1 only in ways the rules resolve without code
(a field renamed with an alias, an int widened to float, a field removed, one added).
``steps``: bank.Account v3, reached from v1 through two upgrade steps.
"""

from __future__ import annotations

from typing import Annotated, Any

import amber

rules = amber.Registry()
steps = amber.Registry()


@rules.record("bank.Customer", version=1)
class Customer(amber.Record):
    id: int
    name: str


@rules.record("bank.Account", version=2)
class AccountV2(amber.Record):
    id: int
    owner: Customer
    balance: float  # was int: widened
    labels: Annotated[list[str], amber.field(aliases=["tags"])]  # renamed
    frozen: bool = False  # added with a default; "updated" removed


@steps.record("bank.Customer", version=1)
class CustomerS(amber.Record):
    id: int
    name: str


@steps.record("bank.Account", version=3)
class AccountV3(amber.Record):
    id: int
    owner: CustomerS
    balance_cents: int
    tags: list[str]
    updated: float
    vip: bool


@steps.upgrade("bank.Account", 1)
def to_cents(fields: dict[str, Any]) -> dict[str, Any]:
    fields["balance_cents"] = fields.pop("balance") * 100
    return fields


@steps.upgrade("bank.Account", 2)
def mark_vip(fields: dict[str, Any]) -> dict[str, Any]:
    fields["vip"] = "vip" in fields["tags"]
    return fields
