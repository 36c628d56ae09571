"""``amber dump`` and ``amber diff`` on resolved states: every pair of checkpoints of random
histories (full checkpoints, deltas, chains side by side) against a brute-force comparison of
the states as the application's code loads them."""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo
from pathlib import Path
from typing import Any

import msgspec
import pytest

import amber
from amber import commands
from tests.support.helpers import amber_cli

registry = amber.Registry()


@registry.record("t.Customer", version=1)
class Customer(amber.Record):
    id: int
    name: str


@registry.record("t.Geo", version=1)
class Geo(amber.Record):
    lat: float


@registry.record("t.Address", version=1)
class Address(amber.Record):
    city: str
    geo: Geo


@registry.record("t.Account", version=1)
class Account(amber.Record):
    id: int
    owner: Customer
    balance: int
    address: Address
    tags: set[str]
    notes: dict[str, int]


@registry.record("t.Tree", version=1)
class Tree(amber.Record):
    label: str
    parent: Tree | None
    children: list[Tree]


NAMES = {Customer: "t.Customer", Account: "t.Account", Tree: "t.Tree", Geo: "t.Geo", Address: "t.Address"}


def _tree(rng: random.Random, label: str) -> Tree:
    root = Tree(label, None, [])
    for i in range(rng.randrange(3)):
        root.children.append(Tree(f"{label}.{i}", root, []))  # a cycle outside tables: child -> parent
    return root


class History:
    """A state changed at random between checkpoints: entries added, replaced, changed in place
    (and touched), deleted and added again, a shared customer renamed, plain parts changed."""

    def __init__(self, store: amber.CheckpointStore, seed: int) -> None:
        self.rng = random.Random(seed)
        self.store = store
        people = {i: Customer(i, f"c{i}") for i in range(4)}
        self.state: dict[str, Any] = {"customers": amber.Table(people)}
        self.state["accounts"] = amber.Table({i: self._account(i) for i in range(8)})
        self.state["trees"] = amber.Table({f"t{i}": _tree(self.rng, f"t{i}") for i in range(3)})
        self.state.update(settings={"limit": 5, "mode": 1}, counter=0)
        self.ids: list[str] = [store.save(self.state).id]

    def _account(self, i: int) -> Account:
        customers = self.state["customers"]
        owner = customers[self.rng.randrange(len(customers))]
        geo = Geo(round(self.rng.random(), 3))
        return Account(i, owner, self.rng.randrange(100), Address(f"city{i}", geo), {"a", "b"}, {"n": i})

    def step(self) -> None:
        rng, accounts, customers = self.rng, self.state["accounts"], self.state["customers"]
        for _ in range(rng.randrange(1, 4)):
            op = rng.randrange(9)
            key = rng.randrange(12)
            if op == 0:
                accounts[key] = self._account(key)
            elif op == 1 and key in accounts:
                accounts[key].balance += 1
                accounts.touch(key)
            elif op == 2 and key in accounts:  # a change two records deep, outside any table
                accounts[key].address.geo.lat += 1.0
                accounts.touch(key)
            elif op == 3:
                accounts.pop(key, None)
            elif op == 4:
                c = customers[rng.randrange(len(customers))]
                c.name += "!"  # every account pointing at it points at the same entry
                customers.touch(c.id)
            elif op == 5 and key in accounts:
                accounts[key].tags ^= {"z"}
                accounts.touch(key)
            elif op == 6:
                self.state["settings"]["limit"] += rng.randrange(2)
                self.state["counter"] += 1
            elif op == 7:  # a new customer object at a key: accounts still point at the old one
                old = customers[rng.randrange(len(customers))]
                customers[old.id] = Customer(old.id, old.name + "?")
            else:
                self.state["trees"][f"t{key % 4}"] = _tree(rng, f"t{key}")

    def checkpoint(self, full: bool) -> None:
        info = self.store.save(self.state, parent=None if full else self.ids[-1])
        self.ids.append(info.id)


def build(tmp_path: Path, seed: int, kinds: str) -> tuple[amber.CheckpointStore, list[str]]:
    store = amber.open_store(tmp_path / f"s{seed}", registry=registry)
    history = History(store, seed)
    for kind in kinds:
        history.step()
        history.checkpoint(full=kind == "F")
    return store, history.ids


# --- the brute force: two loaded states, compared value by value ----------------------------


def _tables(root: dict[str, Any]) -> dict[int, amber.Table[Any, Any]]:
    return {t.token: t for t in root.values() if isinstance(t, amber.Table)}


