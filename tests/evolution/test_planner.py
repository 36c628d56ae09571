"""The migration planner, pure: the writer's schemas as literal values, the reader's code as
a registry, ``plan()`` called directly, with no store, no checkpoint and no disk.

alembic tests its revision graph the same way, from literal ``Revision("a", ())`` values
(tests/test_revision.py). Each test is one rule of docs/schema-evolution.md; many come from
Apache Avro's schema resolution, cited where they are used:

- SPEC: the Avro 1.11 specification, "Schema Resolution"
  (apache/avro doc/content/en/docs/1.11.4/Specification/_index.md);
- PY: apache/avro lang/py/avro/test/test_compatibility.py, ``TestCompatibility``. Avro lists
  pairs as (reader, writer); here the writer is the checkpoint's schema and the reader the code.

The end-to-end versions of these rules, with data, are tests/evolution/test_evolution.py and the
conformance suite (tests/conformance).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest

import amber
from amber._evolution._convert import exact_float
from amber._evolution._plan import Plan, TypePlan
from amber._evolution._planner import plan
from amber._schema._fields import FieldSchema, RecordSchema
from amber._schema._types import FieldType

NAME = "t.Rec"
INT, STR, FLOAT = FieldType("int"), FieldType("str"), FieldType("float")


def written(version: int, *fields: FieldSchema, name: str = NAME) -> RecordSchema:
    """A writer's schema, as a checkpoint's schema section holds it."""
    return RecordSchema(name, version, fields)


def f(name: str, t: FieldType, default: Any = msgspec.UNSET) -> FieldSchema:
    return FieldSchema(name, t, default)


def only(result: Plan) -> TypePlan:
    """The one type's plan of a plan that found no problem."""
    assert result.problems == (), result.problems
    (tp,) = result.types
    return tp


def problems(result: Plan) -> list[str]:
    assert result.types == (), "a plan with problems plans no type"
    return [f"{p.kind}: {p.problem}" for p in result.problems]


def sources(tp: TypePlan) -> list[tuple[str, str, int]]:
    """Each reader field: how it is read and from which of the writer's columns."""
    return [(fp.name, fp.mode, fp.source) for fp in tp.fields]


# --- as written ------------------------------------------------------------------------------


def test_the_same_version_and_schema_is_read_as_written() -> None:
    code = amber.Registry()

    @code.record(NAME, version=1)
    class Rec(amber.Record):
        a: int
        b: str = "x"

    schema = written(1, f("a", INT), f("b", STR, "x"))
    assert schema == code.lookup(NAME, 1).schema  # type: ignore[union-attr]  # the literal is the code's
    tp = only(plan([schema], code))
    assert tp.direct
    assert plan([schema], code).describe() == ["t.Rec v1: as written"]


def test_a_schema_changed_without_a_new_version_is_refused() -> None:
    code = amber.Registry()

    @code.record(NAME, version=1)
    class Rec(amber.Record):
        a: int

    result = plan([written(1, f("a", STR))], code)
    assert [p.kind for p in result.problems] == ["mismatch"]
    assert result.problems[0].fix == "give the changed type version 2; a schema never changes in place"


# --- rules: fields added, removed, reordered, renamed -------------------------------------------

V1 = written(1, f("oldField1", INT), f("oldField2", STR))  # PY test_schema_compatibility's writer


def test_fields_are_matched_by_name_whatever_their_order() -> None:
    # SPEC, records: "the ordering of fields may be different: fields are matched by name"
    code = amber.Registry()

    @code.record(NAME, version=2)
    class Rec(amber.Record):
        oldField2: str
        oldField1: int

    assert sources(only(plan([V1], code))) == [("oldField2", "same", 1), ("oldField1", "same", 0)]


@pytest.mark.parametrize(
    ("kept", "column"),
    [
        ("oldField1", 0),  # PY testValidateSchemaPairMissingField
        ("oldField2", 1),  # PY testValidateSchemaPairMissingSecondField
    ],
)
def test_a_field_the_reader_lacks_is_dropped(kept: str, column: int) -> None:
    # SPEC: "if the writer's record contains a field with a name not present in the reader's
    # record, the writer's value for that field is ignored"
    code = amber.Registry()
    code.register(
        msgspec.defstruct("Rec", [(kept, int if column == 0 else str)], bases=(amber.Record,)), NAME, version=2
    )
    tp = only(plan([V1], code))
    assert sources(tp) == [(kept, "same", column)]
    assert tp.how == "rules only"


