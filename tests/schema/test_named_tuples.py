"""``typing.NamedTuple`` classes as persisted types: declared with ``@amber.record`` like a
dataclass, and getting what records get (identity, references, sets, evolution, steps, the
generic view). Issue 19's first model class: the others (attrs, pydantic) follow it."""

from __future__ import annotations

import collections
from typing import Annotated, Any, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

import amber
import amber.testing
from amber import commands
from tests.support.helpers import memory_opener

reg = amber.Registry()


@reg.record("geo.Point", version=1)
class Point(NamedTuple):
    x: float
    y: float
    label: str = ""


@reg.record("geo.Route", version=1)
class Route(amber.Record):
    stops: list[Point]
    start: Point
    seen: set[Point] = set()
    note: Any = None


def saved_and_loaded(state: Any) -> Any:
    store = amber.open_store("memory://", registry=reg)
    store.save(state)
    return store.load()


def test_named_tuples_round_trip_with_their_identity_in_fields_containers_and_any() -> None:
    home = Point(1.0, 2.0)
    state = {"route": Route([home, Point(3.0, 4.0, "far")], home, {home}, note=home), "home": home}
    loaded = saved_and_loaded(state)
    route = loaded["route"]
    assert loaded == state and type(route.start) is Point
    assert route.start is route.stops[0] is route.note is loaded["home"], "one object, shared as written"
    assert route.seen == {home}


def test_a_named_tuple_is_not_taken_for_a_plain_tuple() -> None:
    @reg.record("geo.Pair", version=1)
    class Pair(amber.Record):
        both: tuple[float, float]

    with pytest.raises(amber.SerializationError, match="expected tuple"):
        saved_and_loaded([Pair(Point(1.0, 2.0))])  # type: ignore[arg-type]


def test_a_namedtuple_without_types_is_refused_at_declaration() -> None:
    untyped = collections.namedtuple("untyped", "x y")
    with pytest.raises(amber.SchemaError, match=r"geo\.Untyped\.x has no type annotation"):
        amber.Registry().record("geo.Untyped", version=1)(untyped)


def test_a_field_added_with_a_default_and_a_renamed_one_evolve_as_for_records() -> None:
    old, new = amber.Registry(), amber.Registry()

    @old.record("geo.Spot", version=1)
    class SpotV1(NamedTuple):
        lat: float
        lon: float

    @new.record("geo.Spot", version=2)
    class Spot(NamedTuple):
        latitude: Annotated[float, amber.field(aliases=["lat"])]
        lon: float
        name: str = "unnamed"

    opened = memory_opener()
    opened(registry=old).save([SpotV1(1.0, 2.0)])
    assert opened(registry=new).load() == [Spot(1.0, 2.0, "unnamed")]


def test_an_upgrade_step_builds_the_new_named_tuple() -> None:
    old, new = amber.Registry(), amber.Registry()

    @old.record("geo.Box", version=1)
    class BoxV1(NamedTuple):
        width: float

    @new.record("geo.Box", version=2)
    class Box(NamedTuple):
        width: float
        area: float

    @new.upgrade("geo.Box", 1)
    def squared(fields: dict[str, Any]) -> dict[str, Any]:
        return {**fields, "area": fields["width"] ** 2}

    opened = memory_opener()
    opened(registry=old).save([BoxV1(3.0)])
    assert opened(registry=new).load() == [Box(3.0, 9.0)]


def test_the_generic_view_shows_a_named_tuple_without_the_application() -> None:
    store = amber.open_store("memory://", registry=reg)
    store.save([Point(1.0, 2.0, "a")])
    dumped = commands.dump_changes(store)
    assert dumped["types"]["geo.Point"]["fields"] == {"x": "float", "y": "float", "label": "str"}


@given(st.lists(st.builds(Point, st.floats(allow_nan=False), st.floats(allow_nan=False), st.text(max_size=8))))
def test_any_list_of_named_tuples_round_trips(points: list[Point]) -> None:
    assert saved_and_loaded(points) == points


@given(amber.testing.records(Route, registry=reg))
def test_the_test_kits_records_build_named_tuple_fields(route: Route) -> None:
    assert all(type(stop) is Point for stop in route.stops) and type(route.start) is Point
    assert saved_and_loaded([route]) == [route]


def test_a_named_tuple_with_its_own_new_is_refused_at_declaration() -> None:
    """review: a load calls cls(*fields): a __new__ that changes its values ran again
    (Counted(10) loaded as Counted(11)), and one taking other arguments made the store unreadable."""

    class Base(NamedTuple):
        n: int

    class Counted(Base):
        def __new__(cls, n: int) -> Counted:
            return super().__new__(cls, n + 1)

    with pytest.raises(amber.SchemaError, match=r"geo\.Counted: Counted overrides __new__"):
        amber.Registry().record("geo.Counted", version=1)(Counted)
