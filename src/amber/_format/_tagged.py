"""The tagged encoding's grammar, and the one walk over the references it holds.

A tagged node is a plain msgpack scalar or an array ``[tag, ...]`` (docs/format.md). Records
are never inlined: a node refers to them by (type index, row). Everything that needs to find
those references (the writer renumbering rows, the reader ordering what it builds) walks
the grammar with :func:`walk_refs`, so that what counts as a node is decided in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ._errors import Corrupt

NoneType = type(None)
PLAIN = frozenset({NoneType, bool, int, float, str, bytes})

# Tags of the tagged encoding: a node is a plain msgpack scalar or an array [tag, ...].
LIST, SCALARS, REFS, REFRANGE, TUPLE, SET, FROZENSET, DICT, REF = range(9)
DATETIME, DATE, TIME, TIMEDELTA, DECIMAL, UUID = range(9, 15)
TABLE, TABLEDELTA = 15, 16  # format 2: an amber.Table, whole or as changes to its parent's

# Nesting the reader follows; each level costs ~5 Python frames, so this stays well within
# the interpreter's recursion limit (1000) whatever the caller's depth.
MAX_DEPTH = 100

_REF_TAGS = (REF, REFS, REFRANGE)
_WRAPPERS = (TUPLE, SET, FROZENSET, DICT)  # their arguments (at most two) are nodes
_TABLES = (TABLE, TABLEDELTA)  # [tag, token, keys, values(, deleted)]: all but the token are nodes


def walk_refs(nodes: Iterable[Any], *, tables: bool = True, limit: int | None = None) -> Iterator[list[Any]]:
    """Every reference node (``[REF | REFS | REFRANGE, type index, ...]``) among tagged
    nodes, depth first, the last node first.

    Only positions that hold nodes are visited: a list of row numbers or scalars is data,
    even when it happens to look like a node. Reference nodes are yielded as they stand,
    unchecked: each caller checks what it reads of them. ``tables=False`` does not look
    inside table nodes (they may sit only in the root); ``limit`` bounds the nodes visited
    (``Corrupt`` beyond it).
    """
    stack = list(nodes)
    while stack:
        if limit is not None:
            limit -= 1
            if limit < 0:
                raise Corrupt("tagged values of a sane size")
        node = stack.pop()
        if type(node) is not list or len(node) < 2 or type(node[0]) is not int:
            continue  # a scalar, or not a node at all
        tag = node[0]
        if tag in _REF_TAGS:
            yield node
        elif tag == LIST:
            if type(node[1]) is list:
                stack.extend(node[1])
        elif tag in _WRAPPERS:
            stack.extend(node[1:3])
        elif tables and tag in _TABLES:
            stack.extend(node[2:])


def renumbered(root: Any, moves: dict[int, list[int]]) -> Any:
    """The writer's root with the rows of the moved types renumbered (docs/format.md,
    section 6): ``moves[t][old]`` is type ``t``'s new row for ``old``.

    Reference nodes are rewritten in place: the encoder made each one afresh, so none is
    shared with the state or met twice.
    """
    for node in walk_refs([root]):
        move = moves.get(node[1])
        if move is not None:
            node[:] = _moved(node, move)
    return root


def _moved(node: list[Any], move: list[int]) -> list[Any]:
    if node[0] == REF:
        return [REF, node[1], move[node[2]]]
    rows = list(map(move.__getitem__, node[2])) if node[0] == REFS else move[node[2] : node[2] + node[3]]
    if rows and rows == list(range(rows[0], rows[0] + len(rows))):
        return [REFRANGE, node[1], rows[0], len(rows)]
    return [REFS, node[1], rows]


def rows_to_objects(table: Sequence[Any], rows: list[Any]) -> list[Any]:
    """Map row numbers to the records they name, refusing anything outside the table
    (typed columns and tagged nodes refer to records alike)."""
    if rows and not (set(map(type, rows)) <= {int} and min(rows) >= 0 and max(rows) < len(table)):
        raise Corrupt(f"row numbers within 0-{len(table) - 1}")
    many = getattr(table, "many", None)  # stand-ins for records make their markers in bulk
    return many(rows) if many is not None else list(map(table.__getitem__, rows))
