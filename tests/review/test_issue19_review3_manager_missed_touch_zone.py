"""Issue 19 hostile review 3 (zones).

The manager's forgotten-touch check hashes entries with msgspec's msgpack, where a datetime
is its instant: a datetime moved to another zone in place (a different value, which format 6
now keeps) without touch() is not found, and the restore brings back the old zone."""

import datetime as dt
import zoneinfo
from typing import Any

import pytest

import amber
from amber._manager._verify import Hasher

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
reg = amber.Registry()


@reg.record("rv.Ev", version=1)
class Ev(amber.Record):
    at: dt.datetime
    note: Any = None


class P:
    name = "p"

    def __init__(self) -> None:
        self.t: amber.Table[Any, Any] = amber.Table()

    def snapshot(self) -> Any:
        return {"t": self.t}

    def restore(self, state: Any) -> None:
        self.t = state["t"]


def test_hasher_sees_a_zone_change() -> None:
    h = Hasher(reg, [])
    e = Ev(dt.datetime(2024, 3, 30, 12, tzinfo=PARIS))
    before = h.entry(e)
    e.at = e.at.astimezone(TOKYO)
    assert h.entry(e) != before


@pytest.mark.parametrize("capture", ["inline", "fork"])
def test_a_zone_moved_without_touch_is_found(tmp_path: Any, capture: Any) -> None:
    live = P()
    for i in range(5):
        live.t[i] = Ev(dt.datetime(2024, 3, 30, 12, tzinfo=PARIS))
    m = amber.Manager(
        amber.open_store(tmp_path, registry=reg), [live], capture=capture, verify_every=1, max_delta_ratio=100
    )
    m.restore()
    m.checkpoint()
    live.t[2].at = live.t[2].at.astimezone(TOKYO)  # no touch
    m.checkpoint()
    m.close(final=False)
    loaded = amber.open_store(tmp_path, registry=reg).load()["p"]["t"][2].at
    assert loaded.tzinfo is TOKYO, repr(loaded)
