"""A small bank service used by the manager tests: accounts and customers in amber.Tables,
a ledger whose total must equal the sum of balances, and an audit log file."""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

import amber

registry = amber.Registry()


@registry.record("bank.Customer", version=1)
class Customer(amber.Record):
    id: int
    name: str


@registry.record("bank.Account", version=1)
class Account(amber.Record):
    id: int
    owner: Customer
    balance: int


@registry.record("bank.Ledger", version=1)
class Ledger(amber.Record):
    total: int = 0
    transfers: int = 0


class Bank:
    """The service: its lock is the fence that ``prepare()`` takes and ``resume()`` releases."""

    def __init__(self, audit_path: Path | None = None) -> None:
        self.gate = threading.Lock()
        self.customers: amber.Table[int, Customer] = amber.Table()
        self.accounts: amber.Table[int, Account] = amber.Table()
        self.ledger = Ledger()
        self.audit_path = audit_path
        self.audit: Any = open(audit_path, "a") if audit_path else None  # noqa: SIM115
        self.participants: list[amber.Participant] = [Accounts(self), Books(self)]
        if audit_path:
            self.participants.append(Audit(self))

    def open_accounts(self, customers: int, accounts: int, balance: int = 100) -> None:
        with self.gate:
            people = {i: Customer(i, f"customer {i}") for i in range(customers)}
            self.customers.update(people)
            self.accounts.update({i: Account(i, people[i % customers], balance) for i in range(accounts)})
            self.ledger.total += balance * accounts

    def transfer(self, source: int, target: int, amount: int) -> None:
        with self.gate:
            a, b = self.accounts[source], self.accounts[target]
            a.balance -= amount
            b.balance += amount
            self.accounts.touch(source)
            self.accounts.touch(target)
            self.ledger.transfers += 1
            if self.audit is not None:
                self.audit.write(f"{source}->{target}:{amount}\n")

    def deposit(self, account: int, amount: int) -> None:
        with self.gate:
            self.accounts[account].balance += amount
            self.accounts.touch(account)
            self.ledger.total += amount

    def random_work(self, rng: random.Random, n: int) -> None:
        ids = list(self.accounts)
        for _ in range(n):
            self.transfer(rng.choice(ids), rng.choice(ids), rng.randint(1, 10))

    def balances(self) -> dict[int, int]:
        return {k: a.balance for k, a in self.accounts.items()}


class Accounts:
    name = "accounts"

    def __init__(self, bank: Bank) -> None:
        self.bank = bank

    def prepare(self) -> None:
        self.bank.gate.acquire()

    def resume(self) -> None:
        self.bank.gate.release()

    def snapshot(self) -> Any:
        return {"customers": self.bank.customers, "accounts": self.bank.accounts}

    def restore(self, state: Any) -> None:
        self.bank.customers = state["customers"]
        self.bank.accounts = state["accounts"]


class Books:
    name = "ledger"
    depends_on = ("accounts",)

    def __init__(self, bank: Bank) -> None:
        self.bank = bank

    def snapshot(self) -> Any:
        return self.bank.ledger

    def restore(self, state: Any) -> None:
        self.bank.ledger = state

    def invariants(self) -> list[amber.Violation]:
        total = sum(a.balance for a in self.bank.accounts.values())
        if total != self.bank.ledger.total:
            return [amber.Violation("balances sum to the ledger total", f"{total} != {self.bank.ledger.total}")]
        negative = tuple(k for k, a in self.bank.accounts.items() if a.owner is not self.bank.customers.get(a.owner.id))
        if negative:
            return [amber.Violation("every owner is a customer of the bank", "owner not shared", negative)]
        return []


class Audit:
    """An append-only log file: captured as a descriptor, reopened (and cut back) on restore."""

    name = "audit"

    def __init__(self, bank: Bank) -> None:
        self.bank = bank

    def snapshot(self) -> Any:
        return amber.OpenFile.of(self.bank.audit)

    def restore(self, state: amber.OpenFile) -> None:
        if self.bank.audit is not None:
            self.bank.audit.close()
        self.bank.audit = state.reopen(truncate=True)
