import functools
from typing import Any

from tests.conformance.model import Case, E, Enum, F, Fails, Refused
from tests.conformance.model import one as one_field

# Conformance cases translated from Buf's breaking-change rules, read at the WIRE_JSON level.
#
# Read from the bufbuild/buf repository (snapshot at commit c9a5b265):
# - private/bufpkg/bufcheck/testdata/breaking/{previous,current}/breaking_<rule>/*.proto: the
#   "previous" files are the writer, the "current" files the reader (or the other way round for
#   newer=True: an old release reading what the new one wrote);
# - private/bufpkg/bufcheck/breaking_test.go: which lines each rule flags;
# - private/bufpkg/bufcheck/bufcheckserver/bufcheckserver.go (V2Spec): each rule's categories;
# - private/bufpkg/bufcheck/bufcheckserver/internal/bufcheckserverbuild/bufcheckserverbuild.go: each
#   rule's purpose; .../bufcheckserverhandle/breaking.go: the WIRE_JSON type-compatibility groups;
# - the rules page, buf.build/docs/breaking/rules ("Rules and categories"): WIRE_JSON "detects
#   changes that break wire (binary) or JSON encoding".
#
# Translation conventions:
# - Amber matches fields by name, as protobuf's JSON encoding does: a field is named by its JSON
#   name (lowerCamelCase, or its json_name option), never by its number. Where Buf compares by number
#   (a number whose field was renamed), the case is a removed field and an added one.
# - proto3 implicit-presence scalars are plain types with their zero value as default (int = 0,
#   str = "", ...); proto2 `optional` and proto3 `optional` (explicit presence) and oneof members
#   are `T | None` (None when unset); `repeated T` is list[T]; `map<K, V>` is dict[K, V].
# - int32/int64/uint*/sint*/fixed*/sfixed* are int, float/double are float: where Buf flags a
#   change between those, the note says so and the case asserts the identity.
# - Enums keep their proto numbers as member values and their full proto name as stable name.
# - Message-typed fields (records) are out of scope and left out.
# - A row holding an enum member the reader lacks (and no enum default) expects Fails("member"): the
#   fragment shared by "no member" and the library's "member X ... of enum E, which E here does not have".

TD = "buf private/bufpkg/bufcheck/testdata/breaking/"
CATS = "categories from bufcheckserver.go V2Spec"

NO_WIDTH = "Python has one int type: Buf's distinction between integer kinds does not exist here, the identity."


def t(rule: str, where: str, cats: str) -> str:
    """A source: the rule id, the testdata place, and the rule's categories."""
    return f"buf {rule} ({cats}; {CATS}): {TD}{where}"


SAME_TYPE = "FIELD_SAME_TYPE"
WJ_TYPE = "FIELD_WIRE_JSON_COMPATIBLE_TYPE"
WJ_CARD = "FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY"
C_SAME_TYPE = "CSR, FILE, PACKAGE"
C_WJ = "CSR, WIRE_JSON"
C_WJ_UP = "CSR, FILE, PACKAGE, WIRE_JSON"
C_ALL = "CSR, FILE, PACKAGE, WIRE_JSON, WIRE"


one = functools.partial(one_field, name="one")


def enum(
    full_name: str, members: str, *, cls: str = "", default: str | None = None, aliases: tuple[str, ...] = ()
) -> Enum:
    """A proto enum: ``members`` as 'NAME=number NAME=number ...'."""
    values = {k: int(v) for k, v in (m.split("=") for m in members.split())}
    return Enum(cls or full_name.rsplit(".", 1)[-1], full_name, values, aliases=aliases, default=default)


CASES: list[Case] = []

# ---------------------------------------------------------------------------------------------
# FIELD_SAME_TYPE (CSR, FILE, PACKAGE) and its WIRE_JSON form FIELD_WIRE_JSON_COMPATIBLE_TYPE (CSR, WIRE_JSON)
# ---------------------------------------------------------------------------------------------
CASES += [
    one(
        "buf-field-same-type-scalar-to-repeated",
        t(
            SAME_TYPE,
            "breaking_field_same_type/1.proto, message Two: 'int32 one = 1' -> 'repeated int64 one = 1' "
            "(flagged 1.proto:8)",
            C_SAME_TYPE,
        ),
        "int",
        "list[int]",
        (1,),
        Refused("changed from"),
        rdefault=[],
    ),
    Case(
        id="buf-field-same-type-unchanged",
        source=t(
            SAME_TYPE, "breaking_field_same_type/1.proto, message Three.Eight, unchanged (not flagged)", C_SAME_TYPE
        ),
        writer=(
            F("one", "int", default=0),
            F("three", "list[int]", default=[]),
            F("five", "dict[int, int]", default={}),
        ),
        reader=(
            F("one", "int", default=0),
            F("three", "list[int]", default=[]),
            F("five", "dict[int, int]", default={}),
        ),
        rows=({"one": 1, "three": [1, 2], "five": {1: 2}}, {"one": 0, "three": [], "five": {}}),
        expect=({"one": 1, "three": [1, 2], "five": {1: 2}}, {"one": 0, "three": [], "five": {}}),
    ),
    one(
        "buf-field-same-type-oneof-int32-to-int64",
        t(
            SAME_TYPE,
            "breaking_field_same_type/2.proto (current), message Nine: oneof foo 'int32 one = 1' -> "
            "'int64 one = 1' (flagged 2.proto:57)",
            C_SAME_TYPE,
        ),
        "int | None",
        "int | None",
        (5, None),
        (5, None),
        rdefault=None,
        note=NO_WIDTH + " (FIELD_WIRE_JSON_COMPATIBLE_TYPE also separates int32 from int64, a JSON string.)",
    ),
    one(
        "buf-int-enum-enum-to-int",
        t(
            SAME_TYPE,
            "breaking_int_enum/1.proto: Foo 'Bar foo = 1' -> 'int32 foo = 1', enum Bar deleted "
            "(FIELD_SAME_TYPE 1.proto:3 and ENUM_NO_DELETE)",
            C_SAME_TYPE,
        ),
        "Bar",
        "int",
        (E("Bar", "Blah"),),
        Refused("changed from"),
        name="foo",
        writer_enums=(enum("Bar", "Blah=0"),),
    ),
    one(
        "buf-int-enum-int-to-enum",
        t(
            SAME_TYPE,
            "breaking_int_enum/2.proto: Foo2 'int32 foo = 1' -> 'Bar2 foo = 1' (flagged 2.proto:3)",
            C_SAME_TYPE,
        ),
        "int",
        "Bar2",
        (0,),
        Refused("changed from"),
        name="foo",
        reader_enums=(enum("Bar2", "Blah=0"),),
    ),
]

