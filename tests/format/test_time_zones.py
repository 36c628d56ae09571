"""Time zones the format cannot keep: said out loud, or refused, never changed silently.

Format 5 stores a typed datetime as its instant in UTC and keeps a tagged one's offset but
not what its zone was (a ZoneInfo key, a pytz or dateutil zone, a timezone's own name); a
time with a zone that needs a date to give an offset would lose its tzinfo altogether.
Each case below was silent before. Cases marked "review" came from a hostile review of the
first version of these warnings (a crash, wrong warnings, floods).
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


class Fixed(dt.tzinfo):
    """A fixed zone with a name, as dateutil's tzoffset and pytz's are; unhashable like
    dateutil's tzutc (``__eq__`` without ``__hash__``)."""

    def __init__(self, name: str, hours: int) -> None:
        self.name, self.offset = name, dt.timedelta(hours=hours)

    def utcoffset(self, when: dt.datetime | None) -> dt.timedelta:
        return self.offset

    def tzname(self, when: dt.datetime | None) -> str:
        return self.name

    def dst(self, when: dt.datetime | None) -> dt.timedelta:
        return dt.timedelta(0)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fixed) and (self.name, self.offset) == (other.name, other.offset)

    __hash__ = None  # type: ignore[assignment]


KOLKATA = dt.timezone(dt.timedelta(hours=5, minutes=30))
reg = amber.Registry()


@reg.record("tz.Meeting", version=1)
class Meeting(amber.Record):
    when: dt.datetime
    history: list[dt.datetime] = []
    at: dt.time | None = None
    note: Any = None
    either: dt.datetime | str | None = None  # a union stored tagged: its offsets are kept
    maybe: dt.datetime | None = None
    pairs: tuple[dt.datetime, int] | tuple[dt.datetime] | None = None


@pytest.fixture(autouse=True)
def fresh_warnings() -> Iterator[None]:
    """Each place is said once per process: each test starts unsaid."""
    _zones._said.clear()
    yield
    _zones._said.clear()


def saved_and_loaded(state: Any) -> Any:
    store = amber.open_store("memory://", registry=reg)
    store.save(state)
    return store.load()


def said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "amber.schema"]


UTC_NOON = dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)


def test_a_typed_datetime_with_an_offset_loads_as_the_same_instant_in_utc_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    written = dt.datetime(2024, 3, 30, 12, tzinfo=KOLKATA)
    (loaded,) = saved_and_loaded([Meeting(written)])
    assert loaded.when == written and loaded.when.tzinfo is dt.UTC, "the instant kept, the offset not"
    assert said(caplog) == [
        "tz.Meeting.when: datetimes with time zone 'UTC+05:30' are stored as their instants in UTC and load with "
        "tzinfo=UTC (equal instants, different values; said once per process)"
    ]


def test_a_zone_inside_a_typed_list_or_optional_is_said_with_its_field(caplog: pytest.LogCaptureFixture) -> None:
    paris = dt.datetime(2024, 1, 1, tzinfo=PARIS)
    saved_and_loaded([Meeting(UTC_NOON, history=[paris], maybe=paris)])
    assert sorted(m.split(":")[0] for m in said(caplog)) == ["tz.Meeting.history", "tz.Meeting.maybe"]
    assert all("'Europe/Paris'" in m for m in said(caplog))


def test_utc_and_naive_datetimes_load_as_written_and_say_nothing(caplog: pytest.LogCaptureFixture) -> None:
    naive = dt.datetime(2024, 1, 1)
    (loaded,) = saved_and_loaded([Meeting(UTC_NOON, history=[naive], note=[UTC_NOON, naive], maybe=None)])
    assert loaded.when.tzinfo is dt.UTC and loaded.history[0].tzinfo is None and loaded.note == [UTC_NOON, naive]
    assert said(caplog) == []


def test_a_tagged_datetime_keeps_its_offset_silently_but_a_zone_is_said(caplog: pytest.LogCaptureFixture) -> None:
    fixed = dt.datetime(2024, 3, 30, 12, tzinfo=KOLKATA)
    (loaded,) = saved_and_loaded([Meeting(fixed, note=fixed, either=fixed)])
    assert loaded.note.tzinfo == KOLKATA and loaded.either.tzinfo == KOLKATA
    assert [m.split(":")[0] for m in said(caplog)] == ["tz.Meeting.when"], "the union is tagged: kept, not said"
    caplog.clear()
    zoned = dt.datetime(2024, 3, 30, 12, tzinfo=PARIS)
    loaded = saved_and_loaded({"at": zoned})
    assert loaded["at"] == zoned and loaded["at"].tzinfo == dt.timezone(dt.timedelta(hours=1))
    assert said(caplog) == [
        "the state's root: times or datetimes with time zone 'Europe/Paris' load with a plain UTC offset, the zone's "
        "name lost (equal instants, different values; said once per process)"
    ]


