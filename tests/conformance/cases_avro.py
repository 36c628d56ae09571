from tests.conformance.model import Case, E, Enum, F, Fails, Refused, one

# Conformance cases translated from Apache Avro's schema-resolution references.
#
# Read from the apache/avro repository (snapshot at commit 87212a6d):
# - the specification, doc/content/en/docs/1.11.4/Specification/_index.md: "Schema Resolution",
#   "Aliases", "Enums" (the ``default`` attribute), "Records" (field ``default`` and its table);
# - lang/java/avro/src/test/java/org/apache/avro/: TestSchemaCompatibility.java (with the schemas of
#   TestSchemas.java), TestSchemaCompatibilityEnumDefaults, ...MissingEnumSymbols, ...MissingUnionBranch,
#   ...ReaderFieldMissingDefaultValue, ...TypeMismatch, ...NameMismatch, ...FixedSizeMismatch,
#   ...Multiple, and TestReadingWritingDataInEvolvedSchemas.java;
# - lang/py/avro/test/test_compatibility.py (the same pairs as the Java suite, plus
#   test_simple_schema_promotion).
#
# Translation conventions:
# - A top-level Avro schema (INT_SCHEMA, unions, arrays, maps, enums) becomes the one field ``v`` of
#   the persisted record; record schemas keep their field names.
# - int/long -> int, float/double -> float, string -> str, bytes/fixed -> bytes, boolean -> bool,
#   array -> list, map -> dict[str, ...], union -> ``A | B``. A singleton union is its member.
# - Avro enum symbols carry no number: each member's value is its own name (``{"A": "A", ...}``),
#   so that adding, removing or reordering symbols never changes a surviving member's value.
# - Where Avro resolves per datum (a union branch chosen at read time) and Amber decides per plan,
#   or where Avro distinguishes what Python does not (int/long, float/double, fixed sizes, enum
#   namespaces), the ``note`` says so and the case asserts Amber's outcome.
# - A row holding an enum member the reader lacks (and no enum default) expects Fails("member"): the
#   fragment shared by "no member" and the library's "member X ... of enum E, which E here does not have".

SPEC = "Avro 1.11 spec (doc/content/en/docs/1.11.4/Specification/_index.md)"
JAVA = "avro lang/java/avro/src/test/java/org/apache/avro/"
TSC = JAVA + "TestSchemaCompatibility.java"
COMPAT = TSC + ": COMPATIBLE_READER_WRITER_TEST_CASES "
DECODING = TSC + ": DECODING_COMPATIBILITY_TEST_CASES "
EVOLVED = JAVA + "TestReadingWritingDataInEvolvedSchemas.java: "
PY = "avro lang/py/avro/test/test_compatibility.py"

NO_LONG = "Python has one int type (no int/long split): the Avro pair is the identity here."
NO_DOUBLE = "Python has one float type (no float/double split): the Avro pair is the identity here."
PER_PLAN = (
    "Avro resolves a union per datum (this value would decode); Amber decides per plan and refuses "
    "the pair because a writer member cannot be read by the reader's type."
)


def enum(name: str, symbols: str, *, cls: str = "", default: str | None = None, aliases: tuple[str, ...] = ()) -> Enum:
    """An Avro enum: ``symbols`` as a string of one-letter or space-separated names."""
    names = symbols.split() if " " in symbols else list(symbols)
    return Enum(cls or name.rsplit(".", 1)[-1], name, {s: s for s in names}, aliases=aliases, default=default)


ENUM1_AB = enum("Enum1", "AB")
ENUM1_ABC = enum("Enum1", "ABC")
ENUM1_BC = enum("Enum1", "BC")
ENUM2_AB = enum("Enum2", "AB")
ENUM1_AB_DEFAULT = enum("Enum1", "AB", default="A")
# Avro's enum named "Enum": the Python class is called AvroEnum (its persisted name stays "Enum").
ENUM_ABC_DEFAULT_A = enum("Enum", "ABC", cls="AvroEnum", default="A")
ENUM_AB_DEFAULT_A = enum("Enum", "AB", cls="AvroEnum", default="A")

CASES: list[Case] = []

# ---------------------------------------------------------------------------------------------
# Spec, "Schema Resolution": if both are records
# ---------------------------------------------------------------------------------------------
CASES += [
    Case(
        id="avro-spec-records-field-order",
        source=SPEC + ", Schema Resolution: 'the ordering of fields may be different: fields are matched by name'",
        writer=(F("a", "int"), F("b", "str")),
        reader=(F("b", "str"), F("a", "int")),
        rows=({"a": 1, "b": "x"}, {"a": -2, "b": ""}),
        expect=({"b": "x", "a": 1}, {"b": "", "a": -2}),
    ),
    Case(
        id="avro-spec-records-writer-field-ignored",
        source=SPEC + ", Schema Resolution: 'if the writer's record contains a field with a name not present in "
        "the reader's record, the writer's value for that field is ignored'",
        writer=(F("a", "int"), F("dropped", "str")),
        reader=(F("a", "int"),),
        rows=({"a": 1, "dropped": "gone"},),
        expect=({"a": 1},),
    ),
    Case(
        id="avro-spec-records-reader-default",
        source=SPEC + ", Schema Resolution: 'if the reader's record schema has a field that contains a default "
        "value, and writer's schema does not have a field with the same name, then the reader should use the "
        "default value from its field'",
        writer=(F("a", "int"),),
        reader=(F("a", "int"), F("b", "int", default=7)),
        rows=({"a": 1}, {"a": 2}),
        expect=({"a": 1, "b": 7}, {"a": 2, "b": 7}),
    ),
    Case(
        id="avro-spec-records-reader-no-default",
        source=SPEC + ", Schema Resolution: 'if the reader's record schema has a field with no default value, and "
        "writer's schema does not have a field with the same name, an error is signalled'",
        writer=(F("a", "int"),),
        reader=(F("a", "int"), F("b", "int")),
        rows=({"a": 1},),
        expect=Refused("new required field"),
    ),
    Case(
        id="avro-spec-records-fields-resolved-recursively",
        source=SPEC + ", Schema Resolution: 'schemas for fields with the same name in both records are resolved "
        "recursively'",
        writer=(F("a", "list[int]"), F("b", "str")),
        reader=(F("a", "list[float]"), F("b", "bytes")),
        rows=({"a": [1, 2], "b": "x"},),
        expect=({"a": [1.0, 2.0], "b": b"x"},),
    ),
]

# ---------------------------------------------------------------------------------------------
# Spec, "Schema Resolution": what matches, and the promotions
# ---------------------------------------------------------------------------------------------
_SR = SPEC + ", Schema Resolution: "
CASES += [
    one(
        "avro-spec-match-arrays",
        _SR + "'both schemas are arrays whose item types match'",
        "list[str]",
        "list[str]",
        (["a", "b"], []),
        (["a", "b"], []),
    ),
    one(
        "avro-spec-match-maps",
        _SR + "'both schemas are maps whose value types match'",
        "dict[str, int]",
        "dict[str, int]",
        ({"a": 1}, {}),
        ({"a": 1}, {}),
    ),
    one(
        "avro-spec-match-enums-same-name",
        _SR + "'both schemas are enums whose (unqualified) names match'",
        "Suit",
        "Suit",
        (E("Suit", "SPADES"), E("Suit", "CLUBS")),
        (E("Suit", "SPADES"), E("Suit", "CLUBS")),
        writer_enums=(enum("Suit", "SPADES HEARTS DIAMONDS CLUBS"),),
        reader_enums=(enum("Suit", "SPADES HEARTS DIAMONDS CLUBS"),),
    ),
    one(
        "avro-spec-match-enums-other-name",
        _SR + "'both schemas are enums whose (unqualified) names match' (they do not: Suit vs Colour)",
        "Suit",
        "Suit",
        (E("Suit", "SPADES"),),
        Refused("enum"),
        writer_enums=(enum("Suit", "SPADES HEARTS DIAMONDS CLUBS"),),
        reader_enums=(enum("Colour", "SPADES HEARTS DIAMONDS CLUBS", cls="Suit"),),
        note="The reader's class keeps the Python name Suit but persists as 'Colour', without an alias.",
    ),
    one(
        "avro-spec-match-same-primitive",
        _SR + "'both schemas have same primitive type'",
        "str",
        "str",
        ("x", ""),
        ("x", ""),
    ),
    one("avro-spec-match-either-is-union", _SR + "'either schema is a union'", "int", "int | str", (1, 0), (1, 0)),
    one(
        "avro-spec-promote-int-to-float",
        _SR + "'int is promotable to long, float, or double'",
        "int",
        "float",
        (1, -3, 0),
        (1.0, -3.0, 0.0),
    ),
    one(
        "avro-spec-promote-int-to-long",
        _SR + "'int is promotable to long, float, or double' (int to long)",
        "int",
        "int",
        (1, 2**40),
        (1, 2**40),
        note=NO_LONG,
    ),
    one(
        "avro-spec-promote-long-to-double",
        _SR + "'long is promotable to float or double'",
        "int",
        "float",
        (2**40, -(2**52)),
        (float(2**40), float(-(2**52))),
    ),
    one(
        "avro-spec-promote-long-to-double-inexact",
        _SR + "'long is promotable to float or double' (a long with no exact double)",
        "int",
        "float",
        (1, 2**53 + 1),
        Fails("exact float"),
        note="Avro promotes with rounding; Amber refuses to round: the row holding 2**53+1 fails.",
    ),
    one(
        "avro-spec-promote-float-to-double",
        _SR + "'float is promotable to double'",
        "float",
        "float",
        (1.5, -0.25),
        (1.5, -0.25),
        note=NO_DOUBLE,
    ),
    one(
        "avro-spec-promote-string-to-bytes",
        _SR + "'string is promotable to bytes'",
        "str",
        "bytes",
        ("42", "G\u00f6ran"),
        (b"42", b"G\xc3\xb6ran"),
    ),
    one(
        "avro-spec-promote-bytes-to-string",
        _SR + "'bytes is promotable to string'",
        "bytes",
        "str",
        (b"42", b"G\xc3\xb6ran"),
        ("42", "G\u00f6ran"),
    ),
    one(
        "avro-spec-promote-bytes-to-string-invalid-utf8",
        _SR + "'bytes is promotable to string' (bytes that are not UTF-8)",
        "bytes",
        "str",
        (b"ok", b"\xff\xfe"),
        Fails("UTF-8"),
    ),
    one(
        "avro-spec-arrays-recursive",
        _SR + "'if both are arrays: This resolution algorithm is applied "
        "recursively to the reader's and writer's array item schemas'",
        "list[int]",
        "list[float]",
        ([1, 2], []),
        ([1.0, 2.0], []),
    ),
    one(
        "avro-spec-arrays-recursive-inexact",
        _SR + "'if both are arrays: ... applied recursively' (an item with no exact double)",
        "list[int]",
        "list[float]",
        ([1, 2**53 + 1],),
        Fails("exact float"),
    ),
    one(
        "avro-spec-arrays-recursive-strings",
        _SR + "'if both are arrays: ... applied recursively' (string items promoted to bytes)",
        "list[str]",
        "list[bytes]",
        (["a", "\u00e9"],),
        ([b"a", b"\xc3\xa9"],),
    ),
    one(
        "avro-spec-arrays-recursive-tuple",
        _SR + "'if both are arrays: ... applied recursively'",
        "tuple[int, ...]",
        "tuple[float, ...]",
        ((1, 2),),
        ((1.0, 2.0),),
        note="A Python tuple[T, ...] stands for an Avro array here.",
    ),
    one(
        "avro-spec-arrays-recursive-frozenset",
        _SR + "'if both are arrays: ... applied recursively'",
        "frozenset[int]",
        "frozenset[float]",
        (frozenset({1, 2}),),
        (frozenset({1.0, 2.0}),),
        note="A Python frozenset[T] stands for an Avro array here.",
    ),
    one(
        "avro-spec-arrays-recursive-set-inexact",
        _SR + "'if both are arrays: ... applied recursively' (an item with no exact double)",
        "set[int]",
        "set[float]",
        ({1, 2**53 + 1},),
        Fails("exact float"),
        note="A Python set[T] stands for an Avro array here.",
    ),
    one(
        "avro-spec-maps-recursive",
        _SR + "'if both are maps: This resolution algorithm is applied recursively "
        "to the reader's and writer's value schemas'",
        "dict[str, int]",
        "dict[str, float]",
        ({"a": 1, "b": -2},),
        ({"a": 1.0, "b": -2.0},),
    ),
    one(
        "avro-spec-maps-recursive-nested",
        _SR + "'if both are maps: ... applied recursively' (map of arrays)",
        "dict[str, list[int]]",
        "dict[str, list[float]]",
        ({"a": [1], "b": []},),
        ({"a": [1.0], "b": []},),
    ),
    one(
        "avro-spec-maps-recursive-invalid-utf8",
        _SR + "'if both are maps: ... applied recursively' (bytes values read as strings, one not UTF-8)",
        "dict[str, bytes]",
        "dict[str, str]",
        ({"a": b"ok"}, {"b": b"\xc3"}),
        Fails("UTF-8"),
    ),
    one(
        "avro-spec-maps-recursive-optional",
        _SR + "'if both are maps: ... applied recursively' (values into a union holding them)",
        "dict[str, int]",
        "dict[str, int | None]",
        ({"a": 1},),
        ({"a": 1},),
    ),
    one(
        "avro-spec-arrays-recursive-optional",
        _SR + "'if both are arrays: ... applied recursively' (items into a union holding them)",
        "list[int]",
        "list[int | None]",
        ([1, 2],),
        ([1, 2],),
    ),
    one(
        "avro-spec-arrays-recursive-enum-default",
        _SR + "'if both are arrays' and 'if both are enums: if the "
        "writer's symbol is not present in the reader's enum and the reader has a default value, then that value "
        "is used'",
        "list[Suit]",
        "list[Suit]",
        ([E("Suit", "SPADES"), E("Suit", "JOKER")],),
        ([E("Suit", "SPADES"), E("Suit", "HEARTS")],),
        writer_enums=(enum("Suit", "SPADES HEARTS JOKER"),),
        reader_enums=(enum("Suit", "SPADES HEARTS", default="HEARTS"),),
    ),
]

