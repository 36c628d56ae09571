"""The public surface and the layering rules of the package."""

from __future__ import annotations

import ast
from pathlib import Path

import amber
import amber.errors

SRC = Path(amber.__file__).parent

PUBLIC = {
    "CommitUncertainError",
    "SignatureError",
    "StoreLockedError",
    "FencedError",
    "Fleet",
    "FleetCheckpoint",
    "FleetCheckpointAbortedError",
    "FleetWorker",
    "Lease",
    "LeaseError",
    "LeaseHeldError",
    "key_group",
    "open_fleet",
    "MissingExtraError",
    "CheckpointResult",
    "Manager",
    "Timeouts",
    "Participant",
    "RestoreReport",
    "GcReport",
    "Retention",
    "OpenFile",
    "CheckpointAbortedError",
    "CheckpointTimeoutError",
    "InvariantError",
    "ManagerError",
    "RestoreError",
    "Violation",
    "events",
    "FORMAT_VERSION",
    "AmberError",
    "CheckpointError",
    "CheckpointInfo",
    "CheckpointNotFoundError",
    "CheckpointTooLargeError",
    "CheckpointStore",
    "ConflictError",
    "CorruptCheckpointError",
    "FieldSchema",
    "FieldType",
    "Health",
    "LoopFence",
    "ForeignFileError",
    "IncompatibleSchemaError",
    "MigrationError",
    "RecordRejectedError",
    "Plan",
    "SchemaProblem",
    "TypePlan",
    "enum",
    "field",
    "upgrade",
    "downgrade",
    "checkpoint_upgrade",
    "Stage",
    "Table",
    "Tables",
    "FrozenRecord",
    "Manifest",
    "ObjectNotFoundError",
    "Record",
    "RecordSchema",
    "RecordType",
    "Ref",
    "Registry",
    "SchemaError",
    "SchemaMismatchError",
    "SerializationError",
    "StoreError",
    "StoreNotFoundError",
    "StoreURLError",
    "SigningKeyError",
    "PlantedLinkError",
    "UnknownTypeError",
    "UnsupportedFormatError",
    "VerifyReport",
    "__version__",
    "default_registry",
    "open_store",
    "record",
}


def test_public_names_are_exactly_the_curated_ones() -> None:
    assert set(amber.__all__) == PUBLIC
    for name in amber.__all__:
        assert hasattr(amber, name), name


def test_every_error_is_in_one_tree_under_amber_error() -> None:
    for name in set(amber.errors.__all__) - {"SchemaProblem", "Violation"}:  # records, not errors
        error = getattr(amber.errors, name)
        assert issubclass(error, amber.AmberError), name
        assert getattr(amber, name) is error
    assert issubclass(amber.CheckpointNotFoundError, FileNotFoundError)
    assert issubclass(amber.StoreNotFoundError, FileNotFoundError)


# Lower layers never import higher ones (docs/architecture.md).
LAYERS = [
    {
        "errors",
        "_version",
        "_pipeline",
        "events",
        "_dispatch",
        "_fork",
        "_participants",
        "_enums",
        "_loud",
        "_health",
        "_loop",
    },
    {"_types", "_values", "_keyed", "prometheus", "otel"},
    {"_fields", "_codec"},
    {"_schema", "_compat"},
    {"_pin"},
    {"_graph", "_format", "_migration", "_assemble", "_verify"},
    {"_resolve", "_lock", "_signing"},
    {"storage"},
    {"_reading", "_memory", "_history", "_lease", "_fencing", "_writer_lock"},
    {"_checkpoint"},
    {"_open", "_retention", "_diff", "_copy"},
    {"_migrate", "_restore", "_fleet"},
    {"_manager", "_report"},
    {"commands"},
    {"_render", "_report_html"},
    {"_cli", "__main__"},
    {"testing"},
]


def _layer(module: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if module in layer)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level > 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.update(a.name for a in node.names)
    return found


def test_imports_point_down_the_layers_only() -> None:
    for path in SRC.rglob("*.py"):
        if path.name == "__init__.py" and path.parent == SRC:
            continue
        module = path.parent.name if path.parent.name in ("storage", "testing") else path.stem
        siblings = {p.stem for p in path.parent.glob("*.py")} if module in ("storage", "testing") else set()
        for imported in _imports(path) - siblings - {"errors"} | (_imports(path) & {"errors"}):
            assert _layer(imported) <= _layer(module), f"{path.name} imports {imported}"
