"""The memory a read may take, bounded from a checkpoint's manifest before any segment is read.

A checkpoint's size says little about the memory its objects take: one msgpack byte is an
empty set (216 bytes of Python), an int that is not cached (28), an empty dict (64). So a
read is refused when an upper bound of the memory it would take exceeds the store's
``max_load_memory``. The bound is worked out per kind of value from what the manifest
declares (each type's written schema, each segment's rows and decompressed size):

* per row, each column's value at its smallest encoding (an empty set, an int) and the
  list slots holding it, plus the object built from the row (a record, or the dict a
  generic read makes);
* every other decompressed byte at the most memory per byte any kind in its segment can
  cost (a member of a set of ints: its share of the set's table, and the int);
* the tagged root at the most a tagged byte can cost, and the segments held while reading.

Sizes per kind of value are ``_memory_cost``'s, from ``sys.getsizeof`` on the running
interpreter; this module adds them up for a read, with what the read itself holds. Copies
the reader makes are counted where they live beside the values: a decoded column beside
its resolved copy, msgpack nodes beside the tagged values decoded from them, a container
holding references beside its rebuilt copy, a type's values as written beside their
upgraded form. What the application's own code allocates
(upgrade steps, defaults of new fields, ``__post_init__``) is not counted.

A list of records in the root (or in an ``Any`` field) is stored as a range of rows: a few
bytes for any number of records. The estimate allows each record to be named by one range
(what a writer makes of a state holding each record in one list, set or table);
``range_excess`` counts the rows named beyond that, once the tagged values are decoded and
before they are built.
"""

from __future__ import annotations

import functools
import heapq
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .._format import _tagged
from .._format._format import Manifest, SegmentEntry, TypeEntry
from .._schema._registry import Registry
from .._schema._types import FieldType
from ..errors import CheckpointTooLargeError, SchemaError
from ._memory_cost import (
    DICT,
    DICT_ITEM,
    INT,
    REF,
    ROW_ITEM,
    SET_MEMBER,
    SLOT,
    TAGGED,
    TAGGED_RATIO,
    TUPLE,
    allocated,
    field_cost,
    row_object,
)

# Where the machine's memory cannot be asked (no sysconf): a limit that stops a load asking
# for a terabyte, and lets through any state an ordinary server holds.
FALLBACK_MEMORY = 16 << 30


def physical_memory() -> int:
    """The machine's physical memory in bytes: the default ``max_load_memory``."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not POSIX, or the names are unknown
        return FALLBACK_MEMORY
    return total if total > 0 else FALLBACK_MEMORY


# The default limit, a multiple of the machine's memory: estimates run 2 to 12 times over what
# a load takes (upper bounds from the manifest alone; 6.3 for bench/workload.py), so a limit
# of the memory itself would refuse a service its own checkpoint once its state passed a
# sixth of it. This multiple refuses no load that fits in memory at the usual overcount, and
# every shape that asks for terabytes; a reader of untrusted stores sets what it can afford.
DEFAULT_MULTIPLE = 8


def default_memory_limit() -> int:
    """The default ``max_load_memory``: ``DEFAULT_MULTIPLE`` times the machine's memory."""
    return DEFAULT_MULTIPLE * physical_memory()


# --- what a read holds beside the values ------------------------------------------------

# Slots per row and column: the decoded chunk's list (8), and the table's column it is added
# to (8, growing by an eighth: 17 while a resize copies it), 32 with the next chunk decoding.
COLUMN = 32
# Slots per row: the list of records built (17 while it grows), the table of the type's
# objects it is added to (8), the list of dicts of a generic read (17) and its copy after
# the links (8).
ROW_SLOTS = 56
# Per row of a type pointing at records: ordering frozen records row by row keeps a set of
# (type, row) nodes: a tuple (64), its set member (144) and the row's int (32).
ORDER_ROW = allocated(TUPLE + 2 * SLOT) + SET_MEMBER + INT  # 240
# A row named by a range in a tagged value: the slice and the list made of it (16), its Ref
# marker without app code (48), and a set member if the range is a set's (144).
RANGE_ROW = 2 * SLOT + REF + SET_MEMBER  # 208
# A row of a delta's links or adoptions (keys are charged as tagged bytes): its token (32 +
# 8), the set its keys are checked in (144), the (token, key) or (row, token, key) tuples
# (72), lookups (3 slots), the rows and objects sets of adoptions (2 x 144), and read
# without app code its dict (224) and Link (48).
LINK_ROW = INT + SLOT + SET_MEMBER + allocated(TUPLE + 3 * SLOT) + 3 * SLOT + 2 * SET_MEMBER + DICT + REF  # 832
# Beyond the values: partly used allocator pools and arenas, the reading thread's stack and
# malloc arena, zstd's context, decoders, first-time imports.
BASE = 8 << 20


