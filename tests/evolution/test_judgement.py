"""The compatibility judgement, pure: one field type read as another, built from literal
``FieldType`` values, with no store, no registry of records and no disk.

``TypeJudge`` decides whether the rules read a writer's type as a reader's, and ``converter``
gives what they do to each value. The load, ``amber migrate`` and ``amber schema check`` all
ask it, so these rows are the rules of docs/schema-evolution.md § "What the rules do with
each kind of change" at their smallest.

Many rows come from Apache Avro's schema resolution, cited where they are used:

- SPEC: the Avro 1.11 specification, "Schema Resolution"
  (apache/avro doc/content/en/docs/1.11.4/Specification/_index.md);
- PY: apache/avro lang/py/avro/test/test_compatibility.py, ``TestCompatibility`` (the same
  pairs as the Java suite's TestSchemaCompatibility*). Avro lists pairs as (reader, writer);
  here they read writer -> reader.

Avro's int/long and float/double are one type each in Python (``int``, ``float``), its
``fixed`` is ``bytes``, and an Avro union becomes ``A | B``.
"""

from __future__ import annotations

import enum

import pytest

import amber
from amber._evolution._convert import converter
from amber._evolution._judge import TypeJudge
from amber._format._errors import BadValue
from amber._schema._types import FieldType

SPEC = "Avro spec, Schema Resolution"
PY = "avro lang/py/avro/test/test_compatibility.py"

NONE, BOOL, INT, FLOAT = FieldType("none"), FieldType("bool"), FieldType("int"), FieldType("float")
STR, BYTES, ANY = FieldType("str"), FieldType("bytes"), FieldType("any")


def list_of(t: FieldType) -> FieldType:
    return FieldType("list", (t,))


def set_of(t: FieldType) -> FieldType:
    return FieldType("set", (t,))


def dict_of(k: FieldType, v: FieldType) -> FieldType:
    return FieldType("dict", (k, v))


def union(*members: FieldType) -> FieldType:
    return FieldType("union", members)


def record(name: str) -> FieldType:
    return FieldType("record", record=name)


def enum_type(name: str, members: str) -> FieldType:
    """An Avro-style enum: each member's value is its own name (Avro symbols carry no number)."""
    return FieldType("enum", values=tuple(members), enum=name, members=tuple(members))


def judge(renamed: dict[str, str] | None = None, classes: dict[FieldType, type] | None = None) -> TypeJudge:
    """A judge for a reader whose record renames and enum classes are given as literals."""
    return TypeJudge((renamed or {}).get, (classes or {}).get)


# --- what the rules read without code -------------------------------------------------------

READS = [
    pytest.param(INT, INT, id="same-type"),  # PY test_schema_compatibility: (INT_SCHEMA, INT_SCHEMA)
    # SPEC: "int is promotable to long, float, or double"; PY: (FLOAT_SCHEMA, INT_SCHEMA)
    pytest.param(INT, FLOAT, id="int-to-float"),
    # SPEC: "string is promotable to bytes"; PY: (BYTES_SCHEMA, STRING_SCHEMA)
    pytest.param(STR, BYTES, id="str-to-bytes"),
    # SPEC: "bytes is promotable to string"; PY: (STRING_SCHEMA, BYTES_SCHEMA)
    pytest.param(BYTES, STR, id="bytes-to-str"),
    # SPEC, arrays: "resolution ... applied recursively to the ... item schemas";
    # PY: (LONG_ARRAY_SCHEMA, INT_ARRAY_SCHEMA)
    pytest.param(list_of(INT), list_of(FLOAT), id="list-items-widened"),
    # SPEC, maps: "applied recursively to the ... value schemas"; PY: (LONG_MAP_SCHEMA, INT_MAP_SCHEMA)
    pytest.param(dict_of(STR, INT), dict_of(STR, FLOAT), id="dict-values-widened"),
    # PY: (FLOAT_SCHEMA, INT_FLOAT_UNION_SCHEMA), "readers capable of reading all branches of a union"
    pytest.param(union(INT, FLOAT), FLOAT, id="union-every-member-reads"),
    # PY: (INT_UNION_SCHEMA, INT_SCHEMA), a reader union holding the writer's type
    pytest.param(INT, union(INT, NONE), id="into-optional"),
    # PY: (INT_STRING_UNION_SCHEMA, STRING_INT_UNION_SCHEMA), members reordered
    pytest.param(union(STR, INT), union(INT, STR), id="union-reordered"),
    # PY: (ENUM1_ABC_SCHEMA, ENUM1_AB_SCHEMA), the reader's enum gained a symbol
    pytest.param(enum_type("Enum1", "AB"), enum_type("Enum1", "ABC"), id="enum-gained-member"),
    # docs/schema-evolution.md: "an enum that gained members, or reordered them"
    pytest.param(enum_type("Enum1", "ABC"), enum_type("Enum1", "CAB"), id="enum-reordered"),
    # docs/schema-evolution.md: "a typed field to Any (no enum or record inside)"
    pytest.param(list_of(INT), ANY, id="typed-to-any"),
]