_PRIMS = (  # (JSON name, Python type, a value) of CompatiblePrimitives / IncompatiblePrimitives
    ("int32Field1", "int", -1),
    ("uint32Field1", "int", 1),
    ("int64Field1", "int", -(2**40)),
    ("uint64Field1", "int", 2**63),
    ("boolField1", "bool", True),
    ("stringField1", "str", "s"),
    ("bytesField1", "bytes", b"b"),
    ("floatField1", "float", 1.5),
    ("doubleField1", "float", -2.25),
)
_PRIM_FIELDS = tuple(F(n, ty) for n, ty, _ in _PRIMS)
_PRIM_ROW = {n: v for n, _, v in _PRIMS}
CASES += [
    Case(
        id="buf-wire-json-type-compatible-primitives-by-json-name",
        source=t(
            WJ_TYPE,
            "breaking_field_wire_json_compatible_type/1.proto (previous) -> 2.proto (current), message "
            "CompatiblePrimitives: numbers swapped between int32/uint32, int64/uint64, fixed32/sfixed32, "
            "fixed64/sfixed64, every field keeps its name and type (not flagged)",
            C_WJ,
        ),
        writer=_PRIM_FIELDS,
        reader=tuple(reversed(_PRIM_FIELDS)),
        rows=(_PRIM_ROW,),
        expect=(_PRIM_ROW,),
        note="By JSON name nothing changed; Buf's FIELD_SAME_NAME/FIELD_SAME_JSON_NAME (by number) would flag "
        "the swapped numbers, which Amber does not store.",
    ),
    Case(
        id="buf-wire-json-type-incompatible-primitives-by-json-name",
        source=t(
            WJ_TYPE,
            "breaking_field_wire_json_compatible_type/1.proto -> 2.proto, message "
            "IncompatiblePrimitives: fields renumbered, each name keeps its type except fixed64_field_1 "
            "(flagged 2.proto:34-48 by number)",
            C_WJ,
        ),
        writer=_PRIM_FIELDS,
        reader=_PRIM_FIELDS,
        rows=(_PRIM_ROW,),
        expect=(_PRIM_ROW,),
        note="Buf compares by number, so every renumbered field changes type; by JSON name they are unchanged.",
    ),
    one(
        "buf-wire-json-type-fixed64-to-string",
        t(
            WJ_TYPE,
            "breaking_field_wire_json_compatible_type 2.proto (current), IncompatiblePrimitives: "
            "'fixed64 fixed64_field_1' -> 'string fixed64_field_1 = 10' (flagged 2.proto:43)",
            C_WJ,
        ),
        "int",
        "str",
        (7,),
        Refused("changed from"),
        name="fixed64Field1",
        rdefault="",
    ),
    one(
        "buf-wire-json-type-string-to-bytes",
        t(
            WJ_TYPE,
            "breaking_field_wire_json_compatible_type 2.proto (current), StringBytes: 'string "
            "string_field_1' -> 'bytes string_field_1 = 1' (flagged 2.proto:87)",
            C_WJ,
        ),
        "str",
        "bytes",
        ("h\u00e9", ""),
        (b"h\xc3\xa9", b""),
        name="stringField1",
        rdefault=b"",
        note="Buf flags it (JSON writes bytes as base64); Amber converts the stored strings to their UTF-8.",
    ),
    one(
        "buf-wire-json-type-bytes-to-string",
        t(
            WJ_TYPE,
            "breaking_field_wire_json_compatible_type 2.proto (current), StringBytes: 'bytes "
            "bytes_field_1' -> 'string bytes_field_1 = 2' (flagged 2.proto:88)",
            C_WJ,
        ),
        "bytes",
        "str",
        (b"abc",),
        ("abc",),
        name="bytesField1",
        rdefault="",
        note="Buf flags it (JSON reads base64); Amber decodes the stored bytes as UTF-8.",
    ),
    one(
        "buf-wire-json-type-bytes-to-string-invalid",
        t(
            WJ_TYPE,
            "breaking_field_wire_json_compatible_type StringBytes bytes_field_1 bytes -> string (2.proto:88), "
            "with bytes that are not UTF-8",
            C_WJ,
        ),
        "bytes",
        "str",
        (b"ok", b"\xff\xfe"),
        Fails("UTF-8"),
        name="bytesField1",
        rdefault="",
    ),
    one(
        "buf-wire-json-type-enum-moved-no-alias",
        t(
            WJ_TYPE,
            "breaking_field_wire_json_compatible_type WithCompatibleEnums: 'Foo foo = 1' with enum a.Foo -> "
            "nested enum a.WithCompatibleEnums.Foo, a superset (not flagged)",
            C_WJ,
        ),
        "Foo",
        "Foo",
        (E("Foo", "FOO_ONE"),),
        Refused("enum"),
        name="foo",
        writer_enums=(enum("a.Foo", "FOO_UNSPECIFIED=0 FOO_ONE=1"),),
        reader_enums=(enum("a.WithCompatibleEnums.Foo", "FOO_UNSPECIFIED=0 FOO_ONE=1 FOO_TWO=2"),),
        note="Buf compares enums by short name; Amber's stable names differ, so without an alias it is an enum swap.",
    ),
    one(
        "buf-wire-json-type-enum-moved-aliased",
        t(
            WJ_TYPE,
            "breaking_field_wire_json_compatible_type WithCompatibleEnums foo: a.Foo -> "
            "a.WithCompatibleEnums.Foo (not flagged), the new enum aliasing the old name",
            C_WJ,
        ),
        "Foo",
        "Foo",
        (E("Foo", "FOO_UNSPECIFIED"), E("Foo", "FOO_ONE")),
        (E("Foo", "FOO_UNSPECIFIED"), E("Foo", "FOO_ONE")),
        name="foo",
        writer_enums=(enum("a.Foo", "FOO_UNSPECIFIED=0 FOO_ONE=1"),),
        reader_enums=(enum("a.WithCompatibleEnums.Foo", "FOO_UNSPECIFIED=0 FOO_ONE=1 FOO_TWO=2", aliases=("a.Foo",)),),
    ),
    one(
        "buf-wire-json-type-enum-value-renamed-aliased",
        t(
            WJ_TYPE,
            "breaking_field_wire_json_compatible_type WithIncompatibleEnums: 'Bar bar = 1', a.Bar {BAR_ONE = 1}"
            " -> a.WithIncompatibleEnums.Bar {BAR_TWO = 1} (flagged 2.proto:81), the new enum aliasing a.Bar",
            C_WJ,
        ),
        "Bar",
        "Bar",
        (E("Bar", "BAR_UNSPECIFIED"), E("Bar", "BAR_ONE")),
        Fails("member"),
        name="bar",
        writer_enums=(enum("a.Bar", "BAR_UNSPECIFIED=0 BAR_ONE=1"),),
        reader_enums=(enum("a.WithIncompatibleEnums.Bar", "BAR_UNSPECIFIED=0 BAR_TWO=1", aliases=("a.Bar",)),),
    ),
    one(
        "buf-wire-json-type-enum-value-renamed-unused",
        t(
            WJ_TYPE,
            "breaking_field_wire_json_compatible_type WithIncompatibleEnums bar (2.proto:81), aliased, no row "
            "holding BAR_ONE",
            C_WJ,
        ),
        "Bar",
        "Bar",
        (E("Bar", "BAR_UNSPECIFIED"),),
        (E("Bar", "BAR_UNSPECIFIED"),),
        name="bar",
        writer_enums=(enum("a.Bar", "BAR_UNSPECIFIED=0 BAR_ONE=1"),),
        reader_enums=(enum("a.WithIncompatibleEnums.Bar", "BAR_UNSPECIFIED=0 BAR_TWO=1", aliases=("a.Bar",)),),
    ),
    one(
        "buf-wire-json-type-enum-moved-out-no-alias",
        t(
            WJ_TYPE,
            "breaking_field_wire_json_compatible_type WithIncompatibleEnums: 'Bat bat = 2', nested "
            "a.WithIncompatibleEnums.Bat -> top-level a.Bat with BAT_ONE renamed BAT_TWO (flagged 2.proto:82)",
            C_WJ,
        ),
        "Bat",
        "Bat",
        (E("Bat", "BAT_ONE"),),
        Refused("enum"),
        name="bat",
        writer_enums=(enum("a.WithIncompatibleEnums.Bat", "BAT_UNSPECIFIED=0 BAT_ONE=1"),),
        reader_enums=(enum("a.Bat", "BAT_UNSPECIFIED=0 BAT_TWO=1"),),
    ),
]

