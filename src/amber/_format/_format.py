"""The container format: data file header, segments, and the manifest (docs/format.md).

Everything here is pure: bytes in, bytes or typed structures out, with every read bounded
and checked before it is trusted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import struct
from collections.abc import Callable, Iterable
from typing import Any, Literal

import msgspec
import xxhash
import zstandard

from .._schema._enums import NAME_PATTERN
from .._schema._fields import RecordSchema, canonical_json
from .._schema._types import WRAPPED_KINDS, validate_field_type
from ..errors import CorruptCheckpointError, ForeignFileError, UnsupportedFormatError

# Format 2 adds amber.Table nodes, delta checkpoints (parent, links); format 3 adds the lease
# token of a fenced writer (a reader that ignored it could load a fenced-off commit). A writer
# uses the lowest version that can hold a checkpoint, so older readers keep what they can read.
# Format 4 adds enums' stable names and member names to the schema section (a format 3 reader
# would refuse the unknown keys as corruption instead of asking for a newer library).
# Format 6 adds field kinds (bytearray, Literal, deque, OrderedDict, Counter, defaultdict,
# paths, Fraction): a format 5 reader would refuse them as an unknown kind, i.e. corruption.
FORMAT_VERSION = 6
FORMAT_6_KINDS = frozenset(["bytearray", "literal", "ndarray", *WRAPPED_KINDS])
DATA_MAGIC = b"\x89AMBER\r\n\x1a\n"


def data_header(version: int) -> bytes:
    return DATA_MAGIC + struct.pack(">HI", version, 0)  # 16 bytes


DATA_HEADER = data_header(1)
HEADER_SIZE = len(DATA_HEADER)
MANIFEST_MAGIC = b"AMBER-MANIFEST "
MAX_MANIFEST_BYTES = 64 << 20
# Decompressed bytes of one segment: what one decompression may hold. The objects decoded from
# it can cost over 200 bytes a byte (an empty set): amber._store._memory_bound estimates and bounds those.
# The writer halves table chunks to fit.
MAX_SEGMENT_BYTES = 64 << 20
MAX_ROWS = 65_536  # rows in one table segment

MAX_SEQUENCE = 10**12 - 1  # ids are 12 digits
MAX_TOKEN = 10**18  # lease tokens: one per acquisition, 19 digits in fence names
# Patterns are used with fullmatch ("$" would accept a trailing newline), in ASCII digits:
# str.isdigit() and int() take "٣" for 3.
ID_PATTERN = re.compile(r"[0-9]{12}")
SHORT_ID = re.compile(r"[0-9]{1,12}")  # how a person may write an id: "7" is 000000000007
DATA_KEY = re.compile(r"data/[0-9a-f]{32}\.seg")
HEX128 = re.compile(r"[0-9a-f]{32}")
_TOKEN = re.compile(r"[0-9]{1,19}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SIGNATURE = re.compile(r"[0-9a-f]{16}:[0-9a-f]{64}")

Digest = Callable[[bytes | memoryview], str]
digest: Digest = xxhash.xxh3_128_hexdigest


def format_id(sequence: int) -> str:
    return f"{sequence:012d}"


def manifest_key(checkpoint_id: str) -> str:
    return f"checkpoints/{checkpoint_id}.manifest"


class SegmentEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Where one segment lies in the data file and what it must hash and inflate to."""

    kind: Literal["root", "table", "links", "adopt", "array"]
    offset: int
    length: int
    raw_length: int
    digest: str
    type: int = -1  # table and links segments: index into Manifest.types
    first_row: int = 0
    rows: int = 0
    sha256: str = ""  # format 3, signed checkpoints: SHA-256 of the stored bytes
    array: int = -1  # format 6, array segments: the array's number in the checkpoint
    part: int = 0  # format 6, array segments: which part of the array's bytes, from 0
    codec: Literal["zstd", "none"] = "zstd"  # format 6: "none" where compressing did not pay
    zones: bool = False  # format 6, root and table segments: zone keys (and a table's zone tokens) inside

    def describe(self, index: int, manifest: Manifest) -> str:
        if self.kind == "root":
            return f"segment {index} (root)"
        if self.kind == "array":
            return f"segment {index} (array {self.array} part {self.part})"
        name = manifest.types[self.type].schema.name if 0 <= self.type < len(manifest.types) else "?"
        what = {"table": "table", "links": "links of", "adopt": "adoptions of"}[self.kind]
        return f"segment {index} ({what} {name} rows {self.first_row}-{self.first_row + self.rows - 1})"


class TypeEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """A persisted type held by a checkpoint: the writer's schema and its record count.

    In a delta, the first ``links`` rows of the type stand for records of the parent's
    state (values of unchanged table entries); ``count`` records follow them, of which
    ``adopted`` are the parent's records changed in place (their object is kept).
    """

    schema: RecordSchema
    fingerprint: str
    count: int
    links: int = 0
    adopted: int = 0


class Manifest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """The commit record of a checkpoint. A checkpoint exists exactly when its manifest does."""

    format: Literal["amber.checkpoint"]
    format_version: int
    id: str
    sequence: int
    created: str
    library: str
    data: str
    data_size: int
    digest: str
    types: tuple[TypeEntry, ...]
    segments: tuple[SegmentEntry, ...]
    meta: dict[str, Any] = {}
    write_versions: dict[str, int] = {}  # types written at an older version than the writer's code
    parent: str = ""  # format 2: a delta names the checkpoint its changes apply to
    depth: int = 0  # deltas between this checkpoint and its full base (0: a full checkpoint)
    tables: dict[str, int] = {}  # format 2: token -> entries of each amber.Table in the state
    token: int = 0  # format 3: the committing writer's lease token (0: no lease)
    signature: str = ""  # format 3: "<key id>:<HMAC-SHA256>" over the manifest without it
    # format 5: a delta binds its parent by content (SHA-256 of the parent's manifest,
    # see manifest_digest), not only by id: an id freed and taken again is another parent.
    parent_digest: str = ""

    @property
    def is_delta(self) -> bool:
        return bool(self.parent)


def manifest_digest(manifest: Manifest) -> str:
    """SHA-256 of a manifest's content (its canonical JSON, signature included): what a
    delta names its parent by. Content, not bytes, so a copy re-encoded stays its parent."""
    return hashlib.sha256(canonical_json(manifest)).hexdigest()


def needed_version(manifest: Manifest) -> int:
    """The lowest format version that can hold a checkpoint."""
    content = content_version(manifest)
    if any(s.zones for s in manifest.segments):  # a manifest member: a format 5 reader would ignore it
        return max(6, content)
    if manifest.parent_digest:
        return max(5, content)
    if manifest.token or manifest.signature or any(s.sha256 for s in manifest.segments):
        return max(3, content)
    return content


def names_enums(schema: RecordSchema) -> bool:
    """Whether a schema describes an enum with its member names (format 4)."""
    return any(t.kind == "enum" and t.members for f in schema.fields for t in f.type.walk())


def kinds_version(schemas: Iterable[RecordSchema]) -> int:
    """The format the schemas' field types need: 6 for a kind added then, 4 for enums
    described with their names, else 1."""
    kinds = {t.kind for schema in schemas for f in schema.fields for t in f.type.walk()}
    if kinds & FORMAT_6_KINDS:
        return 6
    return 4 if any(names_enums(schema) for schema in schemas) else 1


def content_version(manifest: Manifest) -> int:
    """What a checkpoint's data needs (its data file's version): format 3 adds manifest
    fields only (lease token, signature, segment SHA-256), so its data files are 1, 2, 4 or 6."""
    if any(s.kind == "array" or s.codec != "zstd" for s in manifest.segments):
        return 6
    uses_tables = manifest.parent or manifest.tables or any(t.links or t.adopted for t in manifest.types)
    return max(kinds_version([t.schema for t in manifest.types]), 2 if uses_tables else 1)


_manifest_decoder = msgspec.json.Decoder(Manifest)


def encode_manifest(manifest: Manifest) -> bytes:
    header = MANIFEST_MAGIC + str(manifest.format_version).encode() + b"\n"
    body = header + canonical_json(manifest) + b"\n"
    return body + b"xxh3-128 " + digest(body).encode() + b"\n"