# ---------------------------------------------------------------------------------------------
# Spec, "Schema Resolution": if both are enums; spec "Enums": the default attribute
# ---------------------------------------------------------------------------------------------
_ENUM_RULE = (
    _SR + "'if both are enums: if the writer's symbol is not present in the reader's enum and the reader has a "
    "default value, then that value is used, otherwise an error is signalled'"
)
CASES += [
    one(
        "avro-spec-enum-symbol-missing-default",
        _ENUM_RULE,
        "Suit",
        "Suit",
        (E("Suit", "SPADES"), E("Suit", "CLUBS")),
        (E("Suit", "SPADES"), E("Suit", "HEARTS")),
        writer_enums=(enum("Suit", "SPADES HEARTS DIAMONDS CLUBS"),),
        reader_enums=(enum("Suit", "SPADES HEARTS DIAMONDS", default="HEARTS"),),
    ),
    one(
        "avro-spec-enum-symbol-missing-no-default",
        _ENUM_RULE,
        "Suit",
        "Suit",
        (E("Suit", "SPADES"), E("Suit", "CLUBS")),
        Fails("member"),
        writer_enums=(enum("Suit", "SPADES HEARTS DIAMONDS CLUBS"),),
        reader_enums=(enum("Suit", "SPADES HEARTS DIAMONDS"),),
    ),
    one(
        "avro-spec-enum-symbol-missing-unused",
        _ENUM_RULE + " (no row holds the missing symbol)",
        "Suit",
        "Suit",
        (E("Suit", "SPADES"), E("Suit", "DIAMONDS")),
        (E("Suit", "SPADES"), E("Suit", "DIAMONDS")),
        writer_enums=(enum("Suit", "SPADES HEARTS DIAMONDS CLUBS"),),
        reader_enums=(enum("Suit", "SPADES HEARTS DIAMONDS"),),
    ),
    one(
        "avro-spec-enum-symbols-reordered",
        SPEC + ", Enums: 'symbols: a JSON array, listing symbols' and Schema "
        "Resolution 'if both are enums' (symbols matched by name, not position)",
        "Suit",
        "Suit",
        (E("Suit", "SPADES"), E("Suit", "CLUBS")),
        (E("Suit", "SPADES"), E("Suit", "CLUBS")),
        writer_enums=(enum("Suit", "SPADES HEARTS DIAMONDS CLUBS"),),
        reader_enums=(enum("Suit", "CLUBS DIAMONDS HEARTS SPADES"),),
    ),
]

# ---------------------------------------------------------------------------------------------
# Spec, "Schema Resolution": unions
# ---------------------------------------------------------------------------------------------
CASES += [
    one(
        "avro-spec-unions-both",
        _SR + "'if both are unions: The first schema in the reader's union that matches "
        "the selected writer's union schema is recursively resolved against it'",
        "int | str",
        "str | int",
        (1, "x"),
        (1, "x"),
    ),
    one(
        "avro-spec-unions-both-promoted",
        _SR + "'if both are unions: ... recursively resolved against it' (int branch read as float)",
        "int | None",
        "float | None",
        (1, None),
        (1.0, None),
    ),
    one(
        "avro-spec-unions-both-missing-branch",
        _SR + "'if both are unions: ... if none match, an error is signalled'",
        "int | str | None",
        "int | None",
        (1, None),
        Refused("changed from"),
        note="Avro fails only on a datum of the unmatched branch; Amber refuses the pair.",
    ),
    one(
        "avro-spec-unions-reader-only",
        _SR + "'if reader's is a union, but writer's is not: The first schema in "
        "the reader's union that matches the writer's schema is recursively resolved against it'",
        "int",
        "None | int",
        (5, 0),
        (5, 0),
    ),
    one(
        "avro-spec-unions-reader-only-promoted",
        _SR + "'if reader's is a union, but writer's is not' (int matched by promotion to the float branch)",
        "int",
        "float | None",
        (5,),
        (5.0,),
    ),
    one(
        "avro-spec-unions-reader-only-no-match",
        _SR + "'if reader's is a union, but writer's is not ... If none match, an error is signalled'",
        "float",
        "int | None",
        (1.5,),
        Refused("changed from"),
    ),
    one(
        "avro-spec-unions-writer-only",
        _SR + "'if writer's is a union, but reader's is not: If the reader's schema "
        "matches the selected writer's schema, it is recursively resolved against it. If they do not match, an "
        "error is signalled'",
        "int | None",
        "int",
        (5, None),
        Refused("changed from"),
        note=PER_PLAN,
    ),
]

# ---------------------------------------------------------------------------------------------
# Spec, "Aliases"
# ---------------------------------------------------------------------------------------------
_ALIASES = SPEC + ", Aliases: "
CASES += [
    Case(
        id="avro-spec-aliases-field",
        source=_ALIASES + '\'if data was written as a record with a field named "x" and is read as a record with a '
        'field named "y" with alias "x", then the implementation would act as though "x" were named "y"\'',
        writer=(F("x", "int"),),
        reader=(F("y", "int", aliases=("x",)),),
        rows=({"x": 1}, {"x": 2}),
        expect=({"y": 1}, {"y": 2}),
    ),
    Case(
        id="avro-spec-aliases-field-chain",
        source=_ALIASES + "'Aliases function by re-writing the writer's schema using aliases from the reader's "
        "schema' (x renamed y, then y renamed z)",
        writer=(F("x", "int"),),
        between=((F("y", "int", aliases=("x",)),),),
        reader=(F("z", "int", aliases=("y",)),),
        rows=({"x": 3},),
        expect=({"z": 3},),
    ),
    Case(
        id="avro-spec-aliases-field-promoted",
        source=_ALIASES + 'field "x" read as "y" with alias "x", and Schema Resolution \'int is promotable to '
        "... double'",
        writer=(F("x", "int"),),
        reader=(F("y", "float", aliases=("x",)),),
        rows=({"x": 3},),
        expect=({"y": 3.0},),
    ),
    Case(
        id="avro-spec-aliases-field-missing",
        source=_ALIASES + "'An implementation may optionally use aliases to map a writer's schema to the reader's' "
        "(x removed, y added with the same type and no alias)",
        writer=(F("x", "int"),),
        reader=(F("y", "int", default=0),),
        rows=({"x": 3},),
        expect=Refused("looks renamed"),
        note="Avro would give y its default; Amber refuses a removed and an added field of the same type as a "
        "probable rename without an alias.",
    ),
    Case(
        id="avro-spec-aliases-field-missing-declared-new",
        source=_ALIASES + "(x removed, y added with the same type and no alias, declared a new field)",
        writer=(F("x", "int"),),
        reader=(F("y", "int", default=0, new=True),),
        rows=({"x": 3},),
        expect=({"y": 0},),
    ),
    Case(
        id="avro-spec-aliases-type",
        source=_ALIASES + '\'if the writer\'s schema was named "Foo" and the reader\'s schema is named "Bar" and has '
        'an alias of "Foo", then the implementation would act as though "Foo" were named "Bar"\'',
        writer=(F("a", "int"),),
        reader=(F("a", "int"),),
        rows=({"a": 1},),
        expect=({"a": 1},),
        renamed_to="Bar",
    ),
    one(
        "avro-spec-aliases-enum-type",
        _ALIASES + "'Named types and fields may have aliases' (an enum renamed Suit -> Colour with alias Suit)",
        "Suit",
        "Colour",
        (E("Suit", "SPADES"),),
        (E("Colour", "SPADES"),),
        writer_enums=(enum("Suit", "SPADES HEARTS"),),
        reader_enums=(enum("Colour", "SPADES HEARTS", aliases=("Suit",)),),
    ),
]

