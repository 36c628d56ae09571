"""Every exception Amber raises on purpose.

Misuse of the API (a wrong argument type, say) raises the usual builtins. Everything
else comes from this one tree::

    AmberError
    ├── SchemaError (TypeError)               a type cannot be declared or persisted as written
    ├── SerializationError (ValueError)       a state cannot be saved (unsupported value, int out of range)
    ├── StoreError (OSError)                  the storage underneath failed or refused
    │   ├── StoreNotFoundError (FileNotFoundError)   the store's location does not exist
    │   ├── ObjectNotFoundError (FileNotFoundError)  a named object is missing
    │   └── ConflictError                     a create-only write found the name taken
    └── CheckpointError                       a checkpoint cannot be read as it should
        ├── CheckpointNotFoundError (FileNotFoundError)
        ├── CheckpointTooLargeError           declares more data than the store may read
        ├── CorruptCheckpointError            bytes, lengths, digests or structure are wrong
        ├── ForeignFileError                  not an Amber file at all
        ├── UnsupportedFormatError            written by a newer format version
        ├── IncompatibleSchemaError           the running code cannot read the checkpoint's types
        │   ├── UnknownTypeError              a type the code has not declared (under any name)
        │   └── SchemaMismatchError           same name and version, different schema
        └── MigrationError                    an upgrade step failed, or its output does not fit

A ``CheckpointError`` always names the checkpoint, the part that is wrong and what was
expected, as attributes and in its message, so a one-line report is enough to act on. An
``IncompatibleSchemaError`` lists every problem found (``problems``), each with a fix.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AmberError",
    "CheckpointError",
    "CheckpointNotFoundError",
    "CheckpointTooLargeError",
    "ConflictError",
    "CorruptCheckpointError",
    "ForeignFileError",
    "IncompatibleSchemaError",
    "MigrationError",
    "ObjectNotFoundError",
    "SchemaError",
    "SchemaMismatchError",
    "SchemaProblem",
    "SerializationError",
    "StoreError",
    "StoreNotFoundError",
    "UnknownTypeError",
    "UnsupportedFormatError",
]


class AmberError(Exception):
    """Root of every error Amber raises on purpose."""


class SchemaError(AmberError, TypeError):
    """A persisted type is declared in a way Amber cannot store."""


class SerializationError(AmberError, ValueError):
    """A state cannot be written: an unsupported value, a field holding the wrong type."""


class StoreError(AmberError, OSError):
    """The storage underneath failed or refused an operation."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """The store's location does not exist."""


class ObjectNotFoundError(StoreError, FileNotFoundError):
    """A named object (manifest, data file) is missing from the store."""


class ConflictError(StoreError):
    """A create-only write found its name already taken by another writer."""


class CheckpointError(AmberError):
    """A checkpoint cannot be read as the format says it should be.

    ``checkpoint`` is the checkpoint id (or the object's name when no id is known yet),
    ``part`` the piece at fault (``manifest``, ``segment 3 (table bank.Account rows 0-65535)``)
    and ``expected`` what the reader needed to find there.
    """

    def __init__(self, checkpoint: str, part: str, expected: str, found: str = "") -> None:
        self.checkpoint = checkpoint
        self.part = part
        self.expected = expected
        self.found = found
        detail = f"expected {expected}" + (f", found {found}" if found else "")
        super().__init__(f"checkpoint {checkpoint}: {part}: {detail}")


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No committed checkpoint has the requested id (or the store holds none)."""


class CheckpointTooLargeError(CheckpointError):
    """The checkpoint declares more decompressed data than the store's ``max_load_bytes``."""


class CorruptCheckpointError(CheckpointError):
    """Bytes, lengths, digests or structure differ from what the manifest promises."""


class ForeignFileError(CheckpointError):
    """The file is not an Amber checkpoint at all."""


class UnsupportedFormatError(CheckpointError):
    """The checkpoint was written by a newer format version than this library reads."""


@dataclass(frozen=True)
class SchemaProblem:
    """One reason the running code cannot read a checkpoint's type, and how to fix it."""

    type: str
    problem: str
    fix: str
    kind: str = "plan"  # "unknown" (type not declared), "mismatch" (same version, other schema), "plan"

    def __str__(self) -> str:
        return f"{self.type}: {self.problem} (fix: {self.fix})"


class IncompatibleSchemaError(CheckpointError):
    """The running code cannot read the checkpoint's types: ``problems`` lists them all.

    The whole plan is computed before any data is read, so every problem is reported at
    once, each with a suggested fix.
    """

    def __init__(self, checkpoint: str, problems: list[SchemaProblem]) -> None:
        self.problems = problems
        listing = "; ".join(map(str, problems))
        super().__init__(
            checkpoint, "schemas", "types the running code can read", f"{len(problems)} problem(s): {listing}"
        )


class UnknownTypeError(IncompatibleSchemaError):
    """The checkpoint holds a persisted type that the reading code has not declared."""


class SchemaMismatchError(IncompatibleSchemaError):
    """The reader declares the same name and version with a different schema."""


class MigrationError(CheckpointError):
    """An upgrade step raised, or returned fields that do not fit the next version."""