# ---------------------------------------------------------------------------------------------
# FIELD_SAME_CARDINALITY (FILE, PACKAGE) and FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY (CSR, WIRE_JSON)
# ---------------------------------------------------------------------------------------------
_CARD = "breaking_field_wire_json_compatible_cardinality/"
CASES += [
    one(
        "buf-cardinality-singular-to-repeated",
        t(
            WJ_CARD,
            _CARD + "1.proto, message Two: 'int32 one = 1' -> 'repeated int64 one = 1' (flagged 1.proto:8)",
            C_WJ,
        ),
        "int",
        "list[int]",
        (3,),
        Refused("changed from"),
        rdefault=[],
    ),
    one(
        "buf-cardinality-repeated-to-singular",
        t(
            WJ_CARD,
            _CARD + "1.proto, message Two: 'repeated int32 three = 3' -> 'int64 three = 3' (flagged 1.proto:10)",
            C_WJ,
        ),
        "list[int]",
        "int",
        ([1, 2],),
        Refused("changed from"),
        name="three",
        rdefault=0,
    ),
    one(
        "buf-cardinality-map-to-singular",
        t(
            WJ_CARD,
            _CARD + "1.proto, message Two: 'map<int32, int32> five = 5' -> 'int32 five = 5' (flagged 1.proto:12)",
            C_WJ,
        ),
        "dict[int, int]",
        "int",
        ({1: 2},),
        Refused("changed from"),
        name="five",
        rdefault=0,
    ),
    one(
        "buf-cardinality-map-unchanged",
        t(
            WJ_CARD,
            _CARD + "1.proto, message Three.Four.Six: 'map<int32, int32> five = 5' unchanged (not flagged)",
            C_WJ,
        ),
        "dict[int, int]",
        "dict[int, int]",
        ({1: 2, -3: 4},),
        ({1: 2, -3: 4},),
        name="five",
        rdefault={},
    ),
    one(
        "buf-cardinality-proto3-optional-to-singular",
        t(
            WJ_CARD,
            _CARD + "1.proto, message Three.Eight: 'optional int32 one = 1' -> 'int32 one = 1' (not flagged "
            "at WIRE_JSON)",
            C_WJ,
        ),
        "int | None",
        "int",
        (1, None),
        Refused("changed from"),
        rdefault=0,
        note="Buf accepts it (an unset field reads as 0); Amber refuses T | None -> T (None has no int value).",
    ),
    one(
        "buf-cardinality-proto2-optional-to-required",
        t(
            WJ_CARD,
            _CARD + "2.proto, message One2: 'optional int32 one = 1' -> 'required int32 one = 1' (flagged 2.proto:13)",
            C_WJ,
        ),
        "int | None",
        "int",
        (1, None),
        Refused("changed from"),
    ),
    one(
        "buf-cardinality-proto3-singular-to-required",
        t(
            WJ_CARD,
            _CARD + "2.proto (current), message Ten: proto3 'int64 two = 2' -> proto2 'required int64 two = "
            "2' (flagged 2.proto:71)",
            C_WJ,
        ),
        "int",
        "int",
        (0, 5),
        (0, 5),
        name="two",
        note="A proto3 implicit-presence int always holds a value: to a required int it is the identity here.",
    ),
]

# ---------------------------------------------------------------------------------------------
# FIELD_SAME_ONEOF (CSR, FILE, PACKAGE, WIRE_JSON, WIRE): oneof members are T | None
# ---------------------------------------------------------------------------------------------
_ONEOF = "FIELD_SAME_ONEOF"
CASES += [
    one(
        "buf-oneof-member-to-singular",
        t(
            _ONEOF,
            "breaking_field_same_oneof/1.proto, message Two: 'oneof foo { int32 one = 1; }' -> 'int32 one = 1' "
            "(flagged 1.proto:6)",
            C_ALL,
        ),
        "int | None",
        "int",
        (1, None),
        Refused("changed from"),
        rdefault=0,
    ),
    one(
        "buf-oneof-renamed-oneof",
        t(
            _ONEOF,
            "breaking_field_same_oneof/1.proto, message Two: 'oneof bar { int32 two = 2; }' -> 'oneof baz { "
            "int32 two = 2; }' (flagged 1.proto:8)",
            C_ALL,
        ),
        "int | None",
        "int | None",
        (2, None),
        (2, None),
        name="two",
        rdefault=None,
        note="The oneof's own name is not in the JSON (nor in Amber's records): the identity here.",
    ),
    one(
        "buf-oneof-singular-to-member",
        t(
            _ONEOF,
            "breaking_field_same_oneof/1.proto, message Two: 'int32 three = 3' -> 'oneof foo { int32 three = "
            "3; }' (flagged 1.proto:11)",
            C_ALL,
        ),
        "int",
        "int | None",
        (3, 0),
        (3, 0),
        name="three",
        rdefault=None,
        note="Buf flags the move; a value into a union holding its type reads unchanged.",
    ),
]

