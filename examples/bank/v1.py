"""Release 1 of the bank: balances are floats, in dollars (the mistake release 3 fixes)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import amber

from .common import InDollars

registry = amber.Registry()


@registry.record("bank.Customer", version=1)
class Customer(amber.Record):
    id: int
    name: str
    email: str


@registry.record("bank.Account", version=1)
class Account(amber.Record):
    id: int
    owner: Customer  # shared: about ten accounts point at one customer
    balance: float  # dollars


@registry.record("bank.Transfer", version=1)
class Transfer(amber.Record):
    id: int
    source: int
    target: int
    amount: float  # dollars
    at: dt.datetime


@registry.record("bank.Books", version=1)
class Books(amber.Record):
    total: float = 0.0  # dollars deposited: what the balances must sum to


class Bank(InDollars):
    release = "v1"
    registry = registry
    types = (Customer, Account, Transfer, Books)

    def holder_of(self, account: Account) -> Any:
        return account.owner
