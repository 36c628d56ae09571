"""Corrupted, truncated, foreign, future and hostile checkpoints: a typed error, nothing lost."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import tracemalloc
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

import amber
from amber._format import _format
from tests.support.helpers import forge, tree_digest
from tests.support.sample import bank, everything, registry


@pytest.fixture
def saved(tmp_path: Path) -> tuple[amber.CheckpointStore, Path, Any]:
    store = amber.open_store(tmp_path, registry=registry)
    state = {"bank": bank(customers=3, accounts=6), "everything": everything()}
    store.save(state)
    return store, tmp_path, state


def files(root: Path) -> tuple[Path, Path]:
    manifest = next((root / "checkpoints").iterdir())
    data = next((root / "data").iterdir())
    return manifest, data


def expect_refusal(store: amber.CheckpointStore, root: Path, error: type[Exception] = amber.CheckpointError) -> None:
    """Loading and verifying both fail with a typed error naming the checkpoint; nothing changes."""
    before = tree_digest(root)
    with pytest.raises(error) as caught:
        store.load()
    assert isinstance(caught.value, amber.CheckpointError)
    assert caught.value.checkpoint in ("000000000001", store.url) and caught.value.part and caught.value.expected
    with pytest.raises(error):
        store.verify("1")
    assert tree_digest(root) == before, "a failed load modifies and deletes nothing"


def test_every_flipped_byte_of_the_manifest_is_caught(saved: Any) -> None:
    store, root, _ = saved
    manifest, _ = files(root)
    original = manifest.read_bytes()
    for position in range(len(original)):
        damaged = bytearray(original)
        damaged[position] ^= 0x41
        manifest.write_bytes(bytes(damaged))
        with pytest.raises(amber.CheckpointError):
            store.load()
    manifest.write_bytes(original)
    assert store.load() is not None


def test_every_flipped_byte_of_the_data_file_is_caught(saved: Any) -> None:
    store, root, _ = saved
    _, data = files(root)
    original = data.read_bytes()
    for position in range(len(original)):
        damaged = bytearray(original)
        damaged[position] ^= 0x01
        data.write_bytes(bytes(damaged))
        with pytest.raises(amber.CheckpointError, match="digest|header"):
            store.load()
    data.write_bytes(original)


def test_truncation_anywhere_is_caught(saved: Any) -> None:
    store, root, _ = saved
    for path in files(root):
        original = path.read_bytes()
        for length in range(len(original)):
            path.write_bytes(original[:length])
            with pytest.raises(amber.CheckpointError):
                store.load()
        path.write_bytes(original)


def test_a_missing_data_file(saved: Any) -> None:
    store, root, _ = saved
    files(root)[1].unlink()
    expect_refusal(store, root, amber.CorruptCheckpointError)


def test_a_foreign_file_in_place_of_a_manifest(saved: Any) -> None:
    store, root, _ = saved
    files(root)[0].write_bytes(b'{"json": "but not ours"}\n')
    expect_refusal(store, root, amber.ForeignFileError)


def test_a_future_format_version_asks_for_an_upgrade(saved: Any) -> None:
    store, root, _ = saved
    manifest = files(root)[0]
    future = f"AMBER-MANIFEST {amber.FORMAT_VERSION + 1}\n".encode()
    current = f"AMBER-MANIFEST {store.manifest().format_version}\n".encode()
    manifest.write_bytes(manifest.read_bytes().replace(current, future, 1))
    with pytest.raises(amber.UnsupportedFormatError, match="upgrade amber"):
        store.load()


def test_a_type_unknown_to_the_reader(saved: Any) -> None:
    _, root, _ = saved
    other = amber.open_store(root, registry=amber.Registry())
    with pytest.raises(amber.UnknownTypeError, match=r"4 problem\(s\): bank\.Customer: v1 is not declared") as caught:
        other.load()
    assert [p.type for p in caught.value.problems] == [
        "bank.Customer",
        "bank.Account",
        "bank.Branch",
        "test.Everything",
    ]
    assert other.verify().records > 0, "verify needs no application code"


def test_the_same_name_and_version_with_another_schema(saved: Any) -> None:
    _, root, _ = saved
    reg = amber.Registry()
    for name in ("bank.Customer", "bank.Account", "bank.Branch", "test.Everything"):
        reg.register(
            msgspec.defstruct(name.split(".")[1], [("different", int)], bases=(amber.Record,)), name, version=1
        )
    with pytest.raises(amber.SchemaMismatchError, match="fingerprint"):
        amber.open_store(root, registry=reg).load()


# --- hostile content with valid digests --------------------------------------------------


def test_a_decompression_bomb_that_lies_about_its_size(saved: Any) -> None:
    store, root, _ = saved
    bomb = zstandard.ZstdCompressor().compress(b"\0" * (64 << 20))  # 64 MiB in a few KiB
    forge_with_blob(root, bomb, declared=1)  # the manifest says 1 byte; the frame says 64 MiB
    tracemalloc.start()
    with pytest.raises(amber.CorruptCheckpointError, match="zstd frame"):
        store.load()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 << 20, f"peak {peak} bytes: the bomb was inflated"


def forge_with_blob(root: Path, blob: bytes, declared: int) -> None:
    """Replace the root segment's stored bytes with ``blob`` and fix up every digest."""
    from amber._format import _format

    key = root / "checkpoints" / "000000000001.manifest"
    m = _format.parse_manifest(key.read_bytes(), "000000000001")
    data = (root / m.data).read_bytes()
    segs, blobs, offset = [], [], len(_format.DATA_HEADER)
    for seg in m.segments:
        b = blob if seg.kind == "root" else data[seg.offset : seg.offset + seg.length]
        segs.append(
            msgspec.structs.replace(
                seg,
                offset=offset,
                length=len(b),
                digest=_format.digest(b),
                raw_length=declared if seg.kind == "root" else seg.raw_length,
            )
        )
        blobs.append(b)
        offset += len(b)
    (root / m.data).write_bytes(data[: len(_format.DATA_HEADER)] + b"".join(blobs))
    key.write_bytes(_format.encode_manifest(msgspec.structs.replace(m, segments=tuple(segs), data_size=offset)))


