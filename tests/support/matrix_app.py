"""The sample app of the migration matrix, as three releases declared it.

Releases 1 and 2 are frozen: their checkpoints are committed under tests/golden/matrix/ and
must keep loading into release 3 (the current code) through its steps and the rules. Add a
release by copying the newest registry, never by editing an old one.

- v1: bank.Customer(id, name), bank.Account(id, owner, balance: float, note)
- v2: Account.note renamed to memo (alias); Account.tags added with a default
- v3: Account.balance (float) becomes balance_cents (int) through a step; Customer gains email
"""

from __future__ import annotations

from typing import Annotated, Any

import amber

v1 = amber.Registry()
v2 = amber.Registry()
v3 = amber.Registry()


@v1.record("bank.Customer", version=1)
class CustomerV1(amber.Record):
    id: int
    name: str


@v1.record("bank.Account", version=1)
class AccountV1(amber.Record):
    id: int
    owner: CustomerV1
    balance: float
    note: str = ""


@v2.record("bank.Customer", version=1)
class CustomerV2(amber.Record):
    id: int
    name: str


@v2.record("bank.Account", version=2)
class AccountV2(amber.Record):
    id: int
    owner: CustomerV2
    balance: float
    memo: Annotated[str, amber.field(aliases=["note"])] = ""
    tags: list[str] = []


@v3.record("bank.Customer", version=2)
class Customer(amber.Record):
    id: int
    name: str
    email: str = ""


@v3.record("bank.Account", version=3)
class Account(amber.Record):
    id: int
    owner: Customer
    balance_cents: int
    memo: Annotated[str, amber.field(aliases=["note"])] = ""
    tags: list[str] = []


@v3.upgrade("bank.Account", 2)
def to_cents(fields: dict[str, Any]) -> dict[str, Any]:
    fields["balance_cents"] = round(fields.pop("balance") * 100)
    return fields


RELEASES = {1: v1, 2: v2}
TOTAL_CENTS = sum(round(i * 12.5 * 100) for i in range(30))


def state(release: int) -> dict[str, Any]:
    """The sample state, as each release builds it."""
    registry = RELEASES[release]
    customer_t, account_t = registry.current("bank.Customer"), registry.current("bank.Account")
    assert customer_t is not None and account_t is not None
    people = [customer_t.cls(i, f"customer {i}") for i in range(4)]
    if release == 1:
        accounts = [account_t.cls(i, people[i % 4], i * 12.5, f"note {i}") for i in range(30)]
    else:
        accounts = [account_t.cls(i, people[i % 4], i * 12.5, f"note {i}", ["vip"] * (i % 2)) for i in range(30)]
    return {"customers": people, "accounts": {a.id: a for a in accounts}}


def invariants(loaded: dict[str, Any]) -> None:
    """What must hold after any migration: the money, the owners, the notes."""
    accounts = loaded["accounts"]
    assert sum(a.balance_cents for a in accounts.values()) == TOTAL_CENTS
    assert all(a.owner is loaded["customers"][a.id % 4] for a in accounts.values())
    assert accounts[7].memo == "note 7"
    assert all(type(a) is Account for a in accounts.values())
