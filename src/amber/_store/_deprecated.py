"""``CheckpointStore`` methods of 0.x that served the manager, fleets and migrations, now
the store's parts (issue 18). Each still works, and says where it went: a
``DeprecationWarning`` names the replacement. They go in 1.0.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from . import _loading
from ._capture import CapturedState, Taken, capture, take_tables
from ._commit import Committer, refuse_unsigned

if TYPE_CHECKING:
    from .._format._format import Manifest
    from ..storage import Storage
    from ._checkpoint import CheckpointStore
    from ._fencing import Fence
    from ._info import CheckpointInfo

F = TypeVar("F", bound=Callable[..., Any])


def _moved(to: str) -> Callable[[F], F]:
    def wrap(method: F) -> F:
        @functools.wraps(method)
        def warned(*args: Any, **kwargs: Any) -> Any:
            warnings.warn(
                f"CheckpointStore.{method.__name__} is deprecated: it served Amber's manager, fleets and "
                f"migrations, and is now {to} (internal; store.save and store.load cover the public use); "
                "it goes in amber 1.0",
                DeprecationWarning,
                stacklevel=2,
            )
            return method(*args, **kwargs)

        return warned  # type: ignore[return-value]

    return wrap


def _store(methods: DeprecatedMethods) -> CheckpointStore:
    return cast("CheckpointStore", methods)  # only CheckpointStore inherits these


class DeprecatedMethods:
    """The old internal methods, each delegating to its replacement."""

    @_moved("store.manifests.fences()")
    def fences(self) -> list[Fence]:
        return _store(self).manifests.fences()

    @_moved("store.manifests.fenced_by(manifest)")
    def fenced_by(self, manifest: Manifest) -> Fence | None:
        return _store(self).manifests.fenced_by(manifest)

    @_moved("store.manifests.void_ids()")
    def void_ids(self) -> list[str]:
        return _store(self).manifests.void_ids()

    @_moved("store.manifests.chain(id)")
    def chain(self, checkpoint_id: str | int | None = None) -> list[Manifest]:
        return _store(self).manifests.chain(checkpoint_id)

    @_moved("store.manifests.parsed(id)")
    def parsed_manifest(self, checkpoint_id: str | int | None) -> tuple[Manifest, int]:
        return _store(self).manifests.parsed(checkpoint_id)

    @_moved("amber._store._loading.check_memory(store, chain)")
    def check_memory(self, chain: list[Manifest]) -> None:
        _loading.check_memory(_store(self), chain)

    @_moved("amber._store._capture.take_tables(store, state, parent)")
    def take_tables(self, state: Any, parent: str | int | None = None, *, strict: bool = True) -> Taken:
        return take_tables(_store(self), state, parent, strict=strict)

    @_moved("amber._store._capture.capture(store, state, taken)")
    def capture(self, state: Any, taken: Taken, **options: Any) -> CapturedState:
        return capture(_store(self), state, taken, **options)

    @_moved("store.save(state), or Committer(store).write(captured)")
    def write(self, captured: CapturedState, **options: Any) -> CheckpointInfo:
        return Committer(_store(self)).write(captured, **options)

    @_moved("Committer(store).stage(captured)")
    def stage(self, captured: CapturedState, **options: Any) -> Manifest:
        return Committer(_store(self)).stage(captured, **options)

    @_moved("Committer(store).upload(draft, spool)")
    def upload(self, draft: Manifest, spool: Storage, **options: Any) -> None:
        Committer(_store(self)).upload(draft, spool, **options)

    @_moved("Committer(store).publish(draft)")
    def publish(self, draft: Manifest, **options: Any) -> CheckpointInfo:
        return Committer(_store(self)).publish(draft, **options)

    @_moved("Committer(store).recommit(id, meta=...), or amber.commands.rollback")
    def recommit(self, checkpoint_id: str | int, *, meta: dict[str, Any]) -> CheckpointInfo:
        return Committer(_store(self)).recommit(checkpoint_id, meta=meta)

    @_moved("amber._store._commit.refuse_unsigned(store)")
    def refuse_unsigned(self) -> None:
        refuse_unsigned(_store(self))