def test_a_segment_declaring_more_than_the_limit_is_refused_before_reading(saved: Any) -> None:
    store, root, _ = saved
    forge(
        root,
        "000000000001",
        edit=lambda m: {**m, "segments": [{**m["segments"][0], "raw_length": 1 << 40}, *m["segments"][1:]]},
    )
    expect_refusal(store, root, amber.CorruptCheckpointError)


@pytest.mark.parametrize(
    "root_node",
    [
        [0] * 3,  # a list node with the wrong arity
        [2, 0, [10**6]],  # a reference far past the table
        [2, 0, [-1]],  # a negative row
        [3, 0, 0, 10**12],  # a row range past the table
        [7, [1, [[0, [1]]]], [1, [1]]],  # an unhashable dict key
        [7, [1, [1, 1]], [1, [1, 2]]],  # duplicate dict keys
        [99, 1],  # an unknown tag
        [9, "not a date"],
        [14, b"short"],  # a UUID of 5 bytes
        {"a": "map"},  # maps are not part of the tagged encoding
    ],
)
def test_structurally_wrong_roots_are_refused(saved: Any, root_node: Any) -> None:
    store, root, _ = saved
    forge(root, "000000000001", root=msgspec.msgpack.encode(root_node))
    expect_refusal(store, root, amber.CorruptCheckpointError)


def test_deep_nesting_is_refused_without_crashing(saved: Any) -> None:
    store, root, _ = saved
    forge(root, "000000000001", root=b"\x92\x00\x91" * 100_000 + b"\x01")
    expect_refusal(store, root, amber.CorruptCheckpointError)


def test_a_table_column_of_the_wrong_type_is_refused(saved: Any) -> None:
    store, root, _ = saved
    m = store.manifest()
    index = next(i for i, s in enumerate(m.segments) if s.kind == "table")
    rows = m.segments[index].rows
    fields = len(m.types[m.segments[index].type].schema.fields)
    forge(root, "000000000001", table=(index, msgspec.msgpack.encode([["x"] * rows] * fields)))
    expect_refusal(store, root, amber.CorruptCheckpointError)


