"""Durable Ray actors: an actor whose state survives Ray restarting it (extra ``ray``).

Ray restarts a dead actor (``max_restarts``) by calling its constructor again, with empty
state. ``@amber.ray.durable(store_url)`` makes the actor a participant of its own manager:
after its ``__init__`` runs (every start, restarts included) the manager restores the
actor's state from the store (verified, with fallback), then checkpoints it every
``interval`` seconds, on demand (``actor.amber_checkpoint.remote()``), and when the actor
process exits. The manager holds the store (a local store's writer lock, an object store's
lease), so a second copy of the actor cannot write beside it, and on object storage a
presumed-dead predecessor that wakes up is fenced: its commits fail with ``FencedError``.

The class implements the participant protocol itself: ``snapshot()`` returns its state,
``restore(state)`` takes it back (``prepare``/``resume``/``invariants`` optional). Methods
decorated ``@amber.ray.acknowledged`` reply only once a checkpoint holding their effect is
committed: what the caller was told survives any crash. See docs/ray.md.
"""

from __future__ import annotations

import atexit
import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

from ._manager._manager import Manager
from ._manager._options import CheckpointResult
from ._store._open import open_store
from .errors import MissingExtraError

T = TypeVar("T", bound=type)
F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["acknowledged", "durable"]


def durable(
    store: str, *, name: str | None = None, interval: float | None = 5.0, **manager_options: Any
) -> Callable[[T], T]:
    """Make a Ray actor class durable in ``store`` (a URL, as ``amber.open_store`` takes).

    ``name``: the participant's name in the checkpoints (default: the class's name; keep it
    when renaming the class). ``interval``: seconds between periodic checkpoints (None: only
    on demand and at exit). Other keywords go to ``amber.Manager`` (``capture``,
    ``max_chain``, ``lock_wait``, ...). Decorate the class before ``ray.remote``::

        @ray.remote(max_restarts=-1)
        @amber.ray.durable("s3://bucket/counters/a")
        class Counter: ...
    """
    _import_ray()
    manager_options.setdefault("handle_sigterm", False)  # Ray stops its workers its own way

    def decorate(cls: T) -> T:
        original_init = cls.__init__  # type: ignore[misc]  # the class's own constructor, wrapped

        @functools.wraps(original_init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            original_init(self, *args, **kwargs)
            if not hasattr(self, "name"):
                self.name = name or cls.__name__
            manager = Manager(open_store(store), [self], interval=interval, **manager_options)
            self._amber_manager = manager
            self._amber_restored = manager.restore()
            atexit.register(_final, manager)  # a graceful exit (ray.actor.exit_actor, ray.shutdown)
            if interval is not None:
                manager.start()

        def amber_checkpoint(self: Any, full: bool = False) -> str:
            """Checkpoint now; the id of the checkpoint holding the actor's state."""
            return _committed(self._amber_manager.checkpoint(full=full))

        def amber_restored(self: Any) -> str | None:
            """The checkpoint this start restored (None: the store was empty)."""
            return self._amber_restored.checkpoint  # type: ignore[no-any-return]

        def amber_pid(self: Any) -> int:
            """The actor's process id (tests kill it)."""
            return os.getpid()

        cls.__init__ = __init__  # type: ignore[misc]
        cls.amber_checkpoint = amber_checkpoint  # type: ignore[attr-defined]
        cls.amber_restored = amber_restored  # type: ignore[attr-defined]
        cls.amber_pid = amber_pid  # type: ignore[attr-defined]
        return cls

    return decorate


def acknowledged(method: F) -> F:
    """A durable actor's method whose reply waits for a checkpoint holding its effect: once
    the caller has the answer, a crash cannot take the change back."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        self._amber_manager.checkpoint()
        return result

    return wrapper  # type: ignore[return-value]


def _committed(result: CheckpointResult) -> str:
    return result.info.id


def _final(manager: Manager) -> None:
    if manager.phase not in ("closed", "idle"):
        manager.close()


def _import_ray() -> Any:
    try:
        import ray  # noqa: F401 - only checked for: the decorated class is Ray's to run
    except ImportError:
        raise MissingExtraError("amber.ray", "ray", "ray") from None