# ---------------------------------------------------------------------------------------------
# Spec, "Records": field default values (the table of default values by type)
# ---------------------------------------------------------------------------------------------
_DEFAULTS = SPEC + ", Records: 'default: A default value for this field, only used when reading instances that lack "
_DEFAULT_TABLE = [
    # (id suffix, type, default, table row)
    (
        "null-union",
        "int | None",
        None,
        "null | null | 'Default values for union fields correspond to the first schema in the union'",
    ),
    ("boolean", "bool", True, "boolean | boolean | true"),
    ("int", "int", 1, "int,long | integer | 1"),
    ("float", "float", 1.1, "float,double | number | 1.1"),
    ("bytes", "bytes", b"\xff", 'bytes | string | "\\u00FF"'),
    ("string", "str", "foo", 'string | string | "foo"'),
    ("array", "list[int]", [1], "array | array | [1]"),
    ("map", "dict[str, int]", {"a": 1}, 'map | object | {"a": 1}'),
    ("fixed", "bytes", b"\xff", 'fixed | string | "\\u00ff" (fixed as bytes: no size in Python)'),
]
for _suffix, _type, _default, _row in _DEFAULT_TABLE:
    CASES.append(
        Case(
            id=f"avro-spec-field-default-{_suffix}",
            source=_DEFAULTS + f"the field', table 'field default values': {_row}",
            writer=(F("id", "int"),),
            reader=(F("id", "int"), F("added", _type, default=_default)),
            rows=({"id": 1}, {"id": 2}),
            expect=({"id": 1, "added": _default}, {"id": 2, "added": _default}),
        )
    )
CASES.append(
    Case(
        id="avro-spec-field-default-unused",
        source=_DEFAULTS + "the field' (the writer has the field: its value, not the default)",
        writer=(F("a", "int"),),
        reader=(F("a", "int", default=0),),
        rows=({"a": 5},),
        expect=({"a": 5},),
    )
)

# ---------------------------------------------------------------------------------------------
# Java TestSchemaCompatibility: the named tests
# ---------------------------------------------------------------------------------------------
_WRITER_SCHEMA = (F("oldfield1", "int"), F("oldfield2", "str"))
_OLD_ROWS = ({"oldfield1": 1, "oldfield2": "a"}, {"oldfield1": 2, "oldfield2": "b"})
CASES += [
    Case(
        id="avro-java-missing-field",
        source=TSC + ": validateSchemaPairMissingField (also " + PY + " testValidateSchemaPairMissingField)",
        writer=_WRITER_SCHEMA,
        reader=(F("oldfield1", "int"),),
        rows=_OLD_ROWS,
        expect=({"oldfield1": 1}, {"oldfield1": 2}),
    ),
    Case(
        id="avro-java-missing-second-field",
        source=TSC + ": validateSchemaPairMissingSecondField",
        writer=_WRITER_SCHEMA,
        reader=(F("oldfield2", "str"),),
        rows=_OLD_ROWS,
        expect=({"oldfield2": "a"}, {"oldfield2": "b"}),
    ),
    Case(
        id="avro-java-all-fields",
        source=TSC + ": validateSchemaPairAllFields",
        writer=_WRITER_SCHEMA,
        reader=(F("oldfield1", "int"), F("oldfield2", "str")),
        rows=_OLD_ROWS,
        expect=_OLD_ROWS,
    ),
    Case(
        id="avro-java-new-field-with-default",
        source=TSC + ": validateSchemaNewFieldWithDefault (newfield1 int default 42)",
        writer=_WRITER_SCHEMA,
        reader=(F("oldfield1", "int"), F("newfield1", "int", default=42)),
        rows=_OLD_ROWS,
        expect=({"oldfield1": 1, "newfield1": 42}, {"oldfield1": 2, "newfield1": 42}),
        note="oldfield2 (str) is dropped and newfield1 (int) added: different types, so not a probable rename.",
    ),
    Case(
        id="avro-java-new-field-without-default",
        source=TSC + ": validateSchemaNewField (READER_FIELD_MISSING_DEFAULT_VALUE 'newfield1')",
        writer=_WRITER_SCHEMA,
        reader=(F("oldfield1", "int"), F("newfield1", "int")),
        rows=_OLD_ROWS,
        expect=Refused("new required field"),
    ),
    one(
        "avro-java-array-writer-valid",
        TSC + ": validateArrayWriterSchema (validReader: array of string)",
        "list[str]",
        "list[str]",
        (["a"],),
        (["a"],),
    ),
    one(
        "avro-java-array-writer-map-reader",
        TSC + ": validateArrayWriterSchema (invalidReader: map of string, "
        "'reader type: MAP not compatible with writer type: ARRAY')",
        "list[str]",
        "dict[str, str]",
        (["a"],),
        Refused("changed from"),
    ),
    one(
        "avro-java-primitive-writer-valid",
        TSC + ": validatePrimitiveWriterSchema (STRING reader, STRING writer)",
        "str",
        "str",
        ("s",),
        ("s",),
    ),
    one(
        "avro-java-primitive-writer-invalid",
        TSC + ": validatePrimitiveWriterSchema (INT reader, STRING writer: "
        "'reader type: INT not compatible with writer type: STRING')",
        "str",
        "int",
        ("1",),
        Refused("changed from"),
    ),
    Case(
        id="avro-java-union-writer-simple-reader",
        source=TSC + ": unionWriterSimpleReaderIncompatibility (Account.age: optionalInt writer, int reader: "
        "'reader type: INT not compatible with writer type: NULL')",
        writer=(F("age", "int | None"),),
        reader=(F("age", "int"),),
        rows=({"age": 30}, {"age": None}),
        expect=Refused("changed from"),
    ),
]

