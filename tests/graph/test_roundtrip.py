"""Saving and loading states: values, shared references, cycles, determinism, refusals."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import amber
from tests.support.sample import (
    Account,
    Branch,
    Currency,
    Customer,
    Level,
    Point,
    bank,
    everything,
    registry,
)


def roundtrip(state: Any, url: str = "memory://") -> Any:
    store = amber.open_store(url, registry=registry)
    store.save(state)
    return store.load()


def test_every_field_type_survives_a_round_trip(store_url: str) -> None:
    original = everything()
    loaded = roundtrip(original, store_url)
    assert loaded == original
    assert type(loaded.currency) is Currency
    assert type(loaded.level) is Level
    assert type(loaded.labels) is set
    assert type(loaded.frozen) is frozenset
    assert type(loaded.pair) is tuple
    assert list(loaded.scores) == ["z", "a"], "dict order is state, and is kept"
    assert loaded.friends[0] is loaded.friends[1] is loaded.by_id[1] is loaded.anything[5]


def test_shared_references_come_back_shared() -> None:
    state = bank()
    loaded = roundtrip(state)
    accounts = loaded["accounts"]
    assert accounts[0].owner is accounts[5].owner is loaded["customers"][0]
    assert len({id(a.owner) for a in accounts.values()}) == 5


def test_cycles_through_records_come_back_intact() -> None:
    loaded = roundtrip(bank())
    head = loaded["branches"]
    assert [c.name for c in head.children] == ["branch 0", "branch 1", "branch 2"]
    assert all(c.parent is head for c in head.children)
    assert head.children[1].manager is loaded["customers"][1]


def test_a_record_that_points_at_itself() -> None:
    b = Branch("loop")
    b.parent = b
    b.children = [b, b]
    loaded = roundtrip([b])
    assert loaded[0].parent is loaded[0]
    assert loaded[0].children[1] is loaded[0]


def test_the_same_object_twice_in_one_dict_is_one_object() -> None:
    ada = Customer(1, "Ada")
    loaded = roundtrip({"a": ada, "b": ada, "list": [ada] * 3})
    assert loaded["a"] is loaded["b"] is loaded["list"][2]


def test_dataclass_records_round_trip() -> None:
    loaded = roundtrip({"points": [Point(1, 2), Point(3, 4, "far")]})
    assert loaded == {"points": [Point(1, 2), Point(3, 4, "far")]}


def test_root_values_of_every_builtin_kind() -> None:
    state = {
        "tuple": (1, [2, 3]),
        "set": {1.5, 2.5},
        "frozen": frozenset({"a"}),
        "non_str_keys": {(1, 2): "pair", 3: None, None: b"x"},
        "dates": [
            dt.date(2020, 1, 1),
            dt.datetime(2020, 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        ],
        "decimal": decimal.Decimal("-0.000"),
        "uuid": uuid.UUID(int=1),
        "span": dt.timedelta(seconds=1),
        "time": dt.time(1, 2),
        "empty": [[], {}, (), set()],
    }
    loaded = roundtrip(state)
    assert loaded == state
    assert loaded["dates"][1].utcoffset() == dt.timedelta(hours=2), "untyped datetimes keep their offset"


def test_equal_states_give_byte_identical_checkpoints() -> None:
    def build() -> dict[str, Any]:
        state = bank()
        state["labels"] = {"zeta", "alpha", "mid", "x" * 40}  # set order depends on hash seeds
        state["points"] = frozenset({1, 99, 7})
        return state

    store = amber.open_store("memory://", registry=registry)
    first, second = store.save(build()), store.save(build())
    assert first.digest == second.digest
    a, b = (store.manifest(i.id) for i in (first, second))
    data = [store.storage.get_range(m.data, 0, m.data_size) for m in (a, b)]
    assert data[0] == data[1]


def test_different_states_give_different_digests() -> None:
    store = amber.open_store("memory://", registry=registry)
    assert store.save(bank()).digest != store.save(bank(accounts=21)).digest


# --- refusals -----------------------------------------------------------------------------


def test_a_field_holding_the_wrong_type_is_refused_at_save() -> None:
    store = amber.open_store("memory://", registry=registry)
    bad = Account(1, Customer(1, "Ada"), balance=10.5)  # type: ignore[arg-type]
    with pytest.raises(
        amber.SerializationError,
        match=r"bank\.Account\.balance \(row 0: 10\.5\).*expected int, got float",
    ):
        store.save([bad])
    with pytest.raises(amber.SerializationError, match=r"tags.*expected str, got int"):
        store.save([Account(1, Customer(1, "Ada"), 1, tags=[1])])  # type: ignore[list-item]
    with pytest.raises(amber.SerializationError, match="owner"):
        store.save([Account(1, "Ada", 1)])  # type: ignore[arg-type]
    assert store.ids() == [], "nothing half-written becomes visible"


def test_unsupported_values_are_refused_with_their_path() -> None:
    store = amber.open_store("memory://", registry=registry)
    with pytest.raises(amber.SerializationError, match=r"state\['a'\]\[1\].*object"):
        store.save({"a": [1, object()]})


def test_containers_that_contain_themselves_are_refused() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(amber.SerializationError, match="contains itself"):
        amber.open_store("memory://", registry=registry).save(loop)


def test_integers_beyond_64_bits_are_refused_clearly() -> None:
    store = amber.open_store("memory://", registry=registry)
    with pytest.raises(amber.SerializationError, match=r"outside \[-2\*\*63, 2\*\*64 - 1\]"):
        store.save({"big": 2**64})
    with pytest.raises(amber.SerializationError, match="outside"):
        store.save([Account(1, Customer(-(2**63) - 1, "x"), 1)])


def test_two_versions_of_one_type_in_one_state_are_refused() -> None:
    reg = amber.Registry()

    @reg.record("x.T", version=1)
    class T1(amber.Record):
        a: int

    @reg.record("x.T", version=2)
    class T2(amber.Record):
        a: int

    with pytest.raises(amber.SerializationError, match="versions 1 and 2"):
        amber.open_store("memory://", registry=reg).save([T1(1), T2(2)])


def test_meta_must_be_json() -> None:
    store = amber.open_store("memory://", registry=registry)
    assert store.save({}, meta={"release": "1.2", "n": 3}).meta == {"release": "1.2", "n": 3}
    with pytest.raises(amber.SerializationError):
        store.save({}, meta={"bad": object()})


# --- properties ---------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False),
    st.text(),
    st.binary(),
    st.dates(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.uuids(),
    st.timedeltas(),
)
hashables = st.recursive(
    scalars, lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3), max_leaves=8
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(hashables, inner, max_size=4)
        | st.tuples(inner, inner)
        | st.sets(hashables, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_any_builtin_value_round_trips(value: Any) -> None:
    assert roundtrip({"v": value}) == {"v": value}


@st.composite
def customer_graphs(draw: st.DrawFn) -> dict[str, Any]:
    people = [Customer(i, draw(st.text(max_size=5))) for i in range(draw(st.integers(1, 6)))]
    picks = st.sampled_from(people)
    accounts = [
        Account(
            i,
            draw(picks),
            draw(st.integers(-(2**63), 2**63 - 1)),
            draw(st.lists(st.text(max_size=3), max_size=3)),
        )
        for i in range(draw(st.integers(0, 8)))
    ]
    return {"accounts": accounts, "vip": draw(st.lists(picks, max_size=4))}


@settings(max_examples=100)
@given(customer_graphs())
def test_graphs_keep_their_shape(state: dict[str, Any]) -> None:
    loaded = roundtrip(state)
    assert loaded == state

    def shape(s: dict[str, Any]) -> list[int]:
        owners = [a.owner for a in s["accounts"]] + s["vip"]
        first_seen: dict[int, int] = {}
        return [first_seen.setdefault(id(o), len(first_seen)) for o in owners]

    assert shape(loaded) == shape(state), "which slots share one object is preserved"
