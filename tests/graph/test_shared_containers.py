"""Errors at save that point the right way: a container held in two places is refused with where
it is, instead of coming back as two; a record of another registry is named as such."""

from __future__ import annotations

import pytest

import amber


def test_a_list_shared_by_two_records_is_refused_naming_the_rows() -> None:
    registry = amber.Registry()

    @registry.record("t.Post", version=1)
    class Post(amber.Record):
        tags: list[str]

    tags = ["news"]
    with pytest.raises(
        amber.SerializationError, match=r"t.Post.tags \(rows 0 and 2\): one list object is held by both"
    ):
        amber.open_store("memory://", registry=registry).save([Post(tags), Post(["a"]), Post(tags)])
    assert amber.open_store("memory://", registry=registry).save([Post(tags), Post(list(tags))]).counts == {"t.Post": 2}


def test_a_container_shared_in_the_state_is_refused_with_its_path() -> None:
    shared = {"limit": 3}
    with pytest.raises(amber.SerializationError, match=r"state\['b'\]\[0\]: one dict object is held in two places"):
        amber.open_store("memory://").save({"a": shared, "b": [shared]})


def test_a_record_of_another_registry_is_named_as_such() -> None:
    @amber.record("t.Declared", version=1)
    class Declared(amber.Record):
        n: int

    with pytest.raises(amber.SerializationError, match="declared as t.Declared v1 in amber's default registry"):
        amber.open_store("memory://", registry=amber.Registry()).save([Declared(1)])


def test_a_container_shared_by_two_keys_of_a_table_is_refused_in_a_delta_too() -> None:
    table = amber.Table({1: ["a"], 2: ["b"]})
    store = amber.open_store("memory://")
    first = store.save({"t": table})
    table[3] = table[1]  # only key 3 changed: the delta alone would not meet the list twice
    with pytest.raises(amber.SerializationError, match=r"one list object is held by both.*keys 1, 3"):
        store.save({"t": table}, parent=first.id)
