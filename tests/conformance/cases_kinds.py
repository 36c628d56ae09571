"""Format 6's field kinds under evolution (issue 19): Literal, deque, Counter, OrderedDict,
defaultdict, paths and Fraction. Each case cites the rule of a public reference it follows
(Avro's schema resolution, Protobuf's and JSON Schema's rules for enumerations) or the
Python behaviour that makes a change lossy."""

from __future__ import annotations

import collections
import fractions
import pathlib

import numpy as np

from tests.conformance.model import Case, F, Refused

AVRO_ENUM = "Avro spec, Schema Resolution, enums: a symbol the reader's enum lacks is an error"
AVRO_ADDED = "Avro spec, Schema Resolution, enums: the reader's symbols may be a superset"
AVRO_PROMOTE = "Avro spec, Schema Resolution: int is promotable to float, item by item in arrays and maps"
PROTO_ENUM = "Protobuf Language Guide, Updating a Message Type: enum is compatible with int32 (wire-identical)"
JSON_ENUM = "JSON Schema Validation 2020-12, 6.1.2 enum: an instance is valid if equal to one of the values"
D = collections.deque
NUMPY_CAST = "numpy docs, can_cast(casting='safe'), narrowed to exact casts (int64 to float64 is 'safe' yet rounds)"

CASES: list[Case] = [
    Case("kind-literal-values-added", AVRO_ADDED,
         (F("m", 'Literal["a", "b"]'),), (F("m", 'Literal["a", "b", "c"]'),), ({"m": "b"},), ({"m": "b"},)),
    Case("kind-literal-value-removed", AVRO_ENUM,
         (F("m", 'Literal["a", "b"]'),), (F("m", 'Literal["a"]'),), ({"m": "a"},), Refused("changed from")),
    Case("kind-literal-to-str", f"{JSON_ENUM}: every value of the enum is a string",
         (F("m", 'Literal["a", "b"]'),), (F("m", "str"),), ({"m": "a"},), ({"m": "a"},)),
    Case("kind-literal-int-to-int", PROTO_ENUM,
         (F("m", "Literal[1, 2]"),), (F("m", "int"),), ({"m": 2},), ({"m": 2},)),
    Case("kind-str-to-literal", f"{JSON_ENUM}: a string is not valid against an enum of some strings",
         (F("m", "str"),), (F("m", 'Literal["a"]'),), ({"m": "a"},), Refused("changed from")),
    Case("kind-literal-str-to-int", "Python: Literal['1'] and Literal[1] are different values",
         (F("m", 'Literal["1"]'),), (F("m", "int"),), ({"m": "1"},), Refused("changed from")),
    Case("kind-deque-items-widened", AVRO_PROMOTE,
         (F("d", "collections.deque[int]"),), (F("d", "collections.deque[float]"),),
         ({"d": D([1, 2], maxlen=3)},), ({"d": D([1.0, 2.0], maxlen=3)},)),
    Case("kind-deque-to-list", "Python: a list has no maxlen; a bounded deque would become unbounded",
         (F("d", "collections.deque[int]"),), (F("d", "list[int]"),), ({"d": D([1])},), Refused("changed from")),
    Case("kind-list-to-deque", "Python: a deque is not a list (append on a bounded deque drops items)",
         (F("d", "list[int]"),), (F("d", "collections.deque[int]"),), ({"d": [1]},), Refused("changed from")),
    Case("kind-counter-keys-widened", AVRO_PROMOTE + " (map keys here: Python dicts key by value)",
         (F("c", "collections.Counter[int]"),), (F("c", "collections.Counter[float]"),),
         ({"c": collections.Counter({1: 2})},), ({"c": collections.Counter({1.0: 2})},)),
    Case("kind-counter-to-dict", "Python: a dict lacks a Counter's arithmetic and missing keys' zero",
         (F("c", "collections.Counter[str]"),), (F("c", "dict[str, int]"),),
         ({"c": collections.Counter({"a": 1})},), Refused("changed from")),
    Case("kind-ordereddict-values-widened", AVRO_PROMOTE,
         (F("o", "collections.OrderedDict[str, int]"),), (F("o", "collections.OrderedDict[str, float]"),),
         ({"o": collections.OrderedDict([("z", 1), ("a", 2)])},),
         ({"o": collections.OrderedDict([("z", 1.0), ("a", 2.0)])},)),
    Case("kind-defaultdict-values-widened", AVRO_PROMOTE + " (the factory follows the new value type)",
         (F("g", "collections.defaultdict[str, list[int]]"),), (F("g", "collections.defaultdict[str, list[float]]"),),
         ({"g": collections.defaultdict(list, {"a": [1]})},), ({"g": collections.defaultdict(list, {"a": [1.0]})},)),
    Case("kind-defaultdict-factory-changed", "Python: defaultdict(list) and defaultdict(set) make different values",
         (F("g", "collections.defaultdict[str, list[int]]"),), (F("g", "collections.defaultdict[str, set[int]]"),),
         ({"g": collections.defaultdict(list, {"a": [1]})},), Refused("changed from")),
    Case("kind-path-to-str", "Python: a Path is not a str (str methods, / joins and == differ)",
         (F("p", "pathlib.Path"),), (F("p", "str"),), ({"p": pathlib.Path("/a")},), Refused("changed from")),
    Case("kind-fraction-to-float", "Python: float(Fraction(1, 3)) is not exact",
         (F("q", "fractions.Fraction"),), (F("q", "float"),), ({"q": fractions.Fraction(1, 3)},),
         Refused("changed from")),
    Case("kind-ndarray-int32-to-float64", NUMPY_CAST + ": every int32 is a float64",
         (F("a", "npt.NDArray[np.int32]"),), (F("a", "npt.NDArray[np.float64]"),),
         ({"a": np.array([1, -2, 2**31 - 1], dtype=np.int32)},), ({"a": np.array([1.0, -2.0, 2**31 - 1.0])},)),
    Case("kind-ndarray-float32-to-float64", NUMPY_CAST + ": IEEE 754 binary32 values are binary64 values",
         (F("a", "npt.NDArray[np.float32]"),), (F("a", "npt.NDArray[np.float64]"),),
         ({"a": np.array([0.1, np.inf], dtype=np.float32)},),
         ({"a": np.array([0.1, np.inf], dtype=np.float32).astype(np.float64)},)),
    Case("kind-ndarray-uint8-to-int16", NUMPY_CAST + ": uint8 fits int16",
         (F("a", "npt.NDArray[np.uint8]"),), (F("a", "npt.NDArray[np.int16]"),),
         ({"a": np.array([0, 255], dtype=np.uint8)},), ({"a": np.array([0, 255], dtype=np.int16)},)),
    Case("kind-ndarray-to-any-dtype", "Amber: an undeclared dtype reads every dtype as written",
         (F("a", "npt.NDArray[np.int16]"),), (F("a", "np.ndarray"),),
         ({"a": np.array([[1, 2]], dtype=np.int16)},), ({"a": np.array([[1, 2]], dtype=np.int16)},)),
    Case("kind-ndarray-int64-to-float64", NUMPY_CAST + ": 2**53 + 1 has no float64",
         (F("a", "npt.NDArray[np.int64]"),), (F("a", "npt.NDArray[np.float64]"),),
         ({"a": np.array([2**53 + 1])},), Refused("changed from")),
    Case("kind-ndarray-float64-to-float32", NUMPY_CAST + ": narrowing rounds",
         (F("a", "npt.NDArray[np.float64]"),), (F("a", "npt.NDArray[np.float32]"),),
         ({"a": np.array([0.1])},), Refused("changed from")),
    Case("kind-ndarray-any-to-declared", "Amber: values of any dtype cannot all be read as one",
         (F("a", "np.ndarray"),), (F("a", "npt.NDArray[np.float64]"),),
         ({"a": np.array([1.0])},), Refused("changed from")),
    Case("kind-bytearray-to-bytes", "Python: bytes are immutable, a bytearray is not",
         (F("b", "bytearray"),), (F("b", "bytes"),), ({"b": bytearray(b"x")},), Refused("changed from")),
]  # fmt: skip
