"""Schema evolution that never changes a value silently: the load, ``amber migrate`` and
``amber schema check`` share one judgement (the conformance suite runs the pairs; these are
the cases that need more than one type, a lock's history, the CLI, or a class's own code)."""

from __future__ import annotations

import enum
import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Annotated, Any

import msgspec
import pytest

import amber
from amber import commands
from amber._evolution import _lockfile
from tests.golden import make_golden  # noqa: F401 - the golden files' maker documents their shapes
from tests.support.helpers import OpenStore
from tests.support.sample import golden_state, registry

FORMAT_1 = Path(__file__).parents[1] / "golden" / "format-1" / "store"


def errors(code: amber.Registry, *released: amber.Registry) -> list[str]:
    lock = None
    for history in released:
        lock = _lockfile.build_lock(history, lock)
    return [str(f) for f in _lockfile.check(code, lock) if f.severity == "error"]


# --- 1. enums written before format 4 ---------------------------------------------------------


def test_enums_written_before_format_4_load_by_value_once_said_and_migrate_names_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import shutil

    shutil.copytree(FORMAT_1, tmp_path / "store")
    store = amber.open_store(tmp_path / "store", registry=registry)
    with caplog.at_level(logging.WARNING, logger="amber"):
        assert _same_golden(store.load())
        store.load()
    said = [r.getMessage() for r in caplog.records if "by value only" in r.getMessage()]
    assert len(said) == len({m.split(":")[1] for m in said}) >= 1, "once per store and type"
    assert "amber migrate" in said[0]
    result = commands.migrate(store)
    assert result["changed"] and {t["how"] for t in result["types"]} >= {"enums by value (written before format 4)"}
    migrated = store.manifest()
    assert migrated.format_version == 4
    assert all(t.members for e in migrated.types for f in e.schema.fields for t in f.type.walk() if t.kind == "enum")
    assert _same_golden(store.load())


def _same_golden(loaded: dict[str, Any]) -> bool:
    expected = golden_state()
    return all(loaded[k] == expected[k] for k in ("customers", "accounts", "everything", "points", "misc"))


@amber.enum("shop.Size")
class Size(enum.Enum):
    S = "s"
    XL = "xl"


@amber.enum("shop.Size")
class Size2(enum.Enum):  # a later release's Size: XL gone, L added, bigger sizes fall back to L
    S = "s"
    L = "l"

    @classmethod
    def _missing_(cls, value: object) -> Size2:
        return cls.L


@amber.enum("shop.Size")
class SizeWithoutXL(enum.Enum):
    S = "s"


def test_an_enum_default_can_be_the_enums_own_missing(memory_store: OpenStore) -> None:
    old = amber.Registry()

    @old.record("shop.Shirt", version=1)
    class Shirt(amber.Record):
        size: Size

    memory_store(registry=old).save([Shirt(Size.XL), Shirt(Size.S)])
    new = amber.Registry()

    @new.record("shop.Shirt", version=2)
    class Shirt2(amber.Record):
        size: Size2

    assert memory_store(registry=new).load() == [Shirt2(Size2.L), Shirt2(Size2.S)]
    assert errors(new, old) == [], "a fallback resolves every removed member: nothing to report"


def test_a_removed_member_without_a_default_fails_the_check_naming_the_fix() -> None:
    old, new = amber.Registry(), amber.Registry()
    old.register(_struct("Shirt", size=Size), "shop.Shirt", version=1)
    new.register(_struct("Shirt2", size=SizeWithoutXL), "shop.Shirt", version=2)
    (found,) = errors(new, old)
    assert "lost member(s) XL" in found and "default=" in found


def test_amber_enum_refuses_a_default_that_is_not_a_member() -> None:
    class Size(enum.Enum):
        S = 1

    with pytest.raises(amber.SchemaError, match="not a member"):
        amber.enum("shop.Size", default="M")(Size)


# --- 3-6. the check reads every supported version as the load would ----------------------------


def test_a_renamed_field_without_its_alias_fails_both_and_the_alias_or_new_fixes_it(memory_store: OpenStore) -> None:
    v1 = _registry(1, sku=str)
    v2 = _registry(2, code=(str, ""))
    memory_store(registry=v1).save([_item(v1, sku="A-1")])
    with pytest.raises(amber.IncompatibleSchemaError, match="looks renamed from 'sku'"):
        memory_store(registry=v2).load()
    assert any("looks renamed from 'sku'" in e for e in errors(v2, v1))
    aliased = _registry(2, code=(Annotated[str, amber.field(aliases=["sku"])], ""))
    assert errors(aliased, v1) == [] and memory_store(registry=aliased).load()[0].code == "A-1"
    acknowledged = _registry(2, code=(Annotated[str, amber.field(new=True)], ""))
    assert errors(acknowledged, v1) == [] and memory_store(registry=acknowledged).load()[0].code == ""


