"""What a delta checkpoint takes from its parent instead of writing it again.

A delta writes only the changed entries of each ``amber.Table``. A record reached through
the value of an unchanged entry is a *link* to that entry (token, key), not a written row;
a written record that is the parent's own object (changed in place, set again, or moved
from another key) *adopts* that object on restore, so whatever points at it sees the new
content. :class:`Delta` holds the changes and works out both; the writer asks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import is_not
from typing import Any

from .._format._canonical import sort_canonically
from .._format._errors import BadValue
from .._schema._keyed import MISSING, Aliases, Changes, Table
from .._schema._record_type import hashed_by_value
from ._record_table import RecordTable

Origin = tuple[int, Any] | None  # (table token, key) of an entry of the parent


@dataclass
class Delta:
    """What a delta checkpoint is relative to: the changes taken from each table of the
    parent checkpoint (by token), and every table of the state (to find links)."""

    changes: dict[int, Changes]
    tables: list[Table[Any, Any]]
    # token -> the entries to write, worked out once for both passes
    selected: dict[int, Selection] = field(default_factory=dict)
    before_index: dict[int, Origin] | None = None
    written: set[int] | None = None

    def select(self, table: Table[Any, Any], changes: Changes) -> Selection:
        found = self.selected.get(table.token)
        if found is None:
            # Iterate the changes, never the table: this runs in the service's pause.
            data = table._data
            written = sort_canonically(list(data.keys() & (changes.changed | changes.touched)))
            deleted = sort_canonically([k for k in changes.deleted if k not in data])
            touched = [k for k in written if k in changes.touched]
            values = list(map(data.__getitem__, written))
            found = self.selected[table.token] = Selection(written, deleted, values, touched)
        return found

    def origins(self, keyed: Table[Any, Any], keys: list[Any], objs: list[Any]) -> list[Origin]:
        """Where the parent held each of these objects (all of one type), if it did.

        A touched entry's value is its parent's; a value set again, or moved from another
        key (of any table), was that key's value before the change; a value also held by an
        unchanged entry is that entry's. Looked up in bulk: this runs in the service's pause."""
        changes = self.changes.get(keyed.token)  # None: a table new since the parent
        touched = changes.touched if changes is not None else set()
        if changes is not None and touched.issuperset(keys):  # the common case: changed in place
            return list(zip(repeat(keyed.token), keys))
        before = self._before()
        found: list[Origin] = [
            (keyed.token, key) if key in touched else before.get(id(obj)) for key, obj in zip(keys, objs, strict=True)
        ]
        missing = [i for i, origin in enumerate(found) if origin is None]
        for table in self.tables if missing else ():
            held_by = table._keys_of([objs[i] for i in missing])
            own = keys if table.token == keyed.token else None  # a value's own key is changed
            for i, held in zip(missing, held_by, strict=True):
                if held is MISSING or found[i] is not None or (own is not None and held == own[i]):
                    continue  # the usual case (a new object at its one key), decided without a call
                other = self.unchanged_key(table.token, held)
                if other is not MISSING:
                    found[i] = (table.token, other)
        return found

    def unchanged_key(self, token: int, held: Any) -> Any:
        """Of the key(s) ``_keys_of`` found holding an object, one whose entry is unchanged."""
        if held is MISSING:
            return MISSING
        keys = sorted(held, key=repr) if type(held) is Aliases else [held]
        return next((k for k in keys if self.unchanged(token, k)), MISSING)

    def written_ids(self) -> set[int]:
        """ids of every value a delta writes (changed or touched entries, tables new since
        the parent): those are never links, wherever discovery reaches them first."""
        if self.written is None:
            self.written = set()
            for table in self.tables:
                changes = self.changes.get(table.token)
                values = table._data.values() if changes is None else self.select(table, changes).values
                self.written.update(map(id, values))
        return self.written

    def _before(self) -> dict[int, Origin]:
        """id(object) -> (token, key) of every value a table held before a change."""
        if self.before_index is None:
            self.before_index = {}
            for table in self.tables:
                changes = self.changes.get(table.token)
                for key, value in changes.before.items() if changes is not None else ():
                    if value is not MISSING:
                        self.before_index.setdefault(id(value), (table.token, key))
        return self.before_index

    def unchanged(self, token: int, key: Any) -> bool:
        """Whether the entry is as it was in the parent (so its value can be linked)."""
        changes = self.changes.get(token)
        return changes is not None and key not in changes.changed and key not in changes.touched

    def adopt(self, keyed: Table[Any, Any], chosen: Selection, tables: dict[type, RecordTable]) -> None:
        """Written values that are objects of the parent (changed in place, set again, moved)
        *adopt* the parent's object on restore: whatever points at it sees the new content."""
        by_type: dict[type, tuple[list[Any], list[Any]]] = {}
        kinds = set(map(type, chosen.values))
        if len(kinds) == 1:  # the common case: one record type, no grouping needed
            by_type[kinds.pop()] = (chosen.written, chosen.values)
        for key, obj in zip(chosen.written, chosen.values, strict=True) if not by_type else ():
            keys, objs = by_type.setdefault(type(obj), ([], []))
            keys.append(key)
            objs.append(obj)
        for cls, (keys, objs) in by_type.items():
            table = tables.get(cls)
            if table is None or hashed_by_value(cls):
                continue  # not records; or frozen ones, whose equal content is all that counts
            rows = table.rows_of(objs)
            links, adopted = table.links, table.adopted
            for row, origin in zip(rows, self.origins(keyed, keys, objs), strict=True):
                if origin is not None and row not in links and row not in adopted:
                    adopted[row] = origin

    def find_links(self, table: RecordTable, first: int) -> None:
        """Mark the new rows (from ``first``) whose record is the value of an unchanged entry
        of a table that was in the parent: (token, key) links instead of written rows."""
        written = self.written_ids()
        new = table.objects[first:]
        links = table.links
        for keyed in self.tables:
            changes = self.changes.get(keyed.token)
            if changes is None:
                continue  # a table new since the parent is written whole
            found = keyed._keys_of(new)
            for i in compress(range(len(found)), map(is_not, found, repeat(MISSING))):  # in C: the pause
                row, held = first + i, found[i]
                if type(held) is Aliases:
                    key = self.unchanged_key(keyed.token, held)
                elif held in changes.changed or held in changes.touched:
                    continue
                else:
                    key = held
                if key is not MISSING and row not in links and id(table.objects[row]) not in written:
                    links[row] = (keyed.token, key)

    def refuse_shared_containers(self, written: list[Any]) -> None:
        """A list, dict or set the delta writes (in the root's containers or a changed entry)
        that an unchanged entry of a table also holds would come back as two objects: refused,
        as a full checkpoint refuses it (the encoder never meets the unchanged entry)."""
        for kind in (list, dict, set):
            objs = [c for c in written if type(c) is kind]
            for table in self.tables if objs else ():
                if table.token not in self.changes:
                    continue  # a table new since the parent is written whole: the encoder met it
                for held in table._keys_of(objs):
                    key = self.unchanged_key(table.token, held)
                    if key is not MISSING:
                        raise BadValue(f"{shared_message(kind.__name__)} (an unchanged entry of a table, key {key!r})")


@dataclass(frozen=True)
class Selection:
    """A table's entries in a delta: those written (set or touched), those deleted, and
    the touched ones, whose record is the parent's own object changed in place."""

    written: list[Any]
    deleted: list[Any]
    values: list[Any]
    touched: list[Any]


def shared_message(kind: str) -> str:
    """Why one container object held by two records (or two table entries) cannot be saved."""
    return (
        f"one {kind} object is held by both: containers are stored by value, so they would come back as two "
        f"{kind}s; give each record its own (copy it), or keep it in a record (records keep their identity)"
    )


def no_shared_containers(table: Table[Any, Any], keys: list[Any], values: list[Any]) -> None:
    """A delta writes only the changed entries, so a list set at a key that another, unchanged,
    key holds too would not be met twice by the encoder: ask the table's reverse index."""
    for kind in {type(v) for v in values} & {list, dict, set}:
        for held in table._keys_of([v for v in values if type(v) is kind]):
            if type(held) is Aliases:
                shown = ", ".join(repr(k) for k in sorted(held, key=repr)[:3])
                raise BadValue(f"{shared_message(kind.__name__)} (the table's keys {shown} hold one object)")
