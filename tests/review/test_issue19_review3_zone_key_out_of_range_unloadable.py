"""Issue 19 hostile review 3 (zones).

A tagged datetime in a ZoneInfo whose UTC instant falls outside datetime's range
(9999-12-31 23:00 New York is 10000-01-01 UTC) saves and commits, then every load fails:
the decoder converts through UTC (astimezone). Before format 6 it loaded (ISO text).
A committed checkpoint that can never be restored; the save should refuse it or the load
should give the wall time back (replace(tzinfo=zone), checking the offset)."""

import datetime as dt
import zoneinfo
from typing import Any

import pytest

import amber

NY = zoneinfo.ZoneInfo("America/New_York")
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
reg = amber.Registry()


@reg.record("rv.Far", version=1)
class Far(amber.Record):
    at: dt.datetime
    note: Any = None


@pytest.mark.parametrize("value", [dt.datetime(9999, 12, 31, 23, tzinfo=NY), dt.datetime(1, 1, 1, 1, tzinfo=TOKYO)])
@pytest.mark.parametrize("where", ["root", "any"])
def test_a_committed_far_datetime_loads(value: Any, where: Any) -> None:
    store = amber.open_store("memory://", registry=reg)
    state = {"x": value} if where == "root" else [Far(dt.datetime(2024, 1, 1, tzinfo=dt.UTC), note=value)]
    try:
        store.save(state)
    except amber.SerializationError:
        return  # refused at save: acceptable
    loaded = store.load()  # observed: CorruptCheckpointError "date value out of range"
    got = loaded["x"] if where == "root" else loaded[0].note
    assert got == value
