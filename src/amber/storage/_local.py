"""A local directory: temp file, fsync, rename (or link for create-only), fsync the directory."""

from __future__ import annotations

import builtins
import errno
import fcntl
import os
import re
import secrets
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import xxhash

from ..errors import AmberError, ConflictError, ObjectNotFoundError, PlantedLinkError, StoreError, StoreNotFoundError
from ._base import check_key

_TEMPORARY = re.compile(r"\.[A-Za-z0-9_-][A-Za-z0-9._-]*\.[0-9a-f]{16}\.tmp")  # see put()
FILE_MODE = 0o600  # a store's files and folders are private to their owner
DIR_MODE = 0o700


# Every file is opened without following a symlink at its own name (folders on the way are
# checked by _path): a link planted in the store must not lead a read, a write or a lock out
# of it. The kernel refuses with ELOOP, which _translated turns into a StoreError.
_NO_LINK = os.O_NOFOLLOW | os.O_CLOEXEC
PLANTED_LINK = "a symbolic link (Amber follows no link inside a store: remove it)"


def _require_regular(info: os.stat_result, key: str) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise OSError(errno.ELOOP, PLANTED_LINK)
    if not stat.S_ISREG(info.st_mode):
        raise ObjectNotFoundError(f"{key} is not a regular file")  # e.g. a FIFO: treated as absent


def _content_tag(path: Path) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | _NO_LINK)
    with os.fdopen(fd, "rb") as f:
        _require_regular(os.fstat(f.fileno()), path.name)
        return xxhash.xxh3_128_hexdigest(f.read())


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | _NO_LINK, FILE_MODE)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise PlantedLinkError(f"{lock_path}: {PLANTED_LINK}") from None
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _links_below(root: Path, key: str) -> bool:
    """Whether a folder between ``root`` and ``key``'s file is a symbolic link (the root and
    its own parents may be). Without one, the file's folder is inside the root whatever the
    links above it: ``check_key`` refused ``..``."""
    folder = str(root)
    for name in key.split("/")[:-1]:
        folder = os.path.join(folder, name)
        try:
            if stat.S_ISLNK(os.lstat(folder).st_mode):
                return True
        except (FileNotFoundError, NotADirectoryError):
            return False  # nor is any folder below it: what opens the file says so
    return False


def _is_file_or_link(path: Path) -> bool:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return False
    return stat.S_ISREG(mode) or stat.S_ISLNK(mode)


