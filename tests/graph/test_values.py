"""Values the object graph keeps exactly: unions of records and numbers, sets and dict keys of
records, frozen records that share children or point at their own type, and values refused at
save because they could not come back the same."""

from __future__ import annotations

import datetime as dt
import enum
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import amber

reg = amber.Registry()


@reg.record("r.A", version=1)
class A(amber.Record):
    n: int


@reg.record("r.U", version=1)
class U(amber.Record):
    v: A | float
    f: float = 0.0
    floats: list[float] = []


@reg.record("r.Key", version=1)
class Key(amber.FrozenRecord, frozen=True):
    x: Any


@reg.record("r.Holder", version=1)
class Holder(amber.Record):
    d: Any


@reg.record("r.Child", version=1)
class Child(amber.FrozenRecord, frozen=True):
    name: str
    parent: Parent


@reg.record("r.Parent", version=1)
class Parent(amber.Record, eq=False):
    kids: set[Child]


@reg.record("r.KO", version=1)
class KO(amber.FrozenRecord, frozen=True):
    n: int


@reg.record("r.Keys", version=1)
class Keys(amber.Record):
    by_set: dict[frozenset[int], int]
    by_pair: dict[tuple[KO, int], str]


@reg.record("r.Node", version=1)
class Node(amber.Record, eq=False):
    nxt: Any = None


@reg.record("r.K1", version=1)
class K1(amber.FrozenRecord, frozen=True):
    x: Any


@reg.record("r.K2", version=1)
class K2(amber.FrozenRecord, frozen=True):
    y: Any


@reg.record("r.City", version=1)
class City(amber.FrozenRecord, frozen=True):
    name: str


class Cabin(enum.Enum):
    FIRST = "first"
    ECONOMY = "economy"


@reg.record("r.Fares", version=1)
class Fares(amber.Record):
    price: dict[City | tuple[City, str], float]
    cabins: list[Cabin | tuple[int, int]]


@reg.record("r.Tree", version=1)
class Tree(amber.FrozenRecord, frozen=True):
    label: str
    children: tuple[Tree, ...] = ()


@reg.record("r.Mark", version=1)
class Mark(amber.Record, eq=False):
    name: str


@reg.record("r.Bag", version=1)
class Bag(amber.Record):
    marks: frozenset[Mark | bool]
    weights: dict[Mark | float, str]


@reg.record("r.Loose", version=1)
class Loose(amber.Record):
    tags: list[Any]
    body: str | bytes = ""


@reg.record("r.Person", version=1)
class Person(amber.Record, eq=False):
    name: str
    friend: Person | None = None


def roundtrip(state: Any) -> Any:
    store = amber.open_store("memory://", registry=reg)
    store.save(state)
    return store.load()


def test_an_int_in_a_union_of_record_and_float_stays_a_number() -> None:
    loaded = roundtrip({"as": [A(10), A(11)], "u": U(1, 3, [1, 2.5])})
    assert loaded["u"].v == 1 and not isinstance(loaded["u"].v, A)  # a union with a record is stored tagged
    assert type(loaded["u"].f) is float and loaded["u"].floats == [1.0, 2.5]


def test_ints_in_float_fields_are_stored_as_float64() -> None:
    store = amber.open_store("memory://", registry=reg)
    assert store.save(U(1.0, 3)).digest == store.save(U(1.0, 3.0)).digest


def test_frozen_records_with_any_fields_hash_correctly_in_sets_and_keys() -> None:
    assert roundtrip(Holder({Key(1): "a", Key(2): "b"})) == Holder({Key(1): "a", Key(2): "b"})
    assert roundtrip(Holder({Key(1), Key(2)})).d == {Key(1), Key(2)}


def test_frozen_records_in_a_typed_set_are_hashed_after_they_are_complete() -> None:
    p1, p2 = Parent(set()), Parent(set())
    c1, c2 = Child("c", p1), Child("c", p2)
    p1.kids.add(c1)
    p2.kids.add(c2)
    loaded = roundtrip([c1, c2])
    assert loaded[0] in loaded[0].parent.kids
    assert loaded[1].parent is not loaded[0].parent


def test_dict_keys_that_are_frozensets_or_tuples_of_records_round_trip() -> None:
    a = KO(1)
    loaded = roundtrip([a, Keys({frozenset({1, 2}): 3}, {(a, 1): "x"})])
    assert loaded[1].by_set == {frozenset({1, 2}): 3}
    assert list(loaded[1].by_pair) == [(loaded[0], 1)]


def test_a_set_of_records_that_reach_each_other_saves() -> None:
    a, b = Node(), Node()
    a.nxt, b.nxt = b, a
    loaded = roundtrip({a, b})
    first = next(iter(loaded))
    assert first.nxt.nxt is first


def test_lists_of_ints_that_look_like_references_are_not_dependencies() -> None:
    # [2, n] is the shape of a "records of type n" node; inside a scalar list it is data.
    state = [K1([2, 1]), K2([2, 0]), K1((2, 1)), K2({2: 0})]
    assert roundtrip(state) == state


