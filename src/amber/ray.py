"""Durable Ray actors, alone or as a sharded pool: state that survives Ray restarting them
(extra ``ray``).

Ray restarts a dead actor (``max_restarts``) by calling its constructor again, with empty
state. ``@amber.ray.durable(store_url)`` makes the actor a participant of its own manager:
after its ``__init__`` runs (every start, restarts included) the manager restores the
actor's state from the store (verified, with fallback), then checkpoints it every
``interval`` seconds, on demand (``actor.amber_checkpoint.remote()``), and when the actor
process exits. The manager holds the store (a local store's writer lock, an object store's
lease), so a second copy of the actor cannot write beside it, and on object storage a
presumed-dead predecessor that wakes up is fenced: its commits fail with ``FencedError``.

``@amber.ray.sharded(pool_url, tables=...)`` and ``ShardedPool`` run N such actors as the
shards of an ``amber.Pool``: each owns a set of key groups and commits on its own, in its own
store; the pool rescales to M actors, each restoring exactly its groups, and moves groups
from a dead actor to a live one while the others keep serving.

The actor's public methods run one at a time against its checkpoints: a checkpoint's pause
waits for the method running, and a method waits for the pause (unless the class defines
``prepare``/``resume`` itself). Methods decorated ``@amber.ray.acknowledged`` reply only
once a checkpoint holding their effect is committed: what the caller was told survives any
crash. See docs/ray.md.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import inspect
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from ._fleet._assignment import Assignment
from ._fleet._pool import KeyedTables, Pool, PoolShard, open_pool
from ._manager._manager import Manager
from ._manager._restore import RestoreReport
from ._schema._keyed import Table
from ._store._open import open_store
from .errors import MissingExtraError

T = TypeVar("T", bound=type)
F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["ShardedPool", "acknowledged", "durable", "sharded"]

_PROTOCOL = frozenset({"snapshot", "restore", "prepare", "resume", "invariants", "name"})  # the manager's to call
_ACKNOWLEDGED = "__amber_acknowledged__"


def durable(
    store: str,
    *,
    name: str | None = None,
    interval: float | None = 5.0,
    store_options: Mapping[str, Any] | None = None,
    **manager_options: Any,
) -> Callable[[T], T]:
    """Make a Ray actor class durable in ``store`` (a URL, as ``amber.open_store`` takes).

    ``name``: the participant's name in the checkpoints (default: the class's name; keep it
    when renaming the class). ``interval``: seconds between periodic checkpoints (None: only
    on demand and at exit). ``store_options``: keywords for ``amber.open_store``
    (``registry``, ``signing_key``, ``storage_options``, ...). Other keywords go to
    ``amber.Manager`` (``capture``, ``max_chain``, ``lock_wait``, ``lease_seconds``, ...).
    Decorate the class before ``ray.remote``::

        @ray.remote(max_restarts=-1)
        @amber.ray.durable("s3://bucket/counters/a")
        class Counter: ...
    """
    _import_ray()
    _actor_defaults(manager_options)

    def decorate(cls: T) -> T:
        _refuse_misuse(cls, "durable")
        for method in ("snapshot", "restore"):
            if not callable(getattr(cls, method, None)):
                raise TypeError(f"{cls.__name__}: a durable actor is its own participant: it needs {method}()")
        fenced = not (hasattr(cls, "prepare") or hasattr(cls, "resume"))  # else the class fences itself
        original_init = cls.__init__  # type: ignore[misc]  # the class's own constructor, wrapped

        @functools.wraps(original_init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            self._amber_lock = threading.RLock()
            self._amber_calls = _Calls()
            original_init(self, *args, **kwargs)
            if not hasattr(self, "name"):
                self.name = name or cls.__name__
            opened = open_store(store, **(store_options or {}))
            manager = Manager(opened, [self], interval=interval, **manager_options)
            _start(self, manager, manager.restore)

        cls.__init__ = __init__  # type: ignore[misc]
        if fenced:
            cls.prepare = _prepare  # type: ignore[attr-defined]
            cls.resume = _resume  # type: ignore[attr-defined]
        _serialize_methods(cls, locked=fenced, skip=_PROTOCOL)
        _add_methods(cls, _COMMON)
        return cls

    return decorate


def sharded(
    pool: str,
    *,
    tables: Sequence[str],
    key_groups: int = 128,
    key: str = "key",
    interval: float | None = 5.0,
    store_options: Mapping[str, Any] | None = None,
    **manager_options: Any,
) -> Callable[[T], T]:
    """Make a Ray actor class a shard of the pool at ``pool`` (a URL: ``amber.open_pool``).

    ``tables``: the names of the actor's attributes holding its keyed state (``amber.Table``s
    keyed by the routing key): a shard's checkpoints hold them, split by key group. Every
    public method with a parameter named ``key`` refuses a key of a group the shard does not
    own (``NotOwnedError``, after one look at the newest assignment). ``key_groups`` is fixed
    when the pool is created. ``store_options``: keywords for ``amber.open_pool``
    (``registry``, ``signing_key``, ``storage_options``, ...). The actor is constructed by
    ``ShardedPool``, which passes its shard's name; other options as ``durable``."""
    _import_ray()
    _actor_defaults(manager_options)
    names = tuple(tables)
    if not names or isinstance(tables, str):
        raise TypeError(f"tables must name the actor's amber.Table attributes, as a tuple: not {tables!r}")
    options = dict(store_options or {})

    def decorate(cls: T) -> T:
        _refuse_misuse(cls, "sharded")
        for method in ("snapshot", "restore"):
            if method in vars(cls):
                raise TypeError(
                    f"{cls.__name__}.{method}(): a sharded actor's state is its tables {names}, split by key group;"
                    " its own snapshot() and restore() would never be called"
                )
        original_init = cls.__init__  # type: ignore[misc]

        @functools.wraps(original_init)
        def __init__(self: Any, *args: Any, amber_shard: str, **kwargs: Any) -> None:
            self._amber_lock = threading.RLock()
            self._amber_calls = _Calls()
            original_init(self, *args, **kwargs)
            for attr in names:  # a misspelt name would leave the real table out of every checkpoint
                if not isinstance(getattr(self, attr, None), Table):
                    raise TypeError(
                        f"{cls.__name__}.{attr} must be an amber.Table set in __init__ (tables={names}),"
                        f" not {type(getattr(self, attr, None)).__name__}"
                    )
            shard = open_pool(pool, key_groups=key_groups, **options).shard(amber_shard)
            participant = _Shard(self, shard, names)
            self._amber_shard = participant
            store = shard.pool.shard_store(amber_shard)
            manager = Manager(
                store, [participant], interval=interval, meta=shard.meta, keep=shard.kept, **manager_options
            )
            _start(self, manager, participant.start)

        del __init__.__wrapped__  # Ray checks calls against this signature
        cls.__init__ = __init__  # type: ignore[misc]
        cls.__amber_pool__ = (pool, key_groups, options)  # type: ignore[attr-defined]  # for ShardedPool
        _serialize_methods(cls, locked=True, skip=frozenset(), key=key)  # the participant is _Shard
        _add_methods(cls, _COMMON | _SHARD)
        return cls

    return decorate