# --- a read, from its manifests ----------------------------------------------------------

Readers = Callable[[TypeEntry], "Sequence[FieldType] | None"]


def _as_written(entry: TypeEntry) -> Sequence[FieldType] | None:
    return None


@dataclass(frozen=True)
class Estimate:
    """The memory a read may take, in bytes, by part (type names, "root", "segments")."""

    parts: dict[str, int]

    @property
    def total(self) -> int:
        return BASE + sum(self.parts.values())

    def largest(self) -> tuple[str, int]:
        return max(self.parts.items(), key=lambda item: item[1], default=("segments", 0))


def estimate(chain: Sequence[Manifest], readers: Readers = _as_written) -> Estimate:
    """The memory reading ``chain`` (a full checkpoint and the deltas on it, oldest first)
    may take, typed or generic. ``readers`` gives the code's field types of a type read at
    another version than written (upgraded: both forms live), None for one read as written."""
    parts: dict[str, int] = {}
    for manifest in chain:
        for name, size in _manifest_parts(manifest, readers).items():
            parts[name] = parts.get(name, 0) + size
    return Estimate(parts)


def _widening(m: Manifest, readers: Readers) -> float:
    """How much larger than written the arrays may load: the largest item size a reader's
    array field declares over the smallest a writer's holds (1 when read as written)."""
    read = [t for entry in m.types for t in (readers(entry) or ())]
    wanted = [int(t.dtype[2:]) for f in read for t in f.walk() if t.kind == "ndarray" and t.dtype]
    written = [
        int(t.dtype[2:])
        for e in m.types
        for f in e.schema.fields
        for t in f.type.walk()
        if t.kind == "ndarray" and t.dtype
    ]
    return max(1.0, max(wanted, default=1) / min(written, default=1))


def _manifest_parts(m: Manifest, readers: Readers) -> dict[str, int]:
    parts = {"segments": _in_flight(m.segments), "root": 0}
    widening = _widening(m, readers)
    by_type: list[list[SegmentEntry]] = [[] for _ in m.types]
    for s in m.segments:
        if s.kind == "root":
            parts["root"] += TAGGED + s.raw_length * TAGGED_RATIO
        elif s.kind == "array":  # becomes the array's memory, byte for byte; a widened one beside it
            parts["arrays"] = parts.get("arrays", 0) + int(s.raw_length * (1 + widening if widening > 1 else 1))
        elif 0 <= s.type < len(m.types):  # checked by the manifest's own checks
            by_type[s.type].append(s)
    parts["root"] += sum(m.tables.values()) * DICT_ITEM  # a generic verify maps every entry to its kind
    for entry, segments in zip(m.types, by_type, strict=True):
        name = f"records of {entry.schema.name}"
        parts[name] = parts.get(name, 0) + _type_cost(entry, segments, readers(entry))
    return parts


def _in_flight(segments: Sequence[SegmentEntry]) -> int:
    """Segments held at once while reading: three (the one decoded, two read ahead), raw and
    compressed, and a zstd window of one."""
    held = heapq.nlargest(3, (s.raw_length + s.length for s in segments))
    return sum(held) + max((s.raw_length for s in segments), default=0)


ZONE_TOKEN = 64 + 8  # sys.getsizeof of a zone key such as "America/Argentina/Buenos_Aires", and its list slot


def _type_cost(entry: TypeEntry, segments: Sequence[SegmentEntry], reader: Sequence[FieldType] | None) -> int:
    written = tuple(f.type for f in entry.schema.fields)
    per_row, least, ratio = _rows_cost(written)
    if reader is not None:  # upgraded: the written values, then the code's (and dicts for steps)
        more_row, _, more_ratio = _rows_cost(tuple(reader))
        per_row += more_row + row_object(len(written))
        ratio += more_ratio
    total: float = (entry.links + entry.count) * RANGE_ROW  # each record in one range of the root
    total += (DICT_ITEM - ROW_ITEM) * len(written)  # the row dict being built, while a resize copies it
    zoned = sum(1 for f in entry.schema.fields if f.type.kind in ("datetime", "union"))  # at most this many
    for s in segments:
        if s.kind == "table":
            total += s.rows * per_row + max(0, s.raw_length - s.rows * least) * ratio
            if s.zones:  # each row's zone token, per datetime field (a short str and its slot)
                total += s.rows * zoned * ZONE_TOKEN
        else:  # links, adoptions: rows of tokens and tagged keys
            total += s.rows * LINK_ROW + s.raw_length * TAGGED_RATIO
    return int(total)


