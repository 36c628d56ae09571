"""``CheckpointStore``: the public face of a store of checkpoints.

It holds the store's settings and hands the work to its parts: the manifests (listing,
reading, fences, chains; ``_manifests``), the commit protocol (``_commit``), capturing a
state (``_capture``), reading content back (``_loading``) and quarantine notes
(``_quarantine``). The manager, fleets and migrations use those parts directly; this class
keeps only what the docs teach (pyiceberg's ``Table`` over its snapshot producers).
"""

from __future__ import annotations

import builtins
import warnings
from collections.abc import Iterable
from typing import Any

from .._evolution._plan import Plan
from .._format._format import Manifest
from .._format._signing import Keyring
from .._schema._registry import Registry, default_registry
from ..events import Event, Listener
from ..events._dispatch import dispatch
from ..storage import Storage
from . import _loading, _quarantine
from ._attempt import Attempt, plain_reason
from ._capture import Taken, capture, take_tables
from ._commit import Committer, refuse_unsigned
from ._deprecated import DeprecatedMethods
from ._fencing import FenceView
from ._history import History
from ._info import CheckpointInfo, VerifyReport, checkpoint_info
from ._lease import LEASE_KEY, Lease
from ._loading import ReadPlanner
from ._manifests import Manifests
from ._memory_bound import default_memory_limit
from ._reading import Progress

__all__ = ["CheckpointInfo", "CheckpointStore", "VerifyReport"]


class CheckpointStore(DeprecatedMethods):
    """A store of checkpoints: ``save``, ``load``, ``list``, ``verify``. See ``amber.open_store``."""

    def __init__(
        self,
        storage: Storage,
        *,
        registry: Registry | None = None,
        compression_level: int = 1,
        write_versions: dict[str, int] | None = None,
        oldest_supported: dict[str, int] | None = None,
        max_load_bytes: int = 4 << 30,
        listeners: Iterable[Listener] = (),
        history: bool = True,
        signing: Keyring | None = None,
        read_newer: bool = True,
        max_load_memory: int | None = None,
    ) -> None:
        self.storage = storage
        # Signs new manifests (with a signing key) and refuses any not signed by one of its keys.
        self.signing = signing
        # Told of everything done on this store, by any manager, migration or collection.
        self.listeners: builtins.list[Listener] = builtins.list(listeners)
        self.history = History(storage) if history else None
        self.registry = registry or default_registry
        self.compression_level = compression_level
        self.write_versions = dict(write_versions or {})  # type name -> version to write (a pin)
        self.oldest_supported = dict(oldest_supported or {})  # type name -> oldest version read
        # Whether a type written at a newer version than the code's is read by the rules (which
        # drop the fields this code does not know and default the ones the writer lacks).
        self.read_newer = read_newer
        self.progress: Progress | None = None  # called with (phase, segments done, segments in all)
        # Decompressed bytes one load may read; bounds the memory a hostile checkpoint can cost.
        self.max_load_bytes = max_load_bytes
        # Memory one read may take, estimated from its manifests before any segment is read
        # (default: a multiple of the machine's memory); see amber._store._memory_bound.
        self.max_load_memory = default_memory_limit() if max_load_memory is None else max_load_memory
        self.lease: Lease | None = None  # this writer's lease, once acquired: its commits are fenced
        # Shared by every read of this store: the fences as last listed, and the versions
        # already warned about (once per store, not once per delta of every chain).
        self.fence_view = FenceView(storage)
        self.warned: set[tuple[str, int, int]] = set()

    @property
    def manifests(self) -> Manifests:
        """Which checkpoints exist, each manifest read and checked, fences and chains."""
        return Manifests(self)  # made per use: the store's settings are read as they are now

    @property
    def planner(self) -> ReadPlanner:
        """How checkpoints' types become this code's, warning once per store."""
        return ReadPlanner(self)

    @property
    def url(self) -> str:
        return self.storage.url

    def __repr__(self) -> str:
        return f"<amber.CheckpointStore {self.url}>"

    def emit(self, event: Event, also: Iterable[Listener] = ()) -> None:
        """Log ``event`` and tell this store's listeners (and ``also``: a manager's) of it;
        record it in the store's history when it is worth keeping."""
        dispatch(event, self.listeners, also, (self.history,) if self.history is not None else ())

    # --- the writer's lease ----------------------------------------------------------------

    def acquire_lease(
        self, *, seconds: float = 30.0, wait: float = 0.0, holder: str | None = None, keep: bool = True
    ) -> Lease:
        """Become this store's one writer: take its lease (free, released or expired; waiting
        up to ``wait`` seconds for it) and fence off every earlier holder, whose commits from
        now on exist for no reader and raise ``FencedError`` in that writer. A daemon thread
        renews the lease every ``seconds / 3`` (without ``keep``, call ``lease.renew()``
        yourself); ``LeaseHeldError`` when another writer holds it.

        Once any writer has taken the lease, every writer of the store must: commits without
        a token are fenced off like any older holder's."""
        refuse_unsigned(self)  # taking the lease would fence off the writer that can sign
        fencing = self.manifests.fencing
        floor = fencing.newest_token()
        lease = Lease.acquire(
            self.storage, LEASE_KEY, holder=holder, seconds=seconds, wait=wait, keep=keep, floor=floor
        )
        fencing.take_over(lease, floor, lambda: self.manifests.last_sequence() + 1)
        self.lease = lease
        return lease

    def release_lease(self) -> None:
        """Give the lease up so the next writer needn't wait for it to expire."""
        if self.lease is not None:
            self.lease.release()
            self.lease = None

    # --- writing --------------------------------------------------------------------------

    def save(
        self,
        state: Any,
        *,
        meta: dict[str, Any] | None = None,
        write_versions: dict[str, int] | None = None,
        parent: str | int | None = None,
    ) -> CheckpointInfo:
        """Write ``state`` as a new checkpoint and commit it; return what was committed.

        ``write_versions`` (default: the store's) pins types to an older version, written
        through their ``@amber.downgrade`` twins, for readers that do not know the newer one.
        With ``parent`` (the checkpoint this state was last saved in), the checkpoint is a
        delta: each ``amber.Table`` of the parent contributes only its changes.
        """
        return save(self, state, meta=meta, write_versions=write_versions, parent=parent)

    # --- quarantine -----------------------------------------------------------------------

    def quarantine(self, checkpoint_id: str | int, reason: str) -> None:
        """Mark a checkpoint bad: restores skip it; nothing is deleted (an operator inspects it)."""
        _quarantine.set_aside(self.storage, self.manifests.resolve(checkpoint_id), reason)

    def quarantined(self) -> dict[str, str]:
        """Quarantined checkpoint ids with the reason each was set aside."""
        return _quarantine.notes(self.storage)

    def unquarantine(self, checkpoint_id: str | int) -> None:
        """Lift a checkpoint's quarantine: the next restore tries it again."""
        _quarantine.lift(self.storage, self.manifests.resolve(checkpoint_id))

    def release(self, checkpoint_id: str | int) -> None:
        """Deprecated name of ``unquarantine`` ("release" also names giving up a lease)."""
        warnings.warn(
            "CheckpointStore.release(id) is renamed unquarantine(id); release will be removed in amber 1.0",
            DeprecationWarning,
            stacklevel=2,
        )
        self.unquarantine(checkpoint_id)

    # --- reading --------------------------------------------------------------------------

    def ids(self) -> builtins.list[str]:
        """Ids of committed checkpoints, oldest first (commits of a fenced writer are none)."""
        return self.manifests.ids()

    def list(self) -> builtins.list[CheckpointInfo]:
        """Every committed checkpoint, oldest first."""
        return [self.info(i) for i in self.ids()]

    def info(self, checkpoint_id: str | int | None = None) -> CheckpointInfo:
        """The committed checkpoint ``checkpoint_id`` (the newest when None)."""
        return checkpoint_info(*self.manifests.read(checkpoint_id))

    def manifest(self, checkpoint_id: str | int | None = None) -> Manifest:
        """The parsed, checked manifest of a checkpoint (the newest when None)."""
        return self.manifests.read(checkpoint_id)[0]

    def load(self, checkpoint_id: str | int | None = None) -> Any:
        """Rebuild the state saved in a checkpoint (the newest committed one when None),
        upgraded to the running code's versions in memory; nothing is written.

        A delta is rebuilt from its full base and every delta up to it, in order; each
        table's entry count is checked against its manifest along the way.
        """
        return _loading.load_chain(self, checkpoint_id)

    def plan(self, checkpoint_id: str | int | None = None) -> Plan:
        """How each type of a checkpoint becomes the running code's type; raises
        ``IncompatibleSchemaError`` listing every problem when that is impossible."""
        return self.planner.plan(self.manifest(checkpoint_id))

    def verify(self, checkpoint_id: str | int | None = None) -> VerifyReport:
        """Check digests, lengths, structure and references, without the application's code."""
        return _loading.verify(self, checkpoint_id)

    def to_arrow(self, checkpoint_id: str | int | None = None) -> dict[str, Any]:
        """The state at a checkpoint (the newest by default; a delta's chain resolved) as
        one ``pyarrow.Table`` per record type, without the application's code: ``_id``,
        ``_table`` and ``_key`` columns, then a column per field (docs/query.md). Needs the
        ``arrow`` extra."""
        from ._arrow import to_arrow

        return to_arrow(self, checkpoint_id)

    def read_generic(
        self, checkpoint_id: str | int | None = None
    ) -> tuple[Manifest, builtins.list[builtins.list[dict[str, Any]]], Any]:
        """A checkpoint's records (as dicts) and root, read with its own schemas, no app code.

        References come back as ``Ref(name, row)`` markers.
        """
        return _loading.read_generic(self, checkpoint_id)


