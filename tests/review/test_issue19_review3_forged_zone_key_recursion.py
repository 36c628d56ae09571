"""Issue 19 hostile review 3 (zones).

A forged zone token of many path parts escapes as RecursionError (zoneinfo's tzdata
fallback imports a package per part), not a typed amber error naming checkpoint and part."""

import datetime as dt
import zoneinfo
from typing import Any

import msgspec
import pytest

import amber
from tests.support.helpers import forge

reg = amber.Registry()


@reg.record("rv.Stamp", version=1)
class Stamp(amber.Record):
    at: dt.datetime


KEY = "a/" * 400 + "b"  # matches _ZONE_KEY; short enough for a segment


def test_forged_table_token_with_deep_key_is_typed(tmp_path: Any) -> None:
    store = amber.open_store(tmp_path, registry=reg)
    store.save([Stamp(dt.datetime(2024, 1, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")))])
    m = store.manifest()
    index = next(i for i, s in enumerate(m.segments) if s.kind == "table")
    forge(tmp_path, m.id, table=(index, msgspec.msgpack.encode([[dt.datetime(2024, 1, 1, tzinfo=dt.UTC)], {0: [KEY]}])))
    with pytest.raises(amber.CorruptCheckpointError):
        store.load()


def test_forged_tagged_key_with_deep_key_is_typed(tmp_path: Any) -> None:
    store = amber.open_store(tmp_path, registry=reg)
    store.save({"at": dt.datetime(2024, 1, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))})
    m = store.manifest()
    forge(tmp_path, m.id, root=msgspec.msgpack.encode([7, [1, ["at"]], [0, [[9, "2024-01-01T00:00:00+01:00", KEY]]]]))
    with pytest.raises(amber.CorruptCheckpointError):
        store.load()
