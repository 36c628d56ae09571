"""The persisted types of the counters service that docs/kubernetes.md runs in a StatefulSet.

The module that ``amber schema check --app counters`` and ``amber migrate --app counters``
read (preupgrade.py runs both), shipped in the image beside entrypoint.py, with its lock
file (amber.lock, written by ``amber schema lock --app counters``).
"""

from __future__ import annotations

import amber


@amber.record("counters.Counter", version=1)
class Counter(amber.Record):
    key: str
    value: int
