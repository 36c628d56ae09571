"""A small bank used across the tests: shared customers, accounts, a tree with back-pointers.

These declarations are frozen: the golden checkpoints under tests/golden/ were written
with them, and must keep loading. Later versions of these types are added, never edited.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import datetime as dt
import decimal
import enum
import fractions
import math
import pathlib
import uuid
import zoneinfo
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

import amber

registry = amber.Registry()


class Currency(enum.Enum):
    EUR = "EUR"
    USD = "USD"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@registry.record("bank.Customer", version=1)
class Customer(amber.Record):
    id: int
    name: str


@registry.record("bank.Account", version=1)
class Account(amber.Record):
    id: int
    owner: Customer
    balance: int
    tags: list[str] = []
    opened: float = 0.0


@registry.record("bank.Branch", version=1)
class Branch(amber.Record):
    name: str
    parent: Branch | None = None
    children: list[Branch] = []
    manager: Customer | None = None


@registry.record("test.Everything", version=1)
class Everything(amber.Record):
    i: int
    f: float
    b: bool
    s: str
    raw: bytes
    nothing: None
    when: dt.datetime
    day: dt.date
    clock: dt.time
    span: dt.timedelta
    amount: decimal.Decimal
    uid: uuid.UUID
    currency: Currency
    level: Level
    numbers: list[int]
    pair: tuple[int, str]
    many: tuple[float, ...]
    labels: set[str]
    frozen: frozenset[int]
    scores: dict[str, float]
    by_id: dict[int, Customer]
    maybe: int | None
    either: int | str
    friends: list[Customer]
    anything: Any = None


@registry.record("test.Point", version=1)
@dataclasses.dataclass
class Point:
    x: int
    y: int
    label: str = "origin"


@registry.record("test.Kinds", version=1)
class Kinds(amber.Record):
    """Format 6's field kinds: standard-library classes stored as another type, bytearray, Literal, arrays."""

    recent: collections.deque[int]
    ordered: collections.OrderedDict[str, int]
    counts: collections.Counter[str]
    groups: collections.defaultdict[str, list[int]]
    where: pathlib.Path
    pure: pathlib.PurePosixPath
    share: fractions.Fraction
    buffer: bytearray
    mode: Literal["on", "off"] | Literal[0, 1]
    grid: npt.NDArray[np.float64]
    when: dt.datetime | None  # format 6 keeps its zone: a ZoneInfo by its key, an offset as written
    owners: collections.deque[Customer] = collections.deque()
    maybe: collections.deque[str] | None = None


def kinds_state() -> list[Kinds]:
    """The format 6 golden checkpoint's state: every format 6 kind, records inside a deque."""
    ann = Customer(1, "ann")
    return [
        Kinds(
            collections.deque([3, 1, 2], maxlen=4),
            collections.OrderedDict([("z", 1), ("a", 2)]),
            collections.Counter("mississippi"),
            collections.defaultdict(list, {"x": [1, 2], "y": []}),
            pathlib.Path("/var/lib/amber"),
            pathlib.PurePosixPath("relative/dir"),
            fractions.Fraction(-22, 7),
            bytearray(b"\x00\xffamber"),
            "on",
            np.arange(1024, dtype=np.float64).reshape(32, 32),  # 8 KiB: a segment of its own
            dt.datetime(2024, 3, 31, 1, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),  # the night clocks go forward
            collections.deque([ann, ann]),
            collections.deque(["q"]),
        ),
        Kinds(
            collections.deque(),
            collections.OrderedDict(),
            collections.Counter(),
            collections.defaultdict(list),
            pathlib.Path("."),
            pathlib.PurePosixPath("/"),
            fractions.Fraction(0),
            bytearray(),
            1,
            np.zeros((0, 4)),
            dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=-3, minutes=-30))),
        ),
    ]


def bank(customers: int = 5, accounts: int = 20) -> dict[str, Any]:
    people = [Customer(i, f"customer {i}") for i in range(customers)]
    accts = {i: Account(i, people[i % customers], 100 * i, [f"t{i % 3}"] * (i % 3), i / 7) for i in range(accounts)}
    root = Branch("head office")
    for n in range(3):
        child = Branch(f"branch {n}", parent=root, manager=people[n % customers])
        root.children.append(child)
    return {"customers": people, "accounts": accts, "branches": root}


def everything(**changes: Any) -> Everything:
    ada = Customer(1, "Ada")
    values: dict[str, Any] = {
        "i": -(2**63),
        "f": 1.5,
        "b": True,
        "s": "héllo",
        "raw": b"\x00\xff",
        "nothing": None,
        "when": dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
        "day": dt.date(2024, 5, 1),
        "clock": dt.time(23, 59, 58, 7),
        "span": dt.timedelta(days=-2, microseconds=3),
        "amount": decimal.Decimal("12.3400"),
        "uid": uuid.UUID(int=7),
        "currency": Currency.USD,
        "level": Level.HIGH,
        "numbers": [1, 2, 2**64 - 1],
        "pair": (1, "one"),
        "many": (0.5, -0.0, math.inf),
        "labels": {"b", "a"},
        "frozen": frozenset({3, 1}),
        "scores": {"z": 1.0, "a": 2.0},
        "by_id": {1: ada},
        "maybe": None,
        "either": "text",
        "friends": [ada, ada],
        "anything": {"nested": [1, (2, 3), {4}], 5: ada},
    }
    values.update(changes)
    return Everything(**values)


def golden_state() -> dict[str, Any]:
    """The state in the golden checkpoints: every field type, shared records, a cycle."""
    state = bank()
    state["everything"] = everything()
    state["points"] = [Point(1, 2), Point(-3, 4, "far")]
    state["misc"] = {(1, 2): {"set": {3, 1}, "frozen": frozenset({"x"})}, None: [dt.date(2000, 1, 1)]}
    return state


def golden_chain(store: amber.CheckpointStore) -> list[dict[str, Any]]:
    """Write the format 2 golden chain into ``store``: a full checkpoint holding amber.Tables,
    then two deltas (changed keys, tombstones, links to unchanged customers). Returns the
    state as of each checkpoint, as plain dicts of the tables' contents."""
    people = amber.Table({i: Customer(i, f"customer {i}") for i in range(6)})
    accounts = amber.Table({i: Account(i, people[i % 6], 100 * i, [f"t{i % 3}"]) for i in range(30)})
    people.token, accounts.token = 1001, 1002  # fixed, so the bytes are reproducible
    state = {"tables": {"customers": people, "accounts": accounts}, "ledger": [Point(0, 0)], "version": 1}
    expected = []

    def save(parent: str | None) -> str:
        info = store.save(state, parent=parent, meta={"golden": True})
        copied = copy.deepcopy({"customers": dict(people), "accounts": dict(accounts)})  # later edits are in place
        expected.append({**copied, "version": state["version"]})
        return info.id

    first = save(None)
    accounts[3] = Account(3, people[5], 7)  # changed: its owner is an unchanged customer (a link)
    accounts[40] = Account(40, people[2], 1, ["new"])
    del accounts[4]
    state["version"] = 2
    second = save(first)
    people[2] = Customer(2, "renamed")
    people[3].name = "changed in place"  # accounts pointing at customer 3 see it: adopted
    people.touch(3)
    accounts[41] = Account(41, people[2], 2)
    del accounts[40]
    state["version"] = 3
    save(second)
    return expected