@pytest.mark.parametrize(("written", "wanted"), READS)
def test_the_rules_read(written: FieldType, wanted: FieldType) -> None:
    assert judge().problem(written, wanted) is None


REFUSED = [
    # PY test_schema_compatibility_type_mismatch, each (reader, writer) turned around:
    pytest.param(INT, BOOL, id="int-to-bool"),  # (BOOLEAN_SCHEMA, INT_SCHEMA)
    pytest.param(BOOL, INT, id="bool-to-int"),  # (INT_SCHEMA, BOOLEAN_SCHEMA)
    pytest.param(FLOAT, INT, id="float-to-int"),  # (INT_SCHEMA, FLOAT_SCHEMA)
    pytest.param(STR, FLOAT, id="str-to-float"),  # (DOUBLE_SCHEMA, STRING_SCHEMA)
    pytest.param(BOOL, STR, id="bool-to-str"),  # (STRING_SCHEMA, BOOLEAN_SCHEMA)
    pytest.param(INT, STR, id="int-to-str"),  # (STRING_SCHEMA, INT_SCHEMA)
    pytest.param(INT, BYTES, id="int-to-bytes"),  # (BYTES_SCHEMA, INT_SCHEMA)
    pytest.param(NONE, INT, id="none-to-int"),  # (INT_SCHEMA, NULL_SCHEMA)
    pytest.param(INT, NONE, id="int-to-none"),  # (NULL_SCHEMA, INT_SCHEMA)
    pytest.param(list_of(INT), dict_of(STR, INT), id="list-to-dict"),  # (INT_MAP_SCHEMA, INT_ARRAY_SCHEMA)
    pytest.param(dict_of(STR, INT), list_of(INT), id="dict-to-list"),  # (INT_ARRAY_SCHEMA, INT_MAP_SCHEMA)
    pytest.param(enum_type("Enum2", "AB"), INT, id="enum-to-int"),  # (INT_SCHEMA, ENUM2_AB_SCHEMA)
    pytest.param(INT, enum_type("Enum2", "AB"), id="int-to-enum"),  # (ENUM2_AB_SCHEMA, INT_SCHEMA)
    pytest.param(union(INT, FLOAT), INT, id="union-member-unreadable"),  # (INT_SCHEMA, INT_FLOAT_UNION_SCHEMA)
    # (A_DINT_RECORD1, A_DINT_OPTIONAL_RECORD1): an optional read as required
    pytest.param(union(NONE, INT), INT, id="optional-to-required"),
    # PY test_schema_compatibility_missing_union_branch: (INT_UNION_SCHEMA, INT_STRING_UNION_SCHEMA)
    pytest.param(union(INT, STR), INT, id="missing-union-branch-str"),
    # ... (INT_UNION_SCHEMA, UNION_INT_BOOLEAN)
    pytest.param(union(INT, BOOL), INT, id="missing-union-branch-bool"),
    # ... (A_DINT_B_DINT_UNION_RECORD1, A_DINT_B_DINT_STRING_UNION_RECORD1), inside a field's union
    pytest.param(list_of(union(INT, STR)), list_of(INT), id="missing-union-branch-nested"),
    # PY test_schema_compatibility_name_mismatch: (ENUM1_AB_SCHEMA, ENUM2_AB_SCHEMA), another enum
    pytest.param(enum_type("Enum2", "AB"), enum_type("Enum1", "AB"), id="enum-name-mismatch"),
    # ... (EMPTY_RECORD2, EMPTY_RECORD1): a reference to another record type
    pytest.param(record("Record1"), record("Record2"), id="record-name-mismatch"),
    # docs/schema-evolution.md: "list, set and tuple into one another", "an enum or a record to
    # Any", "Any to a typed field"
    pytest.param(list_of(INT), set_of(INT), id="list-to-set"),
    pytest.param(enum_type("Enum1", "AB"), ANY, id="enum-to-any"),
    pytest.param(ANY, INT, id="any-to-int"),
]


