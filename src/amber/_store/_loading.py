"""A checkpoint's content read back: planned against the running code's types, checked
against the memory and size bounds, decoded (a delta with its whole chain), verified.

The plan is where the store speaks up: types written by newer code, enums stored by value
only, each warned of once per store, loudly (a service with no logging still shows it).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .._evolution._plan import Plan
from .._evolution._planner import plan
from .._format._format import Manifest, manifest_digest
from .._schema._fields import RecordSchema
from .._schema._keyed import Table, find_tables
from ..errors import (
    CheckpointTooLargeError,
    CorruptCheckpointError,
    IncompatibleSchemaError,
    SchemaMismatchError,
    SchemaProblem,
    UnknownTypeError,
)
from ..events._loud import loud
from ._capture import gc_paused
from ._info import VerifyReport, checkpoint_info
from ._memory_bound import check_chain, readers_of
from ._reading import CheckpointReader, StepTiming, verify_chain

if TYPE_CHECKING:
    from ._checkpoint import CheckpointStore

log = logging.getLogger("amber.schema")


def load_chain(store: CheckpointStore, checkpoint_id: str | int | None, steps: list[StepTiming] | None = None) -> Any:
    """Rebuild the state saved in a checkpoint, adding each type upgrade it runs (timed)
    to ``steps``: what a migration reports. A delta is rebuilt from its full base and every
    delta up to it, in order; each table's entry count is checked along the way."""
    chain = store.manifests.chain(checkpoint_id)
    plans = [store.planner.plan(m) for m in chain]
    raw = sum(s.raw_length for m in chain for s in m.segments)
    if raw > store.max_load_bytes:
        expected = f"at most {store.max_load_bytes} decompressed bytes (raise max_load_bytes)"
        raise CheckpointTooLargeError(chain[-1].id, "chain", expected, str(raw))
    check_memory(store, chain)
    state: Any = None
    prior: dict[int, Table[Any, Any]] | None = None
    with gc_paused():
        for manifest, migration in zip(chain, plans, strict=True):
            reader = CheckpointReader(store.storage, manifest, store.progress, steps, store.max_load_memory)
            state = reader.state(migration, prior)
            prior = _tables_as_saved(manifest, state)
    for table in (prior or {}).values():
        table.last = (store.url, chain[-1].id, manifest_digest(chain[-1]))
    return state


def verify(store: CheckpointStore, checkpoint_id: str | int | None) -> VerifyReport:
    """Check digests, lengths, structure and references, without the application's code."""
    manifest, size = store.manifests.read(checkpoint_id)
    with gc_paused():
        if manifest.parent:  # a delta is sound only with its chain: read it all
            chain = store.manifests.chain(manifest.id)
            check_memory(store, chain)
            verify_chain(store.storage, chain, store.max_load_memory)
        else:
            check_memory(store, [manifest])
            reader = CheckpointReader(store.storage, manifest, memory_limit=store.max_load_memory)
            reader.generic()
            reader.check_arrays()
    return VerifyReport(
        info=checkpoint_info(manifest, size),
        segments=len(manifest.segments),
        records=sum(t.count for t in manifest.types),
        raw_bytes=sum(s.raw_length for s in manifest.segments),
    )


def read_generic(
    store: CheckpointStore, checkpoint_id: str | int | None
) -> tuple[Manifest, list[list[dict[str, Any]]], Any]:
    """A checkpoint's records (as dicts) and root, read with its own schemas, no app code."""
    manifest = store.manifest(checkpoint_id)
    with gc_paused():
        check_memory(store, [manifest])
        records, root = CheckpointReader(store.storage, manifest, memory_limit=store.max_load_memory).generic()
    return manifest, records, root


def check_memory(store: CheckpointStore, chain: list[Manifest]) -> None:
    """Refuse (``CheckpointTooLargeError``) reading ``chain`` when the memory it may take,
    estimated from its manifests alone, exceeds ``max_load_memory``: before any segment."""
    check_chain(chain, store.max_load_memory, readers_of(store.registry))