def acknowledged(method: F) -> F:
    """A durable actor's method whose reply waits for a checkpoint holding its effect: once
    the caller has the answer, a crash cannot take the change back."""
    if inspect.iscoroutinefunction(method):
        raise TypeError(f"{method.__qualname__}: acknowledged replies need a synchronous method")
    setattr(method, _ACKNOWLEDGED, True)
    return method


class ShardedPool:
    """The actors of a pool, started from the driver: ``shards`` names (or a count: shard-0,
    shard-1, ...) of an actor class decorated with ``@amber.ray.sharded``. Starting a pool
    whose store was last run with other shards rescales it: each actor restores exactly its
    groups (the old actors must be stopped; ``wait`` seconds are given to their leases).

    ``options`` go to the actor class's ``.options()`` (``max_restarts``, ``num_cpus``, ...);
    ``args`` and ``kwargs`` to its constructor."""

    def __init__(
        self,
        actor_class: Any,
        shards: int | Sequence[str],
        *,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        wait: float = 0.0,
    ) -> None:
        ray = _import_ray()
        url, key_groups, pool_options = _pool_of(actor_class)
        self.pool: Pool = open_pool(url, key_groups=key_groups, **pool_options)
        names = [f"shard-{i}" for i in range(shards)] if isinstance(shards, int) else list(shards)
        self.assignment: Assignment = self.pool.assign(names, wait=wait)
        make = functools.partial(_create, actor_class, dict(options or {}), tuple(args), dict(kwargs or {}))
        self.actors: dict[str, Any] = {}
        try:
            for shard in names:
                self.actors[shard] = make(shard)
            ray.get([actor.amber_groups.remote() for actor in self.actors.values()])  # every shard restored
        except BaseException:
            self._abandon()  # the others would hold their stores with no handle left to stop them
            raise

    def actor_for(self, key: Any) -> Any:
        """The actor owning ``key``, by the assignment this pool last read."""
        return self.actors[self.pool.shard_for(key, self.assignment)]

    def move(self, groups: Iterable[int], to: str, *, wait: float = 0.0) -> Assignment:
        """Give ``groups`` to the live actor ``to`` (their actor stopped or dead: its lease or
        lock is taken, waiting up to ``wait`` seconds); ``to`` takes them before this returns."""
        ray = _import_ray()
        if to not in self.actors:
            raise ValueError(f"no actor {to!r} in this pool: {', '.join(self.actors)}")
        self.assignment = self.pool.move(groups, to, wait=wait)
        ray.get(self.actors[to].amber_adopt.remote())
        return self.assignment

    def stop(self) -> None:
        """Stop every actor after a final checkpoint (each lets its store go)."""
        ray = _import_ray()
        closing = {name: actor.amber_close.remote() for name, actor in self.actors.items()}
        failed: dict[str, BaseException] = {}
        for name, reply in closing.items():
            try:
                ray.get(reply)
            except ray.exceptions.RayActorError:
                pass  # dead already: its store's lock went with its process (a lease expires)
            except Exception as e:
                failed[name] = e
        for actor in self.actors.values():
            ray.kill(actor)
        self.actors = {}
        if failed:  # the others stopped all the same
            raise next(iter(failed.values())) from None

    def _abandon(self) -> None:
        """Stop what started of a pool that failed to: a final checkpoint where an actor can
        still take one (so it lets its store go), then kill them all."""
        ray = _import_ray()
        for actor in self.actors.values():
            with contextlib.suppress(Exception):  # it failed to start, or died: nothing to close
                ray.get(actor.amber_close.remote(), timeout=60)
            ray.kill(actor)
        self.actors = {}