# ---------------------------------------------------------------------------------------------
# Java TestSchemaCompatibility: COMPATIBLE_READER_WRITER_TEST_CASES (ReaderWriter(reader, writer));
# the same list is lang/py test_compatibility.py test_schema_compatibility's compatible_reader_writer_test_cases.
# ---------------------------------------------------------------------------------------------
CASES += [
    one(
        "avro-compat-boolean",
        COMPAT + "ReaderWriter(BOOLEAN_SCHEMA, BOOLEAN_SCHEMA)",
        "bool",
        "bool",
        (True, False),
        (True, False),
    ),
    one("avro-compat-int", COMPAT + "ReaderWriter(INT_SCHEMA, INT_SCHEMA)", "int", "int", (1, -1), (1, -1)),
    one(
        "avro-compat-long-int", COMPAT + "ReaderWriter(LONG_SCHEMA, INT_SCHEMA)", "int", "int", (7,), (7,), note=NO_LONG
    ),
    one(
        "avro-compat-float-int", COMPAT + "ReaderWriter(FLOAT_SCHEMA, INT_SCHEMA)", "int", "float", (1, 42), (1.0, 42.0)
    ),
    one(
        "avro-compat-float-long",
        COMPAT + "ReaderWriter(FLOAT_SCHEMA, LONG_SCHEMA)",
        "int",
        "float",
        (2**40,),
        (1099511627776.0,),
    ),
    one(
        "avro-compat-double-long-inexact",
        COMPAT + "ReaderWriter(DOUBLE_SCHEMA, LONG_SCHEMA) ('Avro spec says "
        "INT/LONG can be promoted to FLOAT/DOUBLE. This is arguable as this causes a loss of precision.')",
        "int",
        "float",
        (2**53, 2**53 + 1),
        Fails("exact float"),
        note="Avro accepts the pair and rounds; Amber reads 2**53 exactly and fails the row holding 2**53+1.",
    ),
    one("avro-compat-double-int", COMPAT + "ReaderWriter(DOUBLE_SCHEMA, INT_SCHEMA)", "int", "float", (-7,), (-7.0,)),
    one(
        "avro-compat-double-float",
        COMPAT + "ReaderWriter(DOUBLE_SCHEMA, FLOAT_SCHEMA)",
        "float",
        "float",
        (0.5,),
        (0.5,),
        note=NO_DOUBLE,
    ),
    one("avro-compat-string", COMPAT + "ReaderWriter(STRING_SCHEMA, STRING_SCHEMA)", "str", "str", ("a",), ("a",)),
    one(
        "avro-compat-bytes",
        COMPAT + "ReaderWriter(BYTES_SCHEMA, BYTES_SCHEMA)",
        "bytes",
        "bytes",
        (b"\x00\xff",),
        (b"\x00\xff",),
    ),
    one(
        "avro-compat-int-array",
        COMPAT + "ReaderWriter(INT_ARRAY_SCHEMA, INT_ARRAY_SCHEMA)",
        "list[int]",
        "list[int]",
        ([1, 2],),
        ([1, 2],),
    ),
    one(
        "avro-compat-long-array-int-array",
        COMPAT + "ReaderWriter(LONG_ARRAY_SCHEMA, INT_ARRAY_SCHEMA)",
        "list[int]",
        "list[int]",
        ([3],),
        ([3],),
        note=NO_LONG,
    ),
    one(
        "avro-compat-int-map",
        COMPAT + "ReaderWriter(INT_MAP_SCHEMA, INT_MAP_SCHEMA)",
        "dict[str, int]",
        "dict[str, int]",
        ({"k": 1},),
        ({"k": 1},),
    ),
    one(
        "avro-compat-long-map-int-map",
        COMPAT + "ReaderWriter(LONG_MAP_SCHEMA, INT_MAP_SCHEMA)",
        "dict[str, int]",
        "dict[str, int]",
        ({"k": 2},),
        ({"k": 2},),
        note=NO_LONG,
    ),
    one(
        "avro-compat-enum1-ab",
        COMPAT + "ReaderWriter(ENUM1_AB_SCHEMA, ENUM1_AB_SCHEMA)",
        "Enum1",
        "Enum1",
        (E("Enum1", "A"), E("Enum1", "B")),
        (E("Enum1", "A"), E("Enum1", "B")),
        writer_enums=(ENUM1_AB,),
        reader_enums=(ENUM1_AB,),
    ),
    one(
        "avro-compat-enum1-abc-reads-ab",
        COMPAT + "ReaderWriter(ENUM1_ABC_SCHEMA, ENUM1_AB_SCHEMA)",
        "Enum1",
        "Enum1",
        (E("Enum1", "A"), E("Enum1", "B")),
        (E("Enum1", "A"), E("Enum1", "B")),
        writer_enums=(ENUM1_AB,),
        reader_enums=(ENUM1_ABC,),
    ),
    one(
        "avro-compat-enum1-ab-default-reads-abc",
        COMPAT + "ReaderWriter(ENUM1_AB_SCHEMA_DEFAULT, ENUM1_ABC_SCHEMA)",
        "Enum1",
        "Enum1",
        (E("Enum1", "A"), E("Enum1", "B"), E("Enum1", "C")),
        (E("Enum1", "A"), E("Enum1", "B"), E("Enum1", "A")),
        writer_enums=(ENUM1_ABC,),
        reader_enums=(ENUM1_AB_DEFAULT,),
    ),
    one(
        "avro-compat-enum1-namespace-writer",
        COMPAT + "ReaderWriter(ENUM1_AB_SCHEMA, ENUM1_AB_SCHEMA_NAMESPACE_1)",
        "Enum1",
        "Enum1",
        (E("Enum1", "A"),),
        Refused("enum"),
        writer_enums=(enum("namespace1.Enum1", "AB"),),
        reader_enums=(ENUM1_AB,),
        note="Avro matches enums by unqualified name; Amber's stable names 'namespace1.Enum1' and 'Enum1' differ, "
        "so without an alias it is an enum swap.",
    ),
    one(
        "avro-compat-enum1-namespace-reader",
        COMPAT + "ReaderWriter(ENUM1_AB_SCHEMA_NAMESPACE_1, ENUM1_AB_SCHEMA)",
        "Enum1",
        "Enum1",
        (E("Enum1", "A"),),
        Refused("enum"),
        writer_enums=(ENUM1_AB,),
        reader_enums=(enum("namespace1.Enum1", "AB"),),
        note="Avro matches enums by unqualified name; Amber needs an alias for another stable name.",
    ),
    one(
        "avro-compat-enum1-namespaces",
        COMPAT + "ReaderWriter(ENUM1_AB_SCHEMA_NAMESPACE_1, ENUM1_AB_SCHEMA_NAMESPACE_2)",
        "Enum1",
        "Enum1",
        (E("Enum1", "B"),),
        Refused("enum"),
        writer_enums=(enum("namespace2.Enum1", "AB"),),
        reader_enums=(enum("namespace1.Enum1", "AB"),),
        note="Avro matches enums by unqualified name; Amber needs an alias for another stable name.",
    ),
    one(
        "avro-compat-enum1-namespaces-aliased",
        COMPAT + "ReaderWriter(ENUM1_AB_SCHEMA_NAMESPACE_1, "
        "ENUM1_AB_SCHEMA_NAMESPACE_2), with the reader aliasing the writer's name",
        "Enum1",
        "Enum1",
        (E("Enum1", "A"), E("Enum1", "B")),
        (E("Enum1", "A"), E("Enum1", "B")),
        writer_enums=(enum("namespace2.Enum1", "AB"),),
        reader_enums=(enum("namespace1.Enum1", "AB", aliases=("namespace2.Enum1",)),),
        note="The alias stands in for Avro's unqualified-name match.",
    ),
    one(
        "avro-compat-string-reads-bytes",
        COMPAT + "ReaderWriter(STRING_SCHEMA, BYTES_SCHEMA) ('String-to/from-bytes, introduced in Avro 1.7.7')",
        "bytes",
        "str",
        (b"abc",),
        ("abc",),
    ),
    one(
        "avro-compat-bytes-reads-string",
        COMPAT + "ReaderWriter(BYTES_SCHEMA, STRING_SCHEMA)",
        "str",
        "bytes",
        ("abc",),
        (b"abc",),
    ),
    one(
        "avro-compat-float-union-int-union",
        COMPAT + "ReaderWriter(FLOAT_UNION_SCHEMA, INT_UNION_SCHEMA)",
        "int",
        "float",
        (3,),
        (3.0,),
        note="Singleton unions [int] and [float] are int and float in Python.",
    ),
    one(
        "avro-compat-float-union-int-long-union",
        COMPAT + "ReaderWriter(FLOAT_UNION_SCHEMA, INT_LONG_UNION_SCHEMA)",
        "int",
        "float",
        (3, 2**40),
        (3.0, 1099511627776.0),
        note="[int, long] is int in Python (no int/long split), [float] is float.",
    ),
    one(
        "avro-compat-int-union",
        COMPAT + "ReaderWriter(INT_UNION_SCHEMA, INT_UNION_SCHEMA)",
        "int",
        "int",
        (1,),
        (1,),
        note="A singleton union is its member.",
    ),
    one(
        "avro-compat-int-string-union-reordered",
        COMPAT + "ReaderWriter(INT_STRING_UNION_SCHEMA, STRING_INT_UNION_SCHEMA)",
        "str | int",
        "int | str",
        ("a", 1),
        ("a", 1),
    ),
    one(
        "avro-compat-long-union-int-union",
        COMPAT + "ReaderWriter(LONG_UNION_SCHEMA, INT_UNION_SCHEMA)",
        "int",
        "int",
        (4,),
        (4,),
        note=NO_LONG,
    ),
    one(
        "avro-compat-double-union-int-union",
        COMPAT + "ReaderWriter(DOUBLE_UNION_SCHEMA, INT_UNION_SCHEMA)",
        "int",
        "float",
        (-4,),
        (-4.0,),
        note="Singleton unions are their member.",
    ),
    one(
        "avro-compat-double-union-float-union",
        COMPAT + "ReaderWriter(DOUBLE_UNION_SCHEMA, FLOAT_UNION_SCHEMA)",
        "float",
        "float",
        (2.5,),
        (2.5,),
        note=NO_DOUBLE,
    ),
    one(
        "avro-compat-string-union-bytes-union",
        COMPAT + "ReaderWriter(STRING_UNION_SCHEMA, BYTES_UNION_SCHEMA)",
        "bytes",
        "str",
        (b"x",),
        ("x",),
        note="Singleton unions are their member.",
    ),
    one(
        "avro-compat-bytes-union-string-union",
        COMPAT + "ReaderWriter(BYTES_UNION_SCHEMA, STRING_UNION_SCHEMA)",
        "str",
        "bytes",
        ("x",),
        (b"x",),
        note="Singleton unions are their member.",
    ),
    one(
        "avro-compat-double-union-int-float-union",
        COMPAT + "ReaderWriter(DOUBLE_UNION_SCHEMA, INT_FLOAT_UNION_SCHEMA)",
        "int | float",
        "float",
        (1, 2.5),
        (1.0, 2.5),
        note="Every writer member is read by the reader's type (int promoted to float).",
    ),
    one(
        "avro-compat-float-int-float-union",
        COMPAT + "ReaderWriter(FLOAT_SCHEMA, INT_FLOAT_UNION_SCHEMA) ('Readers "
        "capable of reading all branches of a union are compatible')",
        "int | float",
        "float",
        (7, -0.5),
        (7.0, -0.5),
    ),
    one(
        "avro-compat-long-int-long-union",
        COMPAT + "ReaderWriter(LONG_SCHEMA, INT_LONG_UNION_SCHEMA)",
        "int",
        "int",
        (9,),
        (9,),
        note="[int, long] is int in Python. " + NO_LONG,
    ),
    one(
        "avro-compat-double-int-long-float-double-union",
        COMPAT + "ReaderWriter(DOUBLE_SCHEMA, INT_LONG_FLOAT_DOUBLE_UNION_SCHEMA)",
        "int | float",
        "float",
        (2**40, 0.125),
        (1099511627776.0, 0.125),
        note="[int, long, float, double] is int | float in Python.",
    ),
    one(
        "avro-compat-float-float-union",
        COMPAT + "ReaderWriter(FLOAT_SCHEMA, FLOAT_UNION_SCHEMA) ('Special case of singleton unions')",
        "float",
        "float",
        (1.25,),
        (1.25,),
    ),
    one(
        "avro-compat-fixed4",
        COMPAT + "ReaderWriter(FIXED_4_BYTES, FIXED_4_BYTES)",
        "bytes",
        "bytes",
        (b"abcd",),
        (b"abcd",),
        note="fixed is bytes in Python.",
    ),
]

