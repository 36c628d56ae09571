"""The fuzz target: everything that reads what a store holds, fed arbitrary bytes.

An input is a manifest and a data file (see ``split``). It is put in a memory store as
checkpoint 1 (the data file under the name the manifest asks for), then read every way
Amber reads: load, verify, the generic reader, the JSON dump, plan, and the fleet's,
lease's and fence's parsers. The only acceptable outcomes are a result or an ``amber``
error: no other exception, no hang, bounded memory.

    python -m tests.fuzz.target CORPUS_DIR [libFuzzer options]   (a longer run: docs/reliability.md)
"""

from __future__ import annotations

import contextlib
import re
import sys
from typing import Any

import msgspec
import xxhash

import amber
from amber import commands
from amber._fleet._fleet import Fleet
from amber._store._lease import LEASE_KEY, peek_lease
from amber.storage import MemoryStorage
from tests.support.sample import registry

_DATA_KEY = re.compile(rb"data/[0-9a-f]{32}\.seg")
MAX_LOAD = 32 << 20  # decompressed bytes a fuzzed load may read
MAX_MEMORY = 1 << 30  # memory a fuzzed read may take, as estimated from its manifest: under the run's 2 GB


def split(data: bytes) -> tuple[bytes, bytes]:
    """An input is the manifest's length (4 bytes, big-endian), the manifest, the data file:
    a mutation shifts the split, never makes it unreadable."""
    length = int.from_bytes(data[:4], "big") % (len(data) + 1)
    return data[4 : 4 + length], data[4 + length :]


def one_input(data: bytes) -> None:
    manifest, blob = split(data)
    if data[:1] and data[0] % 2:  # half the inputs get their digests made right, to reach the decoders
        manifest = repaired(manifest, blob)
    storage = MemoryStorage()
    storage.put("checkpoints/000000000001.manifest", [manifest])
    named = _DATA_KEY.search(manifest)
    storage.put(named.group().decode() if named else "data/" + "0" * 32 + ".seg", [blob])
    _read_all_ways(storage)
    _read_fleet_objects(manifest)


def repaired(manifest: bytes, blob: bytes) -> bytes:
    """The manifest with every segment digest matching ``blob`` and a valid digest line,
    so that mutations reach decompression, decoding and rebuilding instead of stopping at a
    digest check (which the unit tests cover)."""
    lines = manifest.split(b"\n")
    if len(lines) < 3:
        return manifest
    try:
        body = msgspec.json.decode(lines[1])
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("segments"), list):
        for segment in body["segments"]:
            if (
                isinstance(segment, dict)
                and isinstance(segment.get("offset"), int)
                and isinstance(segment.get("length"), int)
            ):
                start = max(segment["offset"], 0)
                segment["digest"] = xxhash.xxh3_128_hexdigest(blob[start : start + max(segment["length"], 0)])
        body["digest"] = body.get("digest", "")
        with contextlib.suppress(TypeError, ValueError):
            lines[1] = msgspec.json.encode(body)
    head = lines[0] + b"\n" + lines[1] + b"\n"
    return head + b"xxh3-128 " + xxhash.xxh3_128_hexdigest(head).encode() + b"\n"


def _read_all_ways(storage: MemoryStorage) -> None:
    store = amber.CheckpointStore(
        storage, registry=registry, history=False, max_load_bytes=MAX_LOAD, max_load_memory=MAX_MEMORY
    )
    dumps = (lambda: commands.dump(store), lambda: commands.dump_changes(store))
    for read in (store.load, store.verify, store.read_generic, store.plan, *dumps):
        _expect_amber_error(read)
    generic = amber.CheckpointStore(
        storage, registry=amber.Registry(), history=False, max_load_bytes=MAX_LOAD, max_load_memory=MAX_MEMORY
    )
    _expect_amber_error(generic.verify)


def _read_fleet_objects(blob: bytes) -> None:
    storage = MemoryStorage()
    storage.put("epochs/000000000001.decision", [blob])
    storage.put(LEASE_KEY, [blob])
    storage.put("fences/0000000000000000001", [blob])
    fleet = Fleet(storage, 8, registry=registry, history=False)
    _expect_amber_error(lambda: fleet.load(0, 1))
    _expect_amber_error(lambda: peek_lease(storage, LEASE_KEY))
    _expect_amber_error(amber.CheckpointStore(storage, history=False).manifests.fences)


def _expect_amber_error(read: Any) -> None:
    with contextlib.suppress(amber.AmberError):
        read()


def main() -> None:
    import atheris  # type: ignore[import-untyped]

    atheris.instrument_all()
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