def test_a_field_added_with_a_default_reads_the_default() -> None:
    # PY testValidateSchemaNewFieldWithDefault; SPEC: "if the reader's record schema has a field
    # that contains a default value, and writer's schema does not have a field with the same
    # name, then the reader should use the default value from its field"
    code = amber.Registry()

    @code.record(NAME, version=2)
    class Rec(amber.Record):
        oldField1: int
        newField2: int = 42

    tp = only(plan([V1], code))
    assert sources(tp) == [("oldField1", "same", 0), ("newField2", "default", -1)]
    default = tp.fields[1].default
    assert default is not None and default() == 42
    assert tp.fields[1].default_from == 2


def test_a_field_added_without_a_default_is_refused() -> None:
    # PY testValidateSchemaNewField; SPEC: "if the reader's record schema has a field with no
    # default value, and writer's schema does not have a field with the same name, an error is signalled"
    code = amber.Registry()

    @code.record(NAME, version=2)
    class Rec(amber.Record):
        oldField1: int
        newField2: int

    result = plan([V1], code)
    assert problems(result) == ["required: v1 -> v2: new required field 'newField2'"]
    assert result.problems[0].fix == "give it a default, or add @amber.upgrade('t.Rec', 1)"


def test_a_field_renamed_with_an_alias_reads_the_old_column() -> None:
    # PY test_simple_schema_promotion, field_alias_reader: {"name": "bar", "aliases": ["f1"]}
    code = amber.Registry()

    @code.record(NAME, version=2)
    class Rec(amber.Record):
        bar: Annotated[int, amber.field(aliases=["f1"])]

    tp = only(plan([written(1, f("f1", INT), f("f2", STR))], code))
    assert sources(tp) == [("bar", "same", 0)]


def test_a_type_renamed_with_an_alias_is_found_by_its_former_name() -> None:
    # PY test_simple_schema_promotion, record_alias_reader: {"name": "other", "aliases": ["foo"]}
    code = amber.Registry()

    @code.record("t.other", version=2, aliases=["t.foo"])
    class Other(amber.Record):
        f1: int

    tp = only(plan([written(1, f("f1", INT), f("f2", STR), name="t.foo")], code))
    assert tp.reader.name == "t.other"
    assert tp.describe() == "t.foo v1 -> t.other v2: rules only"


def test_a_field_dropped_and_one_of_its_type_added_without_an_alias_looks_renamed() -> None:
    code = amber.Registry()

    @code.record(NAME, version=2)
    class Rec(amber.Record):
        b: int = 0

    assert problems(plan([written(1, f("a", INT))], code)) == [
        "plan: v1 -> v2: field 'b' looks renamed from 'a' (v2 drops 'a' and adds 'b' of the same type, "
        "without an alias): its values would be lost"
    ]

    acknowledged = amber.Registry()

    @acknowledged.record(NAME, version=2)
    class New(amber.Record):
        b: Annotated[int, amber.field(new=True)] = 0

    assert sources(only(plan([written(1, f("a", INT))], acknowledged))) == [("b", "default", -1)]


def test_aliases_resolve_through_every_declared_version() -> None:
    # docs/schema-evolution.md: "renamed twice (x, then y, then z with the alias y)"
    code = amber.Registry()

    @code.record(NAME, version=2)
    class V2(amber.Record):
        y: Annotated[int, amber.field(aliases=["x"])]

    @code.record(NAME, version=3)
    class V3(amber.Record):
        z: Annotated[int, amber.field(aliases=["y"])]

    assert sources(only(plan([written(1, f("x", INT))], code))) == [("z", "same", 0)]


def test_a_removed_fields_name_used_again_is_refused() -> None:
    # docs/schema-evolution.md: "a removed field's name used again"
    code = amber.Registry()

    @code.record(NAME, version=2)
    class V2(amber.Record):
        b: str

    @code.record(NAME, version=3)
    class V3(amber.Record):
        b: str
        a: int = 0

    assert problems(plan([written(1, f("a", INT), f("b", STR))], code)) == [
        "plan: v1 -> v3: field 'a' was removed in v2 and comes back in v3"
    ]


def test_a_field_reads_the_default_of_the_version_that_added_it() -> None:
    # docs/schema-evolution.md: "a field's default changed: reads the default of the version
    # that added the field, while the code declares it"
    code = amber.Registry()

    @code.record(NAME, version=2)
    class V2(amber.Record):
        a: int
        c: int = 1

    @code.record(NAME, version=3)
    class V3(amber.Record):
        a: int
        c: int = 2

    field = only(plan([written(1, f("a", INT))], code)).fields[1]
    assert (field.name, field.default_from) == ("c", 2)
    assert field.default is not None and field.default() == 1


