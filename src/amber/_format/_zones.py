"""Time zones the format cannot keep as written, refused or said out loud.

Format 5 keeps a ``datetime``'s UTC offset only in tagged positions (an ``Any`` field, the
state's root): a typed field stores the instant in UTC, and a zone's name (a
``zoneinfo.ZoneInfo`` key) is kept nowhere, so the value loads with a fixed offset and
daylight-saving arithmetic on it changes. Equal instants, different values: the standard
says such a change is never silent. So each zone a save cannot keep is warned about, once
per place and zone in a process (through ``loud``: shown even without logging set up).

A ``time`` whose tzinfo has no fixed offset (a ``ZoneInfo`` needs a date to know one) would
lose its tzinfo altogether: it is refused.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable
from operator import attrgetter

from ..events._loud import loud
from ._errors import BadValue

log = logging.getLogger("amber.schema")
_said: set[tuple[str, str]] = set()
_said_lock = threading.Lock()
_UTC_OFFSET = dt.timedelta(0)


def changed_in_typed(values: Iterable[dt.datetime]) -> set[dt.tzinfo]:
    """The zones of typed datetimes that will not load as written: all but UTC (stored as
    an instant, a datetime loads with ``tzinfo=UTC``). One C-level pass, then the few zones."""
    zones = set(map(attrgetter("tzinfo"), values))
    return {z for z in zones if z is not None and not (type(z) is dt.timezone and z.utcoffset(None) == _UTC_OFFSET)}


def changed_in_tagged(value: dt.datetime | dt.time) -> dt.tzinfo | None:
    """The zone of a tagged datetime or time that will not load as written (ISO 8601 keeps
    the offset, as a ``datetime.timezone``, not the zone it came from), or None."""
    zone = value.tzinfo
    return zone if zone is not None and type(zone) is not dt.timezone else None


def refuse_floating_time(value: dt.time) -> None:
    """A time whose tzinfo gives no UTC offset would be written without one: refused."""
    if value.tzinfo is not None and value.utcoffset() is None:
        raise BadValue(f"a time with tzinfo {value.tzinfo!r}, which has no fixed UTC offset (a zone needs a date)")


def say_typed(where: str, zone: dt.tzinfo) -> None:
    _say(
        where,
        zone,
        "%s: a datetime with time zone %s is stored as its instant in UTC and loads with tzinfo=UTC "
        "(the same instant; the zone is not kept)",
    )


def say_tagged(zone: dt.tzinfo) -> None:
    _say(
        "an Any field or the state's root",
        zone,
        "%s: a datetime or time with time zone %s is stored with its UTC offset and loads with that fixed offset "
        "(the zone's name and its daylight-saving rules are not kept)",
    )


def _say(where: str, zone: dt.tzinfo, message: str) -> None:
    key = (where, repr(zone))
    with _said_lock:
        if key in _said:
            return
        _said.add(key)
    loud(log, logging.WARNING, message, where, _name(zone))


def _name(zone: dt.tzinfo) -> str:
    key = getattr(zone, "key", None)  # zoneinfo.ZoneInfo
    return f"{key!r}" if isinstance(key, str) else str(zone)
