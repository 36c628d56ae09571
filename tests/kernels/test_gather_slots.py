"""The compiled gather's fast path against the Python twin: where every attribute is a slot
(msgspec Structs, ``__slots__`` classes, slotted dataclasses) it reads the slots directly, row
by row; anything else (a property, ``__getattr__``, ``__getattribute__``, an instance dict, an
empty slot, another type's descriptor) goes through ``getattr`` as before. The twins must give
the same columns, checks and exceptions, also when Python code run by the scan changes a type
or an object's class, and when a type changes between calls."""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import amber
from amber._kernels import _python

try:
    from amber._kernels import _compiled
except ImportError:  # test_selection.py fails where a compiler should have built it
    pytest.skip("the compiled kernels are not built", allow_module_level=True)


class Customer(amber.Record):
    name: str


class Account(amber.Record):
    id: int
    owner: Customer
    balance: int
    tags: list[str]
    updated: float


class Point(msgspec.Struct):
    a: object
    b: object = None


class Slots:
    __slots__ = ("a", "b")

    def __init__(self, a: object, b: object) -> None:
        self.a, self.b = a, b


class MoreSlots(Slots):
    """A subclass adding a slot: the inherited ones at the same offsets."""

    __slots__ = ("c",)

    def __init__(self, a: object, b: object) -> None:
        super().__init__(a, b)
        self.c = "c"


class SlotsAndDict(Slots):
    """Slots and an instance dict: an entry named like a slot never shadows it."""

    def __init__(self, a: object, b: object) -> None:
        super().__init__(a, b)
        self.__dict__["a"] = "from the dict"
        self.__dict__["b"] = "from the dict"


@dataclass(slots=True)
class SlottedData:
    a: object
    b: object


@dataclass
class PlainData:
    """No slots: its attributes are in its instance dict."""

    a: object
    b: object


class WithProperty:
    __slots__ = ("_b", "a")

    def __init__(self, a: object, b: object) -> None:
        self.a, self._b = a, ("property", b)

    @property
    def b(self) -> object:
        return self._b  # the same object each time: the twins' columns hold the same objects


HOOKED: dict[str, tuple[str, str]] = {}


class WithGetattr:
    """Slots and a __getattr__, called for an empty slot."""

    __slots__ = ("a", "b")

    def __init__(self, a: object, b: object) -> None:
        self.a, self.b = a, b

    def __getattr__(self, name: str) -> object:
        return HOOKED.setdefault(name, ("__getattr__", name))


class WithGetattribute:
    __slots__ = ("a", "b")

    def __init__(self, a: object, b: object) -> None:
        self.a, self.b = a, b

    def __getattribute__(self, name: str) -> object:
        return object.__getattribute__(self, "a" if name == "b" else name)  # b reads a


class ClassAttribute:
    """``b`` is a plain class attribute, found where no instance dict has it."""

    __slots__ = ("a",)
    b = "class attribute"

    def __init__(self, a: object, b: object) -> None:
        self.a = a


class Meta(type):
    """A metaclass whose own data descriptor ``a`` answers ``Cls.a`` with another slot's
    descriptor: instances must still read their own ``a``."""

    @property
    def a(cls) -> object:
        return Slots.__dict__["b"]

    def __getattribute__(cls, name: str) -> object:
        return type.__getattribute__(cls, name)


class Metaclassed(metaclass=Meta):
    __slots__ = ("a", "b")

    def __init__(self, a: object, b: object) -> None:
        self.a, self.b = a, b


class Foreign:
    """Holds another class's slot descriptor: reading it raises TypeError."""

    def __init__(self, a: object, b: object) -> None:
        self.b = b


setattr(Foreign, "a", Slots.__dict__["a"])  # noqa: B010


class Renamed(Slots):
    """``b`` is the inherited slot ``a``'s descriptor under another name: valid, read there."""

    __slots__ = ()

    def __init__(self, a: object, b: object) -> None:
        self.a = a  # (b would write slot a)


setattr(Renamed, "b", Slots.__dict__["a"])  # noqa: B010  (mypy would refuse the assignment)

CLASSES: list[Callable[[object, object], Any]] = [
    Point,
    Slots,
    MoreSlots,
    SlotsAndDict,
    SlottedData,
    PlainData,
    WithProperty,
    WithGetattr,
    WithGetattribute,
    ClassAttribute,
    Metaclassed,
    Foreign,
    Renamed,
]


