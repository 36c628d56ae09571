"""pydantic models and attrs classes as persisted types (issue 19): declared with
``@amber.record`` like dataclasses, getting what records get (identity, cycles, sets, Any,
evolution, steps, the test kit, the forgotten-touch check). A class's own code (pydantic
validation, attrs converters and validators, ``__post_init__``) runs on load: a refusal is
a typed error naming the row, and code that changes a value it made before is refused
rather than changing the state unsaid."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Annotated, Any

import attrs
import pydantic
import pytest
from hypothesis import given, settings

import amber
import amber.testing
from amber import commands
from tests.support.helpers import memory_opener

reg = amber.Registry()


@reg.record("m.Owner", version=1)
class Owner(pydantic.BaseModel):
    name: str
    tags: list[str] = []
    score: float = pydantic.Field(default=0.0, alias="Score")  # built by field name on load


@reg.record("m.Tag", version=1)
class Tag(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True)
    label: str


@reg.record("m.Node", version=1)
class Node(pydantic.BaseModel):
    name: str
    next: Node | None = None
    labels: frozenset[Tag] = frozenset()
    extra: Any = None


@reg.record("m.Pet", version=1)
@attrs.define
class Pet:
    _secret: int  # its constructor keyword is "secret"
    owner: Owner
    friends: list[Pet] = attrs.Factory(list)


@reg.record("m.Point", version=1)
@attrs.frozen
class Point:
    x: int
    y: int = 0


@reg.record("m.Plain", version=1)
@attrs.define(slots=False)
class Plain:
    when: int = attrs.field(converter=int)


def saved_and_loaded(state: Any, registry: amber.Registry = reg) -> Any:
    store = amber.open_store("memory://", registry=registry)
    store.save(state)
    return store.load()


def test_pydantic_and_attrs_records_round_trip_with_shared_records_and_cycles() -> None:
    owner = Owner(name="ann", tags=["a"], Score=2.5)
    a, b = Pet(1, owner), Pet(2, owner)
    a.friends.append(b)
    b.friends.append(a)  # a cycle through attrs records
    first, second = Node(name="1"), Node(name="2")
    first.next, second.next = second, first  # a cycle through pydantic records
    state = {"pets": [a, b], "nodes": [first], "points": {Point(1), Point(2, 3)}, "plain": Plain(7)}
    loaded = saved_and_loaded(state)
    la, lb = loaded["pets"]
    assert la.owner is lb.owner and type(la.owner) is Owner and la.owner == owner
    assert la.friends[0] is lb and lb.friends[0] is la
    assert la._secret == 1 and lb._secret == 2
    n1 = loaded["nodes"][0]
    assert n1.next.next is n1 and n1.next.name == "2"
    assert loaded["points"] == {Point(1), Point(2, 3)} and loaded["plain"] == Plain(7)


def test_frozen_pydantic_models_live_in_sets_and_any() -> None:
    tag = Tag(label="x")
    node = Node(name="n", labels=frozenset({tag, Tag(label="y")}), extra={"t": tag})
    (loaded,) = saved_and_loaded([node])
    assert loaded == node and loaded.extra["t"] in loaded.labels


def test_a_stored_value_the_model_refuses_is_a_typed_error_naming_the_row() -> None:
    strict = amber.Registry()

    @strict.record("m.Account", version=1)
    class Account(pydantic.BaseModel):
        balance: int

        @pydantic.field_validator("balance")
        @classmethod
        def not_negative(cls, v: int) -> int:
            if v < 0:
                raise ValueError("balance below zero")
            return v

    store = amber.open_store("memory://", registry=strict)
    with pytest.raises(amber.SerializationError, match=r"cannot save m\.Account \(row 1\).*balance below zero"):
        store.save([Account(balance=1), Account.model_construct(balance=-5)])  # made unvalidated: refused at save
    loose = amber.Registry()  # a release without the validator wrote it: the load refuses it, naming the row

    @loose.record("m.Account", version=1)
    class Before(pydantic.BaseModel):
        balance: int

    opened = memory_opener()
    opened(registry=loose).save([Before(balance=1), Before(balance=-5)])
    with pytest.raises(amber.RecordRejectedError, match=r"m\.Account v1, row 1.*balance below zero"):
        opened(registry=strict).load()


def test_validation_that_changes_a_value_it_made_is_refused_not_loaded_changed() -> None:
    changing = amber.Registry()

    @changing.record("m.Shout", version=1)
    class Shout(pydantic.BaseModel):
        text: str

        @pydantic.field_validator("text")
        @classmethod
        def exclaim(cls, v: str) -> str:
            return v + "!"  # not idempotent: every load would add one

    store = amber.open_store("memory://", registry=changing)
    with pytest.raises(amber.SerializationError, match=r"text: stored 'hi!', but the class's own code made it 'hi!!'"):
        store.save([Shout(text="hi")])  # refused at save: no checkpoint its next restore would refuse


def test_idempotent_normalisation_loads_as_saved() -> None:
    lower = amber.Registry()

    @lower.record("m.Email", version=1)
    class Email(pydantic.BaseModel):
        address: str

        @pydantic.field_validator("address")
        @classmethod
        def lowered(cls, v: str) -> str:
            return v.lower()

    assert saved_and_loaded([Email(address="A@B.C")], lower) == [Email(address="a@b.c")]


def test_a_dataclass_post_init_that_changes_its_fields_is_refused_on_load() -> None:
    """review (issue 19): __post_init__ ran again on every load; one that was not idempotent
    changed the state unsaid (a counter grew by one per restart)."""
    counted = amber.Registry()

    @counted.record("m.Visits", version=1)
    @dataclasses.dataclass
    class Visits:
        n: int

        def __post_init__(self) -> None:
            self.n += 1

    store = amber.open_store("memory://", registry=counted)
    with pytest.raises(amber.SerializationError, match=r"n: stored 2, but the class's own code made it 3"):
        store.save([Visits(1)])


def test_an_attrs_converter_that_changes_values_is_refused_on_load() -> None:
    doubled = amber.Registry()

    def twice(value: int) -> int:
        return value * 2

    @doubled.record("m.Twice", version=1)
    @attrs.define
    class Twice:
        n: int = attrs.field(converter=twice)

    store = amber.open_store("memory://", registry=doubled)
    with pytest.raises(amber.SerializationError, match="n: stored 2"):
        store.save([Twice(1)])


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (
            lambda: type(
                "Priv", (pydantic.BaseModel,), {"__annotations__": {"x": int}, "_cache": pydantic.PrivateAttr(0)}
            ),
            "private attributes \\(_cache\\) are not fields",
        ),
        (
            lambda: type(
                "Extra",
                (pydantic.BaseModel,),
                {"__annotations__": {"x": int}, "model_config": pydantic.ConfigDict(extra="allow")},
            ),
            "extra='allow' keeps undeclared values",
        ),
        (
            lambda: type(
                "Reval",
                (pydantic.BaseModel,),
                {"__annotations__": {"x": int}, "model_config": pydantic.ConfigDict(revalidate_instances="always")},
            ),
            "revalidate_instances copies the records",
        ),
    ],
)
def test_pydantic_state_kept_outside_fields_is_refused_at_declaration(make: Any, said: str) -> None:
    with pytest.raises(amber.SchemaError, match=said):
        amber.Registry().record("m.Refused", version=1)(make())


def test_attrs_fields_a_load_could_not_restore_are_refused_at_declaration() -> None:
    @attrs.define
    class Hidden:
        x: int
        cache: int = attrs.field(init=False, default=0)

    @attrs.define
    class SelfDefault:
        x: int
        y: int = attrs.field(default=attrs.Factory(lambda self: self.x, takes_self=True))

    with pytest.raises(amber.SchemaError, match=r"m\.Hidden\.cache: fields with init=False cannot be restored"):
        amber.Registry().record("m.Hidden", version=1)(Hidden)
    with pytest.raises(amber.SchemaError, match=r"m\.SelfDefault\.y: a default computed from the instance"):
        amber.Registry().record("m.SelfDefault", version=1)(SelfDefault)


def test_a_field_added_and_an_upgrade_step_evolve_pydantic_and_attrs_records() -> None:
    old, new = amber.Registry(), amber.Registry()

    @old.record("m.User", version=1)
    class UserV1(pydantic.BaseModel):
        name: str

    @old.record("m.Box", version=1)
    @attrs.define
    class BoxV1:
        width: float

    @new.record("m.User", version=2)
    class User(pydantic.BaseModel):
        name: str
        active: bool = True

    @new.record("m.Box", version=2)
    @attrs.define
    class Box:
        width: float
        area: float

    @new.upgrade("m.Box", 1)
    def squared(fields: dict[str, Any]) -> dict[str, Any]:
        return {**fields, "area": fields["width"] ** 2}

    opened = memory_opener()
    opened(registry=old).save([UserV1(name="a"), BoxV1(3.0)])
    assert opened(registry=new).load() == [User(name="a", active=True), Box(3.0, 9.0)]


def test_the_generic_view_shows_model_classes_without_the_application() -> None:
    store = amber.open_store("memory://", registry=reg)
    store.save([Owner(name="a"), Point(1, 2)])
    types = commands.dump_changes(store)["types"]
    assert types["m.Owner"]["fields"] == {"name": "str", "tags": "list[str]", "score": "float"}
    assert types["m.Point"]["fields"] == {"x": "int", "y": "int"}


@settings(max_examples=40)
@given(amber.testing.records(Pet, registry=reg))
def test_the_test_kit_draws_attrs_and_pydantic_records(pet: Pet) -> None:
    assert type(pet.owner) is Owner
    amber.testing.assert_roundtrip([pet], registry=reg)


@settings(max_examples=40)
@given(amber.testing.records(Node, registry=reg))
def test_any_drawn_pydantic_node_round_trips(node: Node) -> None:
    amber.testing.assert_roundtrip([node], registry=reg, same_bytes=False)  # a set of records: format.md §9


def test_a_pydantic_record_changed_without_touch_is_found(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Owners:
        name = "owners"

        def __init__(self) -> None:
            self.by_name: amber.Table[str, Owner] = amber.Table()

        def snapshot(self) -> Any:
            return self.by_name

        def restore(self, state: Any) -> None:
            self.by_name = state

    live = Owners()
    for i in range(5):
        live.by_name[f"o{i}"] = Owner(name=f"o{i}")
    m = amber.Manager(amber.open_store(tmp_path, registry=reg), [live], verify_every=1)
    m.restore()
    m.checkpoint()
    live.by_name["o3"].tags.append("changed")  # in place, never touched
    with caplog.at_level(logging.WARNING, logger="amber"):
        m.checkpoint()
    assert any("without touch()" in r.getMessage() and "'o3'" in r.getMessage() for r in caplog.records)
    m.close(final=False)
    amber.testing.assert_restores_to(amber.open_store(tmp_path, registry=reg), {"owners": live.by_name})


def test_an_object_missing_a_field_is_a_typed_error_naming_it() -> None:
    """newcomer trial: an object unpickled from an older release, made before a field was
    added, made save raise a bare AttributeError."""
    store = amber.open_store("memory://", registry=reg)
    owner = Owner(name="old")
    del owner.__dict__["tags"]  # what unpickling an older Owner gives
    with pytest.raises(amber.SerializationError, match=r"cannot save m\.Owner\.tags: a Owner has no 'tags'"):
        store.save([owner])


def test_a_validator_nested_in_a_container_type_is_checked_too() -> None:
    """review: only decorators and a field's own Annotated were looked at; a validator inside
    list[Annotated[str, AfterValidator(...)]] changed values on load unsaid."""
    nested = amber.Registry()

    @nested.record("m.Tags", version=1)
    class Tags(pydantic.BaseModel):
        names: list[Annotated[str, pydantic.AfterValidator(exclaim)]]

    with pytest.raises(amber.SerializationError, match=r"names: stored \['a!'\], but the class's own code made it"):
        amber.open_store("memory://", registry=nested).save([Tags(names=["a"])])


def exclaim(value: str) -> str:  # module level: annotations are resolved by name
    return value + "!"