# ---------------------------------------------------------------------------------------------
# FIELD_NO_DELETE (CSR, FILE, PACKAGE) and FIELD_NO_DELETE_UNLESS_NAME_RESERVED (CSR, WIRE_JSON)
# ---------------------------------------------------------------------------------------------
_ND = "FIELD_NO_DELETE"
_NDR = "FIELD_NO_DELETE_UNLESS_NAME_RESERVED"
_ONE_TWO_THREE = (F("one", "int", default=0), F("two", "int", default=0), F("three", "int", default=0))
_ONE_TWO = (F("one", "int", default=0), F("two", "int", default=0))
CASES += [
    Case(
        id="buf-field-no-delete-removed-ignored",
        source=t(
            _ND,
            "breaking_field_no_delete/1.proto, message Two: 'int32 three = 3' deleted (flagged 1.proto:5)",
            "CSR, FILE, PACKAGE",
        ),
        writer=_ONE_TWO_THREE,
        reader=_ONE_TWO,
        rows=({"one": 1, "two": 2, "three": 3},),
        expect=({"one": 1, "two": 2},),
        note="Buf flags the deletion (a later reuse of the number); reading old data ignores the field.",
    ),
    Case(
        id="buf-field-no-delete-old-reader-default",
        source=t(
            _ND,
            "breaking_field_no_delete/1.proto, message Two: 'three' deleted, read by the previous release",
            "CSR, FILE, PACKAGE",
        ),
        writer=_ONE_TWO,
        reader=_ONE_TWO_THREE,
        rows=({"one": 1, "two": 2},),
        expect=({"one": 1, "two": 2, "three": 0},),
        newer=True,
        note="The old release gives the field the new writer lacks its proto3 zero value, its default.",
    ),
    Case(
        id="buf-field-no-delete-old-reader-required",
        source=t(
            _ND,
            "breaking_field_no_delete/1.proto, message Two: 'three' deleted, read by a previous release "
            "declaring it without a default",
            "CSR, FILE, PACKAGE",
        ),
        writer=_ONE_TWO,
        reader=(F("one", "int", default=0), F("two", "int", default=0), F("three", "int")),
        rows=({"one": 1, "two": 2},),
        expect=Refused("newer writer lacks it"),
        newer=True,
    ),
    Case(
        id="buf-field-no-delete-new-field-ignored-by-old-reader",
        source=t(
            _ND,
            "breaking_field_no_delete/1.proto, message Two read the other way: the previous release "
            "(one, two, three) reads the current one after a field 'four' is added",
            "CSR, FILE, PACKAGE",
        ),
        writer=(*_ONE_TWO_THREE, F("four", "str", default="")),
        reader=_ONE_TWO_THREE,
        rows=({"one": 1, "two": 2, "three": 3, "four": "x"},),
        expect=({"one": 1, "two": 2, "three": 3},),
        newer=True,
    ),
    Case(
        id="buf-field-no-delete-unless-name-reserved",
        source=t(
            _NDR,
            "breaking_field_no_delete_unless_name_reserved/1.proto, message Two: 'two' and 'three' "
            "deleted, 'reserved \"three\"' (flagged 1.proto:5 for 'two')",
            C_WJ,
        ),
        writer=_ONE_TWO_THREE,
        reader=(F("one", "int", default=0),),
        rows=({"one": 1, "two": 2, "three": 3},),
        expect=({"one": 1},),
    ),
    Case(
        id="buf-field-no-delete-renumbered-name-looks-renamed",
        source=t(
            _ND,
            "breaking_field_no_delete/1.proto, message Three.Eight: 'int32 two = 2' -> 'int32 changed_name "
            "= 2' (not flagged: FIELD_NO_DELETE compares numbers; FIELD_SAME_NAME flags the rename)",
            "CSR, FILE, PACKAGE",
        ),
        writer=(F("one", "int", default=0), F("two", "int", default=0), F("three", "int", default=0)),
        reader=(F("one", "int", default=0), F("changedName", "int", default=0), F("three", "int", default=0)),
        rows=({"one": 1, "two": 2, "three": 3},),
        expect=Refused("looks renamed"),
    ),
    Case(
        id="buf-field-no-delete-renamed-with-alias",
        source=t(
            _ND,
            "breaking_field_no_delete/1.proto, message Three.Eight: 'two' -> 'changed_name', declared as a rename",
            "CSR, FILE, PACKAGE",
        ),
        writer=(F("one", "int", default=0), F("two", "int", default=0), F("three", "int", default=0)),
        reader=(
            F("one", "int", default=0),
            F("changedName", "int", default=0, aliases=("two",)),
            F("three", "int", default=0),
        ),
        rows=({"one": 1, "two": 2, "three": 3},),
        expect=({"one": 1, "changedName": 2, "three": 3},),
    ),
    Case(
        id="buf-field-no-delete-renamed-declared-new",
        source=t(
            _ND,
            "breaking_field_no_delete/1.proto, message Three.Eight: 'two' deleted and 'changed_name' "
            "declared a new field",
            "CSR, FILE, PACKAGE",
        ),
        writer=(F("one", "int", default=0), F("two", "int", default=0), F("three", "int", default=0)),
        reader=(
            F("one", "int", default=0),
            F("changedName", "int", default=0, new=True),
            F("three", "int", default=0),
        ),
        rows=({"one": 1, "two": 2, "three": 3},),
        expect=({"one": 1, "changedName": 0, "three": 3},),
    ),
]