@pytest.mark.parametrize(("written", "wanted"), REFUSED)
def test_the_rules_refuse(written: FieldType, wanted: FieldType) -> None:
    problem = judge().problem(written, wanted)
    assert problem is not None
    assert problem.startswith(("changed from", "enum ")), problem


def test_a_reader_union_takes_the_first_member_the_rules_reach() -> None:
    # SPEC: "if reader's is a union, but writer's is not: the first schema in the reader's
    # union that matches the writer's schema is recursively resolved against it".
    j = judge()
    assert j.member_for(INT, union(STR, FLOAT, INT)) == INT  # the same type wins, wherever it stands
    assert j.member_for(INT, union(STR, FLOAT)) == FLOAT
    assert j.member_for(BOOL, union(STR, FLOAT)) is None


def test_a_writer_union_is_judged_per_plan_not_per_value() -> None:
    # SPEC: "if writer's is a union, but reader's is not: if the reader's schema matches the
    # selected writer's schema, it is recursively resolved against it. If they do not match,
    # an error is signalled." Avro decides per value, when it is read; Amber decides before
    # any data is read, so a writer member the reader cannot hold refuses the pair
    # (PY test_schema_compatibility_type_mismatch lists it as incompatible too).
    assert judge().problem(union(INT, STR), INT) == "changed from int | str to int"


def test_a_record_renamed_with_an_alias_is_the_same_type() -> None:
    # SPEC, Aliases: "a reader's schema may use aliases to map a writer's schema name".
    renamed = judge({"Record1": "Record2"})
    assert renamed.same(record("Record1"), record("Record2"))
    assert renamed.problem(list_of(record("Record1")), list_of(record("Record2"))) is None


# --- enums: matched by name ------------------------------------------------------------------


def _enum_class(name: str, members: str, **options: str | list[str]) -> type[enum.Enum]:
    cls = enum.Enum("E", {m: m for m in members})  # type: ignore[misc]
    amber.enum(name, **options)(cls)  # type: ignore[arg-type]
    return cls


def test_a_removed_enum_member_without_a_default_fails_only_the_records_holding_it() -> None:
    # PY test_schema_compatibility_missing_enum_symbols: (ENUM1_AB_SCHEMA, ENUM1_ABC_SCHEMA)
    # is incompatible. Amber reads the pair and fails the rows holding C (docs: "an enum
    # member removed or renamed, no default"): the plan is sound, and schema check reports it.
    written, wanted = enum_type("Enum1", "ABC"), enum_type("Enum1", "AB")
    j = judge(classes={wanted: _enum_class("Enum1", "AB")})
    assert j.problem(written, wanted) is None
    assert j.conditional == [
        "enum Enum1 lost member(s) C: records holding them fail to load"
        " (fix: @amber.enum('Enum1', default=...), or an upgrade step)"
    ]
    convert = converter(j, written, wanted)
    assert convert is not None
    assert convert("A") == "A"
    with pytest.raises(BadValue, match="member C"):
        convert("C")