_DINT = "A_DINT_RECORD1 (field a int default 0)"
CASES += [
    Case(
        id="avro-compat-empty-record",
        source=COMPAT + "ReaderWriter(EMPTY_RECORD1, EMPTY_RECORD1)",
        writer=(),
        reader=(),
        rows=({},),
        expect=({},),
    ),
    Case(
        id="avro-compat-empty-reads-a-int",
        source=COMPAT + "ReaderWriter(EMPTY_RECORD1, A_INT_RECORD1)",
        writer=(F("a", "int"),),
        reader=(),
        rows=({"a": 1},),
        expect=({},),
    ),
    Case(
        id="avro-compat-a-int",
        source=COMPAT + "ReaderWriter(A_INT_RECORD1, A_INT_RECORD1)",
        writer=(F("a", "int"),),
        reader=(F("a", "int"),),
        rows=({"a": 1},),
        expect=({"a": 1},),
    ),
    Case(
        id="avro-compat-a-dint-reads-a-int",
        source=COMPAT + "ReaderWriter(" + _DINT + ", A_INT_RECORD1)",
        writer=(F("a", "int"),),
        reader=(F("a", "int", default=0),),
        rows=({"a": 5},),
        expect=({"a": 5},),
    ),
    Case(
        id="avro-compat-a-int-reads-a-dint",
        source=COMPAT + "ReaderWriter(A_INT_RECORD1, A_DINT_RECORD1)",
        writer=(F("a", "int", default=0),),
        reader=(F("a", "int"),),
        rows=({"a": 5},),
        expect=({"a": 5},),
    ),
    Case(
        id="avro-compat-a-long-reads-a-int",
        source=COMPAT + "ReaderWriter(A_LONG_RECORD1, A_INT_RECORD1)",
        writer=(F("a", "int"),),
        reader=(F("a", "int"),),
        rows=({"a": 2**33},),
        expect=({"a": 2**33},),
        note=NO_LONG,
    ),
    Case(
        id="avro-compat-a-int-reads-a-int-b-int",
        source=COMPAT + "ReaderWriter(A_INT_RECORD1, A_INT_B_INT_RECORD1)",
        writer=(F("a", "int"), F("b", "int")),
        reader=(F("a", "int"),),
        rows=({"a": 1, "b": 2},),
        expect=({"a": 1},),
    ),
    Case(
        id="avro-compat-a-dint-reads-a-int-b-int",
        source=COMPAT + "ReaderWriter(" + _DINT + ", A_INT_B_INT_RECORD1)",
        writer=(F("a", "int"), F("b", "int")),
        reader=(F("a", "int", default=0),),
        rows=({"a": 1, "b": 2},),
        expect=({"a": 1},),
    ),
    Case(
        id="avro-compat-a-int-b-dint-reads-a-int",
        source=COMPAT + "ReaderWriter(A_INT_B_DINT_RECORD1, A_INT_RECORD1)",
        writer=(F("a", "int"),),
        reader=(F("a", "int"), F("b", "int", default=0)),
        rows=({"a": 1},),
        expect=({"a": 1, "b": 0},),
    ),
    Case(
        id="avro-compat-a-dint-b-dint-reads-empty",
        source=COMPAT + "ReaderWriter(A_DINT_B_DINT_RECORD1, EMPTY_RECORD1)",
        writer=(),
        reader=(F("a", "int", default=0), F("b", "int", default=0)),
        rows=({},),
        expect=({"a": 0, "b": 0},),
    ),
    Case(
        id="avro-compat-a-dint-b-dint-reads-a-int",
        source=COMPAT + "ReaderWriter(A_DINT_B_DINT_RECORD1, A_INT_RECORD1)",
        writer=(F("a", "int"),),
        reader=(F("a", "int", default=0), F("b", "int", default=0)),
        rows=({"a": 8},),
        expect=({"a": 8, "b": 0},),
    ),
    Case(
        id="avro-compat-a-int-b-int-reads-a-dint-b-dint",
        source=COMPAT + "ReaderWriter(A_INT_B_INT_RECORD1, A_DINT_B_DINT_RECORD1)",
        writer=(F("a", "int", default=0), F("b", "int", default=0)),
        reader=(F("a", "int"), F("b", "int")),
        rows=({"a": 8, "b": 9},),
        expect=({"a": 8, "b": 9},),
    ),
    one(
        "avro-compat-enum-default-record",
        COMPAT + "ReaderWriter(ENUM_AB_ENUM_DEFAULT_A_RECORD, "
        "ENUM_ABC_ENUM_DEFAULT_A_RECORD) (field 'Field', enum 'Schema' default A)",
        "SchemaEnum",
        "SchemaEnum",
        (E("SchemaEnum", "A"), E("SchemaEnum", "B"), E("SchemaEnum", "C")),
        (E("SchemaEnum", "A"), E("SchemaEnum", "B"), E("SchemaEnum", "A")),
        name="Field",
        writer_enums=(enum("Schema", "ABC", cls="SchemaEnum", default="A"),),
        reader_enums=(enum("Schema", "AB", cls="SchemaEnum", default="A"),),
    ),
    one(
        "avro-compat-enum-default-b-field-default-a",
        COMPAT + "ReaderWriter("
        "ENUM_AB_FIELD_DEFAULT_A_ENUM_DEFAULT_B_RECORD, ENUM_ABC_FIELD_DEFAULT_B_ENUM_DEFAULT_A_RECORD)",
        "SchemaEnum",
        "SchemaEnum",
        (E("SchemaEnum", "A"), E("SchemaEnum", "C")),
        (E("SchemaEnum", "A"), E("SchemaEnum", "B")),
        name="Field",
        writer_enums=(enum("Schema", "ABC", cls="SchemaEnum", default="A"),),
        reader_enums=(enum("Schema", "AB", cls="SchemaEnum", default="B"),),
        note="The unknown C takes the reader enum's default (B), not the reader field's default (A), which only "
        "applies when the writer lacks the field; the field defaults are left out here.",
    ),
    Case(
        id="avro-compat-without-ns-reads-with-ns",
        source=COMPAT
        + "ReaderWriter(WITHOUT_NS, WITH_NS) (record 'Record' reads 'ns.Record'); also "
        + PY
        + " (WITHOUT_NAMESPACE_RECORD, WITH_NAMESPACE_RECORD)",
        writer=(F("f1", "int"),),
        reader=(F("f1", "int"),),
        rows=({"f1": 1},),
        expect=({"f1": 1},),
        renamed_to="Record",
        note="Avro matches records by unqualified name; Amber needs the former name as an alias of the type.",
    ),
]

# ---------------------------------------------------------------------------------------------
# Java TestSchemaCompatibility: DECODING_COMPATIBILITY_TEST_CASES (writer, datum, reader, decoded)
# ---------------------------------------------------------------------------------------------
CASES += [
    one("avro-decoding-int-int", DECODING + "DecodingTestCase(INT_SCHEMA, 1, INT_SCHEMA, 1)", "int", "int", (1,), (1,)),
    one(
        "avro-decoding-int-long",
        DECODING + "DecodingTestCase(INT_SCHEMA, 1, LONG_SCHEMA, 1L)",
        "int",
        "int",
        (1,),
        (1,),
        note=NO_LONG,
    ),
    one(
        "avro-decoding-int-float",
        DECODING + "DecodingTestCase(INT_SCHEMA, 1, FLOAT_SCHEMA, 1.0f)",
        "int",
        "float",
        (1,),
        (1.0,),
    ),
    one(
        "avro-decoding-int-double",
        DECODING + "DecodingTestCase(INT_SCHEMA, 1, DOUBLE_SCHEMA, 1.0d)",
        "int",
        "float",
        (1,),
        (1.0,),
    ),
    one(
        "avro-decoding-int-float-precision",
        DECODING + "DecodingTestCase(INT_SCHEMA, (1 << 24) + 1, FLOAT_SCHEMA, "
        "(float) ((1 << 24) + 1)) ('currently accepted but causes a precision loss')",
        "int",
        "float",
        ((1 << 24) + 1,),
        (16777217.0,),
        note="Python's float is a double: 2**24+1 is exact, no precision is lost.",
    ),
    one(
        "avro-decoding-enum-ab-to-abc",
        DECODING + "DecodingTestCase(ENUM1_AB_SCHEMA, A, ENUM1_ABC_SCHEMA, A)",
        "Enum1",
        "Enum1",
        (E("Enum1", "A"),),
        (E("Enum1", "A"),),
        writer_enums=(ENUM1_AB,),
        reader_enums=(ENUM1_ABC,),
    ),
    one(
        "avro-decoding-enum-abc-to-ab",
        DECODING + "DecodingTestCase(ENUM1_ABC_SCHEMA, A, ENUM1_AB_SCHEMA, A)",
        "Enum1",
        "Enum1",
        (E("Enum1", "A"),),
        (E("Enum1", "A"),),
        writer_enums=(ENUM1_ABC,),
        reader_enums=(ENUM1_AB,),
    ),
    one(
        "avro-decoding-enum-abc-to-bc",
        DECODING + "DecodingTestCase(ENUM1_ABC_SCHEMA, B, ENUM1_BC_SCHEMA, B)",
        "Enum1",
        "Enum1",
        (E("Enum1", "B"),),
        (E("Enum1", "B"),),
        writer_enums=(ENUM1_ABC,),
        reader_enums=(ENUM1_BC,),
    ),
    one(
        "avro-decoding-enum-default",
        DECODING + "DecodingTestCase(ENUM_ABC_ENUM_DEFAULT_A_SCHEMA, C, ENUM_AB_ENUM_DEFAULT_A_SCHEMA, A)",
        "AvroEnum",
        "AvroEnum",
        (E("AvroEnum", "C"),),
        (E("AvroEnum", "A"),),
        writer_enums=(ENUM_ABC_DEFAULT_A,),
        reader_enums=(ENUM_AB_DEFAULT_A,),
    ),
    one(
        "avro-decoding-int-string-union-to-string",
        DECODING + "DecodingTestCase(INT_STRING_UNION_SCHEMA, "
        '"the string", STRING_SCHEMA, new Utf8("the string")) (and the same to STRING_UNION_SCHEMA)',
        "int | str",
        "str",
        ("the string",),
        Refused("changed from"),
        note=PER_PLAN + " [string] is str in Python, so both Java cases are this one.",
    ),
]

# ---------------------------------------------------------------------------------------------
# Java TestSchemaCompatibilityEnumDefaults
# ---------------------------------------------------------------------------------------------
_ED = JAVA + "TestSchemaCompatibilityEnumDefaults.java: "
CASES += [
    Case(
        id="avro-enumdefaults-not-applied-when-writer-field-missing",
        source=_ED + "enumDefaultNotAppliedWhenWriterFieldMissing ('missing required field field1')",
        writer=(F("field2", "Enum2"),),
        reader=(F("field1", "AvroEnum"),),
        rows=({"field2": E("Enum2", "B")},),
        expect=Refused("new required field"),
        writer_enums=(ENUM2_AB,),
        reader_enums=(ENUM_AB_DEFAULT_A,),
        note="An enum's default resolves unknown symbols; it is not a default for a missing field.",
    ),
    one(
        "avro-enumdefaults-applied-when-no-field-default",
        _ED + "enumDefaultAppliedWhenNoFieldDefaultDefined",
        "AvroEnum",
        "AvroEnum",
        (E("AvroEnum", "C"),),
        (E("AvroEnum", "A"),),
        name="field1",
        writer_enums=(ENUM_ABC_DEFAULT_A,),
        reader_enums=(ENUM_AB_DEFAULT_A,),
    ),
    one(
        "avro-enumdefaults-not-applied-when-symbol-found",
        _ED + "enumDefaultNotAppliedWhenCompatibleSymbolIsFound",
        "AvroEnum",
        "AvroEnum",
        (E("AvroEnum", "B"),),
        (E("AvroEnum", "B"),),
        name="field1",
        writer_enums=(ENUM_ABC_DEFAULT_A,),
        reader_enums=(ENUM_AB_DEFAULT_A,),
    ),
    one(
        "avro-enumdefaults-applied-when-field-default",
        _ED + "enumDefaultAppliedWhenFieldDefaultDefined ('The A is "
        "the Enum default, which is assigned since C is not in [A,B]')",
        "AvroEnum",
        "AvroEnum",
        (E("AvroEnum", "C"),),
        (E("AvroEnum", "A"),),
        name="field1",
        writer_enums=(ENUM_ABC_DEFAULT_A,),
        reader_enums=(ENUM_AB_DEFAULT_A,),
        note="The reader field's default (B) plays no part and is left out.",
    ),
    one(
        "avro-enumdefaults-field-default-not-applied",
        _ED + "fieldDefaultNotAppliedForUnknownSymbol ('Field \"field1\" content mismatch: No match for C')",
        "Enum1",
        "Enum1",
        (E("Enum1", "A"), E("Enum1", "C")),
        Fails("member"),
        name="field1",
        writer_enums=(ENUM1_ABC,),
        reader_enums=(ENUM1_AB,),
        note="The reader field's default (A) is not used for an unknown symbol, and is left out.",
    ),
]