# ---------------------------------------------------------------------------------------------
# FIELD_SAME_NAME and FIELD_SAME_JSON_NAME (CSR, FILE, PACKAGE, WIRE_JSON)
# ---------------------------------------------------------------------------------------------
_SN = "FIELD_SAME_NAME"
_SJN = "FIELD_SAME_JSON_NAME"
CASES += [
    Case(
        id="buf-field-same-name-old-reader",
        source=t(
            _SN,
            "breaking_field_same_name/1.proto, message Two: 'int32 two = 2' -> 'int32 four = 2' (flagged "
            "1.proto:7), the previous release reading the current one",
            C_WJ_UP,
        ),
        writer=(F("one", "int", default=0), F("four", "int", default=0), F("three", "int", default=0)),
        reader=_ONE_TWO_THREE,
        rows=({"one": 1, "four": 2, "three": 3},),
        expect=Refused("looks renamed"),
        newer=True,
    ),
    Case(
        id="buf-field-same-name-unchanged",
        source=t(_SN, "breaking_field_same_name/1.proto, message Three.Four.Six unchanged (not flagged)", C_WJ_UP),
        writer=_ONE_TWO_THREE,
        reader=_ONE_TWO_THREE,
        rows=({"one": 1, "two": 2, "three": 3},),
        expect=({"one": 1, "two": 2, "three": 3},),
    ),
    Case(
        id="buf-field-same-name-new-reader",
        source=t(
            _SN,
            "breaking_field_same_name/1.proto, message Three.Seven: 'int32 two = 2' -> 'int32 four = 2' "
            "(flagged 1.proto:26)",
            C_WJ_UP,
        ),
        writer=_ONE_TWO_THREE,
        reader=(F("one", "int", default=0), F("four", "int", default=0), F("three", "int", default=0)),
        rows=({"one": 1, "two": 2, "three": 3},),
        expect=Refused("looks renamed"),
    ),
    Case(
        id="buf-field-same-json-name-removed-json-name",
        source=t(
            _SJN,
            "breaking_field_same_json_name/1.proto, message Two: 'int32 one = 1 [json_name = \"foo\"]' -> "
            "'int32 one = 1' (JSON name foo -> one, flagged 1.proto:6)",
            C_WJ_UP,
        ),
        writer=(F("foo", "int", default=0),),
        reader=(F("one", "int", default=0),),
        rows=({"foo": 1},),
        expect=Refused("looks renamed"),
    ),
]
CASES += [
    Case(
        id="buf-field-same-json-name-aliased",
        source=t(
            _SJN,
            "breaking_field_same_json_name/1.proto, message Two: JSON name foo -> one (1.proto:6), the "
            "reader aliasing the old JSON name",
            C_WJ_UP,
        ),
        writer=(F("foo", "int", default=0),),
        reader=(F("one", "int", default=0, aliases=("foo",)),),
        rows=({"foo": 1}, {"foo": 0}),
        expect=({"one": 1}, {"one": 0}),
    ),
    Case(
        id="buf-field-same-json-name-added-json-name",
        source=t(
            _SJN,
            "breaking_field_same_json_name/1.proto, message Two: 'int32 three = 3' -> 'int32 three = 3 "
            '[json_name = "baz"]\' (flagged 1.proto:8), aliased',
            C_WJ_UP,
        ),
        writer=(F("three", "int", default=0),),
        reader=(F("baz", "int", default=0, aliases=("three",)),),
        rows=({"three": 3},),
        expect=({"baz": 3},),
    ),
    Case(
        id="buf-field-same-json-name-repeated",
        source=t(
            _SJN,
            "breaking_field_same_json_name/1.proto, message Two: 'repeated int32 four = 4 [json_name = "
            "\"bar\"]' -> 'repeated int32 four = 4' (flagged 1.proto:9)",
            C_WJ_UP,
        ),
        writer=(F("bar", "list[int]", default=[]),),
        reader=(F("four", "list[int]", default=[]),),
        rows=({"bar": [1, 2]},),
        expect=Refused("looks renamed"),
    ),
    Case(
        id="buf-field-same-json-name-map-aliased",
        source=t(
            _SJN,
            "breaking_field_same_json_name/1.proto, message Two: 'map<int32, int32> seven = 7 [json_name "
            "= \"baz\"]' -> 'map<int32, int32> seven = 7' (flagged 1.proto:12), aliased",
            C_WJ_UP,
        ),
        writer=(F("baz", "dict[int, int]", default={}),),
        reader=(F("seven", "dict[int, int]", default={}, aliases=("baz",)),),
        rows=({"baz": {1: 7}},),
        expect=({"seven": {1: 7}},),
    ),
    Case(
        id="buf-field-same-json-name-old-reader",
        source=t(
            _SJN,
            "breaking_field_same_json_name/1.proto, message Three.Seven: JSON name foo -> one (flagged "
            "1.proto:43), the previous release reading the current one",
            C_WJ_UP,
        ),
        writer=(F("one", "int", default=0),),
        reader=(F("foo", "int", default=0),),
        rows=({"one": 1},),
        expect=Refused("looks renamed"),
        newer=True,
    ),
    Case(
        id="buf-field-same-json-name-oneof-declared-new",
        source=t(
            _SJN,
            "breaking_field_same_json_name/2.proto (current), message Nine: oneof foo 'int32 one = 1 "
            "[json_name = \"foo\"]' -> 'int32 one = 1' (flagged 2.proto:92), 'one' declared a new field",
            C_WJ_UP,
        ),
        writer=(F("foo", "int | None", default=None),),
        reader=(F("one", "int | None", default=None, new=True),),
        rows=({"foo": 1},),
        expect=({"one": None},),
    ),
]

# ---------------------------------------------------------------------------------------------
# FIELD_SAME_DEFAULT (CSR, FILE, PACKAGE, WIRE_JSON, WIRE): proto2 / editions explicit defaults
# ---------------------------------------------------------------------------------------------
_SD = "FIELD_SAME_DEFAULT"
_SD1 = "breaking_field_same_default/1.proto, message Foo"
_SD2 = "breaking_field_same_default/2.proto, message Fizz"
_TYPE_ONLY = " (not flagged by this rule; the type change is FIELD_SAME_TYPE's)"


def _default_chain(id: str, where: str, type_: str, d1: Any, d2: Any, row_value: Any) -> list[Case]:  # noqa: PLR0917
    """A field's default changed d1 -> d2: what stored records hold is kept; records written before the
    field existed get d1, the default of the release that added it."""
    return [
        Case(
            id=f"{id}-stored",
            source=t(_SD, f"{where}: default {d1!r} -> {d2!r}, the writer having the field", C_ALL),
            writer=(F("f", type_, default=d1),),
            reader=(F("f", type_, default=d2),),
            rows=({"f": row_value},),
            expect=({"f": row_value},),
        ),
        Case(
            id=f"{id}-added-between",
            source=t(
                _SD, f"{where}: default {d1!r} -> {d2!r}, the writer older than the release adding the field", C_ALL
            ),
            writer=(F("id", "int", default=0),),
            between=((F("id", "int", default=0), F("f", type_, default=d1)),),
            reader=(F("id", "int", default=0), F("f", type_, default=d2)),
            rows=({"id": 1},),
            expect=({"id": 1, "f": d1},),
        ),
    ]


