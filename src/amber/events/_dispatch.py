"""Delivering events: one log line each under ``amber.*``, then every listener.

Log lines read as ``checkpoint committed checkpoint=000012 kind=delta bytes=40213 ...``
(logfmt after a short title) and carry the same fields, structured, on the record's
``amber`` attribute, for JSON formatters. What each kind's line says, and at which
level, is ``_log_lines``' table; this module formats it and calls the listeners.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import msgspec

from . import Event, Listener
from ._log_lines import LOG_LINES, describe

_listener_log = logging.getLogger("amber.listener")
_MAX_VALUE = 1000  # characters of one field in a log line
# "checkpoint" also takes the kinds without a line of their own.
_LOGGERS = {
    name: logging.getLogger(f"amber.{name}") for name in ("checkpoint", *(line.logger for line in LOG_LINES.values()))
}


def dispatch(event: Event, *listener_lists: Iterable[Listener]) -> None:
    """Log ``event``, then call each distinct listener once (a listener registered both on
    a manager and on its store is called once); a listener that raises is logged and skipped."""
    try:
        _log(event)
    except Exception:  # a log line must never fail what it reports (a handler's bug, an odd value)
        _listener_log.exception("logging %s failed; ignored", type(event).__name__)
    seen: set[int] = set()
    for listeners in listener_lists:
        for listener in listeners:
            if id(listener) in seen:
                continue
            seen.add(id(listener))
            try:
                listener(event)
            except Exception:
                _listener_log.exception("amber listener %r failed on %s; ignored", listener, type(event).__name__)


def _log(event: Event) -> None:
    logger_name, level, title, fields = describe(event)
    logger = _LOGGERS[logger_name]
    if not logger.isEnabledFor(level):
        return  # the common case in production: nothing is formatted
    text = " ".join(f"{k}={_value(v)}" for k, v in fields.items())
    structured = {"event": type(event).__name__, **fields, "details": msgspec.to_builtins(event)}
    logger.log(level, "%s %s", title, text, extra={"amber": structured})


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") or "0"
    text = str(value).encode("utf-8", "backslashreplace").decode()  # lone surrogates from OS errors
    if len(text) > _MAX_VALUE:  # a line stays a line; the structured record has it all
        text = f"{text[:_MAX_VALUE]}...({len(text) - _MAX_VALUE} more)"
    if not text or any(c in text for c in ' "=\n'):
        return msgspec.json.encode(text).decode()  # quoted and escaped, as logfmt readers expect
    return text
