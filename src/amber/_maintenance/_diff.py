"""``amber diff``: what changed between two checkpoints, read without the application's code.

Each checkpoint's tables are materialised along its chain (base, then every delta) as
key -> fingerprint of the value. A value's fingerprint covers its own fields; a field
pointing at another record counts by that record's identity (its table entry, when it is
one, else its type and fields), so a changed customer name does not show up as a change
of every account pointing at the customer, while an account moved to another customer does.
"""

from __future__ import annotations

import collections
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .._format._format import Manifest, TypeEntry, digest
from .._schema._values import ArrayRef, Link, Ref, to_json_value
from .._store._checkpoint import CheckpointStore
from .._store._generic import table_nodes
from .._store._loading import check_memory
from .._store._reading import CheckpointReader
from ..errors import CorruptCheckpointError

Entries = dict[Any, tuple[str, str]]  # key -> (type name of the value, fingerprint)
MAX_KEYS = 20  # keys listed per type and change; counts are always complete


@dataclass
class _Chain:
    """Tables of one checkpoint, rebuilt from its chain."""

    tables: dict[int, Entries] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # records per type, not in tables


def diff(store: CheckpointStore, a: str | int, b: str | int) -> dict[str, Any]:
    """Per type: added, changed and deleted table keys from ``a`` to ``b``; schema changes."""
    old, new = store.manifest(a), store.manifest(b)
    old_types, new_types = _chain_types(store, old.id), _chain_types(store, new.id)
    before, after = _materialise(store, old.id), _materialise(store, new.id)
    changes: dict[str, dict[str, list[Any]]] = defaultdict(lambda: {"added": [], "changed": [], "deleted": []})
    for token in sorted(set(before.tables) | set(after.tables)):
        was, now = before.tables.get(token, {}), after.tables.get(token, {})
        for key, (name, fp) in now.items():
            if key not in was:
                changes[name]["added"].append(key)
            elif was[key][1] != fp:
                changes[name]["changed"].append(key)
        for key, (name, _) in was.items():
            if key not in now:
                changes[name]["deleted"].append(key)
    return {
        "a": old.id,
        "b": new.id,
        "types": {name: _summary(found) for name, found in sorted(changes.items())},
        "schemas": _schema_changes(old_types, new_types),
        "other_records": {
            name: {"a": before.counts.get(name, 0), "b": after.counts.get(name, 0)}
            for name in sorted(set(before.counts) | set(after.counts))
            if before.counts.get(name, 0) != after.counts.get(name, 0)
        },
    }