def test_absurd_counts_are_refused(saved: Any) -> None:
    store, root, _ = saved
    forge(root, "000000000001", edit=lambda m: {**m, "types": [{**m["types"][0], "count": 10**15}, *m["types"][1:]]})
    expect_refusal(store, root, amber.CorruptCheckpointError)


def test_a_manifest_pointing_outside_the_store_is_refused(saved: Any) -> None:
    store, root, _ = saved
    forge(root, "000000000001", edit=lambda m: {**m, "data": "../../etc/passwd"})
    expect_refusal(store, root, amber.CorruptCheckpointError)


def test_an_oversized_manifest_is_not_read(saved: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store, root, _ = saved
    monkeypatch.setattr("amber._store._manifests.MAX_MANIFEST_BYTES", 100)
    expect_refusal(store, root, amber.CorruptCheckpointError)


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=200)
    | st.builds(
        msgspec.msgpack.encode,
        st.recursive(
            st.integers(-3, 20) | st.binary(max_size=20) | st.text(max_size=5) | st.none(),
            lambda inner: st.lists(inner, max_size=5),
            max_leaves=30,
        ),
    )
)
def test_any_root_bytes_load_or_raise_a_checkpoint_error(tmp_path_factory: Any, payload: bytes) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    store = amber.open_store(root, registry=registry)
    store.save({"bank": bank(customers=2, accounts=2)})
    forge(root, "000000000001", root=payload)
    with contextlib.suppress(amber.CheckpointError):
        store.load()


tiny = amber.Registry()  # small records of their own, for the forged cases below


@tiny.record("r.A", version=1)
class A(amber.Record):
    n: int


@tiny.record("r.Opt", version=1)
class Opt(amber.Record):
    owner: A | None


@tiny.record("r.Empty", version=1)
class Empty(amber.Record):
    pass


@tiny.record("r.K1", version=1)
class K1(amber.FrozenRecord, frozen=True):
    x: Any


def saved_with(tmp_path: Path, state: Any) -> amber.CheckpointStore:
    store = amber.open_store(tmp_path, registry=tiny)
    store.save(state)
    return store


def roundtrip(state: Any) -> Any:
    store = amber.open_store("memory://", registry=tiny)
    store.save(state)
    return store.load()


def test_a_reference_to_a_type_the_checkpoint_lacks_is_corrupt(tmp_path: Path) -> None:
    store = saved_with(tmp_path, [Opt(None)])
    forge(tmp_path, "000000000001", table=(1, msgspec.msgpack.encode([[0]])))
    with pytest.raises(amber.CorruptCheckpointError, match="row numbers"):
        store.load()


def test_types_without_fields_round_trip_and_cannot_claim_absurd_counts(tmp_path: Path) -> None:
    loaded = roundtrip([Empty(), Empty()])
    assert loaded == [Empty(), Empty()] and loaded[0] is not loaded[1]
    store = saved_with(tmp_path, [Empty()])

    def huge(m: dict[str, Any]) -> dict[str, Any]:
        m["types"][0]["count"] = 2**40
        for seg in m["segments"]:
            if seg["kind"] == "table":
                seg["rows"] = 2**40
        return m

    forge(tmp_path, "000000000001", edit=huge)
    with pytest.raises(amber.CorruptCheckpointError):
        store.load()


def rewrite_manifest(path: Path, change: Any) -> None:
    lines = path.read_bytes().split(b"\n")
    header, body = change(lines[0], lines[1])
    data = header + b"\n" + body + b"\n"
    path.write_bytes(data + b"xxh3-128 " + _format.digest(data).encode() + b"\n")


def replace_field_type(tmp_path: Path, field_type: str) -> None:
    """Give A's only field another type, with a matching fingerprint (what a forger can do)."""
    path = tmp_path / "checkpoints" / "000000000001.manifest"
    old = amber.open_store(tmp_path, registry=tiny).manifest().types[0].fingerprint
    schema = '{"fields":[{"name":"n","type":' + field_type + '}],"name":"r.A","version":1}'
    new = hashlib.sha256(schema.encode()).hexdigest()[:32]
    rewrite_manifest(
        path,
        lambda h, b: (
            h,
            b.replace(b'"type":{"kind":"int"}', b'"type":' + field_type.encode()).replace(old.encode(), new.encode()),
        ),
    )


