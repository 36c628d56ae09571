"""Golden fixtures: a frozen checkpoint per released schema, and the migration matrix over them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._schema._registry import Registry
from .._store._open import open_store
from ..errors import AmberError, Violation

Invariants = Callable[[Any], Iterable["str | Violation"]]


def freeze_fixture(
    state: Any, directory: str | os.PathLike[str], release: str, *, registry: Registry | None = None
) -> Path:
    """Freeze ``state`` as the fixture of ``release`` (``directory/release/``, a store with
    one checkpoint written by the running code): commit it to your repository when you
    release, and never rewrite it. Refuses a release that is frozen already."""
    target = Path(directory) / release
    if target.exists():
        raise FileExistsError(f"{target} is frozen already: fixtures of a release are never rewritten")
    store = open_store(target, registry=registry, history=False)
    store.save(state, meta={"amber.fixture": release})
    return target


@dataclass
class FixtureResult:
    """One frozen checkpoint loaded by the running code."""

    release: str
    checkpoint: str
    versions: dict[str, tuple[int, int]]  # type -> (version frozen, version now)
    problems: list[str] = field(default_factory=list)


def check_migrations(
    directory: str | os.PathLike[str], *, registry: Registry | None = None, invariants: Invariants | None = None
) -> list[FixtureResult]:
    """The migration matrix as one call: load every frozen fixture under ``directory`` with
    the running code (through every upgrade step), run ``invariants`` on each state, and
    raise ``AssertionError`` listing every failure. Fixtures are read, never written."""
    releases = sorted(p for p in Path(directory).iterdir() if p.is_dir())
    if not releases:
        raise AssertionError(f"no frozen fixtures under {directory}: freeze one per release with freeze_fixture()")
    before = _files(Path(directory))
    results = [r for release in releases for r in _check_release(release, registry, invariants)]
    if _files(Path(directory)) != before:
        raise AssertionError(f"checking the fixtures under {directory} changed them")
    failed = [f"{r.release} ({r.checkpoint}): {p}" for r in results for p in r.problems]
    if failed:
        raise AssertionError(f"{len(failed)} fixture problem(s):\n  " + "\n  ".join(failed))
    return results


def _check_release(release: Path, registry: Registry | None, invariants: Invariants | None) -> list[FixtureResult]:
    store = open_store(release, registry=registry, create=False, history=False)
    results = []
    ids = store.ids()
    if not ids:
        return [FixtureResult(release.name, "-", {}, ["no checkpoint: freeze one with freeze_fixture()"])]
    for cid in ids:
        result = FixtureResult(release.name, cid, {})
        results.append(result)
        try:
            manifest = store.manifest(cid)
            state = store.load(cid)
        except AmberError as e:
            result.problems.append(f"{type(e).__name__}: {e}")
            continue
        for entry in manifest.types:
            now = store.registry.current(entry.schema.name)
            result.versions[entry.schema.name] = (entry.schema.version, now.version if now else 0)
        if invariants is not None:
            result.problems.extend(str(v) for v in invariants(state))
    return results


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}
