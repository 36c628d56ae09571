"""What every verb takes: a store as a URL or an open store, and durations as ``90s``, ``15m``."""

from __future__ import annotations

import datetime as dt
import re

from .._store._checkpoint import CheckpointStore
from .._store._open import open_store

StoreArg = str | CheckpointStore
_DECIMAL = re.compile(r"[0-9]{1,12}(\.[0-9]{1,9})?")


def opened(store: StoreArg) -> CheckpointStore:
    """The store named by ``store`` (a URL: it must exist), or ``store`` itself when open."""
    return store if isinstance(store, CheckpointStore) else open_store(store, create=False)


def parse_duration(text: str) -> dt.timedelta:
    """``90s``, ``15m``, ``12h``, ``7d`` (or plain seconds) as a timedelta."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        if not _DECIMAL.fullmatch(number):  # float() would take "٣", " 1", "1_0" and "1e400"
            raise ValueError
        return dt.timedelta(seconds=float(number) * units[unit])
    except (ValueError, OverflowError):
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 12h, 7d)") from None