class FileSystem:
    """Every call by which a local store changes the disk, in one place: ``amber.testing``
    replaces it to fail, tear, slow down or crash at any of them."""

    def create(self, path: Path) -> int:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)

    def write(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]  # a short write is continued, never dropped

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def close(self, fd: int) -> None:
        os.close(fd)

    def rename(self, source: Path, target: Path) -> None:
        os.replace(source, target)

    def link(self, source: Path, target: Path) -> None:
        os.link(source, target)

    def unlink(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def mkdir(self, path: Path) -> None:
        path.mkdir(mode=DIR_MODE, exist_ok=True)

    def fsync_dir(self, path: Path) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class Staged:
    """The bytes of an object in a temporary file, until ``publish`` names it (as ``put``
    would, and as durably) or ``discard`` removes it."""

    storage: LocalStorage
    key: str
    path: Path
    tmp: Path
    size: int
    sync: bool

    def publish(self, *, create_only: bool = False, durable: bool = True) -> int:
        return self.storage._published(self, create_only, durable)

    def discard(self) -> None:
        self.storage._discarded(self)


class LocalStorage:
    """Objects as files under ``root``. Temporary files start with ``.`` and are never listed."""

    fork_safe = True  # a forked child can write here and the parent sees it

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True, fs: FileSystem | None = None) -> None:
        self.root = Path(root).absolute()
        self._fsync = fsync
        self.fs = fs or FileSystem()

    @property
    def url(self) -> str:
        return self.root.as_uri()

    def get_range(self, key: str, start: int, length: int) -> bytes:
        with self._translated(key):
            # O_NONBLOCK: a FIFO planted in the store must not block the reader.
            fd = os.open(self._path(key), os.O_RDONLY | os.O_NONBLOCK | _NO_LINK)
            try:
                _require_regular(os.fstat(fd), key)
                return os.pread(fd, length, start)
            finally:
                os.close(fd)

    def read_range_into(self, key: str, start: int, buffer: memoryview) -> int:
        with self._translated(key):
            fd = os.open(self._path(key), os.O_RDONLY | os.O_NONBLOCK | _NO_LINK)
            try:
                _require_regular(os.fstat(fd), key)
                done = 0
                while done < len(buffer):
                    got = os.preadv(fd, [buffer[done:]], start + done)
                    if got == 0:
                        break  # the object is shorter
                    done += got
                return done
            finally:
                os.close(fd)

    def size(self, key: str) -> int:
        with self._translated(key):
            info = self._path(key).lstat()
            _require_regular(info, key)
            return info.st_size

    def put(self, key: str, chunks: Iterable[bytes], *, create_only: bool = False, durable: bool = True) -> int:
        return self.stage(key, chunks, durable=durable).publish(create_only=create_only)

    def stage(self, key: str, chunks: Iterable[bytes], *, durable: bool = True) -> Staged:
        """``put``'s first half: the bytes in a temporary file beside ``key``, flushed (see
        ``amber.storage.Stages``). A process that dies before ``publish`` or ``discard``
        leaves a leftover that ``temporaries`` lists."""
        sync = self._fsync and durable
        with self._translated(key):
            path = self._path(key)
            self._make_dirs(path.parent)
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
            try:
                size = self._write(tmp, chunks, sync)
            except BaseException:
                self.fs.unlink(tmp)
                raise
        return Staged(self, key, path, tmp, size, sync)

    def flush(self, folder: str) -> None:
        """Flush ``folder``'s names: those ``Staged.publish(durable=False)`` left unflushed."""
        with self._translated(folder):
            self._sync_dir(self._folder(folder))

    def _published(self, staged: Staged, create_only: bool, durable: bool) -> int:
        with self._translated(staged.key):
            try:
                self._publish(staged.tmp, staged.path, create_only)
            finally:
                self.fs.unlink(staged.tmp)
            if staged.sync and durable:
                self._sync_dir(staged.path.parent)
        return staged.size

    def _discarded(self, staged: Staged) -> None:
        with self._translated(staged.key):
            self.fs.unlink(staged.tmp)

    def folder(self, prefix: str) -> LocalStorage:
        """The objects under ``prefix/`` as a store of its own (its own writer lock, too).
        A link planted on the way would lead the new store out of this one: refused."""
        path = self.root
        for part in check_key(prefix).split("/"):
            path = path / part
            if path.is_symlink():
                raise PlantedLinkError(f"{path} is a symbolic link: a store's folders are never links")
        return LocalStorage(path, fsync=self._fsync, fs=self.fs)

    def ensure_root(self) -> None:
        """Create the store's folder (and its missing parents) private to the owner."""
        with self._translated(""):
            self._make_dirs(self.root)

    def etag(self, key: str) -> str:
        with self._translated(key):
            return _content_tag(self._path(key))

    def replace(self, key: str, data: bytes, *, etag: str | None) -> str:
        """Compare-and-swap under an exclusive ``flock`` on a hidden lock file beside the
        object, so processes on this host see one order (not across network file systems)."""
        with self._translated(key):
            path = self._path(key)
            self._make_dirs(path.parent)
            with _locked(path.with_name(f".{path.name}.lock")):
                try:
                    found: str | None = _content_tag(path)
                except FileNotFoundError:
                    found = None
                if found != etag:
                    raise ConflictError(f"{path} changed: expected tag {etag}, found {found}")
                self.put(key, [data])
        return xxhash.xxh3_128_hexdigest(data)

    def list(self, prefix: str) -> list[str]:
        with self._translated(prefix):
            folder = self._folder(prefix)
            try:
                names = os.listdir(folder)
            except FileNotFoundError:
                return []
        # Links are listed (reading one is an error naming it), never followed to see what they are.
        return sorted(prefix + n for n in names if not n.startswith(".") and _is_file_or_link(folder / n))

    def delete(self, key: str) -> None:
        with self._translated(key):
            path = self._path(key)
            self.fs.unlink(path)
            self._sync_dir(path.parent)

    def exists(self) -> bool:
        return self.root.is_dir()

    def modified(self, key: str) -> float:
        with self._translated(key):
            info = self._path(key).lstat()
            _require_regular(info, key)
            return info.st_mtime

    def temporaries(self, prefix: str) -> builtins.list[tuple[str, float]]:
        with self._translated(prefix):
            folder = self._folder(prefix)
            try:
                names = [n for n in os.listdir(folder) if _TEMPORARY.fullmatch(n)]
            except FileNotFoundError:
                return []
            found = []
            for name in names:
                try:
                    found.append((prefix + name, (folder / name).lstat().st_mtime))
                except FileNotFoundError:
                    continue  # finished or removed meanwhile
        return sorted(found)

    def delete_temporary(self, name: str) -> None:
        folder, _, leaf = name.rpartition("/")
        if not _TEMPORARY.fullmatch(leaf):
            raise ValueError(f"{name!r} is not a leftover of an interrupted write")
        path = self.root / check_key(folder) / leaf if folder else self.root / leaf
        with self._translated(name):
            self.fs.unlink(path)
            self._sync_dir(path.parent)

    def _path(self, key: str) -> Path:
        path = self.root / check_key(key)
        # A symlink planted inside the store must not lead reads, writes or deletions out of it.
        if not _links_below(self.root, key):  # the common case, an lstat a folder: no realpath
            return path
        inside = os.path.realpath(path.parent)
        if inside != self._real_root() and not inside.startswith(self._real_root() + os.sep):
            raise StoreError(f"{self.root}: {key}: its folder leads out of the store (a symlink)")
        return path

    def _folder(self, prefix: str) -> Path:
        return self._path(prefix + "x").parent if prefix else self.root

    def _real_root(self) -> str:
        return os.path.realpath(self.root)

    def _write(self, tmp: Path, chunks: Iterable[bytes], sync: bool) -> int:
        fd = self.fs.create(tmp)
        size = 0
        try:
            for chunk in chunks:
                self.fs.write(fd, chunk)
                size += len(chunk)
            if sync:
                self.fs.fsync(fd)
        finally:
            self.fs.close(fd)
        return size

    def _publish(self, tmp: Path, path: Path, create_only: bool) -> None:
        if not create_only:
            self.fs.rename(tmp, path)
            return
        try:
            self.fs.link(tmp, path)  # atomic create-only: fails if the name exists
        except FileExistsError:
            raise ConflictError(f"{path} already exists") from None

    def _make_dirs(self, folder: Path) -> None:
        if folder.exists():  # the common case: one stat, not one per folder up to /
            return
        missing = [p for p in [folder, *folder.parents] if not p.exists()]
        for path in reversed(missing):
            self.fs.mkdir(path)
            self._sync_dir(path.parent)

    def _sync_dir(self, folder: Path) -> None:
        if self._fsync:
            self.fs.fsync_dir(folder)

    @contextmanager
    def _translated(self, key: str) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError as e:
            if not self.root.is_dir():
                raise StoreNotFoundError(f"no store at {self.root}") from e
            raise ObjectNotFoundError(f"{key} not found in {self.root}") from e
        except AmberError:
            raise  # ours, e.g. raised by the chunks being written: never a storage error
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise PlantedLinkError(f"{self.root}: {key}: {PLANTED_LINK}") from None
            reason = "the disk is full" if e.errno == errno.ENOSPC else e.strerror or str(e)
            raise StoreError(f"{self.root}: {key}: {reason}") from e