class _Shard:
    """The participant of a pool actor: its tables, split by key group, in its shard's store."""

    name = "shard"

    def __init__(self, actor: Any, shard: PoolShard, tables: Sequence[str]) -> None:
        self.actor = actor
        self.shard = shard
        self.tables = tables
        self.manager: Manager | None = None

    def tables_now(self) -> KeyedTables:
        return {name: getattr(self.actor, name) for name in self.tables}

    def snapshot(self) -> dict[str, Any]:
        return self.shard.snapshot(self.tables_now())

    def restore(self, state: Any) -> None:
        self._hand(self.shard.restore(state))

    def prepare(self) -> None:
        self.actor._amber_lock.acquire()

    def resume(self) -> None:
        self.actor._amber_lock.release()

    def start(self) -> RestoreReport:
        """Restore (an empty store still takes the groups other shards held) and commit what
        came from other shards at once, so this shard's own checkpoint holds every group."""
        assert self.manager is not None
        report = self.manager.restore()
        if report.checkpoint is None:
            self.restore(None)
        if self.shard.adopted:
            self.manager.checkpoint()
        return report

    def adopt(self, calls: _Calls | None = None) -> bool:
        """Take a newer generation's groups; checkpoint now, or (inside another method's call,
        which holds the actor's lock) once that call returns."""
        assert self.manager is not None
        with self.actor._amber_lock:
            tables = self.tables_now()
            changed = self.shard.adopt(tables)
            self._hand(tables)
        if changed and calls is not None and calls.depth > 0:
            calls.owed = True
        elif changed:
            self.manager.checkpoint()
        return changed

    def check(self, key: Any, calls: _Calls) -> None:
        if not self.shard.owns(key):
            self.adopt(calls)  # a group given to this shard since: take it first
            self.shard.check(key)

    def _hand(self, tables: KeyedTables) -> None:
        for name in self.tables:
            setattr(self.actor, name, tables.get(name) if name in tables else Table())


def _start(actor: Any, manager: Manager, restore: Callable[[], RestoreReport]) -> None:
    actor._amber_manager = manager
    shard = getattr(actor, "_amber_shard", None)
    if shard is not None:
        shard.manager = manager
    actor._amber_restored = restore()
    _at_exit(_final, manager)  # a graceful exit (ray.actor.exit_actor, ray.shutdown)
    if manager.interval is not None:
        manager.start()


def _serialize_methods(cls: type, *, locked: bool, skip: frozenset[str], key: str | None = None) -> None:
    """Wrap the class's public methods (but ``skip``): one at a time against checkpoints
    (``locked``), the key checked against the shard's groups (``key``), acknowledged ones
    checkpointed once the outermost call returns."""
    for attr in dir(cls):  # inherited methods too: an acknowledged one in a base class must still wait
        method = inspect.getattr_static(cls, attr)
        if attr.startswith("_") or attr in skip or not inspect.isfunction(method):
            continue
        checks_key = key is not None and key in inspect.signature(method).parameters
        if inspect.iscoroutinefunction(method):
            if checks_key:
                raise TypeError(f"{cls.__name__}.{attr}: a sharded actor's keyed methods must be synchronous")
            continue  # an async actor's methods interleave at awaits: it fences itself
        setattr(cls, attr, _serialized(method, locked=locked, key=key if checks_key else None))


class _Calls(threading.local):
    """A thread's calls into the actor's methods: how deep, and whether a checkpoint is owed
    (an acknowledged method called by another replies through the outermost one)."""

    depth = 0
    owed = False