def test_unions_of_records_or_enums_with_tuples_do_not_crash_the_reader(tmp_path: Path) -> None:
    """msgspec segfaults decoding a union of a constrained or literal scalar and a tuple;
    the reader never asks it to. Run in a child process: a regression would kill pytest."""
    paris = City("Paris")
    state = [Fares({paris: 10.0, (paris, "first"): 30.0}, [Cabin.FIRST, (1, 2)])]
    store = amber.open_store(tmp_path, registry=reg)
    store.save(state)
    assert store.load() == state
    code = (
        "import amber, amber.commands as c, sys\n"
        "s = amber.open_store(sys.argv[1], registry=amber.Registry(), create=False)\n"
        "s.verify(); print(c.dump_changes(s)['records']['r.Fares'][0]['cabins'])\n"
        "print(c.dump(s, type_name='r.Fares')['records'][0]['cabins'])"
    )
    child = subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=False, capture_output=True, text=True)
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines() == ["['first', {'$tuple': [1, 2]}]"] * 2


def test_frozen_records_of_a_type_that_points_at_itself_load() -> None:
    leaf = Tree("leaf")
    state = {"t": Tree("root", (leaf, Tree("mid", (leaf,))))}
    loaded = roundtrip(state)
    assert loaded == state
    assert loaded["t"].children[0] is loaded["t"].children[1].children[0], "shared, and built once"
    assert {loaded["t"]} == {state["t"]}, "hashes are those of complete records"


def test_record_rows_never_collide_with_false_or_one_in_sets_and_keys() -> None:
    first, second = Mark("first"), Mark("second")
    loaded = roundtrip([first, second, Bag(frozenset({first, False}), {second: "node", 1.0: "float"})])
    assert loaded[2].marks == {loaded[0], False}
    assert loaded[2].weights == {loaded[1]: "node", 1.0: "float"}


def test_fields_stored_tagged_are_type_checked_too() -> None:
    store = amber.open_store("memory://", registry=reg)
    with pytest.raises(amber.SerializationError, match=r"r\.Loose\.tags .*expected list\[any\], got dict"):
        store.save([Loose({"not": "a list"})])  # type: ignore[arg-type]
    with pytest.raises(amber.SerializationError, match=r"r\.Loose\.body .*got A"):
        store.save([Loose([], A(1))])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"s": {2**70, 1}}, r"outside \[-2\*\*63"),
        ([U(1.0, 10**400)], "too large for a float field"),
        ([U(1.0, 2**53 + 1)], "no exact float value"),
        ({"s": "\ud800"}, "not valid Unicode"),
    ],
)
def test_values_that_cannot_be_stored_exactly_are_refused(state: Any, message: str) -> None:
    with pytest.raises(amber.SerializationError, match=message):
        amber.open_store("memory://", registry=reg).save(state)


def test_a_set_of_records_sharing_sub_records_saves_in_linear_time() -> None:
    node = Person("x")
    for i in range(60):  # each node's content reaches all before it: keys must stay shallow
        node = Person(f"n{i}", node)
    assert len(roundtrip({"s": {node}})["s"]) == 1


def test_equal_states_with_a_set_of_records_in_a_cycle_give_one_digest() -> None:
    def state() -> dict[str, Any]:
        ann, bob = Person("ann"), Person("bob")
        ann.friend, bob.friend = bob, ann
        return {"people": {ann, bob}}

    store = amber.open_store("memory://", registry=reg)
    assert len({store.save(state()).digest for _ in range(10)}) == 1


def test_typed_times_with_sub_minute_offsets_are_refused() -> None:
    local = amber.Registry()

    @local.record("r.Shop", version=1)
    class Shop(amber.Record):
        opens: dt.time

    odd = dt.timezone(dt.timedelta(minutes=19, seconds=32))
    with pytest.raises(amber.SerializationError, match="not whole minutes"):
        amber.open_store("memory://", registry=local).save([Shop(dt.time(9, tzinfo=odd))])
    quarter = dt.timezone(dt.timedelta(hours=5, minutes=45))
    assert amber.open_store("memory://", registry=local).save([Shop(dt.time(9, tzinfo=quarter))]).counts == {
        "r.Shop": 1
    }


@st.composite
def frozen_forests(draw: st.DrawFn) -> list[Tree]:
    """Random DAGs of frozen trees: later nodes reuse earlier ones as children."""
    nodes: list[Tree] = []
    for i in range(draw(st.integers(1, 25))):
        picks = draw(st.lists(st.integers(0, max(0, len(nodes) - 1)), max_size=3)) if nodes else []
        nodes.append(Tree(f"n{i}", tuple(nodes[p] for p in picks)))
    return nodes


@settings(max_examples=60, deadline=None)
@given(frozen_forests())
def test_any_dag_of_frozen_records_round_trips_with_its_sharing(nodes: list[Tree]) -> None:
    loaded = roundtrip({"nodes": nodes, "set": set(nodes[-3:])})
    assert loaded["nodes"] == nodes
    assert loaded["set"] == set(nodes[-3:])
    for original, copy in zip(nodes, loaded["nodes"], strict=True):
        for a, b in zip(original.children, copy.children, strict=True):
            assert loaded["nodes"][nodes.index(a)] is b, "children are the shared objects, not copies"


def test_frozen_records_pointing_at_frozen_records_through_any_fields() -> None:
    leaf = Tree("leaf")
    inner = K1(("tree", leaf, (leaf, Tree("x", (leaf,)))))
    outer = K2((inner, frozenset({inner})))
    loaded = roundtrip({"outer": outer, "again": inner})
    assert loaded == {"outer": outer, "again": inner}
    assert loaded["outer"].y[0] is loaded["again"]
    assert loaded["again"].x[1] is loaded["again"].x[2][0]
    assert loaded["again"] in loaded["outer"].y[1], "hashed once complete"