def save(
    store: CheckpointStore,
    state: Any,
    *,
    meta: dict[str, Any] | None = None,
    write_versions: dict[str, int] | None = None,
    parent: str | int | None = None,
    announce: bool = True,
) -> CheckpointInfo:
    """``store.save``; without ``announce``, no checkpoint events (a migration reports its own)."""
    refuse_unsigned(store)  # before its events: a save that cannot be signed writes nothing
    attempt = Attempt(
        "delta" if parent is not None else "full",
        "direct",
        emit=store.emit if announce else _unannounced,
        hold_events=False,
        whole_pause=True,  # the caller's state is held for all of it
        describe=plain_reason,
    )
    attempt.started("minimal")
    attempt.enter("capturing")
    taken: Taken | None = None
    try:
        taken = take_tables(store, state, parent)
        captured = capture(store, state, taken, meta=meta, write_versions=write_versions)
        attempt.enter("committing")
        info = Committer(store).write(captured)
    except BaseException as e:
        if taken is not None:
            taken.give_back()
        phase = attempt.phase
        attempt.finish_phase(error=plain_reason(e))
        attempt.aborted(e, phase)
        raise
    taken.committed(store.url, info)
    attempt.finish_phase(size=info.size)
    attempt.kind = "delta" if info.parent else "full"
    attempt.committed(info, attempt.elapsed(), attempt.phases)
    return info


def _unannounced(event: Event) -> None:
    """A migration's save: its own events say what it did."""
