"""S3-compatible object storage through obstore (``pip install 'amber-state[s3]'``).

Commit safety rests on the service's conditional writes: a create-only put is
``If-None-Match: *`` (a second writer of the same manifest name gets ``ConflictError``,
never a silent overwrite), and a replacing put may be made conditional on the ETag it
replaces (compare-and-swap). Objects appear whole or not at all, so there are no
temporaries to clean: an interrupted multipart upload is invisible (a bucket lifecycle rule
removes its parts, see docs/s3.md). obstore retries transient errors with exponential
backoff; whatever still fails becomes an ``amber`` error here, and nowhere else.
"""

from __future__ import annotations

import builtins
import contextlib
import ipaddress
import itertools
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import urlparse

from ..errors import AmberError, ConflictError, MissingExtraError, ObjectNotFoundError, StoreError, StoreNotFoundError
from ._base import check_key

try:
    import obstore
    from obstore import exceptions as obstore_errors
    from obstore.store import S3Store
except ImportError:  # pragma: no cover - exercised in a subprocess by the tests
    raise MissingExtraError("s3:// stores", "s3", "obstore") from None

PART_SIZE = 16 << 20  # multipart uploads: parts sent in parallel, each retried on its own
RETRY = {"max_retries": 10, "retry_timeout": timedelta(minutes=3)}


ENDPOINT_ALIASES = ("endpoint", "endpoint_url", "aws_endpoint", "aws_endpoint_url")


def _config(options: dict[str, str]) -> tuple[dict[str, str], str]:
    """obstore's S3 config from our options: one spelling of the endpoint (option, else
    environment), and explicit keys not mixed with a session token from the environment."""
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in options.items()):
        raise ValueError("storage_options maps names to strings")
    config = {k: v for k, v in options.items() if k not in ENDPOINT_ALIASES}
    given = [options[k] for k in ENDPOINT_ALIASES if options.get(k)]
    endpoint = next(iter(given), "") or os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT") or ""
    if endpoint:
        config["endpoint"] = endpoint
    if "access_key_id" in config and "session_token" not in config and os.environ.get("AWS_SESSION_TOKEN"):
        raise ValueError(
            "storage_options give an access key but AWS_SESSION_TOKEN is set in the environment, which "
            "would be sent with it: give session_token too, or unset the variable"
        )
    return config, endpoint


def _unfound_credentials(config: dict[str, str]) -> str:
    """What was looked for, when neither the options nor the environment name credentials (or
    a way to get them) that obstore reads before the instance metadata endpoint: for the
    error that endpoint's answer becomes (a bare 403 off a laptop). Else the empty string."""

    def given(option: str, variable: str) -> bool:
        return bool(config.get(option) or config.get(f"aws_{option}") or os.environ.get(variable))

    if given("skip_signature", "AWS_SKIP_SIGNATURE"):
        return ""
    keys = given("access_key_id", "AWS_ACCESS_KEY_ID") and given("secret_access_key", "AWS_SECRET_ACCESS_KEY")
    web_identity = given("web_identity_token_file", "AWS_WEB_IDENTITY_TOKEN_FILE") and given("role_arn", "AWS_ROLE_ARN")
    container = given("container_credentials_relative_uri", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or given(
        "container_credentials_full_uri", "AWS_CONTAINER_CREDENTIALS_FULL_URI"
    )
    if keys or web_identity or container:
        return ""
    return (
        "no AWS credentials found: none in storage_options (access_key_id and secret_access_key, "
        "session_token) nor in the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, with "
        "AWS_SESSION_TOKEN for temporary keys; AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN; "
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or AWS_CONTAINER_CREDENTIALS_FULL_URI), so the instance "
        "metadata endpoint (AWS_METADATA_ENDPOINT, by default http://169.254.169.254) was asked for a role's, "
        "and failed"
    )