def outcome(function: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    try:
        return "returned", function(*args)
    except Exception as error:
        return "raised", (type(error), error.args)


def agree(objs: list[Any], names: tuple[str, ...], allowed: tuple[tuple[type, ...] | None, ...]) -> tuple[str, Any]:
    """Both twins' outcome, checked to be the same (the same value objects, not only equal)."""
    compiled, python = outcome(_compiled.gather, objs, names, allowed), outcome(_python.gather, objs, names, allowed)
    assert compiled == python
    if compiled[0] == "returned":
        assert [[id(v) for v in c] for c in compiled[1][0]] == [[id(v) for v in c] for c in python[1][0]]
    return compiled


def emptied(obj: Any, name: str) -> Any:
    """The object with one slot (or attribute) deleted, where it can be."""
    with contextlib.suppress(AttributeError, TypeError):
        delattr(obj, name)
    return obj


values = st.one_of(st.integers(-5, 2**70), st.text(max_size=3), st.none(), st.floats(allow_nan=False), st.booleans())
objects = st.builds(lambda cls, a, b: cls(a, b), st.sampled_from(CLASSES), values, values)
objects = objects | st.builds(emptied, objects, st.sampled_from(["a", "b"]))
uniform = st.sampled_from([Point, Slots, SlottedData, MoreSlots]).flatmap(
    lambda cls: st.lists(st.builds(cls, values, values), max_size=20)
)
names = st.lists(st.sampled_from(["a", "b", "c", "_b", "missing", "__class__"]), min_size=1, max_size=4).map(tuple)
kinds = st.none() | st.lists(st.sampled_from([int, str, type(None), float, bool, tuple]), max_size=4).map(tuple)


@settings(deadline=None, max_examples=300)
@given(st.lists(objects, max_size=12), names, st.data())
def test_any_mix_of_classes(objs: list[Any], attrs: tuple[str, ...], data: st.DataObject) -> None:
    agree(objs, attrs, tuple(data.draw(kinds) for _ in attrs))


@settings(deadline=None)
@given(uniform, st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=4).map(tuple), st.data())
def test_one_slotted_class(objs: list[Any], attrs: tuple[str, ...], data: st.DataObject) -> None:
    """The fast path proper: every attribute a slot."""
    agree(objs, attrs, tuple(data.draw(kinds) for _ in attrs))


@settings(deadline=None)
@given(uniform, st.integers(0, 19), st.sampled_from(["a", "b"]), st.sampled_from([Slots, PlainData, WithProperty]))
def test_one_odd_object_among_slotted_ones(objs: list[Any], at: int, attr: str, odd: Any) -> None:
    """An empty slot, or an object of another kind, anywhere among them."""
    emptied_one = [*objs]
    if objs:
        emptied_one[at % len(objs)] = emptied(type(objs[0])(1, 2), attr)
    other = [*objs[:at], odd(3, 4), *objs[at:]]
    for listed in (emptied_one, other):
        agree(listed, ("a", "b"), ((int,), None))
        agree(listed, ("b", "a", "b"), (None, (int, str), ()))


def test_the_accounts_of_the_profile() -> None:
    customers = [Customer(f"c{i}") for i in range(50)]
    objs = [Account(i, customers[i % 50], i * 7, ["a", str(i)], i / 3) for i in range(5000)]
    attrs = ("id", "owner", "balance", "tags", "updated")
    allowed = ((int,), None, (int,), None, (float,))
    _, (columns, checked) = agree(objs, attrs, allowed)
    assert columns[1][7] is customers[7] and checked == [True, False, True, False, True]
    setattr(objs[4000], "balance", "not an int")  # noqa: B010
    assert agree(objs, attrs, allowed)[1][1] == [True, False, False, False, True]


def test_each_kind_of_attribute_reads_as_getattr_does() -> None:
    objs = [cls(1, 2) for cls in CLASSES if cls is not Foreign]
    assert agree(objs, ("a",), (None,))[1][0] == [[1] * len(objs)]
    got = agree(objs, ("b",), (None,))[1][0][0]
    assert got == [
        2,
        2,
        2,
        2,  # the slot, not the instance dict's entry
        2,
        2,
        ("property", 2),
        2,
        1,  # WithGetattribute: b reads a
        "class attribute",
        2,  # the instance's own slot, not what the metaclass answers for the class
        1,  # Renamed: b is slot a
    ]