def parse_manifest(data: bytes, name: str) -> Manifest:
    """Check framing, version, digest and structure of a manifest file; raise a typed error."""
    if not data.startswith(MANIFEST_MAGIC):
        raise ForeignFileError(name, "manifest", "a file starting with 'AMBER-MANIFEST'", repr(data[:16]))
    lines = data.split(b"\n")
    version = lines[0][len(MANIFEST_MAGIC) :]
    if not (version.isdigit() and len(version) <= 6 and int(version) >= 1):
        raise CorruptCheckpointError(name, "manifest header", "a format version number", repr(version[:20]))
    if int(version) > FORMAT_VERSION:
        raise UnsupportedFormatError(
            name,
            "manifest",
            f"format version {FORMAT_VERSION} or older (upgrade amber to read it)",
            f"version {int(version)}",
        )
    if len(lines) != 4 or lines[3] != b"":
        raise CorruptCheckpointError(
            name,
            "manifest",
            "a header line, a body line and a digest line",
            f"{len(lines) - 1} lines",
        )
    body = lines[0] + b"\n" + lines[1] + b"\n"
    expected = b"xxh3-128 " + digest(body).encode()
    if lines[2] != expected:
        raise CorruptCheckpointError(name, "manifest", f"digest line {expected.decode()!r}", repr(lines[2][:50]))
    try:
        manifest = _manifest_decoder.decode(lines[1])
    except (ValueError, RecursionError) as e:  # msgspec errors, bad UTF-8, absurd nesting
        raise CorruptCheckpointError(
            name, "manifest body", "the manifest structure of docs/format.md", str(e)
        ) from None
    if manifest.format_version != int(version):
        raise CorruptCheckpointError(
            name, "manifest", f"format_version {int(version)}, as in the header line", str(manifest.format_version)
        )
    _check_manifest(manifest, name)
    return manifest


def _check_manifest(m: Manifest, name: str) -> None:
    problem = _manifest_problem(m)
    if problem:
        raise CorruptCheckpointError(name, "manifest", *problem)


def _manifest_problem(m: Manifest) -> tuple[str, str] | None:
    version_problem = _version_problem(m)
    if version_problem:
        return version_problem
    if not ID_PATTERN.fullmatch(m.id) or int(m.id) != m.sequence:
        return "an id of 12 digits equal to the sequence", f"id {m.id!r}, sequence {m.sequence}"
    if not DATA_KEY.fullmatch(m.data):
        return "a data object named data/<32 hex>.seg", repr(m.data)
    if not HEX128.fullmatch(m.digest):
        return "a 128-bit hex content digest", repr(m.digest)
    return _time_problem(m) or _chain_problem(m) or _types_problem(m) or _segments_problem(m)


def _version_problem(m: Manifest) -> tuple[str, str] | None:
    if not 0 <= m.token <= MAX_TOKEN:
        return f"a lease token between 0 and {MAX_TOKEN}", str(m.token)
    if m.signature and not _SIGNATURE.fullmatch(m.signature):
        return "a signature of 16 and 64 hex digits", repr(m.signature[:100])
    if needed_version(m) > m.format_version:
        found = f"format_version {m.format_version}"
        needs = {
            3: "no token, signature or SHA-256 before format 3",
            4: "no enum member names before format 4",
            5: "no parent digest before format 5",
            6: "no zones, arrays, raw segments or format 6 field kinds before format 6",
        }
        return needs.get(needed_version(m), "no tables or parent"), found
    return None


def _time_problem(m: Manifest) -> tuple[str, str] | None:
    try:
        created = dt.datetime.fromisoformat(m.created)
    except ValueError:
        return "an ISO 8601 creation time", repr(m.created[:40])
    if created.tzinfo is None:
        return "a creation time with its UTC offset", repr(m.created[:40])
    return None


def _chain_problem(m: Manifest) -> tuple[str, str] | None:
    if m.parent and not (ID_PATTERN.fullmatch(m.parent) and int(m.parent) < m.sequence and m.depth >= 1):
        return "a parent id below the checkpoint's own, and a depth of 1 or more", f"{m.parent!r}, depth {m.depth}"
    if not m.parent and m.depth:
        return "depth 0 in a full checkpoint", str(m.depth)
    if _digest_problem(m):
        return "a delta, and only a delta, naming its parent's manifest digest", repr(m.parent_digest[:80])
    if any(not (_TOKEN.fullmatch(k) and int(k) < 2**63 and n >= 0) for k, n in m.tables.items()):
        return "table tokens (numbers below 2**63) with entry counts", ", ".join(k[:20] for k in list(m.tables)[:3])
    if not m.parent and any(t.links or t.adopted for t in m.types):
        names = ", ".join(t.schema.name for t in m.types if t.links or t.adopted)
        return "links and adoptions only in a delta (one with a parent)", names
    return None


def _digest_problem(m: Manifest) -> bool:
    if not m.parent:
        return bool(m.parent_digest)
    return m.format_version >= 5 and not _SHA256.fullmatch(m.parent_digest)


def _types_problem(m: Manifest) -> tuple[str, str] | None:
    names = [t.schema.name for t in m.types]
    if len(set(names)) != len(names):
        return "each type at most once", ", ".join(names)
    return next((p for p in map(_type_problem, m.types) if p), None)


