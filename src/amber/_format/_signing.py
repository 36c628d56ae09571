"""Signed checkpoints: an HMAC-SHA256 over each manifest, with several verification keys.

A manifest signed by a writer holding the key carries ``signature: "<key id>:<hmac>"``; its
segments carry their SHA-256 (a keyed reader checks them: xxh3 detects accidents, not
forgeries), so the signature covers every byte a load reads. Keys are secrets of at least
16 bytes; the key id (16 hex digits of a SHA-256 over the key) says which one signed
without revealing it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from .._schema._fields import canonical_json
from ..errors import SignatureError, SigningKeyError
from ._format import Manifest

MIN_KEY_BYTES = 16


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"amber key id\x00" + key).hexdigest()[:16]


def _as_key(key: bytes | str, source: str) -> bytes:
    raw = key.encode() if isinstance(key, str) else bytes(key)
    if len(raw) < MIN_KEY_BYTES:
        raise SigningKeyError(
            f"{source}: a key of {len(raw)} bytes; keys need at least {MIN_KEY_BYTES} bytes "
            "(e.g. secrets.token_hex(32))"
        )
    return raw


@dataclass(frozen=True)
class Keyring:
    """The key that signs new manifests (if any) and every key a manifest may be signed by."""

    signing: bytes | None
    verifying: dict[str, bytes]  # key id -> key

    @classmethod
    def of(cls, signing_key: bytes | str | None, verify_keys: Iterable[bytes | str] = ()) -> Keyring | None:
        """From explicit keys, else ``AMBER_SIGNING_KEY`` and ``AMBER_VERIFY_KEYS`` (keys
        separated by commas); None when there are none (nothing is signed or checked)."""
        signing_source, verify_source = "signing_key", "verify_keys"
        if signing_key is None:
            signing_key, signing_source = os.environ.get("AMBER_SIGNING_KEY") or None, "AMBER_SIGNING_KEY"
        extra = list(verify_keys)
        if not extra:
            extra = [k for k in os.environ.get("AMBER_VERIFY_KEYS", "").split(",") if k]
            verify_source = "AMBER_VERIFY_KEYS"
        signing = _as_key(signing_key, signing_source) if signing_key is not None else None
        keys = [signing] if signing is not None else []
        keys += [_as_key(k, f"{verify_source}[{i}]") for i, k in enumerate(extra)]
        if not keys:
            return None
        return cls(signing, {key_id(k): k for k in keys})

    def refuse_unsigned(self, where: str) -> None:
        """A store that checks signatures writes only what it can sign: a checkpoint it
        commits unsigned would be refused by itself and every keyed reader."""
        if self.signing is None:
            ours = ", ".join(sorted(self.verifying))
            raise SigningKeyError(
                f"{where}: this store checks signatures (keys {ours}) but has no signing key, so what it "
                "commits would be refused on load: give signing_key= (or AMBER_SIGNING_KEY), or only read with it"
            )

    def sign(self, manifest: Manifest) -> Manifest:
        """The manifest with its signature (a manifest signed before is signed anew)."""
        if self.signing is None:
            return msgspec.structs.replace(manifest, signature="")
        body = canonical_json(msgspec.structs.replace(manifest, signature=""))
        tag = hmac.new(self.signing, body, hashlib.sha256).hexdigest()
        return msgspec.structs.replace(manifest, signature=f"{key_id(self.signing)}:{tag}")

    def check(self, manifest: Manifest) -> None:
        """Raise ``SignatureError`` unless one of our keys signed exactly this manifest."""
        ours = ", ".join(sorted(self.verifying))
        if not manifest.signature:
            raise SignatureError(manifest.id, "signature", f"a signature by key {ours}", "none (unsigned)")
        signer, _, tag = manifest.signature.partition(":")
        key = self.verifying.get(signer)
        if key is None:
            raise SignatureError(manifest.id, "signature", f"a signature by key {ours}", f"key {signer[:16]!r}")
        body = canonical_json(msgspec.structs.replace(manifest, signature=""))
        if not hmac.compare_digest(hmac.new(key, body, hashlib.sha256).hexdigest(), tag):
            raise SignatureError(manifest.id, "signature", f"the HMAC of key {signer}", "another (tampered)")
        if any(not s.sha256 for s in manifest.segments):
            raise SignatureError(manifest.id, "segments", "a SHA-256 for every segment", "a segment without")