CASES += _default_chain("buf-field-same-default-string", _SD1 + " s4 (flagged 1.proto:9)", "str", "abc", "xyz", "s")
CASES += _default_chain(
    "buf-field-same-default-bytes", _SD1 + " b4 (flagged 1.proto:14)", "bytes", b"xyz", b"abc", b"\x00"
)
CASES += _default_chain("buf-field-same-default-int32", _SD1 + ".Int32s i4 (flagged 1.proto:20)", "int", 123, 456, 7)
CASES += _default_chain(
    "buf-field-same-default-float", _SD1 + ".Floats i4 (flagged 1.proto:90)", "float", 123.0, 456.0, 0.5
)
CASES += _default_chain(
    "buf-field-same-default-bool", _SD1 + ".Bools i4 (flagged 1.proto:104)", "bool", True, False, False
)

_SD_ENUM = enum("a.Foo.Enums.Enum", "ZERO=0 ABC=1 DEF=2 XYZ=3", cls="FooEnum")
CASES += [
    one(
        "buf-field-same-default-removed",
        t(
            _SD,
            _SD1 + ": 'optional string s2 = 2 [default = \"abc\"]' -> 'optional string s2 = 2' (flagged 1.proto:7)",
            C_ALL,
        ),
        "str | None",
        "str | None",
        ("kept", None),
        ("kept", None),
        name="s2",
        rdefault=None,
    ),
    one(
        "buf-field-same-default-enum-stored",
        t(
            _SD,
            _SD1 + ".Enums: 'optional Enum i4 = 4 [default = ABC]' -> '[default = XYZ]' (flagged 1.proto:111), the"
            " writer having the field",
            C_ALL,
        ),
        "FooEnum",
        "FooEnum",
        (E("FooEnum", "DEF"),),
        (E("FooEnum", "DEF"),),
        name="i4",
        writer_enums=(_SD_ENUM,),
        reader_enums=(_SD_ENUM,),
        note="Enum field defaults are left out: they only matter when the writer lacks the field.",
    ),
    one(
        "buf-field-same-default-string-to-bytes",
        t(
            _SD,
            _SD1 + ": 'optional string s3 = 3 [default = \"abc\"]' -> 'optional bytes s3 = 3 [default = "
            '"abc"]\'' + _TYPE_ONLY,
            C_ALL,
        ),
        "str",
        "bytes",
        ("abc", "\u00e9"),
        (b"abc", b"\xc3\xa9"),
        name="s3",
        rdefault=b"abc",
    ),
    one(
        "buf-field-same-default-bytes-to-string",
        t(
            _SD,
            _SD1 + ": 'optional bytes b3 = 7 [default = \"xyz\"]' -> 'optional string b3 = 7 [default = "
            '"xyz"]\'' + _TYPE_ONLY,
            C_ALL,
        ),
        "bytes",
        "str",
        (b"xyz",),
        ("xyz",),
        name="b3",
        rdefault="xyz",
    ),
    one(
        "buf-field-same-default-int32-to-double",
        t(
            _SD,
            _SD1
            + ".Int32s: 'optional int32 i3 = 3 [default = 123]' -> 'optional double i3 = 3 [default = 123]'"
            + _TYPE_ONLY,
            C_ALL,
        ),
        "int",
        "float",
        (123, -1),
        (123.0, -1.0),
        name="i3",
        rdefault=123.0,
    ),
    one(
        "buf-field-same-default-uint32-to-sint64",
        t(
            _SD,
            _SD1 + ".Uint32s: 'optional uint32 i3 = 3' -> 'optional sint64 i3 = 3' (same default 123)" + _TYPE_ONLY,
            C_ALL,
        ),
        "int",
        "int",
        (123, 4),
        (123, 4),
        name="i3",
        rdefault=123,
        note=NO_WIDTH,
    ),
    one(
        "buf-field-same-default-float-to-int32",
        t(
            _SD,
            _SD1 + ".Floats: 'optional float i3 = 3' -> 'optional int32 i3 = 3' (same default 123)" + _TYPE_ONLY,
            C_ALL,
        ),
        "float",
        "int",
        (1.5,),
        Refused("changed from"),
        name="i3",
        rdefault=123,
    ),
    one(
        "buf-field-same-default-double-to-uint64",
        t(
            _SD,
            _SD1 + ".Doubles: 'optional double i3 = 3' -> 'optional uint64 i3 = 3' (same default 123)" + _TYPE_ONLY,
            C_ALL,
        ),
        "float",
        "int",
        (2.0,),
        Refused("changed from"),
        name="i3",
        rdefault=123,
    ),
    one(
        "buf-field-same-default-bool-to-int32",
        t(
            _SD,
            _SD1
            + ".Bools: 'optional bool i3 = 3 [default = true]' -> 'optional int32 i3 = 3 [default = 1]'"
            + _TYPE_ONLY,
            C_ALL,
        ),
        "bool",
        "int",
        (True,),
        Refused("changed from"),
        name="i3",
        rdefault=1,
    ),
    one(
        "buf-field-same-default-enum-to-uint32",
        t(
            _SD,
            _SD1
            + ".Enums: 'optional Enum i3 = 3 [default = ABC]' -> 'optional uint32 i3 = 3 [default = 1]'"
            + _TYPE_ONLY,
            C_ALL,
        ),
        "FooEnum",
        "int",
        (E("FooEnum", "ABC"),),
        Refused("changed from"),
        name="i3",
        rdefault=1,
        writer_enums=(_SD_ENUM,),
    ),
    one(
        "buf-field-same-default-string-to-int32",
        t(_SD, _SD2 + ": proto3 'string s3 = 3' -> editions 'int32 s3 = 3 [default = 123]' (flagged 2.proto:8)", C_ALL),
        "str",
        "int",
        ("1",),
        Refused("changed from"),
        name="s3",
        rdefault=123,
    ),
    one(
        "buf-field-same-default-bytes-to-bool",
        t(_SD, _SD2 + ": proto3 'bytes b3 = 7' -> editions 'bool b3 = 7 [default = true]' (flagged 2.proto:12)", C_ALL),
        "bytes",
        "bool",
        (b"\x01",),
        Refused("changed from"),
        name="b3",
        rdefault=True,
    ),
    one(
        "buf-field-same-default-int32-to-string",
        t(
            _SD,
            _SD2 + ".Int32s: proto3 'int32 i3 = 3' -> editions 'string i3 = 3 [default = \"abc\"]' (flagged "
            "2.proto:17)",
            C_ALL,
        ),
        "int",
        "str",
        (1,),
        Refused("changed from"),
        name="i3",
        rdefault="abc",
    ),
    one(
        "buf-field-same-default-sint32-to-bytes",
        t(
            _SD,
            _SD2 + ".Sint32s: proto3 'sint32 i3 = 3' -> editions 'bytes i3 = 3 [default = \"abc\"]' (flagged "
            "2.proto:29)",
            C_ALL,
        ),
        "int",
        "bytes",
        (1,),
        Refused("changed from"),
        name="i3",
        rdefault=b"abc",
    ),
    one(
        "buf-field-same-default-implicit-to-explicit",
        t(
            _SD,
            _SD2 + ".Floats: proto3 'float i1 = 1' (implicit 0) -> editions 'float i1 = 1 [default = 123.123]' "
            "(flagged 2.proto:75), the writer having the field",
            C_ALL,
        ),
        "float",
        "float",
        (0.0, 2.5),
        (0.0, 2.5),
        name="i1",
        rdefault=123.123,
    ),
]