def _client_options(endpoint: str) -> dict[str, Any]:
    """Plain HTTP only to this machine (a test server, a sidecar); elsewhere HTTPS or nothing."""
    parsed = urlparse(endpoint)
    if parsed.scheme.lower() != "http":
        return {}
    try:
        loopback = ipaddress.ip_address(parsed.hostname or "").is_loopback
    except ValueError:
        loopback = (parsed.hostname or "").lower() == "localhost"
    if not loopback:
        raise StoreError(f"refusing plain HTTP to {endpoint}: use https:// (plain HTTP is allowed on loopback only)")
    return {"allow_http": True}


class S3Storage:
    """Objects under ``s3://bucket/prefix``. Options (``endpoint``, ``region``,
    ``access_key_id``, ``secret_access_key``, ``session_token``, ...) override the standard
    AWS environment variables (``AWS_ENDPOINT_URL``, ``AWS_REGION``, ``AWS_ACCESS_KEY_ID``,
    ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``)."""

    def __init__(self, bucket: str, prefix: str = "", options: dict[str, str] | None = None) -> None:
        if not bucket:
            raise ValueError("an s3:// URL needs a bucket: s3://bucket/prefix")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_key(self.prefix)  # a prefix is a key path too: nothing to escape with, nothing odd
        config, endpoint = _config(dict(options or {}))
        self._unfound_credentials = _unfound_credentials(config)
        with _translated(f"s3://{bucket}"):
            self._store = S3Store(
                bucket,
                prefix=self.prefix or None,
                config=config,  # type: ignore[arg-type]
                client_options=_client_options(endpoint),  # type: ignore[arg-type]
                retry_config=RETRY,  # type: ignore[arg-type]
            )

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def get_range(self, key: str, start: int, length: int) -> bytes:
        if start < 0:
            raise ValueError(f"a range starts at 0 or after, not {start}")
        if length <= 0:
            self.size(key)  # as elsewhere: a missing object is an error, even for no bytes
            return b""
        try:
            with self._translated(self._where(key)):
                return bytes(obstore.get_range(self._store, key, start=start, end=start + length))
        except _RangeNotSatisfiable:
            self.size(key)  # a missing object is an error; a range past its end is just empty
            return b""

    def size(self, key: str) -> int:
        with self._translated(self._where(key)):
            return int(obstore.head(self._store, key)["size"])

    def put(self, key: str, chunks: Iterable[bytes], *, create_only: bool = False, durable: bool = True) -> int:
        """Upload ``chunks`` (in parallel parts once large); ``create_only`` is a conditional
        put that fails with ``ConflictError`` if the key exists. Every put is durable."""
        mode: Literal["create", "overwrite"] = "create" if create_only else "overwrite"
        where = self._where(key)
        stream = iter(chunks)
        first = _upto(stream, PART_SIZE)
        if len(first) < PART_SIZE:  # the whole object: one request, no multipart upload
            with self._translated(where):
                obstore.put(self._store, key, bytes(first), mode=mode, use_multipart=False)
            return len(first)
        counted = _Counted(itertools.chain([bytes(first)], stream))
        with self._translated(where):
            obstore.put(self._store, key, iter(counted), mode=mode, chunk_size=PART_SIZE, max_concurrency=8)
        return counted.size

    def replace(self, key: str, data: bytes, *, etag: str | None) -> str:
        """Compare-and-swap: write ``data`` only if the object still has ``etag`` (or, with
        None, does not exist yet); return the new ETag, or raise ``ConflictError``."""
        mode: Any = {"e_tag": etag} if etag is not None else "create"
        where = self._where(key)
        try:
            with self._translated(where):
                result = obstore.put(self._store, key, data, mode=mode, use_multipart=False)
        except ConflictError:
            # A retried request finds its own earlier success as a conflict: ours if it holds our bytes.
            if self._holds(key, data):
                return self.etag(key)
            raise
        return str(result["e_tag"])

    def _holds(self, key: str, data: bytes) -> bool:
        try:
            return self.get_range(key, 0, len(data) + 1) == data
        except ObjectNotFoundError:
            return False

    def etag(self, key: str) -> str:
        with self._translated(self._where(key)):
            return str(obstore.head(self._store, key)["e_tag"])

    def list(self, prefix: str) -> builtins.list[str]:
        folder = prefix.rstrip("/")
        with self._translated(self._where(folder) if folder else self.url):
            found = obstore.list_with_delimiter(self._store, folder or None)
        names = [str(o["path"]) for o in found["objects"]]
        return sorted(n for n in names if n.startswith(prefix) and n != prefix and "/" not in n[len(prefix) :])

    def delete(self, key: str) -> None:
        with self._translated(self._where(key)):
            obstore.delete(self._store, key)  # absent objects: S3 answers 204 all the same

    def exists(self) -> bool:
        """Whether the bucket exists and holds anything under the prefix (S3 has no folders:
        a store is there once something was written to it)."""
        try:
            with self._translated(self.url):
                first = next(iter(obstore.list(self._store, None, chunk_size=1)), [])
        except StoreNotFoundError:
            return False
        return bool(first)

    def modified(self, key: str) -> float:
        with self._translated(self._where(key)):
            return float(obstore.head(self._store, key)["last_modified"].timestamp())

    def temporaries(self, prefix: str) -> builtins.list[tuple[str, float]]:
        return []  # objects appear whole or not at all; incomplete uploads are not objects

    def delete_temporary(self, name: str) -> None:
        raise ValueError(f"{name!r} is not a leftover: an S3 store has none")

    def _translated(self, where: str) -> contextlib.AbstractContextManager[None]:
        return _translated(where, unfound_credentials=self._unfound_credentials)

    def _where(self, key: str) -> str:
        """Where ``key`` is, for messages; refuses (``ValueError``) a key that could escape."""
        return f"{self.url}/{check_key(key)}"


