"""Spools: the private local folders where a forked child stages a checkpoint's data file
for a store it cannot write to itself (S3, memory), and the sweep of spools left behind.

A spool's name carries its service's pid (``amber-spool-<pid>-...``), so the next fork
capture of any service on the host removes the spools of services that died mid-checkpoint.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..storage import LocalStorage

SPOOL_PREFIX = "amber-spool-"


@contextmanager
def spool() -> Iterator[LocalStorage]:
    """A fresh spool for one checkpoint, removed after it (dead services' spools first)."""
    sweep_spools()
    with tempfile.TemporaryDirectory(prefix=f"{SPOOL_PREFIX}{os.getpid()}-") as folder:
        yield LocalStorage(folder, fsync=False)


def sweep_spools() -> None:
    """Remove spools left by services that died mid-checkpoint (their pid is in the name)."""
    folder = Path(tempfile.gettempdir())
    for found in folder.glob(f"{SPOOL_PREFIX}*"):
        pid = found.name.removeprefix(SPOOL_PREFIX).split("-", 1)[0]
        if pid.isascii() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(found, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