# ---------------------------------------------------------------------------------------------
# Java TestSchemaCompatibilityMissingEnumSymbols (also lang/py test_schema_compatibility_missing_enum_symbols)
# ---------------------------------------------------------------------------------------------
_MES = JAVA + "TestSchemaCompatibilityMissingEnumSymbols.java: data() "
_PER_ROW = "Avro's checker flags the pair; Amber reads rows not holding the missing symbol and fails the others."
CASES += [
    one(
        "avro-missing-enum-symbols-ab-abc-rows-ok",
        _MES + 'Arguments.of(ENUM1_AB_SCHEMA, ENUM1_ABC_SCHEMA, "[C]")',
        "Enum1",
        "Enum1",
        (E("Enum1", "A"), E("Enum1", "B")),
        (E("Enum1", "A"), E("Enum1", "B")),
        writer_enums=(ENUM1_ABC,),
        reader_enums=(ENUM1_AB,),
        note=_PER_ROW,
    ),
    one(
        "avro-missing-enum-symbols-ab-abc-row-c",
        _MES + 'Arguments.of(ENUM1_AB_SCHEMA, ENUM1_ABC_SCHEMA, "[C]")',
        "Enum1",
        "Enum1",
        (E("Enum1", "A"), E("Enum1", "C")),
        Fails("member"),
        writer_enums=(ENUM1_ABC,),
        reader_enums=(ENUM1_AB,),
        note=_PER_ROW,
    ),
    one(
        "avro-missing-enum-symbols-bc-abc-row-a",
        _MES + 'Arguments.of(ENUM1_BC_SCHEMA, ENUM1_ABC_SCHEMA, "[A]")',
        "Enum1",
        "Enum1",
        (E("Enum1", "A"),),
        Fails("member"),
        writer_enums=(ENUM1_ABC,),
        reader_enums=(ENUM1_BC,),
        note=_PER_ROW,
    ),
    one(
        "avro-missing-enum-symbols-record-field",
        _MES + 'Arguments.of(RECORD1_WITH_ENUM_AB, RECORD1_WITH_ENUM_ABC, "[C]", "/fields/0/type/symbols")',
        "Enum1",
        "Enum1",
        (E("Enum1", "B"), E("Enum1", "C")),
        Fails("member"),
        name="field1",
        writer_enums=(ENUM1_ABC,),
        reader_enums=(ENUM1_AB,),
        note=_PER_ROW,
    ),
]

# ---------------------------------------------------------------------------------------------
# Java TestSchemaCompatibilityMissingUnionBranch (also lang/py test_schema_compatibility_missing_union_branch)
# ---------------------------------------------------------------------------------------------
_MUB = JAVA + "TestSchemaCompatibilityMissingUnionBranch.java: data() Arguments.of("
CASES += [
    one(
        "avro-missing-union-branch-int-string-to-int",
        _MUB + "INT_UNION_SCHEMA, INT_STRING_UNION_SCHEMA, 'reader union lacking writer type: STRING')",
        "int | str",
        "int",
        (1,),
        Refused("changed from"),
    ),
    one(
        "avro-missing-union-branch-int-string-to-string",
        _MUB + "STRING_UNION_SCHEMA, INT_STRING_UNION_SCHEMA, 'reader union lacking writer type: INT')",
        "int | str",
        "str",
        ("a",),
        Refused("changed from"),
    ),
    one(
        "avro-missing-union-branch-enum",
        _MUB + "INT_UNION_SCHEMA, UNION_INT_ENUM1_AB, 'reader union lacking writer type: ENUM')",
        "int | Enum1",
        "int",
        (1, E("Enum1", "A")),
        Refused("changed from"),
        writer_enums=(ENUM1_AB,),
    ),
    one(
        "avro-missing-union-branch-fixed",
        _MUB + "INT_UNION_SCHEMA, UNION_INT_FIXED_4_BYTES, 'reader union lacking writer type: FIXED')",
        "int | bytes",
        "int",
        (1, b"abcd"),
        Refused("changed from"),
    ),
    one(
        "avro-missing-union-branch-boolean",
        _MUB + "INT_UNION_SCHEMA, UNION_INT_BOOLEAN, 'reader union lacking writer type: BOOLEAN')",
        "int | bool",
        "int",
        (1, True),
        Refused("changed from"),
    ),
    one(
        "avro-missing-union-branch-long",
        _MUB + "INT_UNION_SCHEMA, LONG_UNION_SCHEMA, 'reader union lacking writer type: LONG')",
        "int",
        "int",
        (2**40,),
        (2**40,),
        note="Avro refuses long to int; " + NO_LONG,
    ),
    one(
        "avro-missing-union-branch-float",
        _MUB + "INT_UNION_SCHEMA, FLOAT_UNION_SCHEMA, 'reader union lacking writer type: FLOAT')",
        "float",
        "int",
        (1.0,),
        Refused("changed from"),
    ),
    one(
        "avro-missing-union-branch-double",
        _MUB + "INT_UNION_SCHEMA, DOUBLE_UNION_SCHEMA, 'reader union lacking writer type: DOUBLE')",
        "float",
        "int",
        (2.5,),
        Refused("changed from"),
    ),
    one(
        "avro-missing-union-branch-bytes",
        _MUB + "INT_UNION_SCHEMA, BYTES_UNION_SCHEMA, 'reader union lacking writer type: BYTES')",
        "bytes",
        "int",
        (b"1",),
        Refused("changed from"),
    ),
    one(
        "avro-missing-union-branch-array",
        _MUB + "INT_UNION_SCHEMA, UNION_INT_ARRAY_INT, 'reader union lacking writer type: ARRAY')",
        "int | list[int]",
        "int",
        (1, [1]),
        Refused("changed from"),
    ),
    one(
        "avro-missing-union-branch-map",
        _MUB + "INT_UNION_SCHEMA, UNION_INT_MAP_INT, 'reader union lacking writer type: MAP')",
        "int | dict[str, int]",
        "int",
        (1, {"a": 1}),
        Refused("changed from"),
    ),
    one(
        "avro-missing-union-branch-null",
        _MUB + "INT_UNION_SCHEMA, UNION_INT_NULL, 'reader union lacking writer type: NULL')",
        "int | None",
        "int",
        (1, None),
        Refused("changed from"),
    ),
    one(
        "avro-missing-union-branch-numbers",
        _MUB + "INT_UNION_SCHEMA, INT_LONG_FLOAT_DOUBLE_UNION_SCHEMA, 'reader "
        "union lacking writer type: LONG/FLOAT/DOUBLE')",
        "int | float",
        "int",
        (1, 1.5),
        Refused("changed from"),
        note="[int, long, float, double] is int | float in Python: only the float branch is missing.",
    ),
    Case(
        id="avro-missing-union-branch-record-field",
        source=_MUB + "A_DINT_B_DINT_UNION_RECORD1, A_DINT_B_DINT_STRING_UNION_RECORD1, 'reader union lacking writer "
        "type: STRING', '/fields/1/type/1')",
        writer=(F("a", "int", default=0), F("b", "int | str", default=0)),
        reader=(F("a", "int", default=0), F("b", "int", default=0)),
        rows=({"a": 1, "b": 2}, {"a": 1, "b": "two"}),
        expect=Refused("changed from"),
    ),
]

# ---------------------------------------------------------------------------------------------
# Java TestSchemaCompatibilityReaderFieldMissingDefaultValue (also lang/py)
# ---------------------------------------------------------------------------------------------
_RFM = JAVA + "TestSchemaCompatibilityReaderFieldMissingDefaultValue.java: data() Arguments.of("
CASES += [
    Case(
        id="avro-reader-field-missing-default-a-int",
        source=_RFM + 'A_INT_RECORD1, EMPTY_RECORD1, "a", "/fields/0")',
        writer=(),
        reader=(F("a", "int"),),
        rows=({},),
        expect=Refused("new required field"),
    ),
    Case(
        id="avro-reader-field-missing-default-a-int-b-dint",
        source=_RFM + 'A_INT_B_DINT_RECORD1, EMPTY_RECORD1, "a", "/fields/0")',
        writer=(),
        reader=(F("a", "int"), F("b", "int", default=0)),
        rows=({},),
        expect=Refused("new required field"),
    ),
]