class Content:
    """A loaded value as a hashable structure: equal exactly when the contents are."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.owners: dict[int, tuple[int, Any]] = {}
        for token, table in _tables(root).items():
            for key, value in table.items():
                self.owners.setdefault(id(value), (token, key))

    def of(self, value: Any, stack: tuple[int, ...] = ()) -> Any:  # noqa: PLR0911 - one return per kind
        if isinstance(value, amber.Record):
            if stack and id(value) in self.owners:
                return ("entry", self.owners[id(value)])
            if id(value) in stack:
                return ("back", len(stack) - stack.index(id(value)))
            inner = (*stack, id(value))
            return (NAMES[type(value)], tuple((f, self.of(getattr(value, f), inner)) for f in value.__struct_fields__))
        if isinstance(value, set | frozenset):
            return ("set", frozenset(self.of(v, stack) for v in value))
        if isinstance(value, dict):
            return ("dict", frozenset((self.of(k, stack), self.of(v, stack)) for k, v in value.items()))
        if isinstance(value, list | tuple):
            return (type(value).__name__, tuple(self.of(v, stack) for v in value))
        return (type(value).__name__, value)


def brute_force(a: dict[str, Any], b: dict[str, Any]) -> dict[str, dict[str, set[Any]]]:
    found: dict[str, dict[str, set[Any]]] = {}
    was, now = Content(a), Content(b)
    old, new = _tables(a), _tables(b)
    for token in set(old) | set(new):
        x: dict[Any, Any] = dict(old.get(token, {}))
        y: dict[Any, Any] = dict(new.get(token, {}))
        name = NAMES[type(next(iter(y.values()), None) or next(iter(x.values())))]  # type: ignore[index]
        changes = found.setdefault(name, {"added": set(), "changed": set(), "deleted": set()})
        changes["added"] |= {k for k in y if k not in x}
        changes["deleted"] |= {k for k in x if k not in y}
        changes["changed"] |= {k for k in y if k in x and was.of(x[k]) != now.of(y[k])}
    return {name: c for name, c in found.items() if any(c.values())}


def reported(diff: dict[str, Any]) -> dict[str, dict[str, set[Any]]]:
    return {
        name: {change: set(t["keys"].get(change, [])) for change in ("added", "changed", "deleted")}
        for name, t in diff["types"].items()
    }


@pytest.mark.parametrize("seed", range(6))
def test_diff_of_every_pair_matches_a_brute_force_comparison_of_the_loaded_states(tmp_path: Path, seed: int) -> None:
    store, ids = build(tmp_path, seed, "DDFDDDFD")
    loaded = {cid: store.load(cid) for cid in ids}
    for a in ids:
        for b in ids:
            found = commands.diff(store, a, b)
            assert reported(found) == brute_force(loaded[a], loaded[b]), (a, b)
            settings_changed = loaded[a]["settings"] != loaded[b]["settings"]
            assert ("/settings" in found["paths"]) == settings_changed
            assert ("/counter" in found["paths"]) == (loaded[a]["counter"] != loaded[b]["counter"])


def test_a_full_checkpoint_and_the_unchanged_delta_after_it_differ_in_nothing(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path / "s", registry=registry)
    state = History(store, 1).state
    full = store.save(state)
    delta = store.save(state, parent=full.id)
    assert commands.diff(store, full.id, delta.id) == {
        "a": full.id,
        "b": delta.id,
        "types": {},
        "paths": {},
        "schemas": [],
    }
    assert "no differences" in amber_cli("diff", str(tmp_path / "s"), full.id, delta.id).stdout


def test_a_record_that_stops_being_a_table_entry_changes_what_points_at_it_on_every_path(tmp_path: Path) -> None:
    """A newcomer's case: a customer replaced at its key while an order still points at the old
    object. A delta and a full checkpoint of that same state must diff alike against the first."""
    store = amber.open_store(tmp_path / "s", registry=registry)
    people = amber.Table({i: Customer(i, f"c{i}") for i in range(1, 4)})
    orders = amber.Table({i: Account(i, people[i], 0, Address("x", Geo(0.0)), set(), {}) for i in range(1, 4)})
    state = {"customers": people, "accounts": orders}
    first = store.save(state)
    people[1] = Customer(1, "c1 again")
    delta = store.save(state, parent=first.id)
    full = store.save(state)
    assert commands.diff(store, delta.id, full.id)["types"] == {}
    by_delta, by_full = commands.diff(store, first.id, delta.id), commands.diff(store, first.id, full.id)
    assert by_delta["types"] == by_full["types"]
    assert by_delta["types"]["t.Account"]["keys"] == {"changed": [1]}


def test_diff_lists_integer_keys_in_numeric_order(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path / "s", registry=registry)
    state = {"accounts": amber.Table({i: Customer(i, "x") for i in (2, 10, 1)})}
    a = store.save(state)
    state["accounts"].update({i: Customer(i, "y") for i in (100, 9, 30)})
    b = store.save(state, parent=a.id)
    assert commands.diff(store, a.id, b.id)["types"]["t.Customer"]["keys"]["added"] == [9, 30, 100]


# --- dump: the whole state, a delta's chain resolved -----------------------------------------


def inlined(document: dict[str, Any]) -> Any:
    """The dump's root with every ``$ref`` replaced by its record's content, as ``Content`` has it."""
    records = {r["$id"]: r for r in document["records"]}

    def of(value: Any, stack: tuple[str, ...] = ()) -> Any:  # noqa: PLR0911 - one return per kind
        if isinstance(value, dict) and "$ref" in value:
            rid = value["$ref"]
            if stack and rid in owners:
                return ("entry", owners[rid])
            if rid in stack:
                return ("back", len(stack) - stack.index(rid))
            fields = {k: v for k, v in records[rid].items() if k != "$id"}
            return (rid.split("/")[0], tuple((f, of(v, (*stack, rid))) for f, v in fields.items()))
        if isinstance(value, dict) and "$set" in value:
            return ("set", frozenset(of(v, stack) for v in value["$set"]))
        if isinstance(value, dict):
            return ("dict", frozenset((("str", k), of(v, stack)) for k, v in value.items()))
        if isinstance(value, list):
            return ("list", tuple(of(v, stack) for v in value))
        return (type(value).__name__, value)

    owners: dict[str, tuple[int, Any]] = {}
    tables = {
        name: part["$table"] for name, part in document["root"].items() if isinstance(part, dict) and "$table" in part
    }
    for part in tables.values():
        for key, value in _pairs(part["entries"]):
            owners.setdefault(value["$ref"], (int(part["token"]), key))
    return {name: {key: of(value) for key, value in _pairs(part["entries"])} for name, part in tables.items()}


def _pairs(entries: dict[str, Any]) -> list[tuple[Any, Any]]:
    return [tuple(p) for p in entries["$dict"]] if "$dict" in entries else list(entries.items())


@pytest.mark.parametrize("seed", range(3))
def test_dump_of_every_checkpoint_is_the_state_a_load_gives(tmp_path: Path, seed: int) -> None:
    store, ids = build(tmp_path, seed, "DDFDDD")
    for cid in ids:
        loaded = store.load(cid)
        content = Content(loaded)
        document = commands.dump(store, cid)
        expected = {
            name: {key: content.of(value) for key, value in table.items()}
            for name, table in loaded.items()
            if isinstance(table, amber.Table)
        }
        assert inlined(document) == expected, cid
        assert document["root"]["settings"] == loaded["settings"]
        assert document["checkpoint"]["chain"][-1] == cid


def test_dump_filters_by_type_key_path_and_limit(tmp_path: Path) -> None:
    store, _ = build(tmp_path, 3, "DD")
    loaded = store.load()
    only_customers = commands.dump(store, type_name="t.Customer")
    assert {r["name"] for r in only_customers["records"]} == {c.name for c in loaded["customers"].values()}
    assert "root" not in only_customers
    entry = commands.dump(store, key="2")["entries"]
    assert {e["key"] for e in entry} == {2}
    at_path = commands.dump(store, path="/customers/1")
    assert at_path["value"] == {"$ref": "t.Customer/0"}
    assert at_path["records"] == [{"$id": "t.Customer/0", "id": 1, "name": loaded["customers"][1].name}]
    assert commands.dump(store, path="/settings/limit")["value"] == loaded["settings"]["limit"]
    assert len(commands.dump(store, limit=3)["records"]) == 3
    with pytest.raises(amber.NotInCheckpointError, match="/customers/77"):
        commands.dump(store, path="/customers/77")
    with pytest.raises(amber.NotInCheckpointError, match="t.Nothing"):
        commands.dump(store, type_name="t.Nothing")


def test_dump_on_the_command_line_streams_json_lines_and_one_document(tmp_path: Path) -> None:
    store, ids = build(tmp_path, 4, "DD")
    url = str(tmp_path / "s4")
    lines = amber_cli("dump", url, "--jsonl").stdout.splitlines()
    parts = [msgspec.json.decode(line) for line in lines]
    assert list(parts[0]) == ["checkpoint", "types"] and list(parts[1]) == ["root"]
    assert all("$id" in p for p in parts[2:])
    whole = msgspec.json.decode(amber_cli("dump", url).stdout)
    assert whole == commands.dump(store)
    assert msgspec.json.decode(amber_cli("dump", url, "--json").stdout) == whole
    changes = msgspec.json.decode(amber_cli("dump", url, "--changes").stdout)
    assert changes["checkpoint"]["parent"] == ids[-2]  # the delta's own content, as before


def test_errors_with_json_are_json_on_stderr_with_the_same_status(tmp_path: Path) -> None:
    build(tmp_path, 5, "D")
    url = str(tmp_path / "s5")
    missing = amber_cli("dump", url, "--path", "/nope", "--json")
    assert missing.returncode == 1 and missing.stdout == ""
    error = msgspec.json.decode(missing.stderr)["error"]
    assert error["type"] == "NotInCheckpointError" and error["part"] == "root" and error["checkpoint"]
    usage = amber_cli("dump", url, "--no-such-option", "--json")
    assert usage.returncode == 2
    assert msgspec.json.decode(usage.stderr)["error"]["type"] == "UsageError"
    absent = amber_cli("ls", str(tmp_path / "absent"), "--json")
    assert absent.returncode == 1
    assert msgspec.json.decode(absent.stderr)["error"] == {
        "type": "StoreNotFoundError",
        "message": absent.stderr.split('"message":"')[1].split('"')[0],
        "checkpoint": None,
        "part": None,
    }


# RFC 6901 (JSON Pointer), section 5: the example document and every pointer it evaluates.
RFC6901_DOCUMENT = {"foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4, "i\\j": 5, 'k"l': 6, " ": 7}
RFC6901_DOCUMENT["m~n"] = 8
RFC6901_CASES = [
    ("", RFC6901_DOCUMENT),
    ("/foo", ["bar", "baz"]),
    ("/foo/0", "bar"),
    ("/", 0),
    ("/a~1b", 1),
    ("/c%d", 2),
    ("/e^f", 3),
    ("/g|h", 4),
    ("/i\\j", 5),
    ('/k"l', 6),
    ("/ ", 7),
    ("/m~0n", 8),
]


@pytest.mark.parametrize(("pointer", "expected"), RFC6901_CASES, ids=[c[0] or "(whole)" for c in RFC6901_CASES])
def test_dump_path_evaluates_the_json_pointers_of_rfc_6901(tmp_path: Path, pointer: str, expected: Any) -> None:
    store = amber.open_store(tmp_path / "s")
    store.save(RFC6901_DOCUMENT)
    assert commands.dump(store, path=pointer)["value"] == expected


# --- a final review's cases ------------------------------------------------------------------


@registry.record("t.A", version=1)
class A(amber.Record):
    n: int


@registry.record("t.B", version=1)
class B(amber.Record):
    n: int


@registry.record("t.Holder", version=1)
class Holder(amber.Record):
    t: A | B


@registry.record("t.Link", version=1)
class Link(amber.Record):
    v: int
    nxt: Link | None


@registry.record("t.When", version=1)
class When(amber.Record):
    at: dt.datetime


def _two_full(tmp_path: Path, first: Any, second: Any) -> tuple[amber.CheckpointStore, str, str]:
    store = amber.open_store(tmp_path / "s", registry=registry)
    return store, store.save(first).id, store.save(second).id


def test_two_full_checkpoints_differ_where_a_union_of_records_points_at_another_type(tmp_path: Path) -> None:
    store, a, b = _two_full(
        tmp_path,
        {"h": amber.Table({1: Holder(B(1)), 2: Holder(A(5))})},
        {"h": amber.Table({1: Holder(B(2)), 2: Holder(A(5))})},
    )
    assert commands.diff(store, a, b)["types"]["t.Holder"]["keys"] == {"changed": [1]}


def test_a_datetime_moved_to_another_zone_at_the_same_instant_is_a_change(tmp_path: Path) -> None:
    noon = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    paris = noon.astimezone(zoneinfo.ZoneInfo("Europe/Paris"))
    store, a, b = _two_full(tmp_path, {"w": amber.Table({1: When(noon)})}, {"w": amber.Table({1: When(paris)})})
    assert commands.diff(store, a, b)["types"]["t.When"]["keys"] == {"changed": [1]}


def test_a_chain_of_records_deeper_than_python_recurses_is_a_typed_error(tmp_path: Path) -> None:
    head = None
    for v in range(5000):
        head = Link(v, head)
    store, a, b = _two_full(tmp_path, {"l": head}, {"l": head})
    with pytest.raises(amber.CheckpointError, match="nested at most"):  # not an internal RecursionError
        commands.diff(store, a, b)


def test_dump_key_and_path_read_numbers_as_json_does(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path / "s", registry=registry)
    store.save({"t": amber.Table({True: Customer(1, "yes")}), "u": amber.Table({1: Customer(2, "one")}), "d": {"1": 1}})
    assert [e["key"] for e in commands.dump(store, key="1")["entries"]] == [1]
    assert [e["key"] for e in commands.dump(store, key="true")["entries"]] == [True]
    with pytest.raises(amber.NotInCheckpointError):
        commands.dump(store, path="/d/" + "1" * 5000)
