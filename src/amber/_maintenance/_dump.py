"""``amber dump``: the whole state at a checkpoint (a delta's chain resolved), streamed.

The dump is a sequence of JSON objects (the CLI prints them as one document or as JSON
Lines): a header, then what was selected (the root, a table entry per matching key, or the
value at a path), then every record it reaches, once each, breadth first. Records are
numbered per type in the order the dump reaches them (``bank.Account/0`` is the first
account it met), and references print as ``{"$ref": "bank.Account/0"}``. Only the records
and the ids met so far stay in memory besides the checkpoint's generic read, so the output
can be far larger than memory.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Iterator
from typing import Any

import msgspec

from .._schema._types import FieldType
from .._schema._values import ArrayRef, Ref, TableNode, ValueRenderError, to_json_value
from .._store._checkpoint import CheckpointStore
from .._store._resolved import Chain, Node, Placed, State
from ..errors import CorruptCheckpointError, NotInCheckpointError


def dump(
    store: CheckpointStore,
    checkpoint_id: str | int | None = None,
    *,
    type_name: str | None = None,
    key: str | None = None,
    path: str | None = None,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    """The state at ``checkpoint_id`` as a stream of JSON objects: ``{"checkpoint", "types"}``
    first, then ``{"root"}`` (or one ``{"entry"}`` per table entry at ``key``, or ``{"value"}``
    at ``path``, a JSON Pointer into the root), then one ``{"$id", ...fields}`` per record
    reached (only those of ``type_name`` when given, at most ``limit``)."""
    state = Chain(store, checkpoint_id).last
    type_name = _type_named(state, type_name)
    render = _Renderer(state)
    if key is not None:
        found = _entries_at(state, key)  # refused before anything is printed
        places = state.table_places()
        yield _header(state)
        for token, k, placed in found:
            at = places.get(token, f"table {token}")
            yield {"entry": {"table": at, "key": to_json_value(k), "value": render(placed)}}
    elif path is not None:
        value = _at_path(state, path)
        yield _header(state)
        yield {"value": render(value)}
    else:
        yield _header(state)
        root = render(state.placed_root())  # numbers the records in the order the whole dump meets them
        if type_name is None:
            yield {"root": root}
    yield from _records(render, type_name, limit)


def _type_named(state: State, name: str | None) -> str | None:
    """A type by its full name, or by its last part when no other type of the state has it."""
    types = state.types
    if name is None or name in types:
        return name
    short = [t for t in types if t.rsplit(".", 1)[-1] == name]
    if len(short) == 1:
        return short[0]
    raise NotInCheckpointError(state.manifest.id, "types", f"a type among {sorted(types)}", name)


def _header(state: State) -> dict[str, Any]:
    m = state.manifest
    return {
        "checkpoint": {
            "id": m.id,
            "sequence": m.sequence,
            "created": m.created,
            "digest": m.digest,
            "meta": m.meta,
            "chain": [c.id for c in state.chain.manifests],
        },
        "types": {
            name: {
                "version": t.schema.version,
                "fingerprint": t.fingerprint,
                "fields": {f.name: f.type.render() for f in t.schema.fields},
            }
            for name, t in state.types.items()
        },
    }


def _records(render: _Renderer, type_name: str | None, limit: int | None) -> Iterator[dict[str, Any]]:
    shown = 0
    while render.waiting and (limit is None or shown < limit):
        node = render.waiting.popleft()
        fields = render.record(node)
        if type_name is None or node.name == type_name:
            shown += 1
            yield {"$id": render.ids[node], **fields}


class _Renderer:
    """Renders values of the resolved state, numbering the records they reach."""

    def __init__(self, state: State) -> None:
        self._state = state
        self.ids: dict[Node, str] = {}
        self._counts: collections.Counter[str] = collections.Counter()
        self.waiting: collections.deque[Node] = collections.deque()
        self._as_is: dict[tuple[int, str], set[str]] = {}
        self._by_ref: dict[int, dict[Ref, str]] = {}

    def __call__(self, placed: Placed) -> Any:
        at = placed.at

        def special(value: Any) -> Any:
            kind = type(value)
            if kind is Ref:
                return {"$ref": self._ref_id(at, value)}
            if kind is TableNode:
                entries = [(k, self(p)) for k, p in self._state.entries(value.token).items()]
                if all(type(k) is str and not k.startswith("$") for k, _ in entries):
                    return {"$table": {"token": str(value.token), "entries": dict(entries)}}
                pairs = [[to_json_value(k), v] for k, v in entries]
                return {"$table": {"token": str(value.token), "entries": {"$dict": pairs}}}
            if kind is ArrayRef:
                where = {"checkpoint": self._state.chain.manifests[at].id, "array": value.number}
                return {"$ndarray": {"dtype": value.dtype, "shape": value.shape, **where}}
            raise ValueRenderError(f"{kind.__name__} outside a delta's own rows")

        try:
            return to_json_value(placed.value, special)
        except ValueRenderError as e:
            raise CorruptCheckpointError(
                self._state.chain.manifests[at].id, "values", "values with a JSON rendering", str(e)
            ) from None

    def record(self, node: Node) -> dict[str, Any]:
        """A record's fields rendered; those whose type JSON holds as it is (ints, text,
        booleans, lists of them) are taken as they are: a million records to print."""
        at, fields = self._state.fields(node)
        as_is = self._as_is.get((at, node.name))
        if as_is is None:
            types = {f.name: f.type for f in self._state.chain.types[at][node.name].entry.schema.fields}
            as_is = self._as_is[(at, node.name)] = {n for n, t in types.items() if _json_native(t)}
        return {name: value if name in as_is else self(Placed(at, value)) for name, value in fields.items()}

    def _ref_id(self, at: int, ref: Ref) -> str:
        """The id of the record a ``Ref`` read at a position names (remembered per marker:
        a million references, each resolved once)."""
        by_ref = self._by_ref.setdefault(at, {})
        found = by_ref.get(ref)
        if found is None:
            found = by_ref[ref] = self._id(self._state.node(at, ref))
        return found

    def _id(self, node: Node) -> str:
        found = self.ids.get(node)
        if found is None:
            found = self.ids[node] = f"{node.name}/{self._counts[node.name]}"
            self._counts[node.name] += 1
            self.waiting.append(node)
        return found


def _json_native(t: FieldType) -> bool:
    """A field type whose values JSON holds as they are: ints, text, booleans, lists of them
    (not floats: NaN and infinities are rendered as ``{"$float": ...}``)."""
    return all(n.kind in ("int", "str", "bool", "list", "none", "union") for n in t.walk()) and not any(
        n.kind == "union" and not {m.kind for m in n.items} <= {"int", "str", "bool", "none"} for n in t.walk()
    )


def _entries_at(state: State, key: str) -> list[tuple[int, Any, Placed]]:
    """Every table entry whose key is ``key``: as JSON (``42``, ``"42"``, ``[1, "a"]``) or as text."""
    found = [(token, k, entries[k]) for token, entries in state.tables.items() for k in _keys_at(entries, key)]
    if not found:
        raise NotInCheckpointError(state.manifest.id, "tables", "a table entry at this key", key)
    return found


def _matches(stored: Any, wanted: str) -> bool:
    try:
        as_json = to_json_value(stored)
    except ValueRenderError:
        return False
    if as_json == wanted or (type(stored) is not str and str(stored) == wanted):
        return True
    try:  # as JSON text: 1 is not true, 1 is not 1.0
        return msgspec.json.encode(as_json) == msgspec.json.encode(msgspec.json.decode(wanted))
    except (msgspec.DecodeError, msgspec.EncodeError):
        return False


def _at_path(state: State, pointer: str) -> Placed:
    """The value at a JSON Pointer (RFC 6901) into the root: through dicts and tables by key,
    sequences by index and records by field name."""
    if pointer and not pointer.startswith("/"):
        raise NotInCheckpointError(state.manifest.id, "root", "a JSON Pointer starting with /", pointer)
    placed = state.placed_root()
    walked = ""
    for token in pointer.split("/")[1:] if pointer else []:
        step = token.replace("~1", "/").replace("~0", "~")
        walked += f"/{token}"
        placed = _step(state, placed, step, walked)
    return placed


def _step(state: State, placed: Placed, step: str, walked: str) -> Placed:
    """One step of a pointer; a missing one is refused naming where and what is there."""
    at, value = placed
    where = walked.rsplit("/", 1)[0] or "the root"
    if type(value) is Ref:
        node = state.node(at, value)
        at, fields = state.fields(node)
        if step in fields:
            return Placed(at, fields[step])
        missing = f"{node.name} at {where} has no field {step!r} (its fields: {', '.join(fields)})"
    elif type(value) is TableNode:
        entry = _lookup(state.entries(value.token), step)
        if entry is not _NOTHING:
            return entry  # type: ignore[no-any-return]
        missing = f"the table at {where} has no key {step!r}"
    elif isinstance(value, dict):
        match = _lookup(value, step)
        if match is not _NOTHING:
            return Placed(at, match)
        missing = f"the dict at {where} has no key {step!r}"
    elif isinstance(value, list | tuple | collections.deque):
        index = _index(step)
        if index is not None and index < len(value):
            return Placed(at, value[index])
        missing = f"the sequence at {where} has {len(value)} items, no index {step!r}"
    else:
        missing = f"{where} holds a {type(value).__name__}, which has no parts"
    raise NotInCheckpointError(state.manifest.id, "root", f"a value at {walked}", missing)


def _index(step: str) -> int | None:
    """An array index as RFC 6901 spells it: ``0``, or digits not starting with ``0``."""
    if step.isascii() and step.isdigit() and len(step) <= 18 and (step == "0" or not step.startswith("0")):
        return int(step)
    return None


def _lookup(mapping: dict[Any, Any], step: str) -> Any:
    """The value at the key a pointer step names (the first of ``_keys_at``)."""
    return next((mapping[k] for k in _keys_at(mapping, step)), _NOTHING)


def _keys_at(mapping: dict[Any, Any], wanted: str) -> list[Any]:
    """The keys ``wanted`` names: the text itself, the number it spells (looked up), else
    any key whose JSON reads so (tuples, UUIDs, dates: a scan, only where such keys are)."""
    if not set(map(type, mapping)) <= {int, str}:  # (True == 1: a lookup could find the other)
        return [k for k in mapping if _matches(k, wanted)]
    number = wanted.removeprefix("-")
    direct = [wanted, int(wanted) if number.isascii() and number.isdigit() and len(number) <= 40 else None]
    with contextlib.suppress(msgspec.DecodeError):  # '"42"' as JSON: the text key "42"
        direct.append(msgspec.json.decode(wanted, type=str))
    return [k for k in dict.fromkeys(direct) if k is not None and k in mapping and _matches(k, wanted)]  # no scan


_NOTHING = object()
