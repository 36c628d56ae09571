"""A store's manifests: which exist, which are checkpoints (not fenced off), each one read
and checked, and the chain a delta needs.

A checkpoint exists exactly when its manifest does and no fence voids it. Everything here
reads; nothing writes (the commit protocol is in ``_commit``). The checks a manifest passes
before anyone acts on it live here, in one place: its size bound, its id, its signature,
its fence, its data file's size and header, a delta's link to its parent by digest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .._format._format import (
    DATA_MAGIC,
    FORMAT_VERSION,
    HEADER_SIZE,
    ID_PATTERN,
    MAX_MANIFEST_BYTES,
    SHORT_ID,
    Manifest,
    content_version,
    data_header,
    format_id,
    manifest_digest,
    manifest_key,
    parse_manifest,
)
from ..errors import (
    CheckpointError,
    CheckpointNotFoundError,
    CheckpointTooLargeError,
    CorruptCheckpointError,
    ObjectNotFoundError,
    PlantedLinkError,
    StoreError,
    UnsupportedFormatError,
)
from ._fencing import Fence

if TYPE_CHECKING:
    from ._checkpoint import CheckpointStore

Parser = Callable[[bytes, str], Manifest]  # a manifest file's bytes and its id -> the checked manifest


class Manifests:
    """The manifests of one store, read with its settings as they are now (its signing keys
    and load bound may be set after it is opened) and its shared view of the fences."""

    def __init__(self, store: CheckpointStore) -> None:
        self.store = store
        self.storage = store.storage
        self.fencing = store.fence_view

    # --- which exist ----------------------------------------------------------------------

    def ids(self) -> list[str]:
        """Ids of committed checkpoints, oldest first (commits of a fenced writer are none)."""
        return self.fencing.valid(self.all_ids(), self._token_of)

    def void_ids(self) -> list[str]:
        """Manifests that are not checkpoints: commits of writers a fence fenced off."""
        raw = self.all_ids()
        return sorted(set(raw) - set(self.fencing.valid(raw, self._token_of)))

    def all_ids(self) -> list[str]:
        """Ids of every manifest in the store, fenced or not: sequence numbers they hold."""
        ids = []
        for key in self.storage.list("checkpoints/"):
            name = key.removeprefix("checkpoints/")
            if name.endswith(".manifest") and ID_PATTERN.fullmatch(name[: -len(".manifest")]):
                ids.append(name[: -len(".manifest")])
        return ids

    def last_sequence(self) -> int:
        """The highest sequence number any manifest holds (0 in an empty store)."""
        ids = self.all_ids()
        return int(ids[-1]) if ids else 0

    def resolve(self, checkpoint_id: str | int | None) -> str:
        """The id of a checkpoint named by its sequence number (the newest when None)."""
        if checkpoint_id is None:
            newest = self.fencing.newest(self.all_ids(), self._token_of)
            if newest is None:
                raise CheckpointNotFoundError(self.storage.url, "store", "at least one committed checkpoint", "none")
            return newest
        text = str(checkpoint_id)
        if SHORT_ID.fullmatch(text):  # ASCII digits only: int() would take "٣" for 3
            return format_id(int(text))
        raise CheckpointNotFoundError(text, "id", "a checkpoint id (its sequence number)", repr(text))

    def _token_of(self, checkpoint_id: str) -> int | None:
        try:
            return self.parse(checkpoint_id)[0].token
        except (CheckpointError, StoreError):
            return None

    # --- fences ---------------------------------------------------------------------------

    def fences(self) -> list[Fence]:
        """Every takeover of the lease: (token, first sequence it fenced), oldest first."""
        return self.fencing.listed()

    def fenced_by(self, manifest: Manifest) -> Fence | None:
        """The fence (token, first sequence) that voids a commit, or None: a commit from a
        sequence a newer token fenced, by an older token, exists for no reader."""
        return self.fencing.covering(manifest.sequence, manifest.token)

    # --- one manifest ---------------------------------------------------------------------

    def read(self, checkpoint_id: str | int | None, *, parser: Parser = parse_manifest) -> tuple[Manifest, int]:
        """A checkpoint's checked manifest and its size in bytes: within the store's load
        bound, its data file present with the size and header it names. ``parser``: see ``parse``."""
        manifest, size = self.parsed(checkpoint_id, parser=parser)
        raw = sum(s.raw_length for s in manifest.segments)
        if raw > self.store.max_load_bytes:
            raise CheckpointTooLargeError(
                manifest.id,
                "manifest",
                f"at most {self.store.max_load_bytes} decompressed bytes (raise max_load_bytes)",
                str(raw),
            )
        self.check_data_file(manifest)
        return manifest, size

    def parsed(self, checkpoint_id: str | int | None, *, parser: Parser = parse_manifest) -> tuple[Manifest, int]:
        """A checkpoint's manifest, checked on its own (not its data file or its size
        against ``max_load_bytes``), with the manifest's size in bytes."""
        manifest, size = self.parse(self.resolve(checkpoint_id), parser=parser)
        fence = self.fenced_by(manifest)
        if fence is not None:
            raise CheckpointNotFoundError(
                manifest.id,
                "manifest",
                "a commit by the store's lease holder",
                f"a commit by lease token {manifest.token}, fenced off by token {fence[0]} from sequence {fence[1]}",
            )
        return manifest, size

    def parse(self, cid: str, *, parser: Parser = parse_manifest) -> tuple[Manifest, int]:
        """The manifest file of ``cid``, fenced or not: bounded, parsed, its id and signature
        checked. ``parser`` turns its bytes into a checked manifest: ``parse_manifest``, or one
        that remembers the bytes it parsed (``amber copy`` reads back the source's bytes)."""
        key = manifest_key(cid)
        try:
            size = self.storage.size(key)
            if size > MAX_MANIFEST_BYTES:
                raise CorruptCheckpointError(cid, "manifest", f"at most {MAX_MANIFEST_BYTES} bytes", str(size))
            data = self.storage.get_range(key, 0, size)
        except ObjectNotFoundError:
            raise CheckpointNotFoundError(cid, "manifest", "a committed checkpoint with this id", "none") from None
        except PlantedLinkError as e:  # listed, never read through
            raise CorruptCheckpointError(cid, "manifest", "a readable manifest file", str(e)) from None
        manifest = parser(data, cid)
        if manifest.id != cid:
            raise CorruptCheckpointError(cid, "manifest", f"id {cid}", manifest.id)
        if self.store.signing is not None:
            self.store.signing.check(manifest)
        return manifest, size

    def check_data_file(self, manifest: Manifest) -> None:
        """The data file a manifest names is there, with its size and its format's header."""
        try:
            size = self.storage.size(manifest.data)
            header = self.storage.get_range(manifest.data, 0, HEADER_SIZE)
        except ObjectNotFoundError:
            raise CorruptCheckpointError(manifest.id, "data file", manifest.data, "it is missing") from None
        except PlantedLinkError as e:
            raise CorruptCheckpointError(manifest.id, "data file", manifest.data, str(e)) from None
        if size != manifest.data_size:
            raise CorruptCheckpointError(manifest.id, "data file", f"{manifest.data_size} bytes", str(size))
        expected = data_header(data_version(manifest))
        if header[: len(DATA_MAGIC)] == DATA_MAGIC and header > data_header(FORMAT_VERSION):
            raise UnsupportedFormatError(
                manifest.id, "data file header", f"format version {FORMAT_VERSION} or older", header[10:12].hex()
            )
        if header != expected:
            raise CorruptCheckpointError(manifest.id, "data file header", expected.hex(), header.hex())

    # --- chains ---------------------------------------------------------------------------

    def chain(self, checkpoint_id: str | int | None = None) -> list[Manifest]:
        """The manifests a checkpoint needs, its full base first and itself last."""
        return [manifest for manifest, _ in self.chain_read(checkpoint_id)]

    def chain_read(self, checkpoint_id: str | int | None = None) -> list[tuple[Manifest, int]]:
        """``chain``, each manifest with its size in bytes (as ``read`` gives them): what a
        restore reports of the chain, from one read of each manifest."""
        chain = [self.read(checkpoint_id)]
        while chain[-1][0].parent:
            child = chain[-1][0]
            try:
                parent = self.read(child.parent)
            except CheckpointNotFoundError:
                raise CorruptCheckpointError(
                    child.id, "parent", f"its parent checkpoint {child.parent}", "it is missing"
                ) from None
            if parent[0].depth != child.depth - 1:
                expected = f"a parent at depth {child.depth - 1}"
                raise CorruptCheckpointError(child.id, "parent", expected, str(parent[0].depth))
            check_link(child, parent[0])
            chain.append(parent)
        return chain[::-1]


def data_version(manifest: Manifest) -> int:
    """A data file's format version: what its content needs (1, 2 or 4). The lease token of
    format 3 lives in the manifest only, so a rollback can name an older data file."""
    return manifest.format_version if manifest.format_version < 3 else content_version(manifest)


def check_link(child: Manifest, parent: Manifest) -> None:
    """A delta of format 5 on is bound to its parent's content: under a reused id (manifests
    deleted, another checkpoint committed there) the digest tells the impostor apart."""
    if child.parent_digest and child.parent_digest != manifest_digest(parent):
        raise CorruptCheckpointError(
            child.id,
            "parent",
            f"parent {child.parent} with manifest digest {child.parent_digest[:16]}…",
            f"another checkpoint under that id (digest {manifest_digest(parent)[:16]}…)",
        )
