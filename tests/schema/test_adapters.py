"""Adapters (issue 19): a class the application does not own, persisted through a form
class it declares with ``@amber.adapter``; versioned and evolving like a record, shown by
the inspect commands, checked by ``schema check``, and refused when it does not give back
exactly what it stored."""

from __future__ import annotations

import decimal
from pathlib import Path
from typing import Any

import pytest

import amber
from amber import commands
from amber._evolution import _lockfile
from tests.support.helpers import memory_opener


class Money:
    """A third-party value class: not a dataclass, no annotations Amber could read."""

    def __init__(self, amount: decimal.Decimal, currency: str) -> None:
        self.amount, self.currency = amount, currency

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and (other.amount, other.currency) == (self.amount, self.currency)

    def __hash__(self) -> int:
        return hash((self.amount, self.currency))


reg = amber.Registry()


@reg.adapter(Money, "shop.Money", version=1)
class MoneyForm(amber.Record):
    amount: decimal.Decimal
    currency: str

    @classmethod
    def from_value(cls, money: Money) -> MoneyForm:
        return cls(money.amount, money.currency)

    def to_value(self) -> Money:
        return Money(self.amount, self.currency)


@reg.record("shop.Order", version=1)
class Order(amber.Record):
    total: Money
    lines: list[Money] = []
    seen: set[Money] = set()
    note: Any = None


EUR = Money(decimal.Decimal("9.99"), "EUR")


def test_adapted_values_round_trip_shared_in_fields_containers_sets_and_any() -> None:
    store = amber.open_store("memory://", registry=reg)
    store.save([Order(EUR, [EUR, Money(decimal.Decimal(1), "USD")], {EUR}, note=EUR)])
    (order,) = store.load()
    assert type(order.total) is Money and order.total == EUR
    assert order.total is order.lines[0] is order.note, "one value, shared as written"
    assert order.seen == {EUR}


def test_the_inspect_commands_show_the_adapter_by_its_form() -> None:
    store = amber.open_store("memory://", registry=reg)
    store.save([Order(EUR)])
    dumped = commands.dump_changes(store)
    assert dumped["types"]["shop.Money"]["fields"] == {"amount": "decimal", "currency": "str"}
    assert dumped["records"]["shop.Money"][0]["currency"] == "EUR"


def test_a_lossy_adapter_is_refused_at_save_not_trusted() -> None:
    lossy = amber.Registry()

    @lossy.adapter(Money, "shop.Money", version=1)
    class Rounded(amber.Record):
        amount: decimal.Decimal
        currency: str

        @classmethod
        def from_value(cls, money: Money) -> Rounded:
            return cls(money.amount, money.currency)

        def to_value(self) -> Money:
            return Money(round(self.amount, 1), self.currency)  # drops a digit: not what was stored

    store = amber.open_store("memory://", registry=lossy)
    with pytest.raises(amber.SerializationError, match="amount: stored '9.99', but the class's own code made it"):
        store.save([EUR])  # found at save: never a checkpoint that loads another value


def test_a_new_form_version_reads_old_checkpoints_through_an_upgrade_step() -> None:
    old, new = amber.Registry(), amber.Registry()
    old.adapter(Money, "shop.Money", version=1)(MoneyForm)

    @new.adapter(Money, "shop.Money", version=2)
    class MoneyV2(amber.Record):
        cents: int
        currency: str

        @classmethod
        def from_value(cls, money: Money) -> MoneyV2:
            return cls(int(money.amount * 100), money.currency)

        def to_value(self) -> Money:
            return Money(decimal.Decimal(self.cents) / 100, self.currency)

    @new.upgrade("shop.Money", 1)
    def to_cents(fields: dict[str, Any]) -> dict[str, Any]:
        return {"cents": int(fields["amount"] * 100), "currency": fields["currency"]}

    opened = memory_opener()
    opened(registry=old).save([EUR])
    assert opened(registry=new).load() == [EUR]


def test_schema_check_locks_and_judges_the_adapter_like_a_record(tmp_path: Path) -> None:
    lock = _lockfile.build_lock(reg, None)
    assert "shop.Money" in lock.types
    changed = amber.Registry()

    @changed.adapter(Money, "shop.Money", version=1)
    class Changed(amber.Record):
        amount: str  # changed in place: the lock says it must be a new version
        currency: str

        @classmethod
        def from_value(cls, money: Money) -> Changed:
            return cls(str(money.amount), money.currency)

        def to_value(self) -> Money:
            return Money(decimal.Decimal(self.amount), self.currency)

    findings = _lockfile.check(changed, lock)
    assert any("shop.Money" in str(f) for f in findings)


@pytest.mark.parametrize(
    ("value_class", "said"),
    [(int, "is stored as it is"), (Order, "is stored as it is"), (len, "adapt a class")],
)
def test_what_cannot_be_adapted_is_refused_at_declaration(value_class: Any, said: str) -> None:
    with pytest.raises(amber.SchemaError, match=said):
        amber.Registry().adapter(value_class, "x.Bad", version=1)(MoneyForm)


def test_a_form_without_its_two_functions_is_refused() -> None:
    class NoWay(amber.Record):
        x: int

    with pytest.raises(amber.SchemaError, match="needs a classmethod from_value"):
        amber.Registry().adapter(Money, "x.NoWay", version=1)(NoWay)


def test_a_class_adapted_twice_is_refused() -> None:
    twice = amber.Registry()
    twice.adapter(Money, "shop.Money", version=1)(MoneyForm)
    with pytest.raises(amber.SchemaError, match="Money is already declared"):
        twice.adapter(Money, "shop.Cash", version=1)(MoneyForm)


def test_an_adapted_value_in_a_table_is_replaced_not_changed_in_place_by_a_delta(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path, registry=reg)
    prices: amber.Table[str, Money] = amber.Table({"a": EUR, "b": Money(decimal.Decimal(2), "USD")})
    first = store.save({"prices": prices})
    prices["a"] = Money(decimal.Decimal("10.00"), "EUR")
    store.save({"prices": prices}, parent=first.id)
    loaded = store.load()["prices"]
    assert dict(loaded) == dict(prices) and store.manifest().parent == first.id
