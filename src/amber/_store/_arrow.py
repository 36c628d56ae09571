"""A checkpoint's state as Arrow tables, one per record type, without the application's code.

Each record type is a table: ``_id`` (the record's number among its type's records, what
references hold), ``_table`` and ``_key`` (where the record is a table entry, or a value of
a dict in the root: that table's place, as a JSON Pointer, and its key), then one column
per field. A field's type becomes the Arrow type that holds its values exactly: ints as
int64, datetimes as timestamps (aware ones as their UTC instant: a zone's name has no
Arrow column, docs/query.md says so), lists, sets and deques as lists, dicts as maps, fixed
tuples as structs, decimals and UUIDs as text, a reference as the referenced record's
``_id``. What has no exact Arrow type (``Any``, unions of several kinds) or does not fit its
column (ints beyond int64, naive and aware datetimes mixed, aware times) is a column of its
JSON rendering (docs/format.md), said aloud; numpy arrays give their dtype and shape only.
A delta's chain is resolved: the tables hold the state at the checkpoint.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Callable, Iterable
from itertools import groupby
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from .._schema._types import FieldType
from .._schema._values import Ref, TableNode, ValueRenderError, to_json_value
from ..errors import CorruptCheckpointError, MissingExtraError
from ..events._loud import loud
from ._capture import gc_paused
from ._resolved import Chain, Node, State, pointer_step

if TYPE_CHECKING:
    from ._checkpoint import CheckpointStore

log = logging.getLogger("amber.export")
Convert = Callable[[int, Any], Any]


def import_pyarrow(feature: str, extra: str = "arrow") -> Any:
    try:
        import pyarrow  # an optional extra, imported when asked for
    except ImportError:
        raise MissingExtraError(feature, extra, "pyarrow") from None
    return pyarrow


def to_arrow(
    store: CheckpointStore, checkpoint_id: str | int | None = None, types: set[str] | None = None
) -> dict[str, Any]:
    """Each record type of the state at ``checkpoint_id`` (the newest by default) as an
    Arrow table (see the module's docstring); ``types``: only those."""
    pa = import_pyarrow("store.to_arrow")
    with gc_paused():  # millions of values built: the cyclic GC would run over and over
        state = Chain(store, checkpoint_id).last
        return _Tables(state, pa).build(types)


class _Tables:
    def __init__(self, state: State, pa: Any) -> None:
        self.state = state
        self.pa = pa
        self.live = live_records(state)
        # A full checkpoint's records are its rows, numbered as stored: no map needed.
        self.by_row = state.at == 0
        self.ids = {} if self.by_row else {name: _numbered(nodes) for name, nodes in self.live.items()}
        self.places = self._places()

    def build(self, wanted: set[str] | None) -> dict[str, Any]:
        return {name: self._table(name) for name in self.live if wanted is None or name in wanted}

    def _table(self, name: str) -> Any:
        nodes = self.live[name]
        entry = self.state.types[name]  # as the chain last wrote the type
        _say_older_versions(self.state, name)
        defaults = {f.name: None if f.default is msgspec.UNSET else f.default for f in entry.schema.fields}
        columns = {"_id": self.pa.array(range(len(nodes)), self.pa.int64())}
        columns.update(self._placed_columns(name))
        values = _field_values(self.state, nodes, defaults)
        for f, runs in zip(entry.schema.fields, values, strict=True):
            column = f.name
            while column in columns:  # a field named _id, _table or _key: the built-in keeps its name
                column += "_"
            if column != f.name:
                message = "%s.%s: a field named as a built-in column is exported as %s"
                loud(log, logging.WARNING, message, name, f.name, column)
            columns[column] = self._column(f"{name}.{f.name}", f.type, runs)
        return self.pa.table(columns)

    def number(self, node: Node) -> int:
        """A record's ``_id``: its number among its type's records."""
        return node.row if self.by_row else self.ids[node.name][node]

    def _places(self) -> dict[str, tuple[list[str | None], list[Any]]]:
        """Per type, where each record is a table entry or a value of a dict in the root:
        (its JSON Pointer, the key), the first place found."""
        state = self.state
        pointers: dict[str, list[str | None]] = {name: [None] * len(nodes) for name, nodes in self.live.items()}
        keys: dict[str, list[Any]] = {name: [None] * len(nodes) for name, nodes in self.live.items()}
        at, root = state.placed_root()
        places = state.table_places()
        tables: list[tuple[str, Any]] = [(places.get(t, f"table {t}"), t) for t in state.tables]
        for pointer, holder in tables + _holders(root, ""):
            if type(holder) is int:  # a table, by its token
                entries: Iterable[tuple[Any, int, Any]] = ((k, p.at, p.value) for k, p in state.entries(holder).items())
            else:
                entries = ((k, at, v) for k, v in holder.items())
            if self.by_row:  # a million entries: the row is the number, no node to build
                for key, _, value in entries:
                    if type(value) is Ref and pointers[value.name][value.row] is None:
                        pointers[value.name][value.row] = pointer
                        keys[value.name][value.row] = key
                continue
            for key, position, value in entries:
                if type(value) is not Ref:
                    continue
                node = state.node(position, value)
                number = self.number(node)
                if pointers[node.name][number] is None:
                    pointers[node.name][number] = pointer
                    keys[node.name][number] = key
        return {name: (pointers[name], keys[name]) for name in self.live}

    def _placed_columns(self, name: str) -> dict[str, Any]:
        pa = self.pa
        pointers, keys = self.places[name]
        kinds = set(map(type, keys)) - {type(None)}
        try:  # ints beyond int64 (a key can be up to 2**64 - 1) as their JSON text too
            if not (kinds <= {int} or kinds == {str}):
                raise TypeError("keys of several kinds")
            key_column = pa.array(keys, pa.int64() if kinds <= {int} else pa.string())
        except (OverflowError, TypeError, pa.ArrowException):
            key_column = pa.array([None if k is None else _json(k) for k in keys], pa.string())
        return {"_table": pa.array(pointers, pa.string()), "_key": key_column}

    def _column(self, name: str, ft: FieldType, runs: _Runs) -> Any:
        arrow_type, convert = self._converter(ft)
        try:
            if convert is None:  # stored as Arrow holds them: one C loop
                return self.pa.array(runs.flat(), arrow_type)
            if convert == self._reference and self.by_row:  # a full checkpoint's reference is its row
                return self.pa.array([None if v is None else v.row for v in runs.flat()], arrow_type)
            values = runs.converted(convert)
            return self.pa.array(values, _settled(self.pa, arrow_type, values))
        except (self.pa.ArrowException, OverflowError, TypeError, ValueError) as e:
            message = "%s: its values do not fit Arrow's %s (%s): exported as their JSON rendering instead"
            loud(log, logging.WARNING, message, name, arrow_type, e)
            return self.pa.array(runs.converted(self._as_json), self.pa.string())

    def _converter(self, ft: FieldType, nested: bool = False) -> tuple[Any, Convert | None]:  # noqa: PLR0911 - one return per kind
        """The Arrow type of a field and how a value read at a chain position becomes its
        value (None: as it is). A converter raises ValueError for a value its Arrow type
        would change (an aware time, an aware datetime inside a container, whose column
        holds one zone for all): the column is then JSON text, said aloud."""
        pa, kind = self.pa, ft.kind
        if kind == "union" and len(ft.items) == 2 and any(m.kind == "none" for m in ft.items):
            return self._converter(next(m for m in ft.items if m.kind != "none"), nested)
        if kind == "record":
            return pa.int64(), self._reference
        if kind in _AS_IS:
            return _AS_IS[kind](pa), None
        if kind in _AS_TEXT:
            return pa.string(), lambda at, v: str(v) if kind != "fraction" else f"{v.numerator}/{v.denominator}"
        if kind in ("enum", "literal") and {type(v) for v in ft.values} in ({int}, {str}):
            return (pa.int64() if type(ft.values[0]) is int else pa.string()), lambda at, v: getattr(v, "value", v)
        if kind == "datetime":
            return pa.timestamp("us"), _naive_only if nested else _utc
        if kind == "time":
            return pa.time64("us"), _naive_only
        if kind in ("list", "set", "frozenset", "deque") or (kind == "tuple" and ft.variadic):
            inner_type, inner = self._converter(ft.items[0], nested=True)
            if inner is None and kind == "list":
                return pa.list_(inner_type), None  # a list of plain values is already what Arrow takes
            each = _each(inner)
            ordered = kind in ("set", "frozenset")
            return pa.list_(inner_type), lambda at, v: [each(at, x) for x in _items(v, ordered)]
        if kind in ("dict", "ordereddict", "defaultdict", "counter"):
            key_type, key = self._converter(ft.items[0], nested=True)
            value_type, value = self._converter(ft.items[1], nested=True) if kind != "counter" else (pa.int64(), None)
            k, v = _each(key), _each(value)
            return pa.map_(key_type, value_type), lambda at, d: [(k(at, x), v(at, y)) for x, y in d.items()]
        if kind == "tuple":
            parts = [(str(i), *self._converter(t, nested=True)) for i, t in enumerate(ft.items)]
            struct = pa.struct([pa.field(n, t) for n, t, _ in parts])
            return struct, lambda at, v: {n: _each(c)(at, x) for (n, _, c), x in zip(parts, v, strict=True)}
        return pa.string(), self._as_json

    def _reference(self, at: int, value: Any) -> int:
        return self.number(self.state.node(at, value))

    def _as_json(self, at: int, value: Any) -> str:
        def special(inner: Any) -> Any:
            if type(inner) is Ref:
                node = self.state.node(at, inner)
                return {"$ref": f"{node.name}/{self.number(node)}"}
            if type(inner) is TableNode:
                return {"$table": {"token": str(inner.token)}}
            return {"$ndarray": {"dtype": inner.dtype, "shape": inner.shape}}

        try:
            return msgspec.json.encode(to_json_value(value, special)).decode()
        except ValueRenderError as e:
            raise CorruptCheckpointError(
                self.state.manifest.id, "values", "values with a JSON rendering", str(e)
            ) from None


def _each(convert: Convert | None) -> Convert:
    if convert is None:
        return lambda at, v: v
    return lambda at, v: None if v is None else convert(at, v)


def _utc(at: int, value: dt.datetime) -> dt.datetime:
    """An aware datetime as its UTC instant (Arrow keeps one zone per column)."""
    return value.astimezone(dt.UTC) if value.tzinfo is not None else value


def _naive_only(at: int, value: Any) -> Any:
    if value.tzinfo is not None:
        raise ValueError(f"an aware {type(value).__name__} where the column holds no zone")
    return value


def _settled(pa: Any, arrow_type: Any, values: list[Any]) -> Any:
    """A datetime column is UTC when its values are aware, naive when they are not; both in
    one column cannot be one Arrow type (refused, so the column becomes JSON)."""
    if arrow_type != pa.timestamp("us"):
        return arrow_type
    aware = {v.tzinfo is not None for v in values if v is not None}
    if len(aware) > 1:
        raise ValueError("naive and aware datetimes in one column")
    return pa.timestamp("us", tz="UTC") if aware == {True} else arrow_type


def _json(value: Any) -> str:
    return msgspec.json.encode(to_json_value(value)).decode()


_AS_IS: dict[str, Callable[[Any], Any]] = {
    "bool": lambda pa: pa.bool_(),
    "int": lambda pa: pa.int64(),
    "float": lambda pa: pa.float64(),
    "str": lambda pa: pa.string(),
    "bytes": lambda pa: pa.binary(),
    "bytearray": lambda pa: pa.binary(),
    "date": lambda pa: pa.date32(),
    "timedelta": lambda pa: pa.duration("us"),
}
_AS_TEXT = {"decimal", "uuid", "path", "pureposixpath", "fraction"}  # exact as text, not as Arrow numbers


def _items(value: Any, ordered: bool) -> list[Any]:
    if not ordered:
        return list(value)
    return sorted(
        value, key=lambda v: msgspec.json.encode(to_json_value(v))
    )  # a set's export does not depend on hashing


# --- which records the state holds, and where --------------------------------------------------


def live_records(state: State) -> dict[str, list[Node]]:
    """Every record the root reaches, per type, in the order of the chain and the rows
    (a full checkpoint's records are all its rows, in order)."""
    if state.at == 0:  # one full checkpoint: it holds exactly what its root reaches
        chain = state.chain
        return {name: [Node(0, name, row) for row in range(t.entry.count)] for name, t in chain.types[0].items()}
    seen: set[Node] = set()
    stack = list(state.walk(state.placed_root()))
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(state.walk(state.fields(node)))
    ordered = sorted(seen, key=lambda n: (n.name, n.at, n.row))
    return {name: list(nodes) for name, nodes in groupby(ordered, key=lambda n: n.name)}


def _numbered(nodes: list[Node]) -> dict[Node, int]:
    return {node: number for number, node in enumerate(nodes)}


def _holders(value: Any, pointer: str) -> list[tuple[str, Any]]:
    """The dicts of records in the root, through its plain dicts (a plain dict of the
    workload's accounts, by key)."""
    if type(value) is not dict:
        return []
    values = list(itertools.islice(value.values(), 64))
    if values and all(type(v) is Ref for v in values):
        return [(pointer or "/", value)]
    found = []
    for key, inner in value.items():
        if type(inner) is dict:
            found.extend(_holders(inner, f"{pointer}/{pointer_step(key)}"))
    return found


def _say_older_versions(state: State, name: str) -> None:
    """Records of one type written at several versions along the chain (a delta written by
    newer code over an older parent) are exported as stored, a new field taking its
    default: an upgrade step between the versions runs only with the application's code."""
    found = (types.get(name) for types in state.chain.types[: state.at + 1])
    versions = sorted({t.entry.schema.version for t in found if t is not None})
    if len(versions) > 1:
        message = (
            "%s: records written at versions %s in this chain are shown as stored (the newest version's default "
            "for a field they lack): upgrade steps run only in a load with the application's code"
        )
        loud(log, logging.WARNING, message, name, ", ".join(f"v{v}" for v in versions))


class _Runs(NamedTuple):
    """One field's values: runs read at one chain position each, and the values of records a
    later delta changed in place, by their index in the column (read at their own position)."""

    parts: list[tuple[int, list[Any]]]
    changed: dict[int, tuple[int, Any]]

    def flat(self) -> list[Any]:
        values = [v for _, vs in self.parts for v in vs]
        for index, (_, value) in self.changed.items():
            values[index] = value
        return values

    def converted(self, convert: Convert) -> list[Any]:
        if self.changed:  # a changed record's stale value may point at records no longer in the state
            stale = self.changed
            flat = [(at, v) for at, vs in self.parts for v in vs]
            values = [None if v is None or i in stale else convert(at, v) for i, (at, v) in enumerate(flat)]
        else:
            values = [None if v is None else convert(at, v) for at, vs in self.parts for v in vs]
        for index, (at, value) in self.changed.items():
            values[index] = None if value is None else convert(at, value)
        return values


def _field_values(state: State, nodes: list[Node], fields: dict[str, Any]) -> list[_Runs]:
    """Each field's values for ``nodes``, a column sliced at a time where they are stored
    rows; a field an older version of the type did not have holds the newest one's default."""
    columns = [_Runs([], {}) for _ in fields]
    changed = state.chain.changed
    for (at, name), group in groupby(nodes, key=lambda n: (n.at, n.name)):
        rows = [n.row for n in group]
        t = state.chain.types[at][name]
        stored = {f.name: column for f, column in zip(t.entry.schema.fields, t.columns, strict=True)}
        offset = len(t.links)
        whole = offset == 0 and rows == list(range(len(rows))) and len(rows) == t.entry.count
        for target, (field, default) in zip(columns, fields.items(), strict=True):
            column = stored.get(field)
            if column is None:
                target.parts.append((at, [default] * len(rows)))
            else:
                target.parts.append((at, column if whole else [column[r - offset] for r in rows]))
    if changed:  # records a later delta changed in place: their fields from there
        for index, node in enumerate(nodes):
            if node in changed:
                at, values = state.fields(node)
                for target, (field, default) in zip(columns, fields.items(), strict=True):
                    target.changed[index] = (at, values.get(field, default))
    return columns
