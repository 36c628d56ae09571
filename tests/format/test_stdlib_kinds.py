"""Format 6's field kinds (issue 19): deque (with maxlen), OrderedDict, Counter, defaultdict
(its factory from the type, never stored), Path and PurePosixPath, Fraction, bytearray and
Literal. Each round-trips as its own class, typed in the schema; what cannot be kept is
refused at save; forged stored forms are typed errors; evolution judges them."""

from __future__ import annotations

import collections
import fractions
import pathlib
from pathlib import Path
from typing import Any, Literal

import msgspec
import pytest
from hypothesis import given, settings

import amber
import amber.testing
from amber import commands
from tests.support.helpers import forge, memory_opener
from tests.support.sample import Customer, Kinds, kinds_state, registry

reg = amber.Registry()


@reg.record("k.Window", version=1)
class Window(amber.Record):
    recent: collections.deque[int]
    seen: collections.Counter[str]
    by_day: collections.OrderedDict[str, float]
    groups: collections.defaultdict[str, set[int]]
    home: pathlib.Path
    share: fractions.Fraction
    raw: bytearray
    state: Literal["open", "closed"]
    later: collections.deque[collections.deque[str]] | None = None


def saved_and_loaded(state: Any, registry: amber.Registry = reg) -> Any:
    store = amber.open_store("memory://", registry=registry)
    store.save(state)
    return store.load()


def window(**changes: Any) -> Window:
    fields: dict[str, Any] = {
        "recent": collections.deque([1, 2, 3], maxlen=3),
        "seen": collections.Counter({"a": 3, "b": -1}),
        "by_day": collections.OrderedDict([("tue", 2.0), ("mon", 1.0)]),
        "groups": collections.defaultdict(set, {"x": {1, 2}}),
        "home": pathlib.Path("/srv/app"),
        "share": fractions.Fraction(2, 3),
        "raw": bytearray(b"\x00\x01"),
        "state": "open",
    }
    return Window(**{**fields, **changes})


def test_each_kind_loads_as_its_own_class_with_what_makes_it_so() -> None:
    (loaded,) = saved_and_loaded([window(later=collections.deque([collections.deque(["x"], maxlen=2)]))])
    assert loaded == window(later=collections.deque([collections.deque(["x"], maxlen=2)]))
    assert loaded.recent.maxlen == 3 and loaded.later[0].maxlen == 2
    assert list(loaded.by_day) == ["tue", "mon"], "an OrderedDict keeps its order"
    assert loaded.groups["new"] == set() and loaded.groups.default_factory is set
    assert type(loaded.home) is type(pathlib.Path()) and type(loaded.share) is fractions.Fraction
    assert type(loaded.raw) is bytearray and type(loaded.seen) is collections.Counter


def test_records_in_a_deque_keep_their_identity() -> None:
    (loaded,) = saved_and_loaded(kinds_state()[:1], registry)
    assert loaded.owners[0] is loaded.owners[1] and type(loaded.owners[0]) is Customer


def test_a_defaultdict_with_another_factory_is_refused_at_save() -> None:
    with pytest.raises(amber.SerializationError, match=r"groups.*default_factory is <class 'list'>, not set"):
        saved_and_loaded([window(groups=collections.defaultdict(list))])


def test_a_defaultdict_whose_value_type_makes_no_empty_value_is_refused_at_declaration() -> None:
    with pytest.raises(amber.SchemaError, match="a defaultdict value type that makes its own empty value"):

        @amber.Registry().record("k.Bad", version=1)
        class Bad(amber.Record):
            by_id: collections.defaultdict[str, tuple[int, int]]


def test_a_value_outside_its_literal_is_refused_at_save() -> None:
    with pytest.raises(amber.SerializationError, match=r"expected one of Literal\['open', 'closed'\], got 'ajar'"):
        saved_and_loaded([window(state="ajar")])


def test_a_counter_of_non_integer_counts_is_refused_not_rounded() -> None:
    with pytest.raises(amber.SerializationError, match="expected int, got float"):
        saved_and_loaded([window(seen=collections.Counter({"a": 0.5}))])


def test_a_plain_list_is_not_taken_for_a_deque() -> None:
    with pytest.raises(amber.SerializationError, match="expected deque\\[int\\], got list"):
        saved_and_loaded([window(recent=[1, 2])])


def test_the_generic_view_renders_each_kind_without_the_application() -> None:
    store = amber.open_store("memory://", registry=reg)
    store.save([window()])
    dumped = commands.dump_changes(store)
    fields = dumped["types"]["k.Window"]["fields"]
    assert fields["recent"] == "deque[int]" and fields["state"] == "Literal['open', 'closed']"
    generic = amber.CheckpointStore(store.storage, registry=amber.Registry())  # no app code
    _, ((row,),), _ = generic.read_generic()
    assert row["recent"] == collections.deque([1, 2, 3], maxlen=3) and row["share"] == fractions.Fraction(2, 3)