# --- rules: types widened ------------------------------------------------------------------------


def test_an_int_field_widened_to_float_converts_exactly() -> None:
    # SPEC: "int is promotable to long, float, or double"; PY: (FLOAT_SCHEMA, INT_SCHEMA)
    code = amber.Registry()

    @code.record(NAME, version=2)
    class Rec(amber.Record):
        a: float

    tp = only(plan([written(1, f("a", INT))], code))
    assert sources(tp) == [("a", "convert", 0)]
    assert tp.fields[0].convert is exact_float
    assert tp.notes == ("ints without an exact float value (beyond 2**53) fail to load",)


def test_a_field_narrowed_is_refused_with_the_step_that_fixes_it() -> None:
    # PY test_schema_compatibility_type_mismatch: (INT_SCHEMA, FLOAT_SCHEMA)
    code = amber.Registry()

    @code.record(NAME, version=2)
    class Rec(amber.Record):
        a: int

    result = plan([written(1, f("a", FLOAT))], code)
    assert problems(result) == ["plan: v1 -> v2: field 'a' changed from float to int"]
    assert result.problems[0].fix == "add @amber.upgrade('t.Rec', 1)"


# --- upgrade steps, checkpoint steps ---------------------------------------------------------------


def test_an_upgrade_step_is_planned_between_its_versions() -> None:
    code = amber.Registry()

    @code.record(NAME, version=1)
    class V1(amber.Record):
        a: float

    @code.record(NAME, version=2)
    class V2(amber.Record):
        a: int

    @code.upgrade(NAME, 1)
    def round_a(record: dict[str, Any]) -> dict[str, Any]:
        return record | {"a": round(record["a"])}

    tp = only(plan([written(1, f("a", FLOAT))], code))
    assert tp.steps == ((1, round_a),)
    assert tp.describe() == "t.Rec v1 -> t.Rec v2: step 1->2"


def test_a_checkpoint_step_is_planned_as_a_stage() -> None:
    code = amber.Registry()

    @code.record("t.New", version=1)
    class New(amber.Record):
        a: int

    @code.checkpoint_upgrade(requires={"t.Old": 1}, produces={"t.Old": None, "t.New": 1})
    def split(tables: amber.Tables) -> None:
        for fields in tables["t.Old"]:
            tables.add("t.New", fields)
        tables.drop("t.Old")

    result = plan([written(1, f("a", INT), name="t.Old")], code)
    assert result.problems == ()
    assert result.describe() == [f"checkpoint step {split.__qualname__}"]
    assert [(name, rt.name if rt else None) for name, rt in result.final] == [("t.Old", None), ("t.New", "t.New")]


# --- what the plan refuses, all at once ---------------------------------------------------------


def test_every_problem_is_collected_before_any_data_is_read() -> None:
    code = amber.Registry()

    @code.record(NAME, version=2)
    class Rec(amber.Record):
        a: int
        b: int

    result = plan([written(1, f("a", INT)), written(1, f("x", INT), name="t.Gone")], code)
    assert [p.kind for p in result.problems] == ["required", "unknown"]
    assert all(p.fix for p in result.problems)


def test_a_version_older_than_the_oldest_supported_is_refused() -> None:
    code = amber.Registry()

    @code.record(NAME, version=3)
    class Rec(amber.Record):
        a: int

    assert problems(plan([written(1, f("a", INT))], code, {NAME: 2})) == [
        "plan: v1 is older than the oldest supported v2"
    ]


# --- an older release reading a newer one's data --------------------------------------------------


def test_old_code_drops_a_field_the_newer_release_added() -> None:
    # docs/schema-evolution.md § "Old code reading newer data": "a field added"
    code = amber.Registry()

    @code.record(NAME, version=1)
    class Rec(amber.Record):
        a: int

    assert sources(only(plan([written(2, f("a", INT), f("added", STR, ""))], code))) == [("a", "same", 0)]


def test_old_code_refuses_newer_data_lacking_a_field_it_requires() -> None:
    # docs/schema-evolution.md § "Old code reading newer data": "a field removed, that the older release requires"
    code = amber.Registry()

    @code.record(NAME, version=1)
    class Rec(amber.Record):
        a: int
        gone: int

    assert problems(plan([written(2, f("a", INT))], code)) == [
        "plan: v2 -> v1: field 'gone' is required here and the newer writer lacks it"
    ]
