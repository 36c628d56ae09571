"""What every release of the bank shares: the business rules and the three participants.

Each release (``v1``, ``v2``, ``v3``) declares its record types and subclasses ``Bank`` with
the few methods that touch the fields its releases change (money, the account's holder), so
that a schema change touches a few lines, as in a real service.
"""

from __future__ import annotations

import collections
import datetime as dt
import random
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import amber

ACCOUNTS_PER_CUSTOMER = 10


class InsufficientFunds(Exception):
    """A transfer larger than the source's balance: refused, nothing changes."""


class Closed(Exception):
    """The bank has handed its state over to another instance: it takes no more transfers."""


class Bank:
    """Customers, accounts and a ledger of transfers, all in memory.

    Every change happens under ``gate``; the ledger participant takes it in ``prepare()``,
    so a checkpoint never sees half a transfer.
    """

    release: ClassVar[str]
    registry: ClassVar[amber.Registry]

    def __init__(self) -> None:
        self.gate = threading.Lock()
        self.customers: amber.Table[int, Any] = amber.Table()
        self.accounts: amber.Table[int, Any] = amber.Table()
        self.transfers: amber.Table[int, Any] = amber.Table()
        self.books: Any = self.new_books()
        self.closed = False
        self.participants: list[amber.Participant] = [Customers(self), Accounts(self), Ledger(self)]

    # --- what each release implements: the only code that knows the record types -------

    def new_customer(self, id: int, name: str, email: str) -> Any:
        raise NotImplementedError

    def new_account(self, id: int, holder: Any, cents: int) -> Any:
        raise NotImplementedError

    def new_transfer(self, id: int, source: int, target: int, cents: int, at: dt.datetime) -> Any:
        raise NotImplementedError

    def new_books(self) -> Any:
        raise NotImplementedError

    def balance_cents(self, account: Any) -> int:
        raise NotImplementedError

    def add_cents(self, account: Any, cents: int) -> None:
        raise NotImplementedError

    def transfer_cents(self, transfer: Any) -> int:
        raise NotImplementedError

    def total_cents(self) -> int:
        """The money the bank holds by its books."""
        raise NotImplementedError

    def add_to_total(self, cents: int) -> None:
        raise NotImplementedError

    def holder_of(self, account: Any) -> Any:
        raise NotImplementedError

    # --- the business ------------------------------------------------------------------

    def seed(self, accounts: int, seed: int = 7) -> None:
        """Open ``accounts`` accounts with random opening deposits (a fresh store only)."""
        rng = random.Random(seed)
        with self.gate:
            count = accounts // ACCOUNTS_PER_CUSTOMER + 1
            people = [self.new_customer(i, f"customer {i}", f"c{i}@example.com") for i in range(count)]
            self.customers.update({c.id: c for c in people})
            for i in range(accounts):
                cents = rng.randrange(10_000, 1_000_000)
                self.accounts[i] = self.new_account(i, people[i // ACCOUNTS_PER_CUSTOMER], cents)
                self.add_to_total(cents)

    def transfer(self, source: int, target: int, cents: int) -> int:
        """Move ``cents`` between two accounts; returns the transfer's id."""
        if cents <= 0 or source == target:
            raise ValueError("a transfer moves a positive amount between two accounts")
        with self.gate:
            if self.closed:
                raise Closed("this instance has handed over; send transfers to the new one")
            debit, credit = self.accounts[source], self.accounts[target]  # KeyError: no such account
            if self.balance_cents(debit) < cents:
                raise InsufficientFunds(f"account {source} holds less than {cents} cents")
            self.add_cents(debit, -cents)
            self.add_cents(credit, cents)
            self.accounts.touch(source)  # changed in place: the next delta must hold them
            self.accounts.touch(target)
            tid = len(self.transfers) + 1
            self.transfers[tid] = self.new_transfer(tid, source, target, cents, dt.datetime.now(dt.UTC))
            return tid

    def close(self) -> None:
        """Refuse transfers from now on (a transfer under way finishes first)."""
        with self.gate:
            self.closed = True

    def last_transfer(self) -> int:
        return len(self.transfers)

    def account_view(self, id: int) -> dict[str, Any]:
        with self.gate:
            account = self.accounts[id]
            return {"id": id, "holder": self.holder_of(account).name, "balance_cents": self.balance_cents(account)}

    def missing_transfers(self, acknowledged: list[list[int]]) -> list[int]:
        """Of ``[id, source, target, cents]`` rows, the ids this bank does not hold as given."""
        with self.gate:
            return [row[0] for row in acknowledged if not self._holds(*row)]

    def _holds(self, tid: int, source: int, target: int, cents: int) -> bool:
        transfer = self.transfers.get(tid)
        return (
            transfer is not None
            and (transfer.source, transfer.target) == (source, target)
            and self.transfer_cents(transfer) == cents
        )

    def totals(self) -> dict[str, int]:
        with self.gate:
            return {
                "accounts": len(self.accounts),
                "customers": len(self.customers),
                "transfers": len(self.transfers),
                "balances_cents": sum(self.balance_cents(a) for a in self.accounts.values()),
                "books_cents": self.total_cents(),
            }

    def shape(self) -> dict[str, dict[str, int]]:
        """How many records of each type this bank holds, by version (``{"bank.Account":
        {"2": 20000}, ...}``): which release's shape its state is in."""
        counts: dict[str, dict[str, int]] = {}
        with self.gate:
            records = [*self.customers.values(), *self.accounts.values(), *self.transfers.values(), self.books]
        for kind, number in collections.Counter(map(type, records)).items():
            declared = self.registry.type_of(kind)
            name, version = (declared.name, str(declared.version)) if declared else (kind.__qualname__, "?")
            counts.setdefault(name, {})[version] = counts.get(name, {}).get(version, 0) + number
        return counts

    def violations(self) -> Iterator[amber.Violation]:
        """The invariants, checked before every checkpoint commits and every restore serves."""
        balances = sum(self.balance_cents(a) for a in self.accounts.values())
        if balances != self.total_cents():
            yield amber.Violation("balances sum to the ledger total", f"{balances} != {self.total_cents()} cents")
        overdrawn = tuple(k for k, a in self.accounts.items() if self.balance_cents(a) < 0)
        if overdrawn:
            yield amber.Violation("no account is overdrawn", f"{len(overdrawn)} accounts", overdrawn[:20])
        if sorted(self.transfers) != list(range(1, len(self.transfers) + 1)):
            yield amber.Violation("transfer ids run 1..n without gaps", f"{len(self.transfers)} transfers")
        strangers = tuple(k for k, a in self.accounts.items() if self.customers.get(self.holder_of(a).id) is None)
        if strangers:
            yield amber.Violation("every holder is a customer", f"{len(strangers)} accounts", strangers[:20])


class InDollars(Bank):
    """Money as releases 1 and 2 keep it: float dollars, rounded to the cent at each change.
    Their record types (customer, account, transfer, books) differ only by release."""

    types: ClassVar[tuple[type, type, type, type]]

    def new_customer(self, id: int, name: str, email: str) -> Any:
        return self.types[0](id, name, email)

    def new_account(self, id: int, holder: Any, cents: int) -> Any:
        return self.types[1](id, holder, cents / 100)

    def new_transfer(self, id: int, source: int, target: int, cents: int, at: dt.datetime) -> Any:
        return self.types[2](id, source, target, cents / 100, at)

    def new_books(self) -> Any:
        return self.types[3]()

    def balance_cents(self, account: Any) -> int:
        return round(float(account.balance) * 100)

    def add_cents(self, account: Any, cents: int) -> None:
        account.balance = round(account.balance + cents / 100, 2)

    def transfer_cents(self, transfer: Any) -> int:
        return round(float(transfer.amount) * 100)

    def total_cents(self) -> int:
        return round(float(self.books.total) * 100)

    def add_to_total(self, cents: int) -> None:
        self.books.total = round(self.books.total + cents / 100, 2)


class Customers:
    name = "customers"

    def __init__(self, bank: Bank) -> None:
        self.bank = bank

    def snapshot(self) -> Any:
        return self.bank.customers

    def restore(self, state: Any) -> None:
        self.bank.customers = state


class Accounts:
    """Accounts point at their holder: the same Customer object the customers table holds."""

    name = "accounts"
    depends_on = ("customers",)

    def __init__(self, bank: Bank) -> None:
        self.bank = bank

    def snapshot(self) -> Any:
        return self.bank.accounts

    def restore(self, state: Any) -> None:
        self.bank.accounts = state


class Ledger:
    """The transfers and the books. Its ``prepare()`` fences the bank for the pause and notes
    the newest transfer the checkpoint will hold: once it commits, that transfer and every
    one before it are durable (see ``service.Durability``)."""

    name = "ledger"
    depends_on = ("accounts",)

    def __init__(self, bank: Bank) -> None:
        self.bank = bank
        self.captured = 0  # the newest transfer in the checkpoint being taken

    def prepare(self) -> None:
        self.bank.gate.acquire()
        self.captured = self.bank.last_transfer()

    def resume(self) -> None:
        self.bank.gate.release()

    def snapshot(self) -> Any:
        return {"transfers": self.bank.transfers, "books": self.bank.books}

    def restore(self, state: Any) -> None:
        self.bank.transfers, self.bank.books = state["transfers"], state["books"]
        self.captured = self.bank.last_transfer()

    def invariants(self) -> Iterator[amber.Violation]:
        return self.bank.violations()