def test_a_changed_default_fails_the_check_only_when_the_load_would_not_know_the_old_one() -> None:
    v1 = _registry(1, sku=str)
    v2 = _registry(2, sku=str, qty=(int, 0))
    v3 = _registry(3, sku=str, qty=(int, 5))
    (found,) = errors(v3, v1, v2)
    assert "reads the default 5, where v2, which added it, read 0" in found
    keeping_v2 = _registry(3, sku=str, qty=(int, 5))
    keeping_v2.register(_struct("ItemV2", sku=str, qty=(int, 0)), "shop.Item", version=2)
    assert errors(keeping_v2, v1, v2) == []


def test_a_removed_name_cannot_come_back_even_with_the_same_type_unless_new() -> None:
    v1 = _registry(1, sku=str, note=(str, ""))
    v2 = _registry(2, sku=str)
    v3 = _registry(3, sku=str, note=(str, ""))
    assert any("reuses a removed name" in e for e in errors(v3, v1, v2))
    v3_new = _registry(3, sku=str, note=(Annotated[str, amber.field(new=True)], ""))
    (found,) = errors(v3_new, v1, v2)  # v1 data's note: the old one or the new? Only v2 can tell
    assert "'note' is marked new in v3" in found and "keep declaring the versions between" in found
    v3_new.register(_struct("ItemV2", sku=str), "shop.Item", version=2)
    assert errors(v3_new, v1, v2) == []


# --- 8. the class's own validation ---------------------------------------------------------------


def test_a_class_that_refuses_an_old_record_is_a_typed_error_naming_the_row(memory_store: OpenStore) -> None:
    old = _registry(1, sku=str, qty=int)
    memory_store(registry=old).save([_item(old, sku="a", qty=1), _item(old, sku="b", qty=-2)])
    new = amber.Registry()

    @new.record("shop.Item", version=1)
    class Item(amber.Record):
        sku: str
        qty: int

        def __post_init__(self) -> None:
            if self.qty < 0:
                raise ValueError("qty must not be negative")

    with pytest.raises(amber.RecordRejectedError, match=r"000000000001: shop.Item v1, row 1:.*qty must not") as e:
        memory_store(registry=new).load()
    assert isinstance(e.value.__cause__, ValueError)


