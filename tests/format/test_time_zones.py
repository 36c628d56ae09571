"""Time zones the format cannot keep: said out loud, or refused, never changed silently.

Format 5 stores a typed datetime as its instant in UTC and keeps a tagged one's offset but
not its zone's name (docs/format.md); a time with a zone that needs a date to give an
offset would lose its tzinfo altogether. Each case below was silent before.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Iterator
from typing import Any

import pytest

import amber
from amber._format import _zones

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
KOLKATA = dt.timezone(dt.timedelta(hours=5, minutes=30))
reg = amber.Registry()


@reg.record("tz.Meeting", version=1)
class Meeting(amber.Record):
    when: dt.datetime
    history: list[dt.datetime] = []
    at: dt.time | None = None
    note: Any = None


@pytest.fixture(autouse=True)
def fresh_warnings() -> Iterator[None]:
    """Each zone is said once per place and process: each test starts unsaid."""
    _zones._said.clear()
    yield
    _zones._said.clear()


def saved_and_loaded(state: Any) -> Any:
    store = amber.open_store("memory://", registry=reg)
    store.save(state)
    return store.load()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "amber.schema"]


def test_a_typed_datetime_with_an_offset_loads_as_the_same_instant_in_utc_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    written = dt.datetime(2024, 3, 30, 12, tzinfo=KOLKATA)
    (loaded,) = saved_and_loaded([Meeting(written)])
    assert loaded.when == written and loaded.when.tzinfo is dt.UTC, "the instant kept, the offset not"
    (said,) = warnings_of(caplog)
    assert said.startswith("tz.Meeting.when: a datetime with time zone UTC+05:30 is stored as its instant in UTC")


def test_a_zone_inside_a_typed_list_is_said_with_its_field(caplog: pytest.LogCaptureFixture) -> None:
    saved_and_loaded([Meeting(dt.datetime(2024, 1, 1, tzinfo=dt.UTC), history=[dt.datetime(2024, 1, 1, tzinfo=PARIS)])])
    assert [m.split(":")[0] for m in warnings_of(caplog)] == ["tz.Meeting.history"]
    assert "'Europe/Paris'" in warnings_of(caplog)[0]


def test_utc_and_naive_datetimes_load_as_written_and_say_nothing(caplog: pytest.LogCaptureFixture) -> None:
    utc, naive = dt.datetime(2024, 1, 1, tzinfo=dt.UTC), dt.datetime(2024, 1, 1)
    (loaded,) = saved_and_loaded([Meeting(utc, history=[naive], note=[utc, naive])])
    assert loaded.when.tzinfo is dt.UTC and loaded.history[0].tzinfo is None and loaded.note == [utc, naive]
    assert warnings_of(caplog) == []


def test_a_tagged_datetime_keeps_its_offset_silently_but_a_zone_is_said(caplog: pytest.LogCaptureFixture) -> None:
    fixed = dt.datetime(2024, 3, 30, 12, tzinfo=KOLKATA)
    (loaded,) = saved_and_loaded([Meeting(fixed, note=fixed)])
    assert loaded.note.utcoffset() == KOLKATA.utcoffset(None) and loaded.note.tzinfo == KOLKATA
    caplog.clear()
    zoned = dt.datetime(2024, 3, 30, 12, tzinfo=PARIS)
    loaded = saved_and_loaded({"at": zoned})
    assert loaded["at"] == zoned and loaded["at"].tzinfo == dt.timezone(dt.timedelta(hours=1))
    (said,) = warnings_of(caplog)
    assert said.startswith("an Any field or the state's root: a datetime or time with time zone 'Europe/Paris'")


def test_each_zone_is_said_once_per_place(caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(3):
        saved_and_loaded([Meeting(dt.datetime(2024, 1, 1, tzinfo=PARIS))])
    assert len(warnings_of(caplog)) == 1


@pytest.mark.parametrize("where", ["typed", "tagged"])
def test_a_time_whose_zone_needs_a_date_is_refused_not_stripped(where: str) -> None:
    """Before: stored as "09:00:00", loaded naive: the zone gone without a word."""
    paris_nine = dt.time(9, tzinfo=PARIS)
    state = [Meeting(dt.datetime(2024, 1, 1), at=paris_nine)] if where == "typed" else {"at": paris_nine}
    with pytest.raises(amber.SerializationError, match="no fixed UTC offset"):
        saved_and_loaded(state)


def test_a_time_with_a_fixed_offset_keeps_it() -> None:
    nine = dt.time(9, tzinfo=KOLKATA)
    (loaded,) = saved_and_loaded([Meeting(dt.datetime(2024, 1, 1), at=nine, note=nine)])
    assert loaded.at == nine and loaded.at.utcoffset() == KOLKATA.utcoffset(None) and loaded.note == nine