# ---------------------------------------------------------------------------------------------
# Java TestSchemaCompatibilityTypeMismatch (also lang/py test_schema_compatibility_type_mismatch)
# ---------------------------------------------------------------------------------------------
_TM = JAVA + "TestSchemaCompatibilityTypeMismatch.java: data() Arguments.of("
CASES += [
    one(
        "avro-type-mismatch-boolean-int",
        _TM + "BOOLEAN_SCHEMA, INT_SCHEMA, 'reader type: BOOLEAN not compatible with writer type: INT')",
        "int",
        "bool",
        (1,),
        Refused("changed from"),
    ),
    one(
        "avro-type-mismatch-int-boolean",
        _TM + "INT_SCHEMA, BOOLEAN_SCHEMA, 'reader type: INT not compatible with writer type: BOOLEAN')",
        "bool",
        "int",
        (True,),
        Refused("changed from"),
    ),
    one(
        "avro-type-mismatch-int-long",
        _TM + "INT_SCHEMA, LONG_SCHEMA, 'reader type: INT not compatible with writer type: LONG')",
        "int",
        "int",
        (5,),
        (5,),
        note="Avro refuses long to int; " + NO_LONG,
    ),
    one(
        "avro-type-mismatch-int-float",
        _TM + "INT_SCHEMA, FLOAT_SCHEMA, 'reader type: INT not compatible with writer type: FLOAT')",
        "float",
        "int",
        (1.0,),
        Refused("changed from"),
    ),
    one(
        "avro-type-mismatch-long-double",
        _TM + "LONG_SCHEMA, DOUBLE_SCHEMA, 'reader type: LONG not compatible with "
        "writer type: DOUBLE'); INT/DOUBLE and LONG/FLOAT are the same Python pair",
        "float",
        "int",
        (2.0,),
        Refused("changed from"),
    ),
    one(
        "avro-type-mismatch-float-double",
        _TM + "FLOAT_SCHEMA, DOUBLE_SCHEMA, 'reader type: FLOAT not compatible with writer type: DOUBLE')",
        "float",
        "float",
        (0.1,),
        (0.1,),
        note="Avro refuses double to float; " + NO_DOUBLE,
    ),
    one(
        "avro-type-mismatch-double-string",
        _TM + "DOUBLE_SCHEMA, STRING_SCHEMA, 'reader type: DOUBLE not compatible with writer type: STRING')",
        "str",
        "float",
        ("1.5",),
        Refused("changed from"),
    ),
    one(
        "avro-type-mismatch-fixed-string",
        _TM + "FIXED_4_BYTES, STRING_SCHEMA, 'reader type: FIXED not compatible with writer type: STRING')",
        "str",
        "bytes",
        ("abcd",),
        (b"abcd",),
        note="fixed is bytes in Python, and string is promotable to bytes: Amber reads what Avro refuses.",
    ),
    one(
        "avro-type-mismatch-string-boolean",
        _TM + "STRING_SCHEMA, BOOLEAN_SCHEMA, 'reader type: STRING not compatible with writer type: BOOLEAN')",
        "bool",
        "str",
        (False,),
        Refused("changed from"),
    ),
    one(
        "avro-type-mismatch-string-int",
        _TM + "STRING_SCHEMA, INT_SCHEMA, 'reader type: STRING not compatible with writer type: INT')",
        "int",
        "str",
        (1,),
        Refused("changed from"),
    ),
    one(
        "avro-type-mismatch-bytes-int",
        _TM + "BYTES_SCHEMA, INT_SCHEMA, 'reader type: BYTES not compatible with writer type: INT')",
        "int",
        "bytes",
        (1,),
        Refused("changed from"),
    ),
    one(
        "avro-type-mismatch-int-array-long-array",
        _TM + "INT_ARRAY_SCHEMA, LONG_ARRAY_SCHEMA, '/items')",
        "list[int]",
        "list[int]",
        ([2**40],),
        ([2**40],),
        note="Avro refuses long items to int; " + NO_LONG,
    ),
    one(
        "avro-type-mismatch-map-array",
        _TM + "INT_MAP_SCHEMA, INT_ARRAY_SCHEMA, 'reader type: MAP not compatible with writer type: ARRAY')",
        "list[int]",
        "dict[str, int]",
        ([1],),
        Refused("changed from"),
    ),
    one(
        "avro-type-mismatch-array-map",
        _TM + "INT_ARRAY_SCHEMA, INT_MAP_SCHEMA, 'reader type: ARRAY not compatible with writer type: MAP')",
        "dict[str, int]",
        "list[int]",
        ({"a": 1},),
        Refused("changed from"),
    ),
    one(
        "avro-type-mismatch-int-map-long-map",
        _TM + "INT_MAP_SCHEMA, LONG_MAP_SCHEMA, '/values')",
        "dict[str, int]",
        "dict[str, int]",
        ({"a": 2**40},),
        ({"a": 2**40},),
        note="Avro refuses long values to int; " + NO_LONG,
    ),
    one(
        "avro-type-mismatch-int-enum",
        _TM + "INT_SCHEMA, ENUM2_AB_SCHEMA, 'reader type: INT not compatible with writer type: ENUM')",
        "Enum2",
        "int",
        (E("Enum2", "A"),),
        Refused("changed from"),
        writer_enums=(ENUM2_AB,),
    ),
    one(
        "avro-type-mismatch-enum-int",
        _TM + "ENUM2_AB_SCHEMA, INT_SCHEMA, 'reader type: ENUM not compatible with writer type: INT')",
        "int",
        "Enum2",
        (0,),
        Refused("changed from"),
        reader_enums=(ENUM2_AB,),
    ),
    one(
        "avro-type-mismatch-float-numbers-union",
        _TM + "FLOAT_SCHEMA, INT_LONG_FLOAT_DOUBLE_UNION_SCHEMA, 'reader "
        "type: FLOAT not compatible with writer type: DOUBLE', '/3')",
        "int | float",
        "float",
        (1, 0.5),
        (1.0, 0.5),
        note="Avro refuses the double branch into float; Python has one float type, and int is promoted.",
    ),
    one(
        "avro-type-mismatch-long-int-float-union",
        _TM + "LONG_SCHEMA, INT_FLOAT_UNION_SCHEMA, 'reader type: LONG "
        "not compatible with writer type: FLOAT', '/1'); INT_SCHEMA/INT_FLOAT_UNION_SCHEMA is the same Python pair",
        "int | float",
        "int",
        (1, 1.5),
        Refused("changed from"),
    ),
]

# ---------------------------------------------------------------------------------------------
# Java TestSchemaCompatibilityNameMismatch, ...FixedSizeMismatch, ...Multiple
# ---------------------------------------------------------------------------------------------
_NM = JAVA + "TestSchemaCompatibilityNameMismatch.java: data() Arguments.of("
_MULTI = JAVA + "TestSchemaCompatibilityMultiple.java: multipleIncompatibilities, "
CASES += [
    one(
        "avro-name-mismatch-enum",
        _NM + 'ENUM1_AB_SCHEMA, ENUM2_AB_SCHEMA, "expected: Enum2", "/name")',
        "Enum2",
        "Enum1",
        (E("Enum2", "A"),),
        Refused("enum"),
        writer_enums=(ENUM2_AB,),
        reader_enums=(ENUM1_AB,),
    ),
    one(
        "avro-name-mismatch-enum-aliased",
        _NM + "ENUM1_AB_SCHEMA, ENUM2_AB_SCHEMA) with Enum1 aliasing Enum2 "
        "(spec, Aliases: 'Named types ... may have aliases')",
        "Enum2",
        "Enum1",
        (E("Enum2", "A"), E("Enum2", "B")),
        (E("Enum1", "A"), E("Enum1", "B")),
        writer_enums=(ENUM2_AB,),
        reader_enums=(enum("Enum1", "AB", aliases=("Enum2",)),),
    ),
    one(
        "avro-name-mismatch-fixed",
        _NM + 'FIXED_4_BYTES, FIXED_4_ANOTHER_NAME, "expected: AnotherName")',
        "bytes",
        "bytes",
        (b"abcd",),
        (b"abcd",),
        note="A fixed's name and size have no Python equivalent: both are bytes, the identity.",
    ),
    Case(
        id="avro-name-mismatch-enum-field",
        source=_NM + 'A_DINT_B_DENUM_1_RECORD1, A_DINT_B_DENUM_2_RECORD1, "expected: Enum2", "/fields/1/type/name")',
        writer=(F("a", "int", default=0), F("b", "Enum2")),
        reader=(F("a", "int", default=0), F("b", "Enum1")),
        rows=({"a": 1, "b": E("Enum2", "B")},),
        expect=Refused("enum"),
        writer_enums=(ENUM2_AB,),
        reader_enums=(ENUM1_AB,),
    ),
    Case(
        id="avro-fixed-size-mismatch-record-field",
        source=JAVA + "TestSchemaCompatibilityFixedSizeMismatch.java: data() Arguments.of("
        'A_DINT_B_DFIXED_8_BYTES_RECORD1, A_DINT_B_DFIXED_4_BYTES_RECORD1, "expected: 4, found: 8")',
        writer=(F("a", "int", default=0), F("b", "bytes")),
        reader=(F("a", "int", default=0), F("b", "bytes")),
        rows=({"a": 1, "b": b"abcd"},),
        expect=({"a": 1, "b": b"abcd"},),
        note="A fixed's size has no Python equivalent: bytes to bytes is the identity.",
    ),
    one(
        "avro-multiple-enum-symbols",
        _MULTI + "field 0 check_enum_symbols_field (writer A,B,C,D; reader A,C; MISSING_ENUM_SYMBOLS '[B, D]')",
        "CheckEnumSymbolsType",
        "CheckEnumSymbolsType",
        (E("CheckEnumSymbolsType", "A"), E("CheckEnumSymbolsType", "D")),
        Fails("member"),
        name="check_enum_symbols_field",
        writer_enums=(enum("check_enum_symbols_type", "ABCD", cls="CheckEnumSymbolsType"),),
        reader_enums=(enum("check_enum_symbols_type", "AC", cls="CheckEnumSymbolsType"),),
        note=_PER_ROW,
    ),
    one(
        "avro-multiple-enum-name",
        _MULTI + "field 1 check_enum_name_field (check_enum_name_type_ERR read as check_enum_name_type; NAME_MISMATCH)",
        "CheckEnumNameType",
        "CheckEnumNameType",
        (E("CheckEnumNameType", "A"),),
        Refused("enum"),
        name="check_enum_name_field",
        writer_enums=(enum("check_enum_name_type_ERR", "ABCD", cls="CheckEnumNameType"),),
        reader_enums=(enum("check_enum_name_type", "ABCD", cls="CheckEnumNameType"),),
    ),
    one(
        "avro-multiple-type-mismatch",
        _MULTI + "field 2 type_mismatch_field (long read as string; TYPE_MISMATCH)",
        "int",
        "str",
        (1,),
        Refused("changed from"),
        name="type_mismatch_field",
    ),
    one(
        "avro-multiple-union-missing-branches",
        _MULTI + "field 3.3 union_missing_branches_field ([boolean, double, "
        "string] read as [boolean]; MISSING_UNION_BRANCH)",
        "bool | float | str",
        "bool",
        (True,),
        Refused("changed from"),
        name="union_missing_branches_field",
    ),
    one(
        "avro-multiple-reader-union-no-type",
        _MULTI + "field 3.4 reader_union_does_not_support_type_field (long read as [boolean]; MISSING_UNION_BRANCH)",
        "int",
        "bool",
        (1,),
        Refused("changed from"),
        name="reader_union_does_not_support_type_field",
    ),
    one(
        "avro-multiple-array-type-mismatch",
        _MULTI + "field 3.5.1 array_type_mismatch_field (array<boolean> read as array<string>; TYPE_MISMATCH)",
        "list[bool]",
        "list[str]",
        ([True],),
        Refused("changed from"),
        name="array_type_mismatch_field",
    ),
    Case(
        id="avro-multiple-identical-and-extra",
        source=_MULTI + "fields 3.0 identical_1_field (long default 42 on both sides) and 3.1 extra_no_default_field "
        "(reader only, no default; READER_FIELD_MISSING_DEFAULT_VALUE)",
        writer=(F("identical_1_field", "int", default=42),),
        reader=(F("identical_1_field", "int", default=42), F("extra_no_default_field", "int")),
        rows=({"identical_1_field": 1},),
        expect=Refused("new required field"),
    ),
]

