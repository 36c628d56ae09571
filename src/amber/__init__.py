"""Amber: checkpoint, restore and migrate the in-memory state of long-running Python services.

Declare persisted types with a stable name and version, then save and load whole object
graphs (shared references and cycles included) to a store::

    import amber

    @amber.record("bank.Customer", version=1)
    class Customer(amber.Record):
        id: int
        name: str

    store = amber.open_store("./state")
    info = store.save({"customers": [Customer(1, "Ada")]})
    state = store.load()
"""

import logging

from . import events
from ._evolution._apply import Tables
from ._evolution._plan import Plan, Stage, TypePlan
from ._fleet._assignment import Assignment
from ._fleet._fleet import Fleet, open_fleet
from ._fleet._keys import key_group
from ._fleet._pool import Pool, PoolShard, open_pool
from ._fleet._records import FleetCheckpoint
from ._fleet._worker import FleetWorker
from ._format._format import FORMAT_VERSION, Manifest
from ._maintenance._retention import GcReport, Retention
from ._manager._follower import Follower, Lag
from ._manager._health import Health
from ._manager._loop import LoopFence
from ._manager._manager import Manager
from ._manager._options import CheckpointResult, Timeouts
from ._manager._participants import Participant
from ._manager._restore import RestoreReport
from ._schema._enums import enum
from ._schema._fields import FieldSchema, RecordSchema, field
from ._schema._keyed import Table
from ._schema._open_file import OpenFile
from ._schema._record_type import FrozenRecord, Record, RecordType
from ._schema._registry import Registry, adapter, checkpoint_upgrade, default_registry, downgrade, record, upgrade
from ._schema._types import FieldType
from ._schema._values import Ref
from ._store._checkpoint import CheckpointInfo, CheckpointStore, VerifyReport
from ._store._lease import Lease
from ._store._open import open_store
from ._version import __version__
from .errors import (
    AmberError,
    CheckpointAbortedError,
    CheckpointError,
    CheckpointNotFoundError,
    CheckpointTimeoutError,
    CheckpointTooLargeError,
    CommitUncertainError,
    ConflictError,
    CorruptCheckpointError,
    FencedError,
    FleetCheckpointAbortedError,
    ForeignFileError,
    IncompatibleSchemaError,
    InvariantError,
    LeaseError,
    LeaseHeldError,
    ManagerError,
    MigrationError,
    MissingExtraError,
    NotInCheckpointError,
    NotOwnedError,
    ObjectNotFoundError,
    PlantedLinkError,
    QueryError,
    RecordRejectedError,
    RestoreError,
    SchemaError,
    SchemaMismatchError,
    SchemaProblem,
    SerializationError,
    SignatureError,
    SigningKeyError,
    StoreError,
    StoreLockedError,
    StoreNotFoundError,
    StoreURLError,
    UnknownTypeError,
    UnsupportedFormatError,
    Violation,
)

# A library logs; the application decides where to (the logging HOWTO's advice for libraries).
logging.getLogger("amber").addHandler(logging.NullHandler())

__all__ = [
    "FORMAT_VERSION",
    "AmberError",
    "Assignment",
    "CheckpointAbortedError",
    "CheckpointError",
    "CheckpointInfo",
    "CheckpointNotFoundError",
    "CheckpointResult",
    "CheckpointStore",
    "CheckpointTimeoutError",
    "CheckpointTooLargeError",
    "CommitUncertainError",
    "ConflictError",
    "CorruptCheckpointError",
    "FencedError",
    "FieldSchema",
    "FieldType",
    "Fleet",
    "FleetCheckpoint",
    "FleetCheckpointAbortedError",
    "FleetWorker",
    "Follower",
    "ForeignFileError",
    "FrozenRecord",
    "GcReport",
    "Health",
    "IncompatibleSchemaError",
    "InvariantError",
    "Lag",
    "Lease",
    "LeaseError",
    "LeaseHeldError",
    "LoopFence",
    "Manager",
    "ManagerError",
    "Manifest",
    "MigrationError",
    "MissingExtraError",
    "NotInCheckpointError",
    "NotOwnedError",
    "ObjectNotFoundError",
    "OpenFile",
    "Participant",
    "Plan",
    "PlantedLinkError",
    "Pool",
    "PoolShard",
    "QueryError",
    "Record",
    "RecordRejectedError",
    "RecordSchema",
    "RecordType",
    "Ref",
    "Registry",
    "RestoreError",
    "RestoreReport",
    "Retention",
    "SchemaError",
    "SchemaMismatchError",
    "SchemaProblem",
    "SerializationError",
    "SignatureError",
    "SigningKeyError",
    "Stage",
    "StoreError",
    "StoreLockedError",
    "StoreNotFoundError",
    "StoreURLError",
    "Table",
    "Tables",
    "Timeouts",
    "TypePlan",
    "UnknownTypeError",
    "UnsupportedFormatError",
    "VerifyReport",
    "Violation",
    "__version__",
    "adapter",
    "checkpoint_upgrade",
    "default_registry",
    "downgrade",
    "enum",
    "events",
    "field",
    "key_group",
    "open_fleet",
    "open_pool",
    "open_store",
    "record",
    "upgrade",
]
