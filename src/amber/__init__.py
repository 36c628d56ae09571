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

from ._checkpoint import CheckpointInfo, CheckpointStore, VerifyReport
from ._fields import FieldSchema, RecordSchema, field
from ._format import FORMAT_VERSION, Manifest
from ._keyed import Table
from ._migration import Plan, Stage, TypePlan
from ._open import open_store
from ._resolve import Tables
from ._schema import (
    FrozenRecord,
    Record,
    RecordType,
    Registry,
    checkpoint_upgrade,
    default_registry,
    downgrade,
    record,
    upgrade,
)
from ._types import FieldType
from ._values import Ref
from ._version import __version__
from .errors import (
    AmberError,
    CheckpointError,
    CheckpointNotFoundError,
    CheckpointTooLargeError,
    ConflictError,
    CorruptCheckpointError,
    ForeignFileError,
    IncompatibleSchemaError,
    MigrationError,
    ObjectNotFoundError,
    SchemaError,
    SchemaMismatchError,
    SchemaProblem,
    SerializationError,
    StoreError,
    StoreNotFoundError,
    UnknownTypeError,
    UnsupportedFormatError,
)

__all__ = [
    "FORMAT_VERSION",
    "AmberError",
    "CheckpointError",
    "CheckpointInfo",
    "CheckpointNotFoundError",
    "CheckpointStore",
    "CheckpointTooLargeError",
    "ConflictError",
    "CorruptCheckpointError",
    "FieldSchema",
    "FieldType",
    "ForeignFileError",
    "FrozenRecord",
    "IncompatibleSchemaError",
    "Manifest",
    "MigrationError",
    "ObjectNotFoundError",
    "Plan",
    "Record",
    "RecordSchema",
    "RecordType",
    "Ref",
    "Registry",
    "SchemaError",
    "SchemaMismatchError",
    "SchemaProblem",
    "SerializationError",
    "Stage",
    "StoreError",
    "StoreNotFoundError",
    "Table",
    "Tables",
    "TypePlan",
    "UnknownTypeError",
    "UnsupportedFormatError",
    "VerifyReport",
    "__version__",
    "checkpoint_upgrade",
    "default_registry",
    "downgrade",
    "field",
    "open_store",
    "record",
    "upgrade",
]