# ---------------------------------------------------------------------------------------------
# Java TestReadingWritingDataInEvolvedSchemas (record RecordA, field fieldA)
# ---------------------------------------------------------------------------------------------
_GOERAN = "G\u00f6ran"
STR_BYTES_TAGGED = (
    "Avro reads the selected branch through the string/bytes promotion; in Amber str and bytes share a stored "
    "family, so a str | bytes union is stored self-described and is passed on unchanged or not at all: refused. "
    "The branch alone (str -> bytes, bytes -> str) is read: see avro-spec-promote-*."
)
CASES += [
    one(
        "avro-evolved-double-from-union-to-double",
        EVOLVED + "doubleWrittenWithUnionSchemaIsConvertedToDoubleSchema",
        "float | int",
        "float",
        (42.0,),
        (42.0,),
        name="fieldA",
        note="UNION_INT_LONG_FLOAT_DOUBLE_RECORD is float | int in Python.",
    ),
    one(
        "avro-evolved-long-to-long-float-union",
        EVOLVED + "longWrittenWithUnionSchemaIsConvertedToUnionLongFloatSchema "
        "(and longWrittenWithUnionSchemaIsConvertedToLongFloatUnionSchema)",
        "int",
        "float | int",
        (42,),
        (42,),
        name="fieldA",
        note="The value stays an int: the reader's union holds the writer's type.",
    ),
    one(
        "avro-evolved-long-to-double",
        EVOLVED + "longWrittenWithUnionSchemaIsConvertedToDoubleSchema",
        "int",
        "float",
        (42,),
        (42.0,),
        name="fieldA",
    ),
    one(
        "avro-evolved-int-to-double",
        EVOLVED + "intWrittenWithUnionSchemaIsConvertedToDoubleSchema (and "
        "intWrittenWithUnionSchemaIsReadableByFloatSchema / ...ByFloatUnionSchema)",
        "int",
        "float",
        (42, -1),
        (42.0, -1.0),
        name="fieldA",
    ),
    one(
        "avro-evolved-long-to-float-double-union",
        EVOLVED + "longWrittenWithUnionSchemaIsConvertedToFloatDoubleUnionSchema",
        "int",
        "float",
        (42,),
        (42.0,),
        name="fieldA",
        note="[float, double] is float in Python.",
    ),
    one(
        "avro-evolved-double-to-float",
        EVOLVED + "doubleWrittenWithUnionSchemaIsNotConvertedToFloatSchema ('Found double, expecting float')",
        "float | int",
        "float",
        (42.0,),
        (42.0,),
        name="fieldA",
        note="Java refuses double to float; Python has one float type, and the int branch is promoted.",
    ),
    one(
        "avro-evolved-float-to-long",
        EVOLVED + "floatWrittenWithUnionSchemaIsNotConvertedToLongSchema ('Found float, "
        "expecting long'); longWrittenWithUnionSchemaIsNotConvertedToIntSchema is the int branch of the same pair",
        "float | int",
        "int",
        (42.0,),
        Refused("changed from"),
        name="fieldA",
    ),
    one(
        "avro-evolved-int-from-numbers-union-to-int",
        EVOLVED + "intWrittenWithUnionSchemaIsConvertedToAllNumberSchemas (INT_RECORD reads 42)",
        "float | int",
        "int",
        (42,),
        Refused("changed from"),
        name="fieldA",
        note=PER_PLAN,
    ),
    one(
        "avro-evolved-int-from-numbers-union-to-double",
        EVOLVED + "intWrittenWithUnionSchemaIsConvertedToAllNumberSchemas (DOUBLE_RECORD reads 42.0)",
        "float | int",
        "float",
        (42,),
        (42.0,),
        name="fieldA",
    ),
    one(
        "avro-evolved-ascii-string-to-bytes",
        EVOLVED + "asciiStringWrittenWithUnionSchemaIsConvertedToBytesSchema",
        "str | bytes",
        "bytes",
        ("42",),
        Refused("changed from"),
        name="fieldA",
        note=STR_BYTES_TAGGED,
    ),
    one(
        "avro-evolved-utf8-string-to-bytes",
        EVOLVED + "utf8StringWrittenWithUnionSchemaIsConvertedToBytesSchema",
        "str | bytes",
        "bytes",
        (_GOERAN,),
        Refused("changed from"),
        name="fieldA",
        note=STR_BYTES_TAGGED,
    ),
    one(
        "avro-evolved-ascii-bytes-to-string",
        EVOLVED + "asciiBytesWrittenWithUnionSchemaIsConvertedToStringSchema",
        "str | bytes",
        "str",
        (b"42",),
        Refused("changed from"),
        name="fieldA",
        note=STR_BYTES_TAGGED,
    ),
    one(
        "avro-evolved-utf8-bytes-to-string",
        EVOLVED + "utf8BytesWrittenWithUnionSchemaIsConvertedToStringSchema",
        "str | bytes",
        "str",
        (_GOERAN,),
        Refused("changed from"),
        name="fieldA",
        note=STR_BYTES_TAGGED,
    ),
    one(
        "avro-evolved-enum-extended",
        EVOLVED + "enumRecordCanBeReadWithExtendedEnumSchema",
        "Enum1",
        "Enum1",
        (E("Enum1", "A"),),
        (E("Enum1", "A"),),
        name="fieldA",
        writer_enums=(ENUM1_AB,),
        reader_enums=(ENUM1_ABC,),
    ),
    one(
        "avro-evolved-enum-original-old-values",
        EVOLVED + "enumRecordWithExtendedSchemaCanBeReadWithOriginalEnumSchemaIfOnlyOldValues",
        "Enum1",
        "Enum1",
        (E("Enum1", "A"),),
        (E("Enum1", "A"),),
        name="fieldA",
        writer_enums=(ENUM1_ABC,),
        reader_enums=(ENUM1_AB,),
        newer=True,
    ),
    one(
        "avro-evolved-enum-original-new-values",
        EVOLVED + "enumRecordWithExtendedSchemaCanNotBeReadIfNewValuesAreUsed ('No match for C')",
        "Enum1",
        "Enum1",
        (E("Enum1", "C"),),
        Fails("member"),
        name="fieldA",
        writer_enums=(ENUM1_ABC,),
        reader_enums=(ENUM1_AB,),
        newer=True,
    ),
    Case(
        id="avro-evolved-extended-record-original-reader",
        source=EVOLVED + "recordWrittenWithExtendedSchemaCanBeReadWithOriginalSchemaButLossOfData",
        writer=(F("newTopField", "str"), F("fieldA", "int")),
        reader=(F("fieldA", "int"),),
        rows=({"newTopField": "not decoded", "fieldA": 42},),
        expect=({"fieldA": 42},),
        newer=True,
    ),
    Case(
        id="avro-evolved-reader-without-default",
        source=EVOLVED + "readerWithoutDefaultValueThrowsException ('missing required field newField')",
        writer=(F("fieldA", "int"),),
        reader=(F("newField", "int"), F("fieldA", "int")),
        rows=({"fieldA": 42},),
        expect=Refused("new required field"),
    ),
    Case(
        id="avro-evolved-reader-with-default",
        source=EVOLVED + "readerWithDefaultValueIsApplied (newFieldWithDefault int default 314)",
        writer=(F("fieldA", "int"),),
        reader=(F("newFieldWithDefault", "int", default=314), F("fieldA", "int")),
        rows=({"fieldA": 42},),
        expect=({"newFieldWithDefault": 314, "fieldA": 42},),
    ),
    Case(
        id="avro-evolved-empty-list-default-for-union",
        source=EVOLVED
        + "readerWithEmptyListAsDefaultValueForUnionFieldIsApplied (UNION_WITH_EMPTY_ARRAY_DEFAULT_RECORD:"
        " [array, null] with arrayDefault(emptyList()))",
        writer=(),
        reader=(F("fieldA", "list[int] | None", default=[]),),
        rows=({},),
        expect=({"fieldA": []},),
        note="The array's items are records (INT_RECORD) in Java; int items here, as records are out of scope.",
    ),
    Case(
        id="avro-evolved-aliases-in-schema",
        source=EVOLVED + 'aliasesInSchema (User.name read as fname with aliases ["name"])',
        writer=(F("name", "int"),),
        reader=(F("fname", "int", aliases=("name",)),),
        rows=({"name": 1},),
        expect=({"fname": 1},),
    ),
]

# ---------------------------------------------------------------------------------------------
# lang/py test_compatibility.py: test_simple_schema_promotion
# ---------------------------------------------------------------------------------------------
_PY_WRITER = (F("f1", "int"), F("f2", "str"))
CASES += [
    Case(
        id="avro-py-field-alias-reader",
        source=PY + ': test_simple_schema_promotion (field_alias_reader: bar with aliases ["f1"], writer foo(f1 int, '
        "f2 string))",
        writer=_PY_WRITER,
        reader=(F("bar", "int", aliases=("f1",)),),
        rows=({"f1": 1, "f2": "x"},),
        expect=({"bar": 1},),
    ),
    Case(
        id="avro-py-record-alias-reader",
        source=PY + ": test_simple_schema_promotion (record_alias_reader: record 'other' with aliases [\"foo\"])",
        writer=_PY_WRITER,
        reader=(F("f1", "int"),),
        rows=({"f1": 1, "f2": "x"},),
        expect=({"f1": 1},),
        renamed_to="other",
    ),
]