def _upto(stream: Iterator[bytes], limit: int) -> bytearray:
    """Chunks from ``stream`` until ``limit`` bytes are gathered or it ends."""
    buffer = bytearray()
    for chunk in stream:
        buffer += chunk
        if len(buffer) >= limit:
            break
    return buffer


class _Counted:
    """The chunks of a put, counting their bytes as they go."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = chunks
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.size += len(chunk)
            yield chunk


@contextmanager
def _translated(where: str, *, unfound_credentials: str = "") -> Iterator[None]:
    """obstore's and the service's errors as ``amber`` errors (our own pass through). With
    ``unfound_credentials`` (what was looked for), a failure to get a role's credentials from
    the instance metadata endpoint says so, rather than as that endpoint's bare status."""
    try:
        yield
    except AmberError:
        raise  # ours, e.g. raised by the chunks being written: never a storage error
    except (obstore_errors.BaseError, OSError) as e:
        if unfound_credentials and _from_metadata_endpoint(str(e)):
            raise StoreError(_no_credentials(where, unfound_credentials, e)) from e
        raise _amber_error(where, e) from e


def _no_credentials(where: str, looked_for: str, error: BaseException) -> str:
    return (
        f"{where}: {looked_for}: {_first_line(error)}. AWS_PROFILE and ~/.aws/credentials are not read: "
        'export the keys (`eval "$(aws configure export-credentials --format env)"`) or pass them in storage_options'
    )


def _amber_error(where: str, error: BaseException) -> Exception:
    text = str(error)
    if isinstance(error, obstore_errors.AlreadyExistsError | obstore_errors.PreconditionError):
        return ConflictError(f"{where}: written meanwhile by another writer")
    if isinstance(error, obstore_errors.PermissionDeniedError | obstore_errors.UnauthenticatedError):
        return StoreError(f"{where}: access denied ({_first_line(error)}); check the credentials and the policy")
    if "NoSuchBucket" in text:
        return StoreNotFoundError(f"{where}: no such bucket")
    if " 416 " in text:
        return _RangeNotSatisfiable(where)
    if isinstance(error, FileNotFoundError | obstore_errors.NotFoundError):
        return ObjectNotFoundError(f"{where} not found")
    return StoreError(f"{where}: {_first_line(error)}")


def _from_metadata_endpoint(text: str) -> bool:
    """Whether obstore failed asking the instance metadata endpoint (IMDS) for credentials."""
    return "/latest/api/token" in text or "/latest/meta-data/" in text


class _RangeNotSatisfiable(Exception):
    """A read starting at or past the end of an object (internal)."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:500] if text else type(error).__name__
