"""A warm follower: a read-only replica of a store's state, kept current delta by delta.

A follower loads the newest checkpoint once, then applies each checkpoint committed after
it as it appears: a delta on the one it holds is applied to its state in place (its
tables take the delta's changes, its records changed in place are changed), anything else
(a new full checkpoint, a rollback, a chain the writer compacted) is loaded whole. Each
applied state is handed to the participants (``restore``), as a restore would, so a
replica serves reads from the same objects the service would hold.

Promoting it (``Manager.restore(warm=follower)``) makes a manager the store's writer from
the follower's state: the manager takes the store's lock and lease first (fencing the
writer it replaces), the follower applies what was committed until then, and the manager
goes online without reading the chain again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .._format._format import Manifest, manifest_digest
from .._schema._keyed import Table, find_tables
from .._store._capture import gc_paused
from .._store._checkpoint import CheckpointStore
from .._store._info import CheckpointInfo, checkpoint_info
from .._store._loading import _tables_as_saved
from .._store._manifests import check_link
from .._store._reading import CheckpointReader
from ..errors import CheckpointNotFoundError, ManagerError
from ..events import FollowerCaughtUp
from ..events._loud import loud
from ._participants import Participant, ordered

log = logging.getLogger("amber.follower")


@dataclass(frozen=True)
class Lag:
    """How far a follower is behind its store: checkpoints committed and not applied yet,
    and the seconds since the oldest of them was committed (0 when caught up)."""

    checkpoints: int
    seconds: float


@dataclass(frozen=True)
class Loaded:
    """A follower's state as a restore would have loaded it: the checkpoint and its chain
    (``infos``: each of its checkpoints as read when applied, the full base first)."""

    checkpoint: str
    chain: list[str]
    state: Any
    infos: tuple[CheckpointInfo, ...] = ()


class Follower:
    """A read-only replica of ``store``'s newest state, for ``participants`` (see the module).

    ``catch_up()`` applies what was committed since; ``start(interval)`` does so in a
    thread every ``interval`` seconds until ``close()``. Read the participants' state inside
    ``with follower.reading():``, when no checkpoint is being applied to it."""

    def __init__(self, store: CheckpointStore, participants: Sequence[Participant] = ()) -> None:
        self.store = store
        self.participants = ordered(participants)
        self._lock = threading.RLock()
        self._loaded: Loaded | None = None
        self._tables: dict[int, Table[Any, Any]] = {}
        self._head: Manifest | None = None  # the manifest of the checkpoint held
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handed: str | None = None  # the checkpoint whose state the participants were last given
        self._unusable: set[str] = set()  # checkpoints building on quarantined ones: restores skip them
        self.promoted = False  # its state became a manager's (Manager.restore(warm=...)): it follows no more
        self.error: Exception | None = None  # the last catch-up's failure (the thread keeps trying)

    @property
    def checkpoint(self) -> str | None:
        """The checkpoint whose state the follower holds (None before the first)."""
        return self._loaded.checkpoint if self._loaded else None

    @property
    def state(self) -> Any:
        """The whole state at ``checkpoint`` (a dict by participant name for a manager's store)."""
        return self._loaded.state if self._loaded else None

    def loaded(self) -> Loaded | None:
        return self._loaded

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Hold off the next checkpoint's application while the state is read."""
        with self._lock:
            yield

    def lag(self) -> Lag:
        """Checkpoints committed since the one held, and how long ago the first of them was."""
        newer = self._newer(self.checkpoint or self._handed)  # after a failed load: what its participants hold
        if not newer:
            return Lag(0, 0.0)
        return Lag(len(newer), max(0.0, time.time() - self.store.info(newer[0]).time.timestamp()))

    def catch_up(self) -> int:
        """Apply every checkpoint committed since the one held (the first call loads the
        newest); return how many were applied. Each catch-up that applied any is announced
        (``FollowerCaughtUp``: its lag, for metrics) to the store's listeners."""
        with self._lock:
            if self.promoted:
                raise ManagerError("this follower was promoted: its state is its manager's now; follow with a new one")
            wall, began = time.time(), time.perf_counter()
            self._check_held()
            newer = self._newer()
            if not newer:
                return 0
            committed = self.store.info(newer[0]).time.timestamp()
            whole = 0
            for checkpoint_id in newer:
                try:
                    whole += not self._apply(checkpoint_id)
                except _Unusable as e:  # skipped, as a restore skips it: the state held stays
                    loud(log, logging.WARNING, "follower of %s skips %s", self.store.url, e)
            self.store.emit(
                FollowerCaughtUp(
                    time=time.time(),
                    checkpoint=newer[-1],
                    applied=len(newer),
                    whole=whole,
                    lag_seconds=max(0.0, time.time() - committed),
                    start=wall,
                    seconds=time.perf_counter() - began,
                )
            )
            return len(newer)

    def start(self, interval: float = 1.0) -> None:
        """Catch up now, then every ``interval`` seconds in a thread, until ``close()``."""
        self.catch_up()
        self._stop.clear()
        self._thread = threading.Thread(target=self._follow, args=(interval,), name="amber-follower", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop following (the state stays as it is)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Follower:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _follow(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.catch_up()
                self.error = None
            except Exception as e:  # the store is unreachable, a checkpoint is bad: try again later
                if str(e) != str(self.error):  # said once per distinct failure, not every interval
                    loud(
                        log, logging.WARNING, "follower of %s could not catch up (trying again): %s", self.store.url, e
                    )
                self.error = e

    def _check_held(self) -> None:
        """Whether the checkpoint held is still the store's under its id (a writer restarted
        after a gc or a rollback may commit another under it): if not, the state held is no
        checkpoint's any more, and the newest is loaded whole."""
        held = self._head
        if held is None:
            return
        try:
            current, _ = self.store.manifests.read(held.id)
        except CheckpointNotFoundError:
            current = None
        if current is None or manifest_digest(current) != manifest_digest(held):
            loud(log, logging.WARNING, "checkpoint %s held by this follower was replaced: loading anew", held.id)
            self._loaded, self._tables, self._head = None, {}, None

    def _newer(self, after: str | None = None) -> list[str]:
        """Committed checkpoints after the one held, oldest first, quarantined ones (and those
        building on them) left out, as restores skip them; all of them before the first load
        (only the newest is loaded)."""
        quarantined = self.store.quarantined()
        ids = [i for i in self.store.ids() if i not in quarantined and i not in self._unusable]
        after = after or self.checkpoint
        if after is None:
            return ids[-1:]
        return [i for i in ids if i > after]

    def _apply(self, checkpoint_id: str) -> bool:
        """Apply one checkpoint; whether as a delta on the state held (not loaded whole)."""
        manifest, size = self.store.manifests.read(checkpoint_id)
        held, head = self._loaded, self._head
        in_place = False
        if held is not None and head is not None and manifest.parent == held.checkpoint:
            try:
                check_link(manifest, head)  # the one held, not another under its id: as a load checks
                state = self._delta(manifest)
                _tables_as_saved(manifest, state)  # each table's entry count, as a load checks it
                infos = (*held.infos, checkpoint_info(manifest, size))
                in_place = True
            except Exception as e:
                self._loaded, self._tables, self._head = None, {}, None  # applied in part, perhaps: load it whole
                loud(log, logging.WARNING, "checkpoint %s not applied in place (%s): loading it whole", manifest.id, e)
                state, infos = self._whole(manifest.id)
        else:
            state, infos = self._whole(manifest.id)
        tables = {t.token: t for t in find_tables(state)}
        for table in tables.values():  # a manager promoted from here writes its first delta on this one
            table.last = (self.store.url, manifest.id, manifest_digest(manifest))
        self._loaded, self._tables = Loaded(manifest.id, [i.id for i in infos], state, infos), tables
        self._head = manifest
        self._hand_over(manifest.id, state)
        return in_place

    def _whole(self, checkpoint_id: str) -> tuple[Any, tuple[CheckpointInfo, ...]]:
        """A checkpoint loaded as a restore loads it, and its chain."""
        chain = self.store.manifests.chain_read(checkpoint_id)
        quarantined = self.store.quarantined()
        bad = [m.id for m, _ in chain if m.id in quarantined]
        if bad:
            self._unusable.add(checkpoint_id)
            raise _Unusable(f"checkpoint {checkpoint_id} builds on quarantined checkpoint {bad[0]}")
        state = self.store.load(checkpoint_id)
        return state, tuple(checkpoint_info(m, size) for m, size in chain)

    def _delta(self, manifest: Any) -> Any:
        plan = self.store.planner.plan(manifest)
        reader = CheckpointReader(self.store.storage, manifest, memory_limit=self.store.max_load_memory)
        with gc_paused():
            return reader.state(plan, self._tables)

    def _hand_over(self, checkpoint_id: str, state: Any) -> None:
        if not self.participants:
            return
        if not isinstance(state, dict):
            raise ManagerError(f"checkpoint {checkpoint_id} holds no manager's state (a dict by participant name)")
        missing = [p.name for p in self.participants if p.name not in state]
        if missing:  # as a restore refuses it: a follower of the wrong store must not look caught up
            raise ManagerError(
                f"checkpoint {checkpoint_id} holds no state for participant(s) {', '.join(map(repr, missing))}"
                f" (it holds {', '.join(map(repr, state)) or 'none'})"
            )
        for participant in self.participants:
            participant.restore(state[participant.name])
        self._handed = checkpoint_id


class _Unusable(Exception):
    """A checkpoint a restore would skip (it builds on a quarantined one)."""
