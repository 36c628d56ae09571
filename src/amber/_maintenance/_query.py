"""``amber export`` and ``amber query``: a checkpoint's record types as Arrow tables
(``_store/_arrow``), written as Parquet, Arrow IPC or CSV files, or queried with SQL in DuckDB.

A query reads the checkpoint once and keeps its tables as Parquet files in a cache folder
named by the digests of the checkpoint's chain (checkpoints never change, so neither does
what they export); the next queries of that checkpoint read those files, checked against
the digests written beside them, at DuckDB's own speed. The cache lives outside the
store (``AMBER_CACHE_DIR``, else ``$XDG_CACHE_HOME/amber``, else ``~/.cache/amber``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
import xxhash

from .._store._arrow import import_pyarrow, to_arrow
from .._store._checkpoint import CheckpointStore
from .._version import __version__
from ..errors import MissingExtraError, QueryError, StoreError

FORMATS = {"parquet": ".parquet", "arrow": ".arrow", "csv": ".csv"}


def export(store: CheckpointStore, checkpoint_id: str | int | None, directory: str, fmt: str) -> dict[str, Any]:
    """Write each record type of the state at a checkpoint as a file in ``directory``
    (``<type>.parquet``, ``.arrow`` or ``.csv``); return what was written."""
    pa = import_pyarrow("amber export", extra="arrow")
    target = Path(directory)
    root = getattr(store.storage, "root", None)
    if isinstance(root, Path) and target.resolve().is_relative_to(root.resolve()):
        raise StoreError(f"{directory}: inside the store {store.url}: export elsewhere")
    manifest = store.manifest(checkpoint_id)
    tables = to_arrow(store, manifest.id)
    target.mkdir(parents=True, exist_ok=True)
    files = []
    for name, table in tables.items():
        path = target / f"{name}{FORMATS[fmt]}"
        _write(pa, table, path, fmt)
        files.append({"type": name, "path": str(path), "rows": table.num_rows, "bytes": path.stat().st_size})
    return {"checkpoint": manifest.id, "format": fmt, "files": files}


def _write(pa: Any, table: Any, path: Path, fmt: str) -> None:
    """One table to a file, written beside it and renamed: a reader never sees half of one."""
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as scratch:
        partial = Path(scratch.name)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, partial)
        elif fmt == "arrow":
            with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
        else:
            from pyarrow import csv  # the arrow extra, imported when used

            csv.write_csv(_flat(pa, table), partial)
        os.chmod(partial, 0o666 & ~_umask())  # as any file the user writes (a temporary file is 0600)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _flat(pa: Any, table: Any) -> Any:
    """CSV holds no lists, maps or structs: those columns as their JSON text."""
    columns = {}
    for field, column in zip(table.schema, table.columns, strict=True):
        nested = pa.types.is_nested(field.type)
        columns[field.name] = pa.array([_json_text(v) for v in column.to_pylist()], pa.string()) if nested else column
    return pa.table(columns)


def _json_safe(value: Any) -> Any:
    """A DuckDB value as JSON can hold it: a map whose keys are not all text as its pairs."""
    if isinstance(value, dict):
        if all(type(k) is str for k in value):
            return {k: _json_safe(v) for k, v in value.items()}
        return [[_json_safe(k), _json_safe(v)] for k, v in value.items()]
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _json_text(value: Any) -> str | None:
    return None if value is None else msgspec.json.encode(value).decode()


def query(store: CheckpointStore, checkpoint_id: str | int | None, sql: str, *, cache: bool = True) -> dict[str, Any]:
    """Run ``sql`` (DuckDB's dialect) over the state at a checkpoint: each record type is a
    table named by its type (``"bank.Account"``, quoted) and by its last part when no other
    type shares it (``Account``). Returns the columns and the rows."""
    duckdb = _import_duckdb()
    import_pyarrow("amber query", extra="sql")
    manifest = store.manifest(checkpoint_id)
    chain = store.manifests.chain(manifest.id)
    connection = duckdb.connect()
    try:
        # A signed store's checkpoints prove who wrote them; a cache in the user's folder
        # cannot, so a signed store is read (and its signatures checked) at every query.
        cached = _Cache(chain) if cache and store.signing is None else None
        files = cached.files() if cached is not None else None
        if files is None:
            tables = to_arrow(store, manifest.id)
            for name, table in tables.items():
                _register(connection, name, tables, lambda t=table: connection.from_arrow(t))
            if cached is not None:
                cached.fill(tables)
        else:
            for name, path in files.items():
                _register(connection, name, files, lambda p=path: connection.read_parquet(str(p)))
        result = connection.execute(sql)
        if result is None or result.description is None:
            raise QueryError(manifest.id, "expected a statement that returns rows (SELECT, WITH, SHOW, ...)")
        columns = [d[0] for d in result.description]
        rows = [[_json_safe(v) for v in row] for row in result.fetchall()]
        return {"checkpoint": manifest.id, "columns": columns, "rows": rows}
    except duckdb.Error as e:
        raise QueryError(manifest.id, str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    finally:
        connection.close()


def _register(connection: Any, name: str, every: Iterable[str], relation: Any) -> None:
    """A view per type: its full name, and its short name when no other type has it."""
    rel = relation()
    rel.create_view(name)
    short = name.rsplit(".", 1)[-1]
    if short != name and sum(1 for n in every if n.rsplit(".", 1)[-1].lower() == short.lower()) == 1:
        relation().create_view(short)


def _import_duckdb() -> Any:
    try:
        import duckdb  # the sql extra, imported when asked for
    except ImportError:
        raise MissingExtraError("amber query", "sql", "duckdb") from None
    return duckdb


class _Cache:
    """A checkpoint's tables as Parquet files, in a folder named by its chain's digests."""

    def __init__(self, chain: list[Any]) -> None:
        # The exporter's version too: a newer Amber may export other columns from one checkpoint.
        named = [f"amber {__version__} tables 1", *(f"{m.id} {m.digest}" for m in chain)]
        key = hashlib.sha256("\n".join(named).encode()).hexdigest()
        self.folder = cache_root() / "query" / key

    def files(self) -> dict[str, Path] | None:
        """The cached files by type, each checked against its digest; None if absent or not whole."""
        index = self.folder / "index.json"
        try:
            listed = msgspec.json.decode(index.read_bytes(), type=dict[str, tuple[str, str]])
            found = {}
            for name, (file, sha) in listed.items():
                path = self.folder / file
                if re.fullmatch(r"[0-9]+\.parquet", file) is None or _file_digest(path) != sha:
                    return None
                found[name] = path
            return found
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return None

    def fill(self, tables: dict[str, Any]) -> None:
        """Write the tables, then their index, into a new folder renamed into place; a cache
        that cannot be written only makes the next query read the checkpoint again."""
        import pyarrow.parquet as pq

        try:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(dir=self.folder.parent, prefix=".filling-"))
        except OSError:
            return
        try:
            index = {}
            for number, (name, table) in enumerate(tables.items()):
                file = f"{number}.parquet"
                pq.write_table(table, scratch / file)
                index[name] = (file, _file_digest(scratch / file))
            (scratch / "index.json").write_bytes(msgspec.json.encode(index))
            shutil.rmtree(self.folder, ignore_errors=True)
            os.replace(scratch, self.folder)
        except OSError:
            shutil.rmtree(scratch, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def cache_root() -> Path:
    explicit = os.environ.get("AMBER_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "amber"


def _file_digest(path: Path) -> str:
    """A cached file's xxh3-128 digest (the format's own; a damaged file is read again)."""
    hasher = xxhash.xxh3_128()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            hasher.update(chunk)
    return hasher.hexdigest()
