"""Issue 19 hostile review 3 (zones).

A ZoneInfo datetime in a spring-forward gap (02:30 on 31 March 2024 in Paris does not exist)
is stored as its instant (01:30 UTC) and loads as 03:30 Paris: a different value
(loaded != written, both in the same zone object) with no error and no warning."""

import datetime as dt
import logging
import zoneinfo
from typing import Any

import pytest

import amber
from amber._format import _zones

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
reg = amber.Registry()


@reg.record("rv.Gap", version=1)
class Gap(amber.Record):
    when: dt.datetime
    maybe: dt.datetime | None = None
    note: Any = None


@pytest.fixture(autouse=True)
def unsaid() -> Any:
    _zones._said.clear()


GAP = dt.datetime(2024, 3, 31, 2, 30, tzinfo=PARIS)


@pytest.mark.parametrize("field", ["when", "maybe", "note"])
def test_gap_time_loads_as_written_or_is_said(field: Any, caplog: Any) -> None:
    store = amber.open_store("memory://", registry=reg)
    kw = {"when": dt.datetime(2024, 1, 1, tzinfo=dt.UTC), field: GAP}
    store.save([Gap(**kw)])
    (loaded,) = store.load()
    said = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "amber.schema"]
    assert getattr(loaded, field) == GAP or said, f"{getattr(loaded, field)!r} != {GAP!r}, nothing said"


def test_gap_time_in_the_root(caplog: Any) -> None:
    store = amber.open_store("memory://", registry=reg)
    store.save({"at": GAP})
    said = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "amber.schema"]
    assert store.load()["at"] == GAP or said
