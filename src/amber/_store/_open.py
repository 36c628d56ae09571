"""``open_store``: from a URL to a checkpoint store."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlparse

from .._evolution._lockfile import read_lock
from .._format._signing import Keyring
from .._schema._registry import Registry
from ..errors import SchemaError, StoreNotFoundError, StoreURLError
from ..events import Listener
from ..storage import LocalStorage, MemoryStorage, Storage
from ._checkpoint import CheckpointStore


def open_store(
    url: str | os.PathLike[str],
    *,
    registry: Registry | None = None,
    create: bool = True,
    fsync: bool = True,
    compression_level: int = 1,
    write_versions: dict[str, int] | None = None,
    policy: str | os.PathLike[str] | None = None,
    max_load_bytes: int = 4 << 30,
    max_load_memory: int | None = None,
    listeners: Iterable[Listener] = (),
    history: bool = True,
    storage_options: dict[str, str] | None = None,
    signing_key: bytes | str | None = None,
    verify_keys: Iterable[bytes | str] = (),
    read_newer: bool = True,
) -> CheckpointStore:
    """Open a checkpoint store.

    ``url`` is a local directory (a plain path or ``file:///abs/path``), ``memory://`` for a
    new, empty in-process store, or ``s3://bucket/prefix`` for S3-compatible object storage
    (``pip install 'amber-state[s3]'``): endpoint, region and credentials come from the standard
    AWS environment variables, overridden by ``storage_options`` (``endpoint``, ``region``,
    ``access_key_id``, ``secret_access_key``, ``session_token``, ...); plain ``http://``
    endpoints are accepted on loopback only. See docs/s3.md.

    With ``create=False`` a missing directory (or bucket) is an error instead of being created
    on the first save. ``fsync=False`` trades durability on power
    loss for speed (tests, scratch stores). ``registry`` defaults to the one filled by the
    module-level ``@amber.record``. ``write_versions`` pins types to an older version when
    writing (see ``CheckpointStore.save``); set it from a feature flag during a rolling upgrade.
    ``policy`` is a lock file (``amber schema lock``): checkpoints holding a type older than
    its ``oldest_supported`` version are refused before any data is read. ``max_load_bytes``
    caps the decompressed bytes one load reads, and ``max_load_memory`` (default: eight times
    the machine's physical memory) the memory it may take, estimated per kind of value from the
    manifest (a decompressed byte can cost over 200 bytes of memory: an empty set): a
    checkpoint over either is refused (``CheckpointTooLargeError``) before any segment is
    read. The memory bound covers verify and the generic reads too, and a delta's whole chain;
    without ``max_load_memory``, ``AMBER_MAX_LOAD_MEMORY`` sets it (``2G``), for the CLI too.
    ``listeners`` are told of everything done on the store (``amber.events``); ``history``
    keeps a journal of checkpoints, restores, migrations and collections for ``amber report``.
    ``signing_key`` (default: the ``AMBER_SIGNING_KEY`` environment variable) signs every
    manifest written and is required of every manifest read; ``verify_keys`` (default:
    ``AMBER_VERIFY_KEYS``, comma-separated) are older keys still accepted when reading, for
    rotation. A checkpoint unsigned, signed by another key or changed since raises
    ``SignatureError`` (docs/security.md). With ``read_newer=False``, a checkpoint holding a
    type written at a newer version than the code declares is refused (``IncompatibleSchemaError``)
    instead of read by the rules, which silently default the fields a newer release renamed or
    removed (a rollback of a deploy onto unpinned data); it is read with a warning otherwise.
    """
    storage = storage_for(os.fspath(url), fsync=fsync, options=storage_options)
    if not create and not storage.exists():
        raise StoreNotFoundError(f"no store at {storage.url}")
    oldest = _oldest_supported(policy) if policy is not None else None
    return CheckpointStore(
        storage,
        registry=registry,
        compression_level=compression_level,
        write_versions=write_versions,
        oldest_supported=oldest,
        max_load_bytes=max_load_bytes,
        max_load_memory=_memory_limit(max_load_memory),
        listeners=listeners,
        history=history,
        signing=Keyring.of(signing_key, verify_keys),
        read_newer=read_newer,
    )


def _memory_limit(given: int | None) -> int | None:
    """``max_load_memory``, else ``AMBER_MAX_LOAD_MEMORY`` (how the CLI gets one), else None
    (the default); refused unless positive."""
    if given is None:
        text = os.environ.get("AMBER_MAX_LOAD_MEMORY", "").strip()
        if not text:
            return None
        given = parse_size(text, "AMBER_MAX_LOAD_MEMORY")
    if given <= 0:
        raise ValueError(f"max_load_memory must be a positive number of bytes, not {given}")
    return given


def parse_size(text: str, what: str) -> int:
    """Bytes, or a number with K, M, G or T (``2G``), in ASCII digits."""
    match = _SIZE.fullmatch(text.strip())
    if match is None or int(match[1]) == 0:
        raise ValueError(f"{what}={text!r}: give a number of bytes, or one with K, M, G or T (e.g. 2G)")
    return int(match[1]) << (10 * "BKMGT".index(match[2] or "B"))


_SIZE = re.compile(r"([0-9]{1,15})([KMGT]?)")


def _oldest_supported(policy: str | os.PathLike[str]) -> dict[str, int]:
    lock = read_lock(Path(policy))
    if lock is None:
        raise SchemaError(f"no lock file at {policy}")
    return {name: t.oldest_supported for name, t in lock.types.items()}


# Bucket names as S3 allows them (3 to 63 lowercase letters, digits, dots and hyphens), and
# the underscores and capitals some S3-compatible servers accept.
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,62}")


def storage_for(url: str, *, fsync: bool, options: dict[str, str] | None) -> Storage:
    if "\x00" in url:  # no file system or bucket names anything with a NUL
        raise StoreURLError(f"a store URL cannot hold a NUL character: {url!r}")
    try:
        parsed = urlparse(url)
    except ValueError as e:  # e.g. an unclosed [ in the host
        raise StoreURLError(f"not a store URL: {url!r} ({e})") from None
    if options and parsed.scheme != "s3":
        raise StoreURLError("storage_options apply to s3:// stores only")
    if parsed.scheme == "s3":
        from ..storage._s3 import S3Storage

        if parsed.query or parsed.fragment or parsed.params or not _BUCKET.fullmatch(parsed.netloc):
            raise StoreURLError(
                f"an s3:// store URL is s3://bucket/prefix (a bucket name, and a prefix without ?, # or ;): {url!r}"
            )
        try:
            return S3Storage(parsed.netloc, unquote(parsed.path, errors="strict"), options)
        except (ValueError, UnicodeDecodeError) as e:  # a prefix that is no valid key
            raise StoreURLError(f"not an s3:// store URL Amber can use: {url!r} ({e})") from None
    if parsed.scheme == "memory":
        return MemoryStorage()
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise StoreURLError(f"file URLs name a local path, not host {parsed.netloc!r}: {url}")
        return LocalStorage(unquote(parsed.path), fsync=fsync)
    if parsed.scheme in ("",) or len(parsed.scheme) == 1:  # a plain path (or a Windows drive)
        return LocalStorage(url, fsync=fsync)
    raise StoreURLError(f"unsupported store URL {url!r}: use a path, file:///path, s3://bucket/prefix or memory://")
