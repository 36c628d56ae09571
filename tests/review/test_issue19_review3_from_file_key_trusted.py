"""Issue 19 hostile review 3 (zones).

ZoneInfo.from_file(f, key=...) takes any label as its key: a New York zone labelled
"Europe/Paris" is written by the key and loads in Paris, noon becoming 18:00, unsaid."""

import datetime as dt
import io
import logging
import zoneinfo
from typing import Any

import pytest

import amber
from amber._format import _zones

reg = amber.Registry()


@reg.record("rv.FF", version=1)
class FF(amber.Record):
    when: dt.datetime
    note: Any = None


@pytest.fixture(autouse=True)
def unsaid() -> Any:
    _zones._said.clear()


def test_a_key_that_is_not_the_zone_is_not_trusted(caplog: Any) -> None:
    data = zoneinfo.ZoneInfo("America/New_York")  # the machine's database has the file
    path = next(p for p in zoneinfo.TZPATH if __import__("os").path.exists(f"{p}/America/New_York"))
    with open(f"{path}/America/New_York", "rb") as f:
        ny = zoneinfo.ZoneInfo.from_file(io.BytesIO(f.read()), key="Europe/Paris")
    written = dt.datetime(2024, 7, 1, 12, tzinfo=ny)
    assert written.utcoffset() == dt.datetime(2024, 7, 1, 12, tzinfo=data).utcoffset()
    store = amber.open_store("memory://", registry=reg)
    store.save([FF(written, note=written)])
    (loaded,) = store.load()
    said = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "amber.schema"]
    assert (loaded.when.hour, loaded.note.hour) == (12, 12) or said, (loaded.when, loaded.note)
