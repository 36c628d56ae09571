"""The schema lock file: every released version of every persisted type, and the CI check.

``amber schema lock`` records, per type, each version's schema and fingerprint, the steps
between versions, former names, tombstones (field names that were removed and may never
come back with another meaning) and the policy: the oldest version still supported, and the
minimum library and format versions needed. Versions are only ever added: the lock keeps
old versions even when their classes are gone from the code.

``amber schema check`` compares the running code with the lock and reports every change
that would break reading old data, each with what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

from ._fields import RecordSchema
from ._format import FORMAT_VERSION
from ._migration import same_type, widens
from ._schema import RecordType, Registry
from ._version import __version__
from .errors import SchemaError

LOCK_VERSION = 1


class LockedType(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    current: int
    oldest_supported: int
    versions: dict[str, RecordSchema]  # version (as text, for JSON) -> schema
    fingerprints: dict[str, str]
    upgrades: list[int] = []  # versions that have a step to the next
    downgrades: list[int] = []  # versions that have a twin to the previous
    aliases: list[str] = []
    tombstones: dict[str, str] = {}  # removed field -> its last type, rendered
    deprecated: list[str] = []  # fields to be removed once no supported version holds them


class Lock(msgspec.Struct, forbid_unknown_fields=True):
    format: Literal["amber.lock"]
    lock_version: int
    min_library: str
    min_format_version: int
    types: dict[str, LockedType]


@dataclass(frozen=True)
class Finding:
    """One result of ``schema check``: an error fails the check, a note does not."""

    severity: Literal["error", "note"]
    type: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.type}: {self.message}" + (f" (fix: {self.fix})" if self.fix else "")


def read_lock(path: Path) -> Lock | None:
    if not path.exists():
        return None
    try:
        lock = msgspec.json.decode(path.read_bytes(), type=Lock)
    except (ValueError, RecursionError) as e:
        raise SchemaError(f"{path} is not a readable amber lock file: {e}") from None
    if lock.lock_version > LOCK_VERSION:
        raise SchemaError(f"{path} was written by a newer amber (lock version {lock.lock_version})")
    return lock


def write_lock(path: Path, lock: Lock) -> None:
    path.write_bytes(msgspec.json.format(msgspec.json.encode(lock, order="sorted"), indent=2) + b"\n")


def build_lock(registry: Registry, previous: Lock | None) -> Lock:
    """The lock for the running code, keeping every version the previous lock recorded."""
    types: dict[str, LockedType] = dict(previous.types) if previous else {}
    names = {rt.name for rt in registry.declared()}
    for name in sorted(names):
        current = registry.current(name)
        assert current is not None
        types[name] = _locked_type(registry, current, types.get(name))
    return Lock("amber.lock", LOCK_VERSION, f"amber {__version__}", FORMAT_VERSION, dict(sorted(types.items())))


def _locked_type(registry: Registry, current: RecordType, old: LockedType | None) -> LockedType:
    versions = dict(old.versions) if old else {}
    for version in registry.versions(current.name):
        rt = registry.lookup(current.name, version)
        assert rt is not None
        versions[str(version)] = rt.schema
    ordered = dict(sorted(versions.items(), key=lambda kv: int(kv[0])))
    removed = _tombstones(ordered, current, old)
    return LockedType(
        current=current.version,
        oldest_supported=old.oldest_supported if old else min(int(v) for v in ordered),
        versions=ordered,
        fingerprints={v: s.fingerprint for v, s in ordered.items()},
        upgrades=sorted({*(old.upgrades if old else ()), *_steps(registry, current, "upgrade")}),
        downgrades=sorted({*(old.downgrades if old else ()), *_steps(registry, current, "downgrade")}),
        aliases=sorted({*(old.aliases if old else ()), *_aliases_of(registry, current.name)}),
        tombstones=removed,
        deprecated=sorted(current.deprecated),
    )


def _steps(registry: Registry, current: RecordType, kind: str) -> list[int]:
    find = registry.upgrade_step if kind == "upgrade" else registry.downgrade_step
    return [v for v in range(1, current.version + 1) if find(current.name, v) is not None]


def _aliases_of(registry: Registry, name: str) -> list[str]:
    return [alias for alias, target in registry.renamed().items() if target == name]


def _tombstones(versions: dict[str, RecordSchema], current: RecordType, old: LockedType | None) -> dict[str, str]:
    live = {n for f in current.schema.fields for n in current.names_for(f.name)}
    removed = dict(old.tombstones) if old else {}
    for schema in versions.values():
        for f in schema.fields:
            if f.name not in live:
                removed[f.name] = f.type.render()
    return dict(sorted(removed.items()))


def check(registry: Registry, lock: Lock | None) -> list[Finding]:
    """Every way the running code breaks the lock's promises, and the notes worth reading."""
    if lock is None:
        return [Finding("error", "*", "no lock file", "run `amber schema lock --app ...` and commit the file")]
    findings: list[Finding] = []
    names = {r.name for r in registry.declared()}
    code = {rt.name: rt for rt in map(registry.current, names) if rt is not None}
    renamed = registry.renamed()
    for name, locked in lock.types.items():
        current = registry.current(name)
        if current is None:
            findings.append(_removed_type(name, locked, code, lock))
        elif current.name != name:
            findings.append(Finding("note", name, f"renamed to {current.name} (found by its alias)", ""))
        else:
            findings.extend(_check_type(registry, current, locked))
    for name, rt in code.items():
        if name not in lock.types and not any(target == name for target in renamed.values()):
            findings.append(Finding("note", name, f"new type at v{rt.version}", "run `amber schema lock` to record it"))
    return findings