def _serialized(method: Callable[..., Any], *, locked: bool, key: str | None) -> Callable[..., Any]:
    signature = inspect.signature(method)
    acknowledge = getattr(method, _ACKNOWLEDGED, False)

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls: _Calls = self._amber_calls
        if key is not None:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            self._amber_shard.check(bound.arguments[key], calls)
        calls.depth += 1
        try:
            if locked:
                with self._amber_lock:
                    result = method(self, *args, **kwargs)
            else:
                result = method(self, *args, **kwargs)
            calls.owed = calls.owed or acknowledge
        finally:
            calls.depth -= 1
        if calls.depth == 0 and calls.owed:  # outside every lock: the checkpoint's pause takes it
            calls.owed = False
            _acknowledge(self._amber_manager)
        return result

    return wrapper


def _acknowledge(manager: Manager) -> None:
    """Commit what the call did. Found nothing to write: a record changed in place without
    ``touch()`` looks unchanged, so look at every entry (the touch check: it warns, and the
    checkpoint writes the change) before replying as if it were durable."""
    if manager.checkpoint().skipped:
        manager.checkpoint(verify=True)


def _prepare(self: Any) -> None:
    self._amber_lock.acquire()


def _resume(self: Any) -> None:
    self._amber_lock.release()


def _amber_checkpoint(self: Any, full: bool = False) -> str:
    """Checkpoint now; the id of the checkpoint holding the actor's state."""
    return self._amber_manager.checkpoint(full=full).info.id  # type: ignore[no-any-return]


def _amber_restored(self: Any) -> str | None:
    """The checkpoint this start restored (None: the store was empty)."""
    return self._amber_restored.checkpoint  # type: ignore[no-any-return]


def _amber_pid(self: Any) -> int:
    """The actor's process id (tests kill it)."""
    return os.getpid()


def _amber_close(self: Any) -> None:
    """A final checkpoint, then the store let go of: the actor may be killed now."""
    _final(self._amber_manager)


def _amber_groups(self: Any) -> list[int]:
    """The key groups this shard owns (after its restore or last adoption)."""
    return sorted(self._amber_shard.shard.groups)


def _amber_adopt(self: Any) -> bool:
    """Take the groups the newest assignment gives this shard (and drop those it gave away);
    checkpointed at once. Whether anything changed."""
    return self._amber_shard.adopt()  # type: ignore[no-any-return]


_COMMON = {
    "amber_checkpoint": _amber_checkpoint,
    "amber_restored": _amber_restored,
    "amber_pid": _amber_pid,
    "amber_close": _amber_close,
}
_SHARD = {"amber_groups": _amber_groups, "amber_adopt": _amber_adopt}


def _add_methods(cls: type, methods: Mapping[str, Callable[..., Any]]) -> None:
    for attr, function in methods.items():
        setattr(cls, attr, function)


def _create(
    actor_class: Any, options: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any], shard: str
) -> Any:
    return actor_class.options(**options).remote(*args, amber_shard=shard, **kwargs)


def _pool_of(actor_class: Any) -> tuple[str, int, dict[str, Any]]:
    """The pool a ``ray.remote`` class decorated with ``sharded`` belongs to."""
    cls = getattr(actor_class, "__ray_actor_class__", actor_class)  # the class ray.remote was given
    found = getattr(cls, "__amber_pool__", None)
    if found is None:
        raise TypeError(f"{actor_class!r} is not an actor class decorated with @amber.ray.sharded")
    return found  # type: ignore[no-any-return]


def _actor_defaults(options: dict[str, Any]) -> None:
    """Manager options suited to an actor Ray restarts: no SIGTERM handler (Ray stops its
    workers its own way), and a restart waiting for its dead predecessor's lease to expire
    (on object storage it outlives a SIGKILL by ``lease_seconds``) rather than failing."""
    options.setdefault("handle_sigterm", False)
    options.setdefault("lock_wait", options.get("lease_seconds", 30.0) + 10.0)


def _refuse_misuse(cls: Any, decorator: str) -> None:
    if hasattr(cls, "__ray_actor_class__") or not isinstance(cls, type):
        raise TypeError(f"@amber.ray.{decorator} goes under @ray.remote, on the class itself: {cls!r}")


def _at_exit(function: Callable[..., None], *args: Any) -> None:
    """Run ``function`` as the interpreter exits, before ``concurrent.futures`` stops taking
    work (a checkpoint's pipeline needs it): plain ``atexit`` runs after, and the final
    checkpoint failed. ``threading._register_atexit`` is where concurrent.futures registers."""
    register = getattr(threading, "_register_atexit", None)
    if register is None:
        atexit.register(function, *args)
    else:
        register(function, *args)


def _final(manager: Manager) -> None:
    if manager.phase not in ("closed", "idle"):
        manager.close()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingExtraError("amber.ray", "ray", "ray") from None
    return ray
