"""Dataclass variants as persisted types (issue 19): frozen, slotted, keyword-only,
``field(default_factory=...)``; an ``InitVar`` is refused at declaration."""

from __future__ import annotations

import dataclasses
from dataclasses import InitVar, dataclass, field
from typing import Any

import pytest

import amber
from tests.support.helpers import memory_opener

reg = amber.Registry()


@reg.record("dc.Tag", version=1)
@dataclass(frozen=True)
class Tag:
    name: str
    weight: int = 1


@reg.record("dc.Slotted", version=1)
@dataclass(slots=True)
class Slotted:
    id: int
    tags: list[Tag] = field(default_factory=list)


@reg.record("dc.Options", version=1)
@dataclass(kw_only=True)
class Options:
    retries: int = 3
    name: str  # required after a default: only keyword-only dataclasses allow it


@reg.record("dc.Node", version=1)
@dataclass(eq=False)
class Node:
    name: str
    next: Node | None = None


def saved_and_loaded(state: Any) -> Any:
    store = amber.open_store("memory://", registry=reg)
    store.save(state)
    return store.load()


def test_frozen_slotted_and_keyword_only_dataclasses_round_trip_with_their_sharing() -> None:
    hot = Tag("hot", 2)
    state = {"a": Slotted(1, [hot]), "b": Slotted(2, [hot]), "tags": {hot}, "options": Options(name="x")}
    loaded = saved_and_loaded(state)
    assert loaded == state
    assert loaded["a"].tags[0] is loaded["b"].tags[0], "a frozen dataclass shared stays shared"
    assert loaded["tags"] == {Tag("hot", 2)}, "and hashes by value in a set"
    assert not hasattr(loaded["a"], "__dict__"), "slotted as declared"


def test_cycles_go_through_dataclasses_as_through_records() -> None:
    first = Node("first")
    first.next = Node("second", first)
    loaded = saved_and_loaded(first)
    assert loaded.next.next is loaded


def test_a_field_added_with_a_default_factory_gets_a_fresh_value_per_record() -> None:
    old, new = amber.Registry(), amber.Registry()

    @old.record("dc.Cart", version=1)
    @dataclass
    class CartV1:
        owner: str

    @new.record("dc.Cart", version=2)
    @dataclass
    class Cart:
        owner: str
        items: list[str] = field(default_factory=list)

    opened = memory_opener()
    opened(registry=old).save([CartV1("a"), CartV1("b")])
    first, second = opened(registry=new).load()
    assert first.items == second.items == [] and first.items is not second.items


def test_an_init_var_is_refused_at_declaration_not_lost_at_load() -> None:
    """Its value reaches __post_init__ and is kept nowhere: a load would pass the default."""

    @dataclass
    class Account:
        balance: int
        bonus: InitVar[int] = 0

        def __post_init__(self, bonus: int) -> None:
            self.balance += bonus

    with pytest.raises(amber.SchemaError, match=r"dc\.Account\.bonus is a dataclasses\.InitVar"):
        amber.Registry().record("dc.Account", version=1)(Account)


def test_a_field_with_init_false_is_still_refused() -> None:
    @dataclass
    class Derived:
        x: int
        double: int = dataclasses.field(init=False, default=0)

    with pytest.raises(amber.SchemaError, match="init=False"):
        amber.Registry().record("dc.Derived", version=1)(Derived)


def test_a_bare_init_var_is_refused_too() -> None:
    """review: ``x: InitVar = 3`` (no type argument) passed the first check."""

    @dataclass
    class Scaled:
        x: int
        scale: InitVar = 1  # type: ignore[type-arg]

        def __post_init__(self, scale: int) -> None:
            self.x *= scale

    with pytest.raises(amber.SchemaError, match=r"dc\.Scaled\.scale is a dataclasses\.InitVar"):
        amber.Registry().record("dc.Scaled", version=1)(Scaled)