def _removed_type(name: str, locked: LockedType, code: dict[str, RecordType], lock: Lock) -> Finding:
    last = locked.versions[str(locked.current)]
    for other, rt in code.items():
        if other not in lock.types and _same_fields(last, rt.schema):
            fix = f"declare {other} with aliases=[{name!r}]"
            return Finding("error", name, f"looks renamed to {other} without an alias", fix)
    supported = f"v{locked.oldest_supported}-v{locked.current}"
    fix = "keep its declaration, or migrate it away first"
    return Finding("error", name, f"removed while versions {supported} are supported", fix)


def _same_fields(a: RecordSchema, b: RecordSchema) -> bool:
    return [(f.name, f.type) for f in a.fields] == [(f.name, f.type) for f in b.fields]


def _check_type(registry: Registry, current: RecordType, locked: LockedType) -> list[Finding]:
    name, findings = current.name, []
    for version in registry.versions(name):
        rt = registry.lookup(name, version)
        assert rt is not None
        pinned = locked.fingerprints.get(str(version))
        if pinned is not None and pinned != rt.schema.fingerprint:
            fix = f"restore v{version} as locked and declare the change as v{max(int(v) for v in locked.versions) + 1}"
            findings.append(Finding("error", name, f"v{version} changed without a version bump", fix))
    latest = max(int(v) for v in locked.versions)
    if current.version > latest:
        findings.extend(_check_bump(registry, current, locked.versions[str(latest)], latest))
    for f in current.schema.fields:
        old_type = locked.tombstones.get(f.name)
        if old_type is not None and old_type != f.type.render():
            fix = "choose another name: old data may still hold the removed field"
            findings.append(Finding("error", name, f"field {f.name!r} reuses a removed name (was {old_type})", fix))
    for d in sorted(current.deprecated):
        holders = [v for v, schema in locked.versions.items() if any(f.name == d for f in schema.fields)]
        note = f"deprecated field {d!r} is still held by supported versions v{', v'.join(holders)}"
        findings.append(Finding("note", name, note, "remove it once oldest_supported is past them"))
    return findings


def _check_bump(registry: Registry, current: RecordType, previous: RecordSchema, latest: int) -> list[Finding]:
    """A new version must be reachable from the last locked one: by steps or by the rules."""
    name = current.name
    if any(registry.upgrade_step(name, v) for v in range(latest, current.version)):
        return []
    written = {f.name: f for f in previous.fields}
    findings = []
    for f, default in zip(current.schema.fields, current.defaults, strict=True):
        source = next((written[n] for n in current.names_for(f.name) if n in written), None)
        step = f"add @amber.upgrade({name!r}, {latest})"
        if source is None and default is None:
            added = f"v{current.version} adds required field {f.name!r}"
            findings.append(Finding("error", name, added, f"give it a default, or {step}"))
        elif source is not None and not (same_type(source.type, f.type, _keep) or widens(source.type, f.type, _keep)):
            change = f"field {f.name!r} changed from {source.type.render()} to {f.type.render()}"
            findings.append(Finding("error", name, change, step))
    return findings


def _keep(name: str) -> str:
    return name