def _type_problem(entry: TypeEntry) -> tuple[str, str] | None:
    s = entry.schema
    if not NAME_PATTERN.fullmatch(s.name) or s.version < 1:
        return "a dotted type name and a version >= 1", f"{s.name!r} v{s.version}"
    fields = [f.name for f in s.fields]
    if not all(f.isidentifier() for f in fields) or len(set(fields)) != len(fields):
        return f"distinct identifiers as field names in {s.name}", ", ".join(map(repr, fields))
    problem = next((p for f in s.fields if (p := validate_field_type(f.type))), None)
    if problem:
        return f"sound field types in {s.name}", problem
    if entry.fingerprint != s.fingerprint:
        return f"fingerprint {s.fingerprint} for {s.name} v{s.version}", entry.fingerprint
    if entry.count < 0 or entry.links < 0 or entry.count + entry.links < 1 or not 0 <= entry.adopted <= entry.count:
        return f"a positive record count for {s.name}", f"{entry.count} records, {entry.links} links"
    return None


def _segments_problem(m: Manifest) -> tuple[str, str] | None:  # noqa: PLR0911 - one return per rule
    roots = [s for s in m.segments if s.kind == "root"]
    if len(roots) != 1:
        return "exactly one root segment", f"{len(roots)}"
    end = len(DATA_HEADER)
    arrays: list[int] = []  # parts seen of each array, numbered from 0 in order
    next_link = [0] * len(m.types)
    next_adopted = [0] * len(m.types)
    next_row = [t.links for t in m.types]
    for i, s in enumerate(m.segments):
        if (
            s.offset != end
            or s.length < 1
            or not 0 <= s.raw_length <= MAX_SEGMENT_BYTES
            or not HEX128.fullmatch(s.digest)
            or (s.sha256 and not _SHA256.fullmatch(s.sha256))
        ):
            return (
                f"segment {i} right after the previous one, with sane lengths and digest",
                f"offset {s.offset}, length {s.length}",
            )
        end += s.length
        if s.zones and s.kind not in ("root", "table", "links", "adopt"):
            return f"segment {i} to hold zones only if it holds tagged values", s.kind
        if s.kind == "array" or s.array != -1 or s.part or s.codec != "zstd":
            problem = _array_segment_problem(i, s, arrays)
            if problem:
                return problem
            continue
        if s.kind != "root":
            rows = {"table": next_row, "links": next_link, "adopt": next_adopted}[s.kind]
            if not 0 <= s.type < len(m.types) or s.first_row != rows[s.type] or not 1 <= s.rows <= MAX_ROWS:
                return (
                    f"segment {i} to continue its type's {s.kind} rows",
                    f"type {s.type}, first row {s.first_row}",
                )
            rows[s.type] += s.rows
    if end != m.data_size:
        return f"segments that end at the data size {m.data_size}", str(end)
    counts = [t.links + t.count for t in m.types]
    if next_row != counts or next_link != [t.links for t in m.types] or next_adopted != [t.adopted for t in m.types]:
        return f"table and links segments covering every row ({counts})", str(next_row)
    return None


def _array_segment_problem(i: int, s: SegmentEntry, arrays: list[int]) -> tuple[str, str] | None:
    """Array segments: numbered from 0, each array's parts in order; stored raw only whole."""
    next_part = arrays[s.array] if 0 <= s.array < len(arrays) else 0
    fresh = s.array == len(arrays) and s.part == 0
    continued = s.array == len(arrays) - 1 and s.part == next_part
    if s.kind != "array" or not (fresh or continued) or (s.codec == "none" and s.length != s.raw_length):
        return f"segment {i} to be the next part of an array", f"{s.kind} array {s.array} part {s.part}"
    if fresh:
        arrays.append(0)
    arrays[s.array] += 1
    return None


def compressor(level: int) -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(level=level, write_content_size=True)


def inflate(blob: bytes, raw_length: int) -> bytes:
    """Decompress one segment, trusting nothing: the frame must declare and yield raw_length."""
    params = zstandard.get_frame_parameters(blob)
    if params.content_size != raw_length:
        raise ValueError(f"a zstd frame of {raw_length} bytes, found one declaring {params.content_size}")
    inflater = zstandard.ZstdDecompressor().decompressobj()
    data = inflater.decompress(blob)
    if len(data) != raw_length or not inflater.eof or inflater.unused_data:
        raise ValueError(f"exactly one zstd frame of {raw_length} bytes")
    return bytes(data)