def test_an_any_field_is_named_in_what_is_said(caplog: pytest.LogCaptureFixture) -> None:
    saved_and_loaded([Meeting(UTC_NOON, note=dt.datetime(2024, 1, 1, tzinfo=PARIS))])
    assert [m.split(":")[0] for m in said(caplog)] == ["tz.Meeting.note"]


def test_a_timezones_own_name_is_a_zone_that_changes(caplog: pytest.LogCaptureFixture) -> None:
    """review: timezone(0, "GMT") loaded as timezone.utc, and "CET" as "UTC+01:00", unsaid."""
    gmt = dt.timezone(dt.timedelta(0), "GMT")
    cet = dt.timezone(dt.timedelta(hours=1), "CET")
    (loaded,) = saved_and_loaded([Meeting(dt.datetime(2024, 1, 1, tzinfo=gmt), note=dt.time(9, tzinfo=cet))])
    assert loaded.note.tzname() == "UTC+01:00"
    assert sorted(m.split(":")[0] for m in said(caplog)) == ["tz.Meeting.note", "tz.Meeting.when"]
    assert "'GMT'" in " ".join(said(caplog)) and "'CET'" in " ".join(said(caplog))


def test_a_named_zone_after_an_equal_plain_one_in_a_column_is_still_said(caplog: pytest.LogCaptureFixture) -> None:
    """Timezones compare by offset alone: UTC == timezone(0, "GMT"). The column's one-zone
    shortcut must go by identity, or the GMT values lose their name unsaid."""
    gmt = dt.timezone(dt.timedelta(0), "GMT")
    saved_and_loaded([Meeting(UTC_NOON), Meeting(dt.datetime(2024, 1, 1, tzinfo=gmt))])
    assert len(said(caplog)) == 1 and "'GMT'" in said(caplog)[0]


def test_a_typed_time_with_a_zone_that_is_more_than_an_offset_is_said(caplog: pytest.LogCaptureFixture) -> None:
    """review: a dateutil tzoffset("EST", ...) lost its name in a typed time, unsaid."""
    est = Fixed("EST", -5)
    (loaded,) = saved_and_loaded([Meeting(UTC_NOON, at=dt.time(9, tzinfo=est))])
    assert loaded.at.utcoffset() == dt.timedelta(hours=-5)
    assert [m.split(":")[0] for m in said(caplog)] == ["tz.Meeting.at"]
    assert "test_time_zones.Fixed" in said(caplog)[0]


def test_an_unhashable_zone_is_said_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    """review: dateutil's tzutc cannot be hashed; the first version died with a TypeError."""
    written = dt.datetime(2024, 1, 1, tzinfo=Fixed("Z", 0))
    (loaded,) = saved_and_loaded([Meeting(written, maybe=written, note=written)])
    assert loaded.when == written
    assert len(said(caplog)) == 3


def test_a_union_of_tuples_saves_as_before() -> None:
    """review: the first version crashed (IndexError) on a one-item tuple of a union of tuples."""
    (loaded,) = saved_and_loaded([Meeting(UTC_NOON, pairs=(dt.datetime(2024, 1, 1),))])
    assert loaded.pairs == (dt.datetime(2024, 1, 1),)


def test_each_place_is_said_once_naming_a_few_zones_whatever_the_number(caplog: pytest.LogCaptureFixture) -> None:
    """review: a fresh zone per value gave a warning per value, and the set of them grew."""
    offsets = [dt.timezone(dt.timedelta(minutes=m)) for m in range(1, 600)]
    for _ in range(2):
        saved_and_loaded([Meeting(dt.datetime(2024, 1, 1, tzinfo=z)) for z in offsets])
    (one,) = said(caplog)
    assert "and 596 more" in one
    assert _zones._said == {"tz.Meeting.when"}


@pytest.mark.parametrize("where", ["typed", "tagged"])
def test_a_time_whose_zone_needs_a_date_is_refused_not_stripped(where: str) -> None:
    """Before: stored as "09:00:00", loaded naive: the zone gone without a word."""
    paris_nine = dt.time(9, tzinfo=PARIS)
    state = [Meeting(dt.datetime(2024, 1, 1), at=paris_nine)] if where == "typed" else {"at": paris_nine}
    with pytest.raises(amber.SerializationError, match="no fixed UTC offset"):
        saved_and_loaded(state)


def test_a_time_with_a_fixed_offset_keeps_it_and_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    nine = dt.time(9, tzinfo=KOLKATA)
    (loaded,) = saved_and_loaded([Meeting(dt.datetime(2024, 1, 1), at=nine, note=nine)])
    assert loaded.at == nine and loaded.at.utcoffset() == KOLKATA.utcoffset(None) and loaded.note == nine
    assert said(caplog) == []