def test_a_removed_enum_member_reads_as_the_enum_default() -> None:
    # SPEC, enums: "if the writer's symbol is not present in the reader's enum and the reader
    # has a default value, then that value is used"; PY test_schema_compatibility:
    # (ENUM_AB_ENUM_DEFAULT_A_RECORD, ENUM_ABC_ENUM_DEFAULT_A_RECORD).
    written, wanted = enum_type("Enum", "ABC"), enum_type("Enum", "AB")
    j = judge(classes={wanted: _enum_class("Enum", "AB", default="A")})
    assert j.problem(written, wanted) is None
    assert j.conditional == []
    convert = converter(j, written, wanted)
    assert convert is not None
    assert [convert(v) for v in "ABC"] == ["A", "B", "A"]


def test_an_enum_renamed_with_an_alias_reads() -> None:
    # PY test_schema_compatibility_name_mismatch refuses Enum1 -> Enum2; the Java suite's
    # aliased variant (TestSchemaCompatibilityNameMismatch, reader aliases ["Enum1"]) reads.
    written, wanted = enum_type("Enum1", "AB"), enum_type("Enum2", "AB")
    assert judge(classes={wanted: _enum_class("Enum2", "AB", aliases=["Enum1"])}).problem(written, wanted) is None
    assert judge(classes={wanted: _enum_class("Enum2", "AB")}).problem(written, wanted) is not None


def test_an_enum_member_whose_value_changed_is_refused() -> None:
    # docs/schema-evolution.md: "an enum member whose value changed ... refused"
    written = FieldType("enum", values=(1, 2), enum="e.E", members=("A", "B"))
    wanted = FieldType("enum", values=(1, 3), enum="e.E", members=("A", "B"))
    assert (
        judge().problem(written, wanted) == "enum e.E members changed value: B 2->3 (keep the values, or write a step)"
    )


def test_enums_written_before_format_4_are_matched_by_value() -> None:
    by_value = FieldType("enum", values=(1, 2))  # no member names: as checkpoints before format 4 hold them
    assert judge().problem(by_value, FieldType("enum", values=(1, 2, 3), enum="e.E", members=("A", "B", "C"))) is None
    assert "enum values [3]" in str(judge().problem(FieldType("enum", values=(3,)), enum_type("e.E", "AB")))


# --- the conversions: kept exactly, or refused naming the value --------------------------------


def test_ints_widen_to_floats_only_where_the_float_is_exact() -> None:
    # SPEC promotes int to float without a word on precision; docs/schema-evolution.md: "an int
    # without an exact float value (beyond 2**53) fails its row".
    convert = converter(judge(), INT, FLOAT)
    assert convert is not None
    assert convert(3) == 3.0
    assert convert(2**53) == 2.0**53
    with pytest.raises(BadValue, match="no exact float value"):
        convert(2**53 + 1)


def test_str_and_bytes_convert_through_utf8() -> None:
    to_bytes, to_str = converter(judge(), STR, BYTES), converter(judge(), BYTES, STR)
    assert to_bytes is not None and to_str is not None
    assert to_bytes("é") == b"\xc3\xa9"
    assert to_str(b"\xc3\xa9") == "é"
    with pytest.raises(BadValue, match="not UTF-8"):
        to_str(b"\xff")


def test_containers_convert_element_by_element_and_never_merge_members() -> None:
    convert = converter(judge(), dict_of(STR, INT), dict_of(BYTES, FLOAT))
    assert convert is not None
    assert convert({"a": 1}) == {b"a": 1.0}
    assert converter(judge(), list_of(INT), list_of(INT)) is None  # nothing to do: stored values as they are


def test_a_union_converts_each_value_by_its_own_member() -> None:
    convert = converter(judge(), union(INT, STR), union(FLOAT, BYTES))
    assert convert is not None
    assert convert(2) == 2.0
    assert convert("x") == b"x"


def test_the_judge_notes_what_a_conversion_may_refuse() -> None:
    j = judge()
    converter(j, list_of(BYTES), list_of(STR))
    assert j.notes == ["bytes that are not UTF-8 fail to load"]