@pytest.mark.parametrize(
    ("stored", "said"),
    [("1/0", "Fraction\\(1, 0\\)"), ("one/3", "a fraction written n/d"), ("1" * 5000 + "/3", "4300 digits")],
)
def test_a_forged_fraction_is_a_typed_error(tmp_path: Path, stored: str, said: str) -> None:
    forged = amber.Registry()

    @forged.record("k.Share", version=1)
    class Share(amber.Record):
        part: fractions.Fraction

    store = amber.open_store(tmp_path, registry=forged)
    store.save([Share(fractions.Fraction(1, 3))])
    manifest = store.manifest()
    index = next(i for i, s in enumerate(manifest.segments) if s.kind == "table")
    forge(tmp_path, manifest.id, table=(index, msgspec.msgpack.encode([[stored]])))
    with pytest.raises(
        amber.CorruptCheckpointError, match=f"k.Share.part: values: expected a fraction its class takes.*{said}"
    ):
        store.load()


def test_a_forged_deque_longer_than_its_maxlen_is_a_typed_error(tmp_path: Path) -> None:
    forged = amber.Registry()

    @forged.record("k.Recent", version=1)
    class Recent(amber.Record):
        last: collections.deque[int]

    store = amber.open_store(tmp_path, registry=forged)
    store.save([Recent(collections.deque([1], maxlen=1))])
    manifest = store.manifest()
    index = next(i for i, s in enumerate(manifest.segments) if s.kind == "table")
    forge(tmp_path, manifest.id, table=(index, msgspec.msgpack.encode([[[1, [1, 2]]]])))
    with pytest.raises(amber.CorruptCheckpointError, match=r"k.Recent.last: values: .*2 items in a deque of maxlen 1"):
        store.load()


def test_a_deque_of_ints_read_as_a_deque_of_floats_and_a_literal_widened() -> None:
    old, new = amber.Registry(), amber.Registry()

    @old.record("k.Series", version=1)
    class SeriesV1(amber.Record):
        points: collections.deque[int]
        mode: Literal["a", "b"]
        kind: Literal["x"]

    @new.record("k.Series", version=2)
    class Series(amber.Record):
        points: collections.deque[float]
        mode: Literal["a", "b", "c"]
        kind: str

    opened = memory_opener()
    opened(registry=old).save([SeriesV1(collections.deque([1, 2], maxlen=5), "b", "x")])
    (loaded,) = opened(registry=new).load()
    assert loaded.points == collections.deque([1.0, 2.0]) and loaded.points.maxlen == 5
    assert type(loaded.points[0]) is float and loaded.mode == "b" and loaded.kind == "x"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (Literal["a", "b"], Literal["a"]),  # a value removed
        (collections.deque[int], list[int]),  # another kind of container
        (pathlib.Path, str),
        (str, Literal["a"]),
    ],
)
def test_narrowing_or_changing_kind_needs_a_step(before: Any, after: Any) -> None:
    old, new = amber.Registry(), amber.Registry()
    old.record("k.Change", version=1)(type("Change", (amber.Record,), {"__annotations__": {"v": before}}))
    new.record("k.Change", version=2)(type("Change", (amber.Record,), {"__annotations__": {"v": after}}))
    opened = memory_opener()
    value = {Literal["a", "b"]: "a", collections.deque[int]: collections.deque(), pathlib.Path: Path("x"), str: "a"}
    opened(registry=old).save([old.current("k.Change").cls(value[before])])  # type: ignore[union-attr]
    with pytest.raises(amber.IncompatibleSchemaError, match="changed from"):
        opened(registry=new).load()


def test_a_step_may_hand_back_each_kind_as_its_class() -> None:
    old, new = amber.Registry(), amber.Registry()

    @old.record("k.Log", version=1)
    class LogV1(amber.Record):
        lines: list[str]

    @new.record("k.Log", version=2)
    class Log(amber.Record):
        lines: collections.deque[str]
        where: pathlib.Path

    @new.upgrade("k.Log", 1)
    def to_deque(fields: dict[str, Any]) -> dict[str, Any]:
        return {"lines": collections.deque(fields["lines"], maxlen=10), "where": pathlib.Path("/log")}

    opened = memory_opener()
    opened(registry=old).save([LogV1(["a", "b"])])
    (loaded,) = opened(registry=new).load()
    assert loaded.lines == collections.deque(["a", "b"]) and loaded.lines.maxlen == 10
    assert loaded.where == pathlib.Path("/log")


@settings(max_examples=60)
@given(amber.testing.records(Kinds, registry=registry))
def test_any_drawn_record_of_each_kind_round_trips(drawn: Kinds) -> None:
    amber.testing.assert_roundtrip([drawn], registry=registry)


@settings(max_examples=30)
@given(amber.testing.records(Window, registry=reg))
def test_any_drawn_window_round_trips(drawn: Window) -> None:
    amber.testing.assert_roundtrip([drawn], registry=reg)
