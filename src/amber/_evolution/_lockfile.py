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

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

from .._format._format import FORMAT_VERSION
from .._schema._fields import RecordSchema
from .._schema._record_type import RecordType
from .._schema._registry import Registry
from .._version import __version__
from ..errors import SchemaError
from ._judge import same_but_renamed
from ._plan import Plan
from ._planner import plan

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


MAX_LOCK_BYTES = 64 << 20  # a lock file of every type and version a service ever had fits easily


def read_lock(path: Path) -> Lock | None:
    try:
        if not path.exists():
            return None
        lock = msgspec.json.decode(_lock_bytes(path), type=Lock)
    except OSError as e:
        raise SchemaError(f"{path}: cannot read the lock file: {e.strerror or e}") from None
    except (ValueError, RecursionError) as e:
        raise SchemaError(f"{path} is not a readable amber lock file: {e}") from None
    if lock.lock_version > LOCK_VERSION:
        raise SchemaError(f"{path} was written by a newer amber (lock version {lock.lock_version})")
    for name, locked in lock.types.items():
        problem = _lock_problem(locked)
        if problem:
            raise SchemaError(f"{path} is not a sound amber lock file: {name}: {problem}")
    return lock


def _lock_bytes(path: Path) -> bytes:
    """The lock file's bytes: a regular file of bounded size (not /dev/zero, not a FIFO)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SchemaError(f"{path} is not a regular file: a lock file is one")
        data = f.read(MAX_LOCK_BYTES + 1)
    if len(data) > MAX_LOCK_BYTES:
        raise SchemaError(f"{path} holds over {MAX_LOCK_BYTES >> 20} MiB: not an amber lock file")
    return data


def _lock_problem(locked: LockedType) -> str:
    if not locked.versions or not all(v.isdigit() and v.isascii() for v in locked.versions):
        return f"versions are numbered (found {', '.join(list(locked.versions)[:5]) or 'none'})"
    numbers = {int(v) for v in locked.versions}
    if locked.current not in numbers:
        return f"current v{locked.current} is not among its versions"
    if not min(numbers) <= locked.oldest_supported <= locked.current:
        return f"oldest_supported v{locked.oldest_supported} is outside v{min(numbers)}-v{locked.current}"
    if any(str(s.version) != v for v, s in locked.versions.items()):
        return "each version's schema carries its own version number"
    return ""


def write_lock(path: Path, lock: Lock) -> None:
    try:
        path.write_bytes(msgspec.json.format(msgspec.json.encode(lock, order="sorted"), indent=2) + b"\n")
    except OSError as e:
        raise SchemaError(f"{path}: cannot write the lock file: {e.strerror or e}") from None


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
            findings.extend(_check_reads(registry, current, locked, renamed_from=name))
        else:
            findings.extend(_check_type(registry, current, locked))
    findings += _merged(registry, lock)
    for name, rt in code.items():
        if name not in lock.types and not any(target == name for target in renamed.values()):
            findings.append(Finding("note", name, f"new type at v{rt.version}", "run `amber schema lock` to record it"))
    return findings


def _merged(registry: Registry, lock: Lock) -> list[Finding]:
    """Locked types the code reads into one type (by a name and an alias, or two aliases):
    a checkpoint holding both cannot be read without a checkpoint step merging them."""
    into: dict[str, list[str]] = {}
    for name in lock.types:
        current = registry.current(name)
        if current is not None:
            into.setdefault(current.name, []).append(name)
    fix = "a checkpoint step that merges them, or keep them apart"
    return [
        Finding("error", target, f"{', '.join(sorted(names))} are all read into {target}", fix)
        for target, names in into.items()
        if len(names) > 1
    ]


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
    renamed = registry.renamed()
    for version in registry.versions(name):
        rt = registry.lookup(name, version)
        assert rt is not None
        pinned = locked.versions.get(str(version))
        if pinned is None or pinned.fingerprint == rt.schema.fingerprint:
            continue
        if same_but_renamed(pinned, rt, renamed.get):
            note = f"v{version} holds the same data under new names (renamed types or enums, or enum names "
            note += "the lock predates): run `amber schema lock` to record them"
            findings.append(Finding("note", name, note, ""))
            continue
        fix = f"restore v{version} as locked and declare the change as v{max(int(v) for v in locked.versions) + 1}"
        findings.append(Finding("error", name, f"v{version} changed without a version bump", fix))
    findings += _check_reads(registry, current, locked)
    for version in locked.upgrades:
        if locked.oldest_supported <= version < current.version and registry.upgrade_step(name, version) is None:
            gone = f"the upgrade step from v{version} is gone while v{version} data is supported"
            fix = f"keep the step, or raise oldest_supported past v{version} once no checkpoint holds it"
            findings.append(Finding("error", name, gone, fix))
    for f in current.schema.fields:
        old_type = locked.tombstones.get(f.name)
        if old_type is not None and f.name not in current.new_fields:
            fix = f"choose another name, or amber.field(new=True) on {f.name!r} if old values must not come back"
            findings.append(Finding("error", name, f"field {f.name!r} reuses a removed name (was {old_type})", fix))
    for d in sorted(current.deprecated):
        holders = [v for v, schema in locked.versions.items() if any(f.name == d for f in schema.fields)]
        note = f"deprecated field {d!r} is still held by supported versions v{', v'.join(holders)}"
        findings.append(Finding("note", name, note, "remove it once oldest_supported is past them"))
    return findings


def _check_reads(
    registry: Registry, current: RecordType, locked: LockedType, *, renamed_from: str = ""
) -> list[Finding]:
    """Read each supported locked version with the running code, exactly as a load of a
    checkpoint holding it would (the same planner), and report what it would refuse. A type
    renamed since may have restarted its versions: all its locked ones are read."""
    findings = []
    for text, locked_schema in locked.versions.items():
        version = int(text)
        if version < locked.oldest_supported or (version > current.version and not renamed_from):
            continue
        declared = None if renamed_from else registry.lookup(current.name, version)
        # The locked schema is what old checkpoints hold; the declared one (when it differs, e.g.
        # with enum names a lock written before format 4 lacks) is what new ones at that version hold.
        schemas = {s.fingerprint: s for s in [locked_schema, *([declared.schema] if declared else [])]}
        for schema in schemas.values():
            findings += _check_read(registry, locked, schema, renamed=bool(renamed_from))
    return list(dict.fromkeys(findings))


def _check_read(
    registry: Registry, locked: LockedType, schema: RecordSchema, *, renamed: bool = False
) -> list[Finding]:
    """What a load of a checkpoint holding ``schema`` would refuse (errors) or convert (notes)."""
    findings = []
    version = schema.version
    found = plan([schema, *_companions(registry, locked, schema)], registry)
    for problem in found.problems:
        if problem.kind == "mismatch" and not renamed:
            continue  # a version changed in place: reported with its fix by the fingerprint check
        where = problem.type if problem.type != "*" else schema.name
        findings.append(Finding("error", where, f"v{version} data: {problem.problem}", problem.fix))
    for problem in found.conditional:
        findings.append(Finding("error", problem.type, f"v{version} data: {problem.problem}", ""))
    for tp in found.types:
        findings += [Finding("note", tp.reader.name, f"v{version} data: {note}", "") for note in tp.notes]
    return findings + _changed_defaults(found, schema, locked)


def _companions(registry: Registry, locked: LockedType, schema: RecordSchema) -> list[RecordSchema]:
    """The other types a checkpoint step needs beside this type at this version: a
    checkpoint holding one of them holds them all, at the versions the step requires."""
    found: dict[str, RecordSchema] = {}
    for step in registry.checkpoint_steps():
        if step.requires.get(schema.name) != schema.version:
            continue
        for other, version in step.requires.items():
            declared = registry.lookup(other, version)
            if other != schema.name and declared is not None:
                found[other] = declared.schema
    return list(found.values())


def _changed_defaults(found: Plan, schema: RecordSchema, locked: LockedType) -> list[Finding]:
    """Fields this version lacks take the default of the version that added them, when the
    code still declares it; else the newest one's, which differs if the default changed."""
    findings = []
    for tp in found.types:
        if tp.writer.name != schema.name:
            continue
        for fp in tp.fields:
            if fp.mode != "default":
                continue
            added = next(
                (int(v) for v, s in locked.versions.items() if int(v) > schema.version and _has(s, fp.name)), None
            )
            if added is None or added == fp.default_from:
                continue
            then = next(f.default for f in locked.versions[str(added)].fields if f.name == fp.name)
            now = next(f.default for f in tp.reader.schema.fields if f.name == fp.name)
            if then != now:
                change = (
                    f"v{schema.version} data: field {fp.name!r} reads the default {now!r}, where v{added}, "
                    f"which added it, read {then!r}"
                )
                fix = f"keep v{added} declared (its default then applies), or restore the default {then!r}"
                findings.append(Finding("error", tp.reader.name, change, fix))
    return findings


def _has(schema: RecordSchema, field: str) -> bool:
    return any(f.name == field for f in schema.fields)
