"""The verbs that show who may write: a store's writer lease and fences, a fleet's epochs
and its workers' leases, and collecting a fleet's old epochs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .._fleet._fleet import open_fleet
from .._format._format import MAX_SEQUENCE
from .._store._lease import LEASE_KEY, read_lease
from ..storage import Storage
from ._args import StoreArg, opened


def lease(store: StoreArg) -> dict[str, Any]:
    """Who holds the store's writer lease (if anyone) and every takeover's fence."""
    s = opened(store)
    fences = [{"token": t, "first": f if f <= MAX_SEQUENCE else None} for t, f in s.manifests.fences()]
    return {"lease": _lease_row(s.storage), "fences": fences}


def fleet(url: str) -> dict[str, Any]:
    """A fleet's decided epochs (newest last) and its workers' leases."""
    f = open_fleet(url, create=False)
    unreadable: list[tuple[int, str]] = []
    decisions = f.decisions(unreadable)
    epochs = [
        {
            "epoch": d.epoch,
            "outcome": d.outcome,
            "created": d.created,
            "workers": d.workers,
            "reason": d.reason,
            "missing": list(d.missing),
            "shards": [{"worker": v.worker, "checkpoint": v.checkpoint, "token": v.token} for v in d.shards],
        }
        for d in decisions
    ]
    known = max((d.workers for d in decisions), default=0)
    workers: list[dict[str, Any]] = []
    for w in range(f.key_groups):  # the workers of the decisions, and any leased beyond them
        row = _lease_row(f.worker_store(w).storage)
        if w >= known and row["state"] == "none":
            break
        workers.append({"worker": w, **row})
    damaged = [{"epoch": epoch, "error": error} for epoch, error in unreadable]
    return {"url": f.url, "key_groups": f.key_groups, "epochs": epochs, "workers": workers, "unreadable": damaged}


def fleet_gc(url: str, *, keep_last: int) -> dict[str, Any]:
    """Remove all but the newest ``keep_last`` committed epochs and the shards no kept epoch needs."""
    return {"deleted_epochs": open_fleet(url, create=False).collect(keep_last)}


def _lease_row(storage: Storage) -> dict[str, Any]:
    found = read_lease(storage, LEASE_KEY)
    if found is None:
        return {"state": "none", "token": 0, "holder": "", "expires_in": 0.0}
    record = found[0]
    left = record.expires - dt.datetime.now(dt.UTC).timestamp()
    state = "released" if record.expires == 0 else "held" if left > 0 else "expired"
    return {"state": state, "token": record.token, "holder": record.holder, "expires_in": round(max(left, 0.0), 1)}