def test_an_empty_slot_raises_the_same_error_on_the_first_attribute_python_fetches() -> None:
    first = emptied(Point(1, 2), "b")
    second = emptied(Point(1, 2), "a")
    with pytest.raises(AttributeError) as raised:
        _ = second.a
    assert agree([first, second], ("a", "b"), (None, None)) == ("raised", (AttributeError, raised.value.args))
    assert agree([first], ("a", "b"), (None, None))[1][0] is AttributeError
    # With __getattr__, an empty slot is no error: __getattr__ answers.
    hook = emptied(WithGetattr(1, 2), "a")
    assert agree([WithGetattr(3, 4), hook], ("a",), (None,))[1][0] == [[3, ("__getattr__", "a")]]


def test_another_classes_descriptor_raises_the_same_type_error() -> None:
    status, (kind, args) = agree([Slots(1, 2), Foreign(1, 2)], ("a",), (None,))
    assert (status, kind) == ("raised", TypeError) and "doesn't apply" in args[0]


def test_c_types_members_that_are_not_object_slots() -> None:
    """slice.start is a member descriptor of another kind (T_OBJECT: None for NULL)."""
    objs: list[Any] = [slice(1, 2), slice(None), slice(3, 4, 5)]
    columns = agree(objs, ("start", "stop", "step"), ((int,), None, None))[1][0]
    assert columns == [[1, None, 3], [2, None, 4], [None, None, 5]]


def test_a_type_changed_between_calls() -> None:
    class Local:
        __slots__ = ("a",)

        def __init__(self, a: object) -> None:
            self.a = a

    objs = [Local(i) for i in range(10)]
    assert agree(objs, ("a",), ((int,),))[1] == ([list(range(10))], [True])
    setattr(Local, "a", property(lambda self: "replaced"))  # noqa: B010
    assert agree(objs, ("a",), ((int,),))[1] == ([["replaced"] * 10], [False])
    delattr(Local, "a")  # the slot's descriptor is gone: the slots can no longer be read
    assert agree(objs, ("a",), (None,))[1][0] is AttributeError


class Changer:
    """Its ``a`` runs code when fetched (after ``when`` fetches): see ACTIONS."""

    def __init__(self, action: Callable[[], None]) -> None:
        self.action = action

    @property
    def a(self) -> object:
        self.action()
        return "changer"

    b = "changer's b"


def local_classes() -> tuple[type, type]:
    class Fresh:
        __slots__ = ("a", "b")

        def __init__(self, a: object, b: object) -> None:
            self.a, self.b = a, b

    class Alike:  # the same layout, with a property for a
        __slots__ = ("_a", "b")

        def __init__(self, a: object, b: object) -> None:
            self._a, self.b = a, b

        @property
        def a(self) -> object:
            return ("Alike", self._a)

    return Fresh, Alike


@pytest.mark.parametrize("action", ["property", "delete descriptor", "class", "replace", "clear"])
def test_code_run_by_the_scan_changes_a_type_or_a_class(action: str) -> None:
    """A property among slotted objects changes their class, their class's attribute, or the
    list: the objects after it are read as getattr reads them then, in both twins."""
    results = []
    for twin in (_compiled, _python):
        fresh, alike = local_classes()
        objs: list[Any] = [fresh(i, -i) for i in range(6)]

        def act(objs: list[Any] = objs, fresh: Any = fresh, alike: Any = alike) -> None:
            if action == "property":
                fresh.a = property(lambda self: "changed")
            elif action == "delete descriptor":
                fresh.b = "b from the class"
            elif action == "class":
                objs[-1].__class__ = alike
            elif action == "replace":
                objs[-2] = alike(99, 98)
            elif action == "clear":
                del objs[4:]

        objs.insert(3, Changer(act))
        got = outcome(twin.gather, objs, ("a", "b", "a"), ((int,), (int,), None))
        results.append(repr(got).replace(twin.__name__, "twin"))
    assert results[0] == results[1]


def test_no_reference_is_leaked() -> None:
    """The values' reference counts are back where they were once the columns are gone, on the
    fast path, on the way back from it (an odd object at the end), and on an error."""
    values = [f"value {i}" for i in range(100)]
    counts = [sys.getrefcount(v) for v in values]
    fast: list[Any] = [Slots(v, v) for v in values]
    for objs in (fast, [*fast, PlainData(1, 2)], [*fast, emptied(Slots(1, 2), "b")]):
        for twin in (_compiled, _python):
            before = [sys.getrefcount(v) for v in values]
            result = outcome(twin.gather, objs, ("a", "b"), ((str,), None))
            del result
            gc.collect()
            assert [sys.getrefcount(v) for v in values] == before
    del fast, objs
    gc.collect()
    assert [sys.getrefcount(v) for v in values] == counts
