"""Release 3: money in integer cents, and a customer's contact details split into their own type.

These changes need code, run by ``amber migrate --app examples.bank.v3`` while the service
is stopped: per-type upgrade steps for the cents, a checkpoint step for the split.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import amber

from .common import Bank as _Bank

registry = amber.Registry()


@registry.record("bank.Contact", version=1)
class Contact(amber.Record):
    email: str
    phone: str = ""


@registry.record("bank.Customer", version=2)
class Customer(amber.Record):
    id: int
    name: str
    contact: Contact  # was an email field on the customer


@registry.record("bank.Account", version=3)
class Account(amber.Record):
    id: int
    holder: Annotated[Customer, amber.field(aliases=["owner"])]
    balance_cents: int
    currency: str = "USD"


@registry.record("bank.Transfer", version=2)
class Transfer(amber.Record):
    id: int
    source: int
    target: int
    amount_cents: int
    at: dt.datetime


@registry.record("bank.Books", version=2)
class Books(amber.Record):
    total_cents: int = 0


def _cents(fields: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    fields[new] = round(fields.pop(old) * 100)
    return fields


@registry.upgrade("bank.Account", 2)
def account_in_cents(fields: dict[str, Any]) -> dict[str, Any]:
    return _cents(fields, "balance", "balance_cents")


@registry.upgrade("bank.Transfer", 1)
def transfer_in_cents(fields: dict[str, Any]) -> dict[str, Any]:
    return _cents(fields, "amount", "amount_cents")


@registry.upgrade("bank.Books", 1)
def books_in_cents(fields: dict[str, Any]) -> dict[str, Any]:
    return _cents(fields, "total", "total_cents")


@registry.checkpoint_upgrade(requires={"bank.Customer": 1}, produces={"bank.Customer": 2, "bank.Contact": 1})
def split_contact(tables: amber.Tables) -> None:
    for customer in tables["bank.Customer"]:
        customer["contact"] = tables.add("bank.Contact", {"email": customer.pop("email")})


class Bank(_Bank):
    release = "v3"
    registry = registry

    def new_customer(self, id: int, name: str, email: str) -> Customer:
        return Customer(id, name, Contact(email))

    def new_account(self, id: int, holder: Customer, cents: int) -> Account:
        return Account(id, holder, cents)

    def new_transfer(self, id: int, source: int, target: int, cents: int, at: dt.datetime) -> Transfer:
        return Transfer(id, source, target, cents, at)

    def new_books(self) -> Books:
        return Books()

    def balance_cents(self, account: Account) -> int:
        return account.balance_cents

    def add_cents(self, account: Account, cents: int) -> None:
        account.balance_cents += cents

    def transfer_cents(self, transfer: Transfer) -> int:
        return transfer.amount_cents

    def total_cents(self) -> int:
        return int(self.books.total_cents)

    def add_to_total(self, cents: int) -> None:
        self.books.total_cents += cents

    def holder_of(self, account: Account) -> Any:
        return account.holder