def test_migrate_dry_run_prints_a_refused_record_as_one_line(tmp_path: Path) -> None:
    app = tmp_path / "strict_app.py"
    app.write_text(
        textwrap.dedent(
            """
            import amber

            @amber.record("shop.Item", version=2)
            class Item(amber.Record):
                sku: str
                qty: int
                note: str = ""

                def __post_init__(self):
                    if self.qty < 0:
                        raise ValueError("qty must not be negative")
            """
        )
    )
    old = _registry(1, sku=str, qty=int)
    amber.open_store(tmp_path / "store", registry=old).save([_item(old, sku="b", qty=-2)])
    result = subprocess.run(
        [sys.executable, "-m", "amber", "migrate", str(tmp_path / "store"), "--app", "strict_app", "--dry-run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "row 0" in result.stderr and "qty must not" in result.stderr


# --- 9. the check agrees with the load across types ---------------------------------------------


def test_a_type_split_by_a_checkpoint_step_passes_the_check_and_the_lock(memory_store: OpenStore) -> None:
    v1 = _registry(1, sku=str, street=str)
    v2 = amber.Registry()

    @v2.record("shop.Address", version=1)
    class Address(amber.Record):
        street: str

    @v2.record("shop.Item", version=2)
    class Item(amber.Record):
        sku: str
        address: Address

    @v2.checkpoint_upgrade(requires={"shop.Item": 1}, produces={"shop.Item": 2, "shop.Address": 1})
    def split(tables: amber.Tables) -> None:
        for item in tables["shop.Item"]:
            item["address"] = tables.add("shop.Address", {"street": item.pop("street")})

    assert errors(v2, v1) == []
    memory_store(registry=v1).save([_item(v1, sku="a", street="Main St")])
    assert memory_store(registry=v2).load() == [Item("a", Address("Main St"))]


def test_types_pointing_at_a_renamed_type_pass_the_check() -> None:
    old, new = amber.Registry(), amber.Registry()

    @old.record("shop.Client", version=1)
    class Client(amber.Record):
        name: str

    @old.record("shop.Order", version=1)
    class Order(amber.Record):
        client: Client

    @new.record("shop.Customer", version=1, aliases=["shop.Client"])
    class Customer(amber.Record):
        name: str

    @new.record("shop.Order", version=1)
    class Order2(amber.Record):
        client: Customer

    assert errors(new, old) == []


def test_a_record_field_widened_to_a_mixed_union_is_refused_by_both(memory_store: OpenStore) -> None:
    old, new = amber.Registry(), amber.Registry()

    @old.record("shop.Client", version=1)
    class Client(amber.Record):
        name: str

    @old.record("shop.Order", version=1)
    class Order(amber.Record):
        client: Client

    @new.record("shop.Client", version=1)
    class Client2(amber.Record):
        name: str

    @new.record("shop.Order", version=2)
    class Order2(amber.Record):
        client: Client2 | int

    memory_store(registry=old).save([Order(Client("a"))])
    with pytest.raises(amber.IncompatibleSchemaError, match="records cannot move into Any or a mixed union") as e:
        memory_store(registry=new).load()
    assert e.value.problems[0].fix
    assert any("records cannot move" in f for f in errors(new, old))


def test_schema_lock_refuses_a_release_the_check_fails(tmp_path: Path) -> None:
    lock = tmp_path / "amber.lock"
    commands.schema_lock("tests.support.lock_apps:v1", str(lock))
    before = lock.read_bytes()
    with pytest.raises(amber.SchemaError, match="v2 adds|new required field"):
        commands.schema_lock("tests.support.lock_apps:v2_required", str(lock))
    assert lock.read_bytes() == before


# --- 10. upgrade steps beside renamed types ---------------------------------------------------------


def test_a_step_on_a_type_that_points_at_a_renamed_type(memory_store: OpenStore) -> None:
    old, new = amber.Registry(), amber.Registry()

    @old.record("shop.Client", version=1)
    class Client(amber.Record):
        name: str

    @old.record("shop.Order", version=1)
    class Order(amber.Record):
        id: int
        client: Client

    ada = Client("Ada")
    memory_store(registry=old).save([Order(1, ada), Order(2, ada)])

    @new.record("shop.Customer", version=1, aliases=["shop.Client"])
    class Customer(amber.Record):
        name: str

    @new.record("shop.Order", version=2)
    class Order2(amber.Record):
        id: int
        client: Customer
        total: int

    @new.upgrade("shop.Order", 1)
    def add_total(fields: dict[str, Any]) -> dict[str, Any]:
        return {**fields, "total": fields["id"] * 10}

    loaded = memory_store(registry=new).load()
    assert [(o.total, o.client.name) for o in loaded] == [(10, "Ada"), (20, "Ada")]
    assert loaded[0].client is loaded[1].client


# --- helpers ---------------------------------------------------------------------------------------


def _struct(name: str, **fields: Any) -> type:
    import msgspec

    spec = [(n, *t) if isinstance(t, tuple) else (n, t) for n, t in fields.items()]
    return msgspec.defstruct(name, spec, bases=(amber.Record,), kw_only=True)


def _item(registry: amber.Registry, **values: Any) -> Any:
    declared = registry.current("shop.Item")
    assert declared is not None
    return declared.cls(**values)


def _registry(version: int, **fields: Any) -> amber.Registry:
    registry = amber.Registry()
    registry.register(_struct(f"ItemV{version}", **fields), "shop.Item", version=version)
    return registry


# --- steps hand back values the reader's type must hold exactly ---------------------------------------


@pytest.mark.parametrize(
    ("wanted", "good", "returned", "says"),
    [
        (float, 2**53, 2**53 + 1, "no exact float"),  # msgspec.convert would round it
        (bytes, b"hi", "aGk=", "str where bytes"),  # msgspec.convert would decode it as base64
        (list[float], [1.5], [1, 2**60 + 1], "exact"),
    ],
)
def test_a_step_value_the_reader_would_change_is_refused_naming_the_row(
    memory_store: OpenStore, wanted: Any, good: Any, returned: Any, says: str
) -> None:
    old = _registry(1, sku=str)
    memory_store(registry=old).save([_item(old, sku="a"), _item(old, sku="b")])
    new = _registry(2, sku=str, value=wanted)
    new.upgrade("shop.Item", 1)(lambda f: {**f, "value": returned if f["sku"] == "b" else good})
    with pytest.raises(amber.MigrationError, match=rf"field 'value'.*row 1: .*{says}"):
        memory_store(registry=new).load()


# --- found by the review: steps and checkpoint steps are judged like the rules -------------------------


@amber.enum("t.Color")
class Color1(enum.Enum):
    A = 1
    B = 2


@amber.enum("t.Color")
class Color2(enum.Enum):  # B removed, C takes its old value
    A = 1
    C = 2


def test_an_upgrade_step_that_leaves_an_enum_as_it_was_cannot_change_its_member(memory_store: OpenStore) -> None:
    old = amber.Registry()
    old.register(_struct("R1", c=Color1, x=int), "t.R", version=1)
    memory_store(registry=old).save([_make(old, "t.R", c=Color1.A, x=1), _make(old, "t.R", c=Color1.B, x=2)])
    new = amber.Registry()
    new.register(_struct("R2", c=Color2, x=str), "t.R", version=2)
    new.upgrade("t.R", 1)(lambda f: {**f, "x": str(f["x"])})  # does not touch c
    with pytest.raises(amber.MigrationError, match=r"row 1, field 'c'.*member B of t.Color.*member C"):
        memory_store(registry=new).load()
    mapped = amber.Registry()
    mapped.register(_struct("R2", c=Color2, x=str), "t.R", version=2)
    mapped.upgrade("t.R", 1)(lambda f: {**f, "x": str(f["x"]), "c": Color2.C if f["c"] == 2 else f["c"]})
    assert [r.c for r in memory_store(registry=mapped).load()] == [Color2.A, Color2.C]


def test_types_beside_a_checkpoint_step_are_judged_by_the_rules(memory_store: OpenStore) -> None:
    old = amber.Registry()
    old.register(_struct("P1", n=int), "t.P", version=1)
    old.register(_struct("Q1", c=Color1, items=list[int], a=str), "t.Q", version=1)
    memory_store(registry=old).save([_make(old, "t.P", n=1), _make(old, "t.Q", c=Color1.B, items=[1, 1, 2], a="data")])
    new = amber.Registry()
    new.register(_struct("P2", n=int), "t.P", version=2)
    new.register(_struct("Q2", c=Color2, items=set[int], b=(str, "")), "t.Q", version=2)
    new.checkpoint_upgrade(requires={"t.P": 1}, produces={"t.P": 2})(lambda tables: None)
    with pytest.raises(amber.IncompatibleSchemaError) as refused:
        memory_store(registry=new).load()
    said = str(refused.value)
    assert "changed from list[int] to set[int]" in said and "looks renamed from 'a'" in said


def test_a_checkpoint_step_runs_when_the_checkpoint_holds_no_records_of_a_type_it_requires(
    memory_store: OpenStore,
) -> None:
    old = amber.Registry()
    old.register(_struct("Cust1", id=int, street=str), "crm.Customer", version=1)
    old.register(_struct("Order1", id=int), "crm.Order", version=1)
    memory_store(registry=old).save({"customers": [_make(old, "crm.Customer", id=1, street="Main St")], "orders": []})
    new = amber.Registry()

    @new.record("crm.Address", version=1)
    class Address(amber.Record):
        street: str

    @new.record("crm.Customer", version=2)
    class Customer(amber.Record):
        id: int
        address: Address | None = None

    new.register(_struct("Order2", id=int), "crm.Order", version=1)

    @new.checkpoint_upgrade(
        requires={"crm.Customer": 1, "crm.Order": 1}, produces={"crm.Customer": 2, "crm.Address": 1}
    )
    def split(tables: amber.Tables) -> None:
        assert tables["crm.Order"] == []
        for customer in tables["crm.Customer"]:
            customer["address"] = tables.add("crm.Address", {"street": customer.pop("street")})

    loaded = memory_store(registry=new).load()
    assert loaded["customers"] == [Customer(1, Address("Main St"))]


def test_a_field_marked_new_never_takes_values_across_versions_the_code_does_not_declare(
    memory_store: OpenStore,
) -> None:
    v1 = _registry(1, x=str)
    memory_store(registry=v1).save([_item(v1, x="old secret")])
    v3 = _registry(3, y=(int, 0), x=(Annotated[str, amber.field(new=True)], ""))
    with pytest.raises(amber.IncompatibleSchemaError, match="'x' is marked new"):
        memory_store(registry=v3).load()
    v3.register(_struct("ItemV2", y=(int, 0)), "shop.Item", version=2)  # the version that dropped x
    assert memory_store(registry=v3).load()[0].x == ""


def test_an_alias_wins_over_a_new_field_of_the_same_name(memory_store: OpenStore) -> None:
    v1 = _registry(1, a=str)
    memory_store(registry=v1).save([_item(v1, a="kept")])
    v2 = _registry(2, a=(Annotated[str, amber.field(new=True)], ""), b=Annotated[str, amber.field(aliases=["a"])])
    loaded = memory_store(registry=v2).load()[0]
    assert (loaded.a, loaded.b) == ("", "kept")


@amber.enum("t.Pick")
class PickOld(enum.Enum):
    A = 1
    B = 2


@amber.enum("t.Pick")
class PickRaising(enum.Enum):
    A = 1

    @classmethod
    def _missing_(cls, value: object) -> PickRaising:
        raise RuntimeError("no such pick")


def test_an_enum_missing_that_raises_is_a_typed_error(memory_store: OpenStore) -> None:
    old = amber.Registry()
    old.register(_struct("S1", p=PickOld), "t.S", version=1)
    memory_store(registry=old).save([_make(old, "t.S", p=PickOld.B)])
    new = amber.Registry()
    new.register(_struct("S2", p=PickRaising), "t.S", version=2)
    with pytest.raises(amber.MigrationError, match="here does not have"):
        memory_store(registry=new).load()


def _make(registry: amber.Registry, name: str, **values: Any) -> Any:
    declared = registry.current(name)
    assert declared is not None
    return declared.cls(**values)


class Paint(enum.IntFlag):
    R = 1
    G = 2


def test_a_flag_written_before_format_4_keeps_its_combined_values(tmp_path: Path) -> None:
    """Format 3 described enums by value; a combined flag (R|G) is no member value of its own."""
    registry_ = amber.Registry()
    registry_.register(_struct("Pixel", paint=Paint), "t.Pixel", version=1)
    store = amber.open_store(tmp_path, registry=registry_)
    store.save([_make(registry_, "t.Pixel", paint=Paint.R | Paint.G)])
    _as_format_3(tmp_path)
    assert store.load()[0].paint == Paint.R | Paint.G


def test_a_step_cannot_hand_back_values_msgspec_would_parse_or_merge(memory_store: OpenStore) -> None:
    import decimal
    import uuid

    old = _registry(1, sku=str)
    memory_store(registry=old).save([_item(old, sku="a")])
    for wanted, returned, says in [
        (frozenset[float], [1, 1.0], "would merge"),
        (decimal.Decimal, "1e3", "str where decimal"),
        (uuid.UUID, b"0123456789abcdef", "bytes where uuid"),
        (int, 2**70, "beyond 64 bits"),
    ]:
        new = _registry(2, sku=str, value=wanted)
        new.upgrade("shop.Item", 1)(lambda f, r=returned: {**f, "value": r})
        with pytest.raises(amber.MigrationError, match=says):
            memory_store(registry=new).load()


def test_a_step_pointing_at_a_type_the_checkpoint_does_not_hold_is_a_typed_error(memory_store: OpenStore) -> None:
    old = _registry(1, sku=str)
    memory_store(registry=old).save([_item(old, sku="a")])
    new = amber.Registry()

    @new.record("shop.Tag", version=1)
    class Tag(amber.Record):
        name: str

    new.register(_struct("ItemV2", sku=str, tag=Tag | None), "shop.Item", version=2)
    new.upgrade("shop.Item", 1)(lambda f: {**f, "tag": amber.Ref("shop.Tag", 0)})
    with pytest.raises(amber.MigrationError, match="holds no records|does not hold"):
        memory_store(registry=new).load()


def _as_format_3(root: Path) -> None:
    """Rewrite a store's newest checkpoint as format 3 wrote it: enums by value, no names."""
    import msgspec

    from amber._format import _format

    key = root / "checkpoints" / "000000000001.manifest"
    m = _format.parse_manifest(key.read_bytes(), "000000000001")

    def by_value(schema: amber.RecordSchema) -> amber.RecordSchema:
        fields = tuple(msgspec.structs.replace(f, type=f.type.by_value()) for f in schema.fields)
        return msgspec.structs.replace(schema, fields=fields)

    types = tuple(
        msgspec.structs.replace(e, schema=by_value(e.schema), fingerprint=by_value(e.schema).fingerprint)
        for e in m.types
    )
    old = msgspec.structs.replace(m, types=types, format_version=1)
    key.write_bytes(_format.encode_manifest(old))
    data = root / m.data
    data.write_bytes(_format.data_header(1) + data.read_bytes()[16:])


@amber.enum("t.Tone")
class ToneOld(enum.Enum):
    A = 1
    OLD_A = 1  # noqa: PIE796 - an alias


@amber.enum("t.Tone")
class ToneNew(enum.Enum):
    NEW_A = 1
    A = 1  # noqa: PIE796 - the old name, kept as an alias


def test_an_enum_member_still_known_by_an_alias_has_not_moved(memory_store: OpenStore) -> None:
    old, new = amber.Registry(), amber.Registry()
    old.register(_struct("T1", t=ToneOld), "t.T", version=1)
    new.register(_struct("T2", t=ToneNew), "t.T", version=2)
    memory_store(registry=old).save([_make(old, "t.T", t=ToneOld.A)])
    assert memory_store(registry=new).load()[0].t is ToneNew.NEW_A
    assert errors(new, old) == []


class Shade(enum.Enum):  # declared without a stable name: stored as "Shade"
    DARK = 1


@amber.enum("Hue", aliases=["Shade"])
class Hue(enum.Enum):  # the same enum, its class renamed
    DARK = 1


def test_an_enum_class_renamed_at_the_same_version_reads_with_its_alias(memory_store: OpenStore) -> None:
    old, new, forgot = amber.Registry(), amber.Registry(), amber.Registry()
    old.register(_struct("P1", s=Shade), "t.P", version=1)
    new.register(_struct("P1b", s=Hue), "t.P", version=1)
    forgot.register(_struct("P1c", s=_unnamed_hue()), "t.P", version=1)
    memory_store(registry=old).save([_make(old, "t.P", s=Shade.DARK)])
    assert memory_store(registry=new).load()[0].s is Hue.DARK
    with pytest.raises(amber.SchemaMismatchError, match=r"aliases=\['Shade'\]"):
        memory_store(registry=forgot).load()


def _unnamed_hue() -> type:
    class Hue(enum.Enum):
        DARK = 1

    return Hue


def test_a_lock_written_before_format_4_still_catches_a_renamed_member(memory_store: OpenStore) -> None:
    """The lock holds v1 by value; the code declares v1 with names, as new checkpoints hold it."""
    old, new = amber.Registry(), amber.Registry()
    old.register(_struct("S1", p=PickOld), "t.S", version=1)
    lock = _lockfile.build_lock(old, None)
    schema = lock.types["t.S"].versions["1"]
    legacy = [msgspec.structs.replace(f, type=f.type.by_value()) for f in schema.fields]
    lock.types["t.S"].versions["1"] = msgspec.structs.replace(schema, fields=tuple(legacy))
    new.register(_struct("S1", p=PickOld), "t.S", version=1)
    new.register(_struct("S2", p=PickRenamed), "t.S", version=2)
    assert any("lost member(s) B" in str(f) for f in _lockfile.check(new, lock) if f.severity == "error")


@amber.enum("t.Pick")
class PickRenamed(enum.Enum):  # B renamed BB, same value
    A = 1
    BB = 2


def test_the_check_notes_conversions_that_fail_for_some_values() -> None:
    v1 = _registry(1, n=int, raw=bytes)
    v2 = _registry(2, n=float, raw=str)
    notes = [str(f) for f in _lockfile.check(v2, _lockfile.build_lock(v1, None)) if f.severity == "note"]
    assert any("beyond 2**53" in n for n in notes) and any("not UTF-8" in n for n in notes)


# --- found by the second review and the newcomer's trial ------------------------------------------------


def test_a_step_leaving_an_enum_for_a_renamed_field_or_through_undeclared_versions_is_caught(
    memory_store: OpenStore,
) -> None:
    old = amber.Registry()
    old.register(_struct("R1", c=Color1, x=int), "t.R", version=1)
    memory_store(registry=old).save([_make(old, "t.R", c=Color1.B, x=1)])
    renamed = amber.Registry()
    renamed.register(_struct("R2", d=Annotated[Color2, amber.field(aliases=["c"])], x=str), "t.R", version=2)
    renamed.upgrade("t.R", 1)(lambda f: {**f, "x": str(f["x"])})
    skipping = amber.Registry()  # v2 not declared: the step's output is read as v3
    skipping.register(_struct("R3", c=Color2, x=str), "t.R", version=3)
    skipping.upgrade("t.R", 1)(lambda f: {**f, "x": str(f["x"])})
    for code in (renamed, skipping):
        with pytest.raises(amber.MigrationError, match="member B of t.Color"):
            memory_store(registry=code).load()


def test_a_step_leaves_unset_fields_to_the_defaults_of_the_version_it_produces(memory_store: OpenStore) -> None:
    v1 = _registry(1, x=int)
    memory_store(registry=v1).save([_item(v1, x=1)])
    code = _registry(3, x=str, y=(int, 0))
    code.register(_struct("ItemV2", x=str, y=(int, 7)), "shop.Item", version=2)
    code.upgrade("shop.Item", 1)(lambda f: {**f, "x": str(f["x"])})  # leaves y to v2's default
    assert memory_store(registry=code).load()[0].y == 7


def test_a_step_that_maps_a_removed_member_passes_the_check(memory_store: OpenStore) -> None:
    old, new = amber.Registry(), amber.Registry()
    old.register(_struct("R1", c=Color1), "t.R", version=1)
    new.register(_struct("R2", c=PickRenamed), "t.R", version=2)  # t.Pick: A, BB

    @new.upgrade("t.R", 1)
    def rename_member(fields: dict[str, Any]) -> dict[str, Any]:
        return {"c": PickRenamed.BB if fields["c"] == 2 else PickRenamed.A}

    assert errors(new, old) == []


def test_uint64_values_pass_through_a_step_and_bigger_ints_in_any_do_not(memory_store: OpenStore) -> None:
    v1 = _registry(1, x=int, y=int)
    memory_store(registry=v1).save([_item(v1, x=2**64 - 1, y=1)])
    code = _registry(2, x=int, y=str, meta=(Any, None))
    code.upgrade("shop.Item", 1)(lambda f: {**f, "y": str(f["y"])})
    assert memory_store(registry=code).load()[0].x == 2**64 - 1
    too_big = _registry(2, x=int, y=str, meta=(Any, None))
    too_big.upgrade("shop.Item", 1)(lambda f: {**f, "y": "1", "meta": [2**70]})
    with pytest.raises(amber.MigrationError, match="beyond 64 bits"):
        memory_store(registry=too_big).load()


def test_a_pin_writes_through_renames_and_enums_of_the_same_name(memory_store: OpenStore) -> None:
    code = amber.Registry()
    code.register(_struct("A1", a=(str, ""), c=Color1), "t.A", version=1)
    code.register(_struct("A2", b=(Annotated[str, amber.field(aliases=["a"])], ""), c=Color1), "t.A", version=2)
    code.register(_struct("A3", z=(Annotated[str, amber.field(aliases=["b"])], ""), c=ColorWide), "t.A", version=3)
    code.downgrade("t.A", 3)(lambda f: f)
    code.downgrade("t.A", 2)(lambda f: f)
    store = memory_store(registry=code, write_versions={"t.A": 1})
    store.save([_make(code, "t.A", z="precious", c=ColorWide.B)])
    release1 = amber.Registry()
    release1.register(_struct("A1", a=(str, ""), c=Color1), "t.A", version=1)
    (row,) = memory_store(registry=release1).load()
    assert (row.a, row.c) == ("precious", Color1.B)


@amber.enum("t.Color")
class ColorWide(enum.Enum):  # Color1 with a member more
    A = 1
    B = 2
    D = 4


def test_a_checkpoint_step_removing_a_type_the_state_points_at_is_the_codes_fault(memory_store: OpenStore) -> None:
    old = amber.Registry()
    old.register(_struct("P1", n=int), "t.P", version=1)
    old.register(_struct("Q1", m=int), "t.Q", version=1)
    memory_store(registry=old).save({"p": [_make(old, "t.P", n=1)], "q": [_make(old, "t.Q", m=2)]})
    new = amber.Registry()
    new.register(_struct("P2", n=int), "t.P", version=2)
    new.checkpoint_upgrade(requires={"t.P": 1, "t.Q": 1}, produces={"t.P": 2, "t.Q": None})(lambda tables: None)
    with pytest.raises(amber.MigrationError, match=r"types the checkpoint steps remove \(t.Q\)"):
        memory_store(registry=new).load()


def test_types_beside_a_checkpoint_step_keep_the_version_rules(memory_store: OpenStore) -> None:
    old = amber.Registry()
    old.register(_struct("P1", n=int), "t.P", version=1)
    old.register(_struct("Q1", a=int, secret=str), "t.Q", version=1)
    memory_store(registry=old).save([_make(old, "t.P", n=1), _make(old, "t.Q", a=1, secret="s")])
    new = amber.Registry()
    new.register(_struct("P2", n=int), "t.P", version=2)
    new.register(_struct("Q1b", a=int, other=(str, "dflt")), "t.Q", version=1)  # changed in place
    new.checkpoint_upgrade(requires={"t.P": 1}, produces={"t.P": 2})(lambda tables: None)
    with pytest.raises(amber.SchemaMismatchError, match="t.Q: v1 in the checkpoint"):
        memory_store(registry=new).load()


def test_the_check_reads_a_renamed_types_locked_versions() -> None:
    old, new, merged = amber.Registry(), amber.Registry(), amber.Registry()
    old.register(_struct("O1", x=int, label=str), "a.Old", version=1)
    old.register(_struct("T1", y=int), "a.Other", version=1)
    new.register(_struct("N2", x=str, nickname=(str, "")), "a.New", version=2, aliases=["a.Old"])
    new.register(_struct("T1", y=int), "a.Other", version=1)
    found = errors(new, old)
    assert any("looks renamed from 'label'" in e for e in found) and any("changed from int to str" in e for e in found)
    merged.register(_struct("N1", x=int, label=str), "a.New", version=1, aliases=["a.Old", "a.Other"])
    assert any("are all read into a.New" in e for e in errors(merged, old))


def test_the_check_flags_an_upgrade_step_removed_while_its_version_is_supported() -> None:
    v1 = _registry(1, price=float)
    v2 = _registry(2, price=int)
    v2.upgrade("shop.Item", 1)(lambda f: {"price": round(f["price"])})
    v3 = _registry(3, price=int)
    v3.register(_struct("ItemV2", price=int), "shop.Item", version=2)
    assert any("the upgrade step from v1 is gone" in e for e in errors(v3, v1, v2))


def test_lock_files_that_make_no_sense_are_one_line_errors(tmp_path: Path) -> None:
    app = tmp_path / "lock_app.py"
    app.write_text(
        "import amber\nregistry = amber.Registry()\n\n"
        "@registry.record('t.A', version=1)\nclass A(amber.Record):\n    x: int\n"
    )
    bad = tmp_path / "bad.lock"
    bad.write_text(
        '{"format": "amber.lock", "lock_version": 1, "min_library": "amber 0.1.0", "min_format_version": 4,'
        ' "types": {"t.A": {"current": 5, "oldest_supported": 1, "versions": {}, "fingerprints": {}}}}'
    )
    for args in (
        ["schema", "check", "--app", "lock_app:registry", "--file", str(bad)],
        ["schema", "check", "--app", "lock_app:registry", "--file", str(tmp_path)],
        ["schema", "lock", "--app", "lock_app:registry", "--file", str(tmp_path / "no" / "such.lock")],
        ["schema", "lock", "--app", "lock_app", "--file", str(tmp_path / "x.lock")],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "amber", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
    assert "name it: --app lock_app:registry" in result.stderr


def test_a_restore_refuses_a_checkpoint_that_holds_none_of_its_participants(memory_store: OpenStore) -> None:
    store = memory_store(registry=registry)
    store.save(golden_state())

    class Book:
        name = "book"

        def snapshot(self) -> Any:
            return {}

        def restore(self, state: Any) -> None:
            raise AssertionError("nothing of the book's is in this checkpoint")

    with pytest.raises(amber.RestoreError, match="holds none of the participants 'book'"):
        amber.Manager(store, [Book()]).restore()
    assert len(store.ids()) == 1, "nothing was written over it"


def test_read_newer_false_lists_every_problem(memory_store: OpenStore) -> None:
    newer = amber.Registry()
    newer.register(_struct("A2", x=int), "t.A", version=2)
    newer.register(_struct("B2", y=int), "t.B", version=2)
    memory_store(registry=newer).save([_make(newer, "t.A", x=1), _make(newer, "t.B", y=1)])
    older = amber.Registry()
    older.register(_struct("A1", x=int), "t.A", version=1)
    older.register(_struct("B1", y=int), "t.B", version=1)
    with pytest.raises(amber.IncompatibleSchemaError) as refused:
        memory_store(registry=older, read_newer=False).load()
    assert {p.type for p in refused.value.problems} == {"t.A", "t.B"}