@pytest.mark.parametrize(
    "field_type",
    [
        '{"kind":"enum","values":[100000000000000000000000]}',
        '{"kind":"set","items":[{"kind":"list","items":[{"kind":"int"}]}]}',
        '{"kind":"none","items":[{"kind":"int"}]}',
        '{"kind":"tuple"}',
        '{"kind":"list","items":[' * 40 + '{"kind":"int"}' + "]}" * 40,
        '{"kind":"list","items":[' * 600 + '{"kind":"int"}' + "]}" * 600,
    ],
    ids=["enum-overflow", "unhashable-set", "stray-items", "empty-tuple", "deep-40", "deep-600"],
)
def test_unsound_field_types_in_a_manifest_are_refused(tmp_path: Path, field_type: str) -> None:
    store = saved_with(tmp_path, A(1))
    replace_field_type(tmp_path, field_type)
    with pytest.raises(amber.CorruptCheckpointError):
        store.load()
    with pytest.raises(amber.CorruptCheckpointError):
        amber.open_store(tmp_path, registry=amber.Registry()).verify()


def test_a_huge_timedelta_in_the_root_is_corrupt_not_an_overflow(tmp_path: Path) -> None:
    store = saved_with(tmp_path, A(1))
    forge(tmp_path, "000000000001", root=msgspec.msgpack.encode([12, 10**12, 0, 0]))
    with pytest.raises(amber.CorruptCheckpointError, match="tag 12"):
        store.load()


@pytest.mark.parametrize(
    ("header", "body_change", "error"),
    [
        (b"AMBER-MANIFEST " + b"0" * 5000, None, amber.CorruptCheckpointError),
        (b"AMBER-MANIFEST 0", None, amber.CorruptCheckpointError),
        (None, (b'"format_version":1', b'"format_version":99'), amber.CorruptCheckpointError),
        (None, (b'"name":"r.A"', b'"name":"r..A"'), amber.CorruptCheckpointError),
    ],
)
def test_manifest_versions_and_names_are_checked(
    tmp_path: Path, header: bytes | None, body_change: Any, error: Any
) -> None:
    store = saved_with(tmp_path, A(1))
    path = tmp_path / "checkpoints" / "000000000001.manifest"
    rewrite_manifest(path, lambda h, b: (header or h, b.replace(*body_change) if body_change else b))
    with pytest.raises(error):
        store.load()


def test_a_future_data_file_version_asks_for_an_upgrade(tmp_path: Path) -> None:
    store = saved_with(tmp_path, A(1))
    data = tmp_path / store.manifest().data
    blob = bytearray(data.read_bytes())
    blob[11] = amber.FORMAT_VERSION + 1
    data.write_bytes(bytes(blob))
    with pytest.raises(amber.UnsupportedFormatError, match="data file header"):
        store.load()


def test_a_fifo_in_place_of_the_data_file_does_not_hang(tmp_path: Path) -> None:
    store = saved_with(tmp_path, A(1))
    data = tmp_path / store.manifest().data
    data.unlink()
    os.mkfifo(data)
    signal.alarm(10)
    try:
        with pytest.raises(amber.CorruptCheckpointError, match="data file"):
            store.load()
    finally:
        signal.alarm(0)


def test_a_forged_reference_to_a_missing_type_in_a_frozen_record_is_corrupt(tmp_path: Path) -> None:
    store = saved_with(tmp_path, [K1(1)])
    forge(tmp_path, "000000000001", table=(1, msgspec.msgpack.encode([[[8, 7, 0]]])))
    with pytest.raises(amber.CorruptCheckpointError, match="type indices below 1"):
        store.load()


def test_a_tiny_file_cannot_declare_a_huge_root(tmp_path: Path) -> None:
    store = saved_with(tmp_path, [A(1)])
    forge(tmp_path, "000000000001", root=b"\x90" * (65 << 20))  # 65 Mi empty arrays, a few kB on disk
    assert sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()) < 100_000
    with pytest.raises(amber.CorruptCheckpointError, match="sane lengths"):
        store.verify()