def _summary(found: dict[str, list[Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {change: len(keys) for change, keys in found.items()}
    summary["keys"] = {
        change: [to_json_value(k) for k in sorted(keys, key=msgspec.json.encode)[:MAX_KEYS]]
        for change, keys in found.items()
        if keys
    }
    return summary


def _chain_types(store: CheckpointStore, checkpoint_id: str) -> dict[str, TypeEntry]:
    """Each type a checkpoint's state holds, as last written along its chain (a delta lists
    only the types it writes)."""
    found: dict[str, TypeEntry] = {}
    for manifest in store.manifests.chain(checkpoint_id):
        found.update({t.schema.name: t for t in manifest.types})
    return found


def _schema_changes(was: dict[str, TypeEntry], now: dict[str, TypeEntry]) -> list[dict[str, Any]]:
    found = []
    for name in sorted(set(was) | set(now)):
        a, b = was.get(name), now.get(name)
        if a is not None and b is not None and a.fingerprint == b.fingerprint:
            continue
        change = "added" if a is None else "removed" if b is None else "changed"
        found.append(
            {
                "type": name,
                "change": change,
                "a": None if a is None else {"version": a.schema.version, "fingerprint": a.fingerprint},
                "b": None if b is None else {"version": b.schema.version, "fingerprint": b.fingerprint},
            }
        )
    return found


def _materialise(store: CheckpointStore, checkpoint_id: str) -> _Chain:
    chain = _Chain()
    for manifest in store.manifests.chain(checkpoint_id):
        check_memory(store, [manifest])
        records, root = CheckpointReader(store.storage, manifest, memory_limit=store.max_load_memory).generic()
        names = [t.schema.name for t in manifest.types]
        owners = _table_owners(root)
        fingerprint = _Fingerprints(manifest.id, names, records, owners, chain.tables)
        fingerprint.arrays = _array_digests(manifest)
        chain.counts = {}
        for node in table_nodes(root).values():
            entries = chain.tables.setdefault(node.token, {}) if node.deleted is not None else {}
            for key in node.deleted or ():
                entries.pop(key, None)
            entries.update({k: fingerprint.of(v) for k, v in node.entries.items()})
            chain.tables[node.token] = entries
        in_tables = {(ref.name, ref.row) for ref in owners}
        for name, rows in zip(names, records, strict=True):
            loose = sum(1 for row, r in enumerate(rows) if "$link" not in r and (name, row) not in in_tables)
            if loose:
                chain.counts[name] = loose
        chain.tables = {n.token: chain.tables[n.token] for n in table_nodes(root).values()}
    return chain


def _array_digests(manifest: Manifest) -> dict[int, list[str]]:
    """Each array's content, as the digests of its segments (its number says nothing: it
    is only the order the writer met the arrays in)."""
    found: dict[int, list[str]] = {}
    for segment in manifest.segments:
        if segment.kind == "array":
            found.setdefault(segment.array, []).append(segment.digest)
    return found


def _table_owners(root: Any) -> dict[Ref, tuple[int, Any]]:
    """(token, key) of every record that is a table value, by its row marker."""
    return {v: (n.token, k) for n in table_nodes(root).values() for k, v in n.entries.items() if isinstance(v, Ref)}


class _Fingerprints:
    def __init__(
        self,
        checkpoint_id: str,
        names: list[str],
        records: list[list[dict[str, Any]]],
        owners: dict[Ref, tuple[int, Any]],
        earlier: dict[int, Entries],
    ) -> None:
        self._id = checkpoint_id
        self._rows = dict(zip(names, records, strict=True))
        self._owners = owners
        self._earlier = earlier
        self.arrays: dict[int, list[str]] = {}

    def of(self, value: Any) -> tuple[str, str]:
        if not isinstance(value, Ref):
            return type(value).__name__, digest(msgspec.json.encode(to_json_value(value)))
        record = self._record(value)
        if isinstance(record, Link):
            return self._linked(record)
        fields = {k: self._identity(v) for k, v in record.items() if k != "$adopts"}
        return value.name, digest(msgspec.json.encode(to_json_value(fields)))

    def _linked(self, link: Link) -> tuple[str, str]:
        """What a link stands for: an entry of the tables built so far, or a corrupt delta."""
        found = self._earlier.get(link.table, {}).get(link.key)
        if found is None:
            raise CorruptCheckpointError(self._id, "links", "links to entries of the parent", repr(link))
        return found

    def _record(self, ref: Ref) -> Any:
        record = self._rows[ref.name][ref.row]
        link = record.get("$link")
        return link if isinstance(link, Link) else record

    def _identity(self, value: Any) -> Any:
        """What a field pointing at ``value`` counts by: a table entry, else its fields."""
        if isinstance(value, ArrayRef):
            content = [digest(value.data)] if value.number < 0 else self.arrays.get(value.number, [])
            return {"$ndarray": [value.dtype, value.shape, content]}
        if not isinstance(value, Ref):
            return _walk(value, self._identity)
        record = self._record(value)
        if isinstance(record, Link):
            self._linked(record)
            return {"$entry": [str(record.table), to_json_value(record.key)]}
        owner = self._owners.get(value)
        if owner is not None:
            return {"$entry": [str(owner[0]), to_json_value(owner[1])]}
        return {"$record": [value.name, {k: _shallow(v) for k, v in record.items() if k != "$adopts"}]}


def _shallow(value: Any) -> Any:
    """A field's value with references reduced to their type name (one level of content)."""
    return {"$ref": value.name} if isinstance(value, Ref) else _walk(value, _shallow)


def _walk(value: Any, inner: Any) -> Any:
    """``value`` with ``inner`` applied to what its containers hold (sets in a stable order)."""
    if isinstance(value, set | frozenset):
        return sorted((inner(v) for v in value), key=msgspec.json.encode)
    if isinstance(value, list | tuple):
        return [inner(v) for v in value]
    if isinstance(value, collections.deque):
        return {"$deque": [value.maxlen, [inner(v) for v in value]]}
    if isinstance(value, dict):  # OrderedDict, Counter, defaultdict too, by their type's name
        tag = "$dict" if type(value) is dict else f"${type(value).__name__.lower()}"
        return {tag: [[inner(k), inner(v)] for k, v in value.items()]}
    return value
