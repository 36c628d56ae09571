"""Issue 19 hostile review 2: An adapter's to_value is trusted to return the adapted class: a form returned as is
loads into a Money-typed field silently; a value of another shape makes the load raise a
bare AttributeError (untyped: a manager restore treats it as bad data and quarantines the
checkpoint); from_value raising at save escapes as the user's own exception."""

import contextlib
from pathlib import Path
from typing import Any

import pytest

import amber


class Money:  # noqa: PLW1641 - a value class compared by value and never hashed here
    def __init__(self, amount: int, currency: str) -> None:
        self.amount, self.currency = amount, currency

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and (other.amount, other.currency) == (self.amount, self.currency)


def registry(to_value: Any = None, from_value: Any = None) -> tuple[amber.Registry, Any]:
    reg = amber.Registry()

    @reg.adapter(Money, "r20.Money", version=1)
    class MoneyForm(amber.Record):
        amount: int
        currency: str

        @classmethod
        def from_value(cls, m: Any) -> Any:
            return from_value(cls, m) if from_value else cls(m.amount, m.currency)

        def to_value(self) -> Any:
            return to_value(self) if to_value else Money(self.amount, self.currency)

    @reg.record("r20.Order", version=1)
    class Order(amber.Record):
        total: Money

    return reg, Order


def test_to_value_returning_the_form_itself_is_refused() -> None:
    reg, Order = registry(to_value=lambda form: form)  # forgot to convert
    store = amber.open_store("memory://", registry=reg)
    with pytest.raises(amber.SerializationError, match="to_value\\(\\) gave a .*MoneyForm, not a Money"):
        store.save([Order(Money(1, "EUR"))])  # refused at save: it would load holding the form


def test_to_value_returning_another_shape_is_a_typed_error() -> None:
    reg, Order = registry(to_value=lambda form: (form.amount, form.currency))
    store = amber.open_store("memory://", registry=reg)
    with pytest.raises(amber.SerializationError, match="to_value\\(\\) gave a tuple"):  # was a raw AttributeError
        store.save([Order(Money(1, "EUR"))])


def test_a_to_value_bug_is_not_blamed_on_the_checkpoint(tmp_path: Path) -> None:
    good, Order = registry()

    class P:
        name = "p"
        state = None

        def snapshot(self) -> Any:
            return self.state

        def restore(self, s: Any) -> None:
            self.state = s

    p = P()
    m = amber.Manager(amber.open_store(tmp_path, registry=good), [p])
    m.restore()
    p.state = []
    m.checkpoint()  # 1: no money yet
    p.state = [Order(Money(1, "JPY"))]
    m.checkpoint()  # 2: the newest state
    m.close(final=False)
    # the next release's adapter has a bug for one currency (the code's fault, not the data's)
    buggy, _ = registry(
        to_value=lambda f: (f.amount, f.currency) if f.currency == "JPY" else Money(f.amount, f.currency)
    )
    q = P()
    m2 = amber.Manager(amber.open_store(tmp_path, registry=buggy), [q])
    with contextlib.suppress(amber.AmberError):  # stopping is right (as for RecordRejectedError / MigrationError)
        m2.restore()
    assert q.state != [], "service started on checkpoint 1: the newest state was quarantined for a code bug"
    assert amber.open_store(tmp_path, registry=good).quarantined() == {}


def test_from_value_raising_at_save_is_a_serialization_error() -> None:
    def broken(cls: Any, m: Any) -> Any:
        raise ZeroDivisionError("adapter bug")

    reg, Order = registry(from_value=broken)
    with pytest.raises(amber.SerializationError):  # observed: the bare ZeroDivisionError, no field named
        amber.open_store("memory://", registry=reg).save([Order(Money(1, "EUR"))])
