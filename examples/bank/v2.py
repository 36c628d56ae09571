"""Release 2: an account's ``owner`` is renamed ``holder`` and gains a ``currency``.

Neither change needs code to read release 1's checkpoints (an alias, a default). During the
rolling upgrade this release keeps writing ``bank.Account`` at version 1, which release 1
reads, until the pin is lifted (``service.py --pin bank.Account=1``, then ``/admin/unpin``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import amber

from .common import InDollars

registry = amber.Registry()


@registry.record("bank.Customer", version=1)
class Customer(amber.Record):
    id: int
    name: str
    email: str


@registry.record("bank.Account", version=1)
class AccountV1(amber.Record):
    """Release 1's declaration, kept while release 2 may write it (the write pin)."""

    id: int
    owner: Customer
    balance: float


@registry.record("bank.Account", version=2)
class Account(amber.Record):
    id: int
    holder: Annotated[Customer, amber.field(aliases=["owner"])]  # renamed: old data follows
    balance: float  # dollars
    currency: str = "USD"  # added: old data gets the default


@registry.record("bank.Transfer", version=1)
class Transfer(amber.Record):
    id: int
    source: int
    target: int
    amount: float
    at: dt.datetime


@registry.record("bank.Books", version=1)
class Books(amber.Record):
    total: float = 0.0


class Bank(InDollars):
    release = "v2"
    registry = registry
    types = (Customer, Account, Transfer, Books)

    def holder_of(self, account: Account) -> Any:
        return account.holder