@functools.lru_cache(maxsize=1024)
def _rows_cost(types: tuple[FieldType, ...]) -> tuple[int, int, float]:
    """Per row: (memory at the smallest encoding, that encoding's bytes, memory per byte past it)."""
    costs = [field_cost(t) for t in types]
    per_row = ROW_SLOTS + row_object(len(types)) + sum(COLUMN + c.fixed for c in costs)
    if any(t.references() or t.is_tagged() for t in types):
        per_row += ORDER_ROW
    least = sum(c.least for c in costs) or 1  # a type without fields stores a nil a row
    return per_row, least, max((c.ratio for c in costs), default=0)


def readers_of(registry: Registry) -> Readers:
    """The code's field types for each type the registry declares at another schema than
    written: it is upgraded on load. None for a type read as written, or one the code does
    not know (the load is refused before reading, or checkpoint steps take it)."""

    def reader(entry: TypeEntry) -> Sequence[FieldType] | None:
        try:
            current = registry.current(entry.schema.name)
        except SchemaError:  # the code's declarations are broken: planning the load says so
            return None
        if current is None or current.schema == entry.schema:  # the same schema: the same fingerprint
            return None
        return [f.type for f in current.schema.fields]

    return reader


def _mib(size: int) -> str:
    return f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"


def refuse(checkpoint: str, found: Estimate, limit: int, what: str = "") -> None:
    """Raise ``CheckpointTooLargeError`` when ``found`` exceeds ``limit``, naming its largest part."""
    if found.total <= limit:
        return
    part, size = found.largest()
    raise CheckpointTooLargeError(
        checkpoint,
        part,
        f"a read taking at most {limit} bytes of memory (raise max_load_memory, or AMBER_MAX_LOAD_MEMORY, to read it)",
        f"an estimated {found.total} bytes ({_mib(found.total)}){what}, {_mib(size)} of it for {part}",
    )


def check_chain(chain: Sequence[Manifest], limit: int, readers: Readers = _as_written) -> None:
    """Refuse reading ``chain`` (a full checkpoint and the deltas on it, oldest first) when
    its estimate exceeds ``limit``, naming the checkpoint read (the last)."""
    count = len(chain)
    refuse(chain[-1].id, estimate(chain, readers), limit, f" for a chain of {count} checkpoints" if count > 1 else "")


# --- ranges of rows in tagged values -----------------------------------------------------


def range_excess(manifest: Manifest, values: Iterable[Any]) -> int:
    """Rows that reference ranges in tagged values (as decoded msgpack) name beyond one
    range per record, which the estimate allows: each costs ``RANGE_ROW`` more. Ranges past
    their table count for the table (the decoder refuses them)."""
    sizes = [t.links + t.count for t in manifest.types]
    named = sum(_ranged_rows(values, sizes))
    return max(0, named - sum(sizes)) * RANGE_ROW


# Tags whose arguments are nodes (a table's token is skipped: not a list).
_NODES = frozenset({_tagged.TUPLE, _tagged.SET, _tagged.FROZENSET, _tagged.DICT, _tagged.TABLE, _tagged.TABLEDELTA})


def _ranged_rows(values: Iterable[Any], sizes: Sequence[int]) -> Iterable[int]:
    """The row count of every range node, following the tagged grammar: lists of nodes,
    containers' arguments; not scalars' lists (data that may look like nodes)."""
    stack = list(values)
    while stack:
        node = stack.pop()
        if type(node) is not list or len(node) < 2 or type(node[0]) is not int:
            continue
        tag = node[0]
        if tag == _tagged.REFRANGE and len(node) == 4:
            table, count = node[1], node[3]
            if type(table) is int and 0 <= table < len(sizes) and type(count) is int:
                yield min(max(count, 0), sizes[table])
        elif tag == _tagged.LIST and type(node[1]) is list:
            stack.extend(node[1])
        elif tag in _NODES:
            stack.extend(node[1:])