# ---------------------------------------------------------------------------------------------
# ENUM_VALUE_NO_DELETE (CSR, FILE, PACKAGE), ENUM_VALUE_SAME_NAME (CSR, FILE, PACKAGE, WIRE_JSON)
# ---------------------------------------------------------------------------------------------
_EVND = "ENUM_VALUE_NO_DELETE"
_EVSN = "ENUM_VALUE_SAME_NAME"
TWO_PREV = enum("a.Two", "TWO_UNSPECIFIED=0 TWO_ONE=1 TWO_TWO=2")
TWO_DELETED = enum("a.Two", "TWO_UNSPECIFIED=0 TWO_ONE=1")
TWO_DELETED_DEFAULT = enum("a.Two", "TWO_UNSPECIFIED=0 TWO_ONE=1", default="TWO_UNSPECIFIED")
TWO_RENAMED = enum("a.Two", "TWO_UNSPECIFIED=0 TWO_ONE=1 TWO_THREE=2")
TWO_RENAMED_DEFAULT = enum("a.Two", "TWO_UNSPECIFIED=0 TWO_ONE=1 TWO_THREE=2", default="TWO_UNSPECIFIED")
_DEL = "breaking_enum_value_no_delete/1.proto, enum Two: 'TWO_TWO = 2' deleted (flagged 1.proto:5)"
_REN = "breaking_enum_value_same_name/1.proto, enum Two: 'TWO_TWO = 2' -> 'TWO_THREE = 2' (flagged 1.proto:8)"
_TWO = (E("Two", "TWO_UNSPECIFIED"), E("Two", "TWO_ONE"))
CASES += [
    one(
        "buf-enum-value-no-delete-unused",
        t(_EVND, _DEL + ", no row holding TWO_TWO", "CSR, FILE, PACKAGE"),
        "Two",
        "Two",
        _TWO,
        _TWO,
        name="two",
        writer_enums=(TWO_PREV,),
        reader_enums=(TWO_DELETED,),
    ),
    one(
        "buf-enum-value-no-delete-used",
        t(_EVND, _DEL + ", a row holding TWO_TWO", "CSR, FILE, PACKAGE"),
        "Two",
        "Two",
        (E("Two", "TWO_ONE"), E("Two", "TWO_TWO")),
        Fails("member"),
        name="two",
        writer_enums=(TWO_PREV,),
        reader_enums=(TWO_DELETED,),
        note="A proto3 open enum would keep the unknown number 2; Amber has no member to give it.",
    ),
    one(
        "buf-enum-value-no-delete-used-default",
        t(_EVND, _DEL + ", the reader's enum defaulting to TWO_UNSPECIFIED", "CSR, FILE, PACKAGE"),
        "Two",
        "Two",
        (E("Two", "TWO_ONE"), E("Two", "TWO_TWO")),
        (E("Two", "TWO_ONE"), E("Two", "TWO_UNSPECIFIED")),
        name="two",
        writer_enums=(TWO_PREV,),
        reader_enums=(TWO_DELETED_DEFAULT,),
    ),
    one(
        "buf-enum-value-no-delete-old-reader",
        t(_EVND, _DEL + ", the previous release reading the current one", "CSR, FILE, PACKAGE"),
        "Two",
        "Two",
        _TWO,
        _TWO,
        name="two",
        writer_enums=(TWO_DELETED,),
        reader_enums=(TWO_PREV,),
        newer=True,
    ),
    one(
        "buf-enum-value-same-name-renamed",
        t(_EVSN, _REN + ", a row holding TWO_TWO", C_WJ_UP),
        "Two",
        "Two",
        (E("Two", "TWO_TWO"),),
        Fails("member"),
        name="two",
        writer_enums=(TWO_PREV,),
        reader_enums=(TWO_RENAMED,),
        note="JSON writes enum values by name: TWO_TWO is gone even though number 2 remains.",
    ),
    one(
        "buf-enum-value-same-name-renamed-default",
        t(_EVSN, _REN + ", the reader's enum defaulting to TWO_UNSPECIFIED", C_WJ_UP),
        "Two",
        "Two",
        (E("Two", "TWO_ONE"), E("Two", "TWO_TWO")),
        (E("Two", "TWO_ONE"), E("Two", "TWO_UNSPECIFIED")),
        name="two",
        writer_enums=(TWO_PREV,),
        reader_enums=(TWO_RENAMED_DEFAULT,),
    ),
    one(
        "buf-enum-value-same-name-renamed-unused",
        t(_EVSN, _REN + ", no row holding TWO_TWO", C_WJ_UP),
        "Two",
        "Two",
        _TWO,
        _TWO,
        name="two",
        writer_enums=(TWO_PREV,),
        reader_enums=(TWO_RENAMED,),
    ),
    one(
        "buf-enum-value-same-name-old-reader",
        t(_EVSN, _REN + ", the previous release reading TWO_THREE", C_WJ_UP),
        "Two",
        "Two",
        (E("Two", "TWO_THREE"),),
        Fails("member"),
        name="two",
        writer_enums=(TWO_RENAMED,),
        reader_enums=(TWO_PREV,),
        newer=True,
    ),
    one(
        "buf-enum-value-same-name-nested",
        t(
            _EVSN,
            "breaking_enum_value_same_name/1.proto, enum Three.Seven: "
            "'SEVEN_TWO = 2' -> 'SEVEN_THREE = 2' (flagged 1.proto:27)",
            C_WJ_UP,
        ),
        "Seven",
        "Seven",
        (E("Seven", "SEVEN_TWO"),),
        Fails("member"),
        name="seven",
        writer_enums=(enum("a.Three.Seven", "SEVEN_UNSPECIFIED=0 SEVEN_ONE=1 SEVEN_TWO=2"),),
        reader_enums=(enum("a.Three.Seven", "SEVEN_UNSPECIFIED=0 SEVEN_ONE=1 SEVEN_THREE=2"),),
    ),
    one(
        "buf-enum-value-same-name-number-moved",
        t(
            _EVSN,
            "breaking_enum_value_same_name/1.proto, enum Two, the "
            "converse of 1.proto:8: number 2 renamed TWO_THREE while the name "
            "TWO_TWO moves to number 3",
            C_WJ_UP,
        ),
        "Two",
        "Two",
        (E("Two", "TWO_ONE"),),
        Refused("value"),
        name="two",
        writer_enums=(TWO_PREV,),
        reader_enums=(enum("a.Two", "TWO_UNSPECIFIED=0 TWO_ONE=1 TWO_THREE=2 TWO_TWO=3"),),
        note="Derived from the rule (number 2 must keep its name); the testdata has no such pair.",
    ),
]

