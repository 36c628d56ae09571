"""Issue 19 hostile review: `amber diff` fingerprints a record's references by table entry, walking lists, tuples,
sets and dicts but not deques (_maintenance/_diff.py `_walk`): a deque of records counts by
row number, so an unchanged entry is reported 'changed' when rows shift."""

import collections
from pathlib import Path
from typing import Any

import pytest

import amber
from amber import commands

reg = amber.Registry()


@reg.record("r11.Cust", version=1)
class Cust(amber.Record):
    name: str


@reg.record("r11.ByList", version=1)
class ByList(amber.Record):
    watchers: list[Cust]


@reg.record("r11.ByDeque", version=1)
class ByDeque(amber.Record):
    watchers: collections.deque[Cust]


@pytest.mark.parametrize(
    "make", [lambda c: ByList([c]), lambda c: ByDeque(collections.deque([c]))], ids=["list", "deque"]
)
def test_an_untouched_entry_is_not_reported_changed(tmp_path: Path, make: Any) -> None:
    store = amber.open_store(tmp_path, registry=reg)
    customers = amber.Table({0: Cust("a"), 1: Cust("b")})
    accounts = amber.Table({0: make(customers[1])})
    store.save({"c": customers, "a": accounts})
    del customers[0]  # only a customer goes; the account and the customer it points at are unchanged
    store.save({"c": customers, "a": accounts})
    changed = commands.diff(store, "1", "2")["types"]
    assert changed.get("r11.ByList", changed.get("r11.ByDeque", {"changed": 0}))["changed"] == 0  # deque: 1
