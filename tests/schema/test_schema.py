"""Declaring persisted types: names, versions, canonical schemas, fingerprints, refusals."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import msgspec
import pytest

import amber
from tests.support.sample import Account, Everything, registry


def test_schema_describes_name_version_fields_types_and_defaults() -> None:
    rt = registry.type_of(Account)
    assert rt is not None
    schema = msgspec.json.decode(msgspec.json.encode(rt.schema))
    assert schema == {
        "name": "bank.Account",
        "version": 1,
        "fields": [
            {"name": "id", "type": {"kind": "int"}},
            {"name": "owner", "type": {"kind": "record", "record": "bank.Customer"}},
            {"name": "balance", "type": {"kind": "int"}},
            {"name": "tags", "type": {"kind": "list", "items": [{"kind": "str"}]}, "default": []},
            {"name": "opened", "type": {"kind": "float"}, "default": 0.0},
        ],
    }


def test_fingerprint_is_stable_and_tracks_every_part_of_the_schema() -> None:
    rt = registry.type_of(Account)
    assert rt is not None
    # Golden value: a fingerprint may never change for an unchanged schema.
    assert rt.schema.fingerprint == "2cce3544700096e1a494d2102edc67a8"

    def fingerprint(**fields: Any) -> str:
        reg = amber.Registry()
        cls = msgspec.defstruct("T", list(fields.items()), bases=(amber.Record,))
        reg.register(cls, "x.T", version=1)
        rt = reg.type_of(cls)
        assert rt is not None
        return rt.schema.fingerprint

    base = fingerprint(a=int, b=str)
    assert fingerprint(a=int, b=str) == base
    assert fingerprint(a=int, b=bytes) != base
    assert fingerprint(b=str, a=int) != base, "field order is part of the schema"
    assert fingerprint(a=int | str) == fingerprint(a=str | int), "union member order is not"


def test_the_name_is_the_identity_not_the_import_path() -> None:
    reg = amber.Registry()

    @reg.record("shop.Item", version=1)
    class Item(amber.Record):
        sku: str

    store = amber.open_store("memory://", registry=reg)
    store.save([Item("a")])

    moved = amber.Registry()

    @moved.record("shop.Item", version=1)
    class RenamedClassInAnotherModule(amber.Record):
        sku: str

    store.registry = moved
    assert store.load() == [RenamedClassInAnotherModule("a")]


def test_redeclaring_a_name_and_version_fails_at_decoration() -> None:
    reg = amber.Registry()

    @reg.record("x.A", version=1)
    class A(amber.Record):
        n: int

    with pytest.raises(amber.SchemaError, match="x.A version 1 is already declared"):

        @reg.record("x.A", version=1)
        class B(amber.Record):
            n: int

    with pytest.raises(amber.SchemaError, match="already declared as a persisted type"):
        reg.register(A, "x.Other", version=1)


class NotPersisted:
    pass


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (NotPersisted, "NotPersisted is not a persisted type: declare it with @amber.record"),
        (list, "list needs its element types"),
        (dict[str, NotPersisted], "not a persisted type"),
        (tuple, "tuple needs its element types"),
        (type, "not a persisted type"),
    ],
)
def test_fields_that_cannot_be_persisted_fail_at_decoration(annotation: Any, message: str) -> None:
    cls = msgspec.defstruct("Bad", [("field", annotation)], bases=(amber.Record,))
    with pytest.raises(amber.SchemaError, match=f"x.Bad.field: .*{message}"):
        amber.Registry().register(cls, "x.Bad", version=1)


@pytest.mark.parametrize("name", ["", "bank..Account", "1bank", "bank.Account!", "bank/Account"])
def test_names_must_be_dotted_identifiers(name: str) -> None:
    with pytest.raises(amber.SchemaError, match="not a valid type name"):
        amber.record(name, version=1, registry=amber.Registry())(Account)


@pytest.mark.parametrize("version", [0, -1, 1.5, "2", True])
def test_versions_are_positive_integers(version: Any) -> None:
    with pytest.raises(amber.SchemaError, match="version must be an integer"):
        amber.Registry().register(Account, "x.A", version=version)


def test_only_records_dataclasses_and_named_tuples_can_be_declared() -> None:
    class Plain:
        x: int

    with pytest.raises(
        amber.SchemaError,
        match="must be a subclass of amber.Record, a @dataclass, a typing.NamedTuple, an attrs class or a pydantic",
    ):
        amber.Registry().register(Plain, "x.Plain", version=1)


def test_dataclass_fields_with_init_false_are_refused() -> None:
    @dataclasses.dataclass
    class D:
        a: int
        b: int = dataclasses.field(init=False, default=0)

    with pytest.raises(amber.SchemaError, match="init=False"):
        amber.Registry().register(D, "x.D", version=1)


def test_defaults_that_cannot_be_described_are_refused() -> None:
    @dataclasses.dataclass
    class D:
        a: Any = dataclasses.field(default_factory=object)

    with pytest.raises(amber.SchemaError, match="default .* cannot be described"):
        amber.Registry().register(D, "x.D", version=1)


def test_types_may_name_classes_declared_later() -> None:
    reg = amber.Registry()

    @reg.record("x.Parent", version=1)
    class Parent(amber.Record):
        child: Child | None = None

    @reg.record("x.Child", version=1)
    class Child(amber.Record):
        parent: Parent | None = None

    p = Parent()
    p.child = Child(p)
    store = amber.open_store("memory://", registry=reg)
    store.save(p)
    loaded = store.load()
    assert loaded.child.parent is loaded


def test_an_unresolvable_forward_reference_is_reported_on_first_use() -> None:
    reg = amber.Registry()

    @reg.record("x.Lonely", version=1)
    class Lonely(amber.Record):
        other: Missing  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(amber.SchemaError, match="x.Lonely v1: cannot resolve"):
        list(reg)


def test_module_level_decorator_fills_the_default_registry() -> None:
    @amber.record("tests.DefaultRegistryProbe", version=1)
    class Probe(amber.Record):
        n: int

    assert amber.default_registry.lookup("tests.DefaultRegistryProbe", 1) is amber.default_registry.type_of(Probe)


def test_every_supported_field_type_renders_readably() -> None:
    rt = registry.type_of(Everything)
    assert rt is not None
    rendered = {f.name: f.type.render() for f in rt.schema.fields}
    assert rendered["by_id"] == "dict[int, @bank.Customer]"
    assert rendered["many"] == "tuple[float, ...]"
    assert rendered["maybe"] == "int | none"
    assert rendered["currency"] == "Currency(EUR='EUR', USD='USD')"
    assert rendered["anything"] == "any"


class Cabin(enum.Enum):
    FIRST = "first"
    ECONOMY = "economy"


class Big(enum.Enum):
    A = 2**63


def test_enums_with_values_beyond_64_bits_are_refused_at_declaration() -> None:
    with pytest.raises(amber.SchemaError, match="signed 64-bit"):

        @amber.record("r.Big", version=1, registry=amber.Registry())
        class B(amber.Record):
            b: Big


def test_enums_in_tagged_positions_are_refused_at_declaration() -> None:
    with pytest.raises(amber.SchemaError, match="no enum inside Any or an ambiguous union"):

        @amber.record("r.Paint", version=1, registry=amber.Registry())
        class Paint(amber.Record):
            color: Cabin | str


def test_kw_only_structs_with_required_fields_after_defaults_can_be_declared() -> None:
    class K(amber.Record, kw_only=True):
        a: int = 0
        b: int

    local = amber.Registry()
    local.register(K, "r.K", version=1)
    store = amber.open_store("memory://", registry=local)
    store.save([K(b=2)])
    assert store.load() == [K(b=2)]


def test_kw_only_dataclasses_round_trip() -> None:
    @dataclasses.dataclass
    class D:
        a: int
        b: str = dataclasses.field(default="x", kw_only=True)

    local = amber.Registry()
    local.register(D, "r.D", version=1)
    store = amber.open_store("memory://", registry=local)
    store.save([D(1, b="y")])
    assert store.load() == [D(1, b="y")]