# ---------------------------------------------------------------------------------------------
# ENUM_NO_DELETE (CSR, FILE)
# ---------------------------------------------------------------------------------------------
CASES += [
    Case(
        id="buf-enum-no-delete-field-removed",
        source=t(
            "ENUM_NO_DELETE",
            "breaking_enum_no_delete/1.proto: enum Two deleted (flagged, no location), the "
            "field that held it removed with it",
            "CSR, FILE",
        ),
        writer=(F("id", "int", default=0), F("two", "Two")),
        reader=(F("id", "int", default=0),),
        rows=({"id": 1, "two": E("Two", "TWO_UNSPECIFIED")},),
        expect=({"id": 1},),
        writer_enums=(enum("a.Two", "TWO_UNSPECIFIED=0"),),
    ),
    Case(
        id="buf-enum-no-delete-field-kept",
        source=t("ENUM_NO_DELETE", "breaking_enum_no_delete/1.proto: enum One kept (not flagged)", "CSR, FILE"),
        writer=(F("one", "One"),),
        reader=(F("one", "One"),),
        rows=({"one": E("One", "ONE_UNSPECIFIED")},),
        expect=({"one": E("One", "ONE_UNSPECIFIED")},),
        writer_enums=(enum("a.One", "ONE_UNSPECIFIED=0"),),
        reader_enums=(enum("a.One", "ONE_UNSPECIFIED=0"),),
    ),
]

# ---------------------------------------------------------------------------------------------
# RESERVED_MESSAGE_NO_DELETE / RESERVED_ENUM_NO_DELETE (CSR, FILE, PACKAGE, WIRE_JSON, WIRE): reserved names are
# tombstones; deleting the reservation lets a removed name come back with another meaning.
# ---------------------------------------------------------------------------------------------
_RMND = "RESERVED_MESSAGE_NO_DELETE"
_RES = (
    'breaking_reserved_message_no_delete/1.proto, message Two: \'reserved "foo", "bar"; reserved "baz";\' -> '
    "'reserved \"foo\";' (flagged 1.proto:5)"
)
CASES += [
    Case(
        id="buf-reserved-message-name-reused",
        source=t(
            _RMND,
            _RES + ": 'bar' was a field, removed and reserved, then the reservation dropped and 'bar' declared again",
            C_ALL,
        ),
        writer=(F("one", "int", default=0), F("bar", "int", default=0)),
        between=((F("one", "int", default=0),),),
        reader=(F("one", "int", default=0), F("bar", "int", default=0)),
        rows=({"one": 1, "bar": 2},),
        expect=Refused("removed in"),
    ),
    Case(
        id="buf-reserved-message-name-reused-declared-new",
        source=t(_RMND, _RES + ": 'bar' declared again as a new field", C_ALL),
        writer=(F("one", "int", default=0), F("bar", "int", default=0)),
        between=((F("one", "int", default=0),),),
        reader=(F("one", "int", default=0), F("bar", "int", default=0, new=True)),
        rows=({"one": 1, "bar": 2},),
        expect=({"one": 1, "bar": 0},),
        note="The old values of 'bar' are not brought back: the new field gets its default.",
    ),
    Case(
        id="buf-reserved-message-name-reused-other-type",
        source=t(
            _RMND, _RES + ": 'baz' was a string field, removed and reserved, then declared again as an int32", C_ALL
        ),
        writer=(F("one", "int", default=0), F("baz", "str", default="")),
        between=((F("one", "int", default=0),),),
        reader=(F("one", "int", default=0), F("baz", "int", default=0)),
        rows=({"one": 1, "baz": "old"},),
        expect=Refused("removed in"),
    ),
    Case(
        id="buf-reserved-message-name-kept",
        source=t(_RMND, _RES + ": 'foo' stays reserved, never declared again", C_ALL),
        writer=(F("one", "int", default=0), F("foo", "int", default=0)),
        between=((F("one", "int", default=0),),),
        reader=(F("one", "int", default=0),),
        rows=({"one": 1, "foo": 2},),
        expect=({"one": 1},),
    ),
    one(
        "buf-reserved-enum-name-reused-other-number",
        t(
            "RESERVED_ENUM_NO_DELETE",
            'breaking_reserved_enum_no_delete/1.proto, enum Two: \'reserved "foo", '
            '"bar"; reserved "baz";\' -> \'reserved "foo";\' (flagged 1.proto:5): a value named BAR = 3 once, '
            "reserved, and declared again as BAR = 4",
            C_ALL,
        ),
        "Two",
        "Two",
        (E("Two", "TWO_ONE"),),
        Refused("value"),
        name="two",
        writer_enums=(enum("a.Two", "TWO_UNSPECIFIED=0 TWO_ONE=1 TWO_TWO=2 BAR=3"),),
        reader_enums=(enum("a.Two", "TWO_UNSPECIFIED=0 TWO_ONE=1 TWO_TWO=2 BAR=4"),),
        note="Derived: the testdata only drops reservations; Amber compares the member's value by name.",
    ),
]