def _tables_as_saved(manifest: Manifest, state: Any) -> dict[int, Table[Any, Any]]:
    """The state's tables by token, each checked against the entry count its manifest
    recorded (a broken chain, or a delta applied to the wrong parent, shows up here)."""
    found_tables = find_tables(state)
    tables = {t.token: t for t in found_tables}
    found = {str(token): len(t) for token, t in tables.items()}
    if found != manifest.tables or len(tables) != len(found_tables):
        wrong = sorted(set(found.items()) ^ set(manifest.tables.items()))[:3]
        raise CorruptCheckpointError(
            manifest.id, "tables", "tables with the entry counts in the manifest", f"differences {wrong}"
        )
    return tables


class ReadPlanner:
    """Plans how each checkpoint's types become the running code's, for one store, and
    warns of what it reads by a looser rule: once per store and type, not once per delta."""

    def __init__(self, store: CheckpointStore) -> None:
        self.store = store
        self._warned = store.warned  # (type, written, read), for the store's whole life

    def plan(self, manifest: Manifest) -> Plan:
        """The plan of ``manifest``'s types; ``IncompatibleSchemaError`` listing every problem."""
        store = self.store
        migration = plan([t.schema for t in manifest.types], store.registry, store.oldest_supported)
        refused = [] if store.read_newer else self._newer_refused(manifest)
        if migration.problems or refused:
            raise incompatible(manifest.id, [*refused, *migration.problems])
        self._warn_by_value(manifest, migration)
        self._warn_newer(manifest, migration)
        return migration

    def _warn_newer(self, manifest: Manifest, migration: Plan) -> None:
        # A renamed type may restart its versions: only the same name's versions compare.
        for tp in migration.types:
            if tp.writer.name != tp.reader.name or tp.writer.version <= tp.reader.version:
                continue
            key = (tp.writer.name, tp.writer.version, tp.reader.version)
            if key not in self._warned:
                self._warned.add(key)
                loud(
                    log,
                    logging.WARNING,
                    "checkpoint %s: %s v%d is newer than this code's v%d; read by the rules: fields this code "
                    "does not know are dropped, fields the writer lacks get their defaults",
                    manifest.id,
                    tp.writer.name,
                    tp.writer.version,
                    tp.reader.version,
                )

    def _newer_refused(self, manifest: Manifest) -> list[SchemaProblem]:
        """``read_newer=False``: every type written at a newer version than the code declares."""
        found = []
        for entry in manifest.types:
            current = self.store.registry.current(entry.schema.name)
            if current is not None and current.name == entry.schema.name and entry.schema.version > current.version:
                found.append(_newer_problem(entry.schema, current.version))
        return found

    def _warn_by_value(self, manifest: Manifest, migration: Plan) -> None:
        """Enums written before format 4 are matched by value, as they were then: say so,
        once per store and type, with the way out."""
        for tp in migration.types:
            key = (tp.writer.name, tp.writer.version, -1)
            if tp.by_value and key not in self._warned:
                self._warned.add(key)
                log.warning(
                    "checkpoint %s: %s v%d stores its enums by value only (written before format 4): read by value; "
                    "`amber migrate` rewrites the store with member names, which later releases resolve by name",
                    manifest.id,
                    tp.writer.name,
                    tp.writer.version,
                )


def incompatible(checkpoint_id: str, problems: list[SchemaProblem]) -> IncompatibleSchemaError:
    """The most specific error for a set of planning problems."""
    kinds = {p.kind for p in problems}
    error = {"unknown": UnknownTypeError, "mismatch": SchemaMismatchError}.get(kinds.pop() if len(kinds) == 1 else "")
    return (error or IncompatibleSchemaError)(checkpoint_id, problems)


def _newer_problem(written: RecordSchema, version: int) -> SchemaProblem:
    return SchemaProblem(
        written.name,
        f"v{written.version} is newer than v{version}, the newest this code declares (read_newer=False)",
        f"run the release that wrote it, or have that release write v{version} (write_versions) while this one "
        "may read the store",
    )
