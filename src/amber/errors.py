"""Every exception Amber raises on purpose.

Misuse of the API (a wrong argument type, say) raises the usual builtins. Everything
else comes from this one tree::

    AmberError
    ├── SchemaError (TypeError)               a type cannot be declared or persisted as written
    ├── SerializationError (ValueError)       a state cannot be saved (unsupported value, int out of range)
    ├── SigningKeyError (ValueError)          a key too short, or a signed store opened without its signing key
    ├── StoreError (OSError)                  the storage underneath failed or refused
    │   ├── StoreURLError (ValueError)        not a store URL Amber can open (scheme, host, characters)
    │   ├── StoreNotFoundError (FileNotFoundError)   the store's location does not exist
    │   ├── ObjectNotFoundError (FileNotFoundError)  a named object is missing
    │   ├── ConflictError                     a create-only write found the name taken
    │   ├── StoreLockedError                  another manager is writing this local store
    │   ├── PlantedLinkError                  a symbolic link where a local store keeps a file
    │   ├── CommitUncertainError              committed, but making it durable failed
    │   └── LeaseError                        a writer's lease on a store
    │       ├── LeaseHeldError                another writer holds it and it has not expired
    │       └── FencedError                   it was taken over: this writer may commit nothing more
    └── CheckpointError                       a checkpoint cannot be read as it should
        ├── CheckpointNotFoundError (FileNotFoundError)
        ├── NotInCheckpointError (LookupError)   a path, key or type asked for is not in the checkpoint
        ├── CheckpointTooLargeError           more data, or memory, than the store may read or take
        ├── CorruptCheckpointError            bytes, lengths, digests or structure are wrong
        ├── ForeignFileError                  not an Amber file at all
        ├── UnsupportedFormatError            written by a newer format version
        ├── SignatureError                    unsigned, signed by another key, or tampered (with keys configured)
        ├── IncompatibleSchemaError           the running code cannot read the checkpoint's types
        │   ├── UnknownTypeError              a type the code has not declared (under any name)
        │   └── SchemaMismatchError           same name and version, different schema
        └── MigrationError                    an upgrade step failed, or its output does not fit
    ManagerError                              the persistence manager could not do what was asked
    ├── CheckpointAbortedError                a checkpoint was aborted; nothing of it was committed
    │   ├── CheckpointTimeoutError (TimeoutError)   a phase ran over its timeout
    │   └── FleetCheckpointAbortedError       a sharded checkpoint was aborted for every worker
    └── RestoreError                          no checkpoint restored into a valid state
        └── InvariantError                    a restored state broke a participant's invariant
    QueryError (ValueError)                   a SQL query over a checkpoint was refused
    MissingExtraError (ImportError)           an optional feature's packages are not installed

A ``CheckpointError`` always names the checkpoint, the part that is wrong and what was
expected, as attributes and in its message, so a one-line report is enough to act on. An
``IncompatibleSchemaError`` lists every problem found (``problems``), each with a fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "AmberError",
    "CheckpointAbortedError",
    "CheckpointError",
    "CheckpointNotFoundError",
    "CheckpointTimeoutError",
    "CheckpointTooLargeError",
    "CommitUncertainError",
    "ConflictError",
    "CorruptCheckpointError",
    "FencedError",
    "FleetCheckpointAbortedError",
    "ForeignFileError",
    "IncompatibleSchemaError",
    "InvariantError",
    "LeaseError",
    "LeaseHeldError",
    "ManagerError",
    "MigrationError",
    "MissingExtraError",
    "NotInCheckpointError",
    "NotOwnedError",
    "ObjectNotFoundError",
    "PlantedLinkError",
    "QueryError",
    "RestoreError",
    "SchemaError",
    "SchemaMismatchError",
    "SchemaProblem",
    "SerializationError",
    "SignatureError",
    "SigningKeyError",
    "StoreError",
    "StoreLockedError",
    "StoreNotFoundError",
    "StoreURLError",
    "UnknownTypeError",
    "UnsupportedFormatError",
    "Violation",
]


class AmberError(Exception):
    """Root of every error Amber raises on purpose. Each survives pickling whole (its
    message, its attributes, and its cause when that is Amber's too): a Ray task's or a
    process pool's caller gets the error itself, a fenced checkpoint's ``FencedError`` cause
    included."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its args and attributes, not by calling __init__ again: many take other
        # arguments than the message they pass on (keyword-only ones, parts of the message).
        # A cause of another kind is left behind: it may not pickle at all.
        state = dict(self.__dict__)
        if isinstance(self.__cause__, AmberError):
            state["__cause__"] = self.__cause__
        return (_rebuilt, (type(self), self.args), state)


def _rebuilt(cls: type[AmberError], args: tuple[Any, ...]) -> AmberError:
    error = cls.__new__(cls)
    error.args = args
    return error


class SchemaError(AmberError, TypeError):
    """A persisted type is declared in a way Amber cannot store."""


class SerializationError(AmberError, ValueError):
    """A state cannot be written: an unsupported value, a field holding the wrong type."""


class SigningKeyError(AmberError, ValueError):
    """A signing or verification key is unusable (shorter than 16 bytes), or a store that
    checks signatures was asked to write without a key to sign with."""


class StoreError(AmberError, OSError):
    """The storage underneath failed or refused an operation."""


class StoreURLError(StoreError, ValueError):
    """A store URL Amber cannot open: an unknown scheme, a file URL naming another host, an
    s3:// URL with a query, a NUL character."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """The store's location does not exist."""


class ObjectNotFoundError(StoreError, FileNotFoundError):
    """A named object (manifest, data file) is missing from the store."""


class ConflictError(StoreError):
    """A create-only write found its name already taken by another writer."""


class CommitUncertainError(StoreError):
    """A checkpoint's manifest was written (``checkpoint`` is visible now), but a step
    after it failed (a folder fsync): it may not survive a power loss. Not an abort."""

    def __init__(self, message: str, *, checkpoint: str) -> None:
        self.checkpoint = checkpoint
        super().__init__(message)


class StoreLockedError(StoreError):
    """Another manager (in this process or another) is writing this local store."""


class PlantedLinkError(StoreError):
    """A symbolic link at a file's name inside a local store: Amber reads, writes and locks
    nothing through one (it could lead out of the store), and shows nothing of its target."""


class LeaseError(StoreError):
    """About the lease a writer holds on a store (or on one worker's shard of a fleet)."""

    def __init__(self, message: str, *, lease: str, token: int = 0, holder: str = "") -> None:
        self.lease = lease  # where the lease lives
        self.token = token  # the token that stands now (the holder's own when held, the newer one when fenced)
        self.holder = holder
        super().__init__(message)


class LeaseHeldError(LeaseError):
    """Another writer holds the lease and it has not expired: this one may not write."""


class FencedError(LeaseError):
    """This writer's lease was taken over (its token is older than the one that stands): it
    may commit nothing more. A checkpoint it was committing does not exist for any reader."""


class NotOwnedError(AmberError, LookupError):
    """A key sent to a shard of a pool that does not own its key group (the sender routed
    with an older assignment): nothing was done; route again (``Pool.shard_for``)."""

    def __init__(self, message: str, *, key: Any, group: int, shard: str, owner: str | None) -> None:
        self.key = key
        self.group = group
        self.shard = shard  # the shard that refused it
        self.owner = owner  # the shard owning the group now, as the refusing shard read it
        super().__init__(message)


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


class NotInCheckpointError(CheckpointError, LookupError):
    """What was asked of a checkpoint (a path into its root, a table key, a type) is not in it."""


class CheckpointTooLargeError(CheckpointError):
    """The checkpoint declares more decompressed data than the store's ``max_load_bytes``, or
    a read of it would take more memory, estimated from its manifests, than ``max_load_memory``."""


class CorruptCheckpointError(CheckpointError):
    """Bytes, lengths, digests or structure differ from what the manifest promises."""


class ForeignFileError(CheckpointError):
    """The file is not an Amber checkpoint at all."""


class SignatureError(CheckpointError):
    """With signing keys configured: a checkpoint unsigned, signed by a key that is not one
    of ours, or changed after it was signed."""


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
    """An upgrade step raised, or returned fields that do not fit the next version, or a
    value read cannot be kept exactly by the reader's type (the row is named)."""


class RecordRejectedError(MigrationError):
    """The reader's class refused the values read for a record (its ``__post_init__`` or a
    validator raised): the part names the type, version and row; the cause is its exception."""


class ManagerError(AmberError):
    """The persistence manager could not checkpoint or restore as asked."""


class CheckpointAbortedError(ManagerError):
    """A checkpoint was aborted in ``phase`` (by ``participant`` when one is to blame):
    every participant was resumed and nothing of it became visible."""

    def __init__(self, phase: str, participant: str | None, reason: str) -> None:
        self.phase = phase
        self.participant = participant
        self.reason = reason
        who = f" by participant {participant!r}" if participant else ""
        super().__init__(f"checkpoint aborted in phase {phase}{who}: {reason}; nothing was committed")


class CheckpointTimeoutError(CheckpointAbortedError, TimeoutError):
    """A checkpoint phase ran over its timeout."""

    still_running: object = None  # the callback's thread when a participant's call overran


class FleetCheckpointAbortedError(CheckpointAbortedError):
    """A sharded checkpoint (``epoch``) was aborted for every worker of the fleet: a worker
    did not write its shard in time (``missing``), or the shards did not fit together."""

    def __init__(self, epoch: int, reason: str, missing: tuple[int, ...] = ()) -> None:
        self.epoch = epoch
        self.missing = missing
        super().__init__("voting", None, f"epoch {epoch}: {reason}")


@dataclass(frozen=True)
class Violation:
    """One broken invariant: its name, what is wrong, and the keys at fault (if any)."""

    invariant: str
    detail: str
    keys: tuple[object, ...] = ()

    def __str__(self) -> str:
        keys = f" (keys {', '.join(map(repr, self.keys[:10]))}{'...' if len(self.keys) > 10 else ''})"
        return f"{self.invariant}: {self.detail}{keys if self.keys else ''}"


class RestoreError(ManagerError):
    """No checkpoint could be restored into a valid state.

    ``failures`` lists each checkpoint tried, newest first, with why it was refused.
    """

    def __init__(self, message: str, failures: list[tuple[str, str]] | None = None) -> None:
        self.failures = failures or []
        tried = "; ".join(f"{cid}: {why}" for cid, why in self.failures)
        super().__init__(message + (f" (tried {tried})" if tried else ""))


class InvariantError(RestoreError):
    """A state broke a participant's invariants (``violations``), naming the checkpoint."""

    def __init__(self, checkpoint: str, participant: str, violations: list[Violation]) -> None:
        self.checkpoint = checkpoint
        self.participant = participant
        self.violations = violations
        listing = "; ".join(map(str, violations[:5]))
        super().__init__(f"checkpoint {checkpoint}: participant {participant!r}: invariant broken: {listing}")


class QueryError(AmberError, ValueError):
    """A SQL query over a checkpoint was refused (DuckDB's message says why)."""

    def __init__(self, checkpoint: str, message: str) -> None:
        self.checkpoint = checkpoint
        self.part = "query"
        super().__init__(f"checkpoint {checkpoint}: query: {message}")


class MissingExtraError(AmberError, ImportError):
    """An optional part of Amber needs packages that are not installed; the message says
    which extra to install (``pip install 'amber-state[prometheus]'``)."""

    def __init__(self, feature: str, extra: str, missing: str) -> None:
        self.extra = extra
        super().__init__(
            f"{feature} needs the {missing!r} package, which is not installed: pip install 'amber-state[{extra}]'",
            name=missing,
        )
