"""The verbs that need the application's code: importing its types (``--app``), and checking
and writing the lock file of the versions it declares (``schema check``, ``schema lock``)."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import msgspec

from .._evolution import _lockfile
from .._schema._registry import Registry, default_registry
from ..errors import SchemaError


def load_app(app: str) -> Registry:
    """Import the application's types: ``MODULE`` (which fills the default registry) or
    ``MODULE:ATTRIBUTE`` naming an ``amber.Registry``. The current directory is importable."""
    module_name, _, attribute = app.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # the app's own import failing: one line, not a traceback
        raise SchemaError(f"--app {app}: importing {module_name} failed: {type(e).__name__}: {e}") from e
    if attribute and not hasattr(module, attribute):
        raise SchemaError(f"--app {app}: {module_name} has no attribute {attribute!r}")
    registry = getattr(module, attribute) if attribute else default_registry
    if not isinstance(registry, Registry):
        raise SchemaError(f"--app {app}: {attribute!r} of {module_name} is not an amber.Registry")
    if not attribute and not registry.declared():
        named = [n for n, v in vars(module).items() if isinstance(v, Registry)]
        hint = f"name it: --app {module_name}:{named[0]}" if named else "declare them with @amber.record"
        raise SchemaError(f"--app {app}: {module_name} declares no types in the default registry ({hint})")
    return registry


def schema_lock(app: str, path: str = "amber.lock", *, oldest: dict[str, int] | None = None) -> dict[str, Any]:
    """Write (or extend) the lock file with every type and version the app declares, once
    ``schema check`` passes against the lock as it is (``SchemaError`` otherwise).

    Versions already locked are kept even when their classes are gone. ``oldest`` sets the
    oldest version still supported per type (the policy ``open_store(policy=...)`` enforces).
    """
    registry = load_app(app)
    previous = _lockfile.read_lock(Path(path))
    refused = [str(f) for f in _lockfile.check(registry, previous) if previous is not None and f.severity == "error"]
    if refused:  # the lock records releases that read their predecessors' data: never one that cannot
        raise SchemaError(f"{path} not updated: `amber schema check` fails: {'; '.join(refused)}")
    lock = _lockfile.build_lock(registry, previous)
    for name, version in (oldest or {}).items():
        if name not in lock.types:
            raise SchemaError(f"{name} is not a persisted type of {app}")
        locked = lock.types[name]
        if not min(map(int, locked.versions)) <= version <= locked.current:
            raise SchemaError(
                f"--oldest {name}={version}: not between v{min(map(int, locked.versions))} and v{locked.current}"
            )
        locked.oldest_supported = version
    _lockfile.write_lock(Path(path), lock)
    return msgspec.to_builtins(lock)  # type: ignore[no-any-return]


def schema_check(app: str, path: str = "amber.lock") -> list[dict[str, str]]:
    """Compare the app's types with the lock file; every finding with what to do."""
    findings = _lockfile.check(load_app(app), _lockfile.read_lock(Path(path)))
    return [{"severity": f.severity, "type": f.type, "message": f.message, "fix": f.fix} for f in findings]
