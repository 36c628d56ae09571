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

import pytest

import amber
from amber import _lock, commands
from tests.golden import make_golden  # noqa: F401 - the golden files' maker documents their shapes
from tests.sample import golden_state, registry

FORMAT_1 = Path(__file__).parent / "golden" / "format-1" / "store"


def errors(code: amber.Registry, *released: amber.Registry) -> list[str]:
    lock = None
    for history in released:
        lock = _lock.build_lock(history, lock)
    return [str(f) for f in _lock.check(code, lock) if f.severity == "error"]


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


def test_an_enum_default_can_be_the_enums_own_missing(tmp_path: Path) -> None:
    old = amber.Registry()

    @old.record("shop.Shirt", version=1)
    class Shirt(amber.Record):
        size: Size

    amber.open_store(tmp_path, registry=old).save([Shirt(Size.XL), Shirt(Size.S)])
    new = amber.Registry()

    @new.record("shop.Shirt", version=2)
    class Shirt2(amber.Record):
        size: Size2

    assert amber.open_store(tmp_path, registry=new).load() == [Shirt2(Size2.L), Shirt2(Size2.S)]
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


def test_a_renamed_field_without_its_alias_fails_both_and_the_alias_or_new_fixes_it(tmp_path: Path) -> None:
    v1 = _registry(1, sku=str)
    v2 = _registry(2, code=(str, ""))
    amber.open_store(tmp_path, registry=v1).save([_item(v1, sku="A-1")])
    with pytest.raises(amber.IncompatibleSchemaError, match="looks renamed from 'sku'"):
        amber.open_store(tmp_path, registry=v2).load()
    assert any("looks renamed from 'sku'" in e for e in errors(v2, v1))
    aliased = _registry(2, code=(Annotated[str, amber.field(aliases=["sku"])], ""))
    assert errors(aliased, v1) == [] and amber.open_store(tmp_path, registry=aliased).load()[0].code == "A-1"
    acknowledged = _registry(2, code=(Annotated[str, amber.field(new=True)], ""))
    assert errors(acknowledged, v1) == [] and amber.open_store(tmp_path, registry=acknowledged).load()[0].code == ""


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
    assert errors(v3_new, v1, v2) == []


# --- 8. the class's own validation ---------------------------------------------------------------


def test_a_class_that_refuses_an_old_record_is_a_typed_error_naming_the_row(tmp_path: Path) -> None:
    old = _registry(1, sku=str, qty=int)
    amber.open_store(tmp_path, registry=old).save([_item(old, sku="a", qty=1), _item(old, sku="b", qty=-2)])
    new = amber.Registry()

    @new.record("shop.Item", version=1)
    class Item(amber.Record):
        sku: str
        qty: int

        def __post_init__(self) -> None:
            if self.qty < 0:
                raise ValueError("qty must not be negative")

    with pytest.raises(amber.RecordRejectedError, match=r"000000000001: shop.Item v1, row 1:.*qty must not") as e:
        amber.open_store(tmp_path, registry=new).load()
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


def test_a_type_split_by_a_checkpoint_step_passes_the_check_and_the_lock(tmp_path: Path) -> None:
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
    amber.open_store(tmp_path, registry=v1).save([_item(v1, sku="a", street="Main St")])
    assert amber.open_store(tmp_path, registry=v2).load() == [Item("a", Address("Main St"))]


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


def test_a_record_field_widened_to_a_mixed_union_is_refused_by_both(tmp_path: Path) -> None:
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

    amber.open_store(tmp_path, registry=old).save([Order(Client("a"))])
    with pytest.raises(amber.IncompatibleSchemaError, match="records cannot move into Any or a mixed union") as e:
        amber.open_store(tmp_path, registry=new).load()
    assert e.value.problems[0].fix
    assert any("records cannot move" in f for f in errors(new, old))


def test_schema_lock_refuses_a_release_the_check_fails(tmp_path: Path) -> None:
    lock = tmp_path / "amber.lock"
    commands.schema_lock("tests.lock_apps:v1", str(lock))
    before = lock.read_bytes()
    with pytest.raises(amber.SchemaError, match="v2 adds|new required field"):
        commands.schema_lock("tests.lock_apps:v2_required", str(lock))
    assert lock.read_bytes() == before


# --- 10. upgrade steps beside renamed types ---------------------------------------------------------


def test_a_step_on_a_type_that_points_at_a_renamed_type(tmp_path: Path) -> None:
    old, new = amber.Registry(), amber.Registry()

    @old.record("shop.Client", version=1)
    class Client(amber.Record):
        name: str

    @old.record("shop.Order", version=1)
    class Order(amber.Record):
        id: int
        client: Client

    ada = Client("Ada")
    amber.open_store(tmp_path, registry=old).save([Order(1, ada), Order(2, ada)])

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

    loaded = amber.open_store(tmp_path, registry=new).load()
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
    tmp_path: Path, wanted: Any, good: Any, returned: Any, says: str
) -> None:
    old = _registry(1, sku=str)
    amber.open_store(tmp_path, registry=old).save([_item(old, sku="a"), _item(old, sku="b")])
    new = _registry(2, sku=str, value=wanted)
    new.upgrade("shop.Item", 1)(lambda f: {**f, "value": returned if f["sku"] == "b" else good})
    with pytest.raises(amber.MigrationError, match=rf"field 'value'.*row 1: .*{says}"):
        amber.open_store(tmp_path, registry=new).load()
