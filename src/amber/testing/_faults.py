"""A local store whose disk fails on cue: errors, torn writes, a full disk, slow I/O, a
SIGKILL at a chosen call, and a simulated power loss that drops what was never synced."""

from __future__ import annotations

import errno
import os
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .._schema._registry import Registry
from .._store._checkpoint import CheckpointStore
from ..storage import LocalStorage
from ..storage._local import FileSystem

Operation = Literal["create", "write", "fsync", "rename", "link", "unlink", "mkdir", "fsync_dir"]
OPERATIONS: tuple[Operation, ...] = ("create", "write", "fsync", "rename", "link", "unlink", "mkdir", "fsync_dir")
Action = Literal["error", "enospc", "tear", "kill", "crash", "slow"]


class Crash(BaseException):
    """Raised at a ``crash`` fault: the process "dies" there (use ``Faults.power_loss`` next).
    A BaseException, so that no ``except Exception`` in the code under test survives it."""


@dataclass
class _Rule:
    operation: Operation | None  # None: any operation
    at: int  # the n-th such call (1-based); 0: every call
    action: Action
    seconds: float = 0.0


@dataclass
class Faults:
    """What goes wrong, and when; what was called (``calls``, in order).

    ``fail("fsync", at=3)`` raises EIO at the third fsync; ``enospc("write", at=2)`` fills the
    disk at the second write; ``tear("write", at=2)`` writes half of that chunk, then fails;
    ``kill("rename", at=1)`` sends the process SIGKILL just before its first rename;
    ``crash(at=7)`` raises ``Crash`` before the seventh call of any kind (for a simulated
    power loss in the same process); ``slow("fsync", 0.05)`` delays every fsync."""

    rules: list[_Rule] = field(default_factory=list)
    calls: list[tuple[Operation, str]] = field(default_factory=list)
    counts: Counter[Operation] = field(default_factory=Counter)

    def fail(self, operation: Operation, *, at: int = 1) -> Faults:
        self.rules.append(_Rule(operation, at, "error"))
        return self

    def enospc(self, operation: Operation = "write", *, at: int = 1) -> Faults:
        self.rules.append(_Rule(operation, at, "enospc"))
        return self

    def tear(self, operation: Literal["write"] = "write", *, at: int = 1) -> Faults:
        self.rules.append(_Rule(operation, at, "tear"))
        return self

    def kill(self, operation: Operation | None = None, *, at: int = 1) -> Faults:
        self.rules.append(_Rule(operation, at, "kill"))
        return self

    def crash(self, operation: Operation | None = None, *, at: int = 1) -> Faults:
        self.rules.append(_Rule(operation, at, "crash"))
        return self

    def slow(self, operation: Operation, seconds: float) -> Faults:
        self.rules.append(_Rule(operation, 0, "slow", seconds))
        return self

    def due(self, operation: Operation) -> _Rule | None:
        """Count a call and return the rule that fires on it, if any."""
        self.counts[operation] += 1
        total = len(self.calls)  # the calls before this one
        for rule in self.rules:
            nth = total + 1 if rule.operation is None else self.counts[operation]
            if (rule.operation in (None, operation)) and rule.at in (0, nth):
                if rule.action != "slow":
                    return rule
                time.sleep(rule.seconds)  # a slow disk, and whatever else is due on this call
        return None


class FaultyFileSystem(FileSystem):
    """The local store's disk calls, with ``faults`` applied and every call recorded, and a
    model of what the disk would keep through a power loss."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.disk = _PowerModel()
        # One call at a time, each with its record and its model: writers on several threads
        # (``amber copy``) would otherwise interleave a file's creation with its registration.
        self._lock = threading.RLock()
        self._paths: dict[int, Path] = {}  # open fd -> its file's name when opened
        self._inodes: dict[int, _Inode] = {}  # open fd -> its file, wherever renamed since

    def _before(self, operation: Operation, path: Path, data: bytes = b"", fd: int = -1) -> None:
        rule = self.faults.due(operation)
        self.faults.calls.append((operation, str(path)))
        if rule is None:
            return
        if rule.action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif rule.action == "crash":
            raise Crash(f"crash before {operation} {path}")
        elif rule.action == "enospc":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        elif rule.action == "tear":
            super().write(fd, data[: len(data) // 2])
            self._inodes[fd].data.extend(data[: len(data) // 2])
            raise OSError(errno.EIO, "torn write (injected)", str(path))
        else:
            raise OSError(errno.EIO, f"{operation} failed (injected)", str(path))

    def create(self, path: Path) -> int:
        with self._lock:
            self._before("create", path)
            fd = super().create(path)
            self._paths[fd] = path
            self._inodes[fd] = self.disk.created(path)
            return fd

    def write(self, fd: int, data: bytes) -> None:
        with self._lock:
            path = self._paths.get(fd, Path("?"))
            self._before("write", path, data, fd)
            super().write(fd, data)
            self._inodes[fd].data.extend(data)

    def fsync(self, fd: int) -> None:
        with self._lock:
            path = self._paths.get(fd, Path("?"))
            self._before("fsync", path)
            super().fsync(fd)
            inode = self._inodes[fd]
            inode.durable = bytes(inode.data)

    def close(self, fd: int) -> None:
        with self._lock:
            self._paths.pop(fd, None)
            self._inodes.pop(fd, None)
            super().close(fd)

    def rename(self, source: Path, target: Path) -> None:
        with self._lock:
            self._before("rename", target)
            super().rename(source, target)
            self.disk.renamed(source, target)

    def link(self, source: Path, target: Path) -> None:
        with self._lock:
            self._before("link", target)
            super().link(source, target)
            self.disk.linked(source, target)

    def unlink(self, path: Path) -> None:
        with self._lock:
            if not path.exists():
                return super().unlink(path)  # nothing to remove: not a change of the disk
            self._before("unlink", path)
            super().unlink(path)
            self.disk.unlinked(path)
            return None

    def mkdir(self, path: Path) -> None:
        with self._lock:
            self._before("mkdir", path)
            super().mkdir(path)
            self.disk.made_dir(path)

    def fsync_dir(self, path: Path) -> None:
        with self._lock:
            self._before("fsync_dir", path)
            super().fsync_dir(path)
            self.disk.synced_dir(path)


@dataclass
class _Inode:
    data: bytearray
    durable: bytes | None  # the content a power loss keeps (None: none was ever synced)


class _PowerModel:
    """What a power loss would keep: file contents as of their last fsync, and each folder's
    entries as of its last fsync (a rename or link not followed by a folder fsync is lost).
    Files present before the model started count as durable."""

    def __init__(self) -> None:
        self.names: dict[Path, _Inode] = {}  # current name -> inode, for names we have seen
        self.durable_names: dict[Path, dict[str, _Inode | None]] = {}  # folder -> synced entries
        self.new_dirs: list[Path] = []  # folders created and not yet synced in their parent

    def _inode(self, path: Path) -> _Inode:
        if path not in self.names:  # a file from before: durable as it is
            content = path.read_bytes() if path.is_file() else b""
            self.names[path] = _Inode(bytearray(content), content)
        return self.names[path]

    def _remember_folder(self, path: Path) -> None:
        """Before the first change to a folder, its entries as they are count as durable."""
        folder = path.parent
        if folder not in self.durable_names:
            entries = {p.name: self._inode(p) for p in folder.iterdir() if p.is_file()} if folder.is_dir() else {}
            self.durable_names[folder] = dict(entries)

    def created(self, path: Path) -> _Inode:
        self._remember_folder(path)
        inode = self.names[path] = _Inode(bytearray(), None)
        return inode

    def renamed(self, source: Path, target: Path) -> None:
        self._remember_folder(source)
        self._remember_folder(target)
        self.names[target] = self.names.pop(source)

    def linked(self, source: Path, target: Path) -> None:
        self._remember_folder(target)
        self.names[target] = self._inode(source)

    def unlinked(self, path: Path) -> None:
        self._remember_folder(path)
        self._inode(path)
        self.names.pop(path, None)

    def made_dir(self, path: Path) -> None:
        self.new_dirs.append(path)

    def synced_dir(self, folder: Path) -> None:
        self.durable_names[folder] = {p.name: i for p, i in self.names.items() if p.parent == folder}
        self.new_dirs = [d for d in self.new_dirs if d.parent != folder]

    def apply(self, *, keep_names: bool = False) -> None:
        """Turn the disk into what a power loss would have left: only synced folder entries,
        or (``keep_names``: a file system that wrote the metadata and not the data) every
        name as it is now; either way, only synced file contents (an unsynced file is empty)."""
        if keep_names:
            for path, inode in self.names.items():
                if path.is_file():
                    path.write_bytes(inode.durable or b"")
            return
        for folder, entries in self.durable_names.items():
            if not folder.is_dir():
                continue
            for path in [p for p in folder.iterdir() if p.is_file() and p.name not in entries]:
                path.unlink()  # an entry never synced into its folder
            for name, entry in entries.items():
                content = entry.durable if entry is not None and entry.durable is not None else b""
                (folder / name).write_bytes(content)  # synced data only
        for folder in sorted(self.new_dirs, key=lambda p: len(p.parts), reverse=True):
            _remove_tree(folder)


def _remove_tree(folder: Path) -> None:
    if folder.is_dir():
        for child in folder.iterdir():
            _remove_tree(child) if child.is_dir() else child.unlink()
        folder.rmdir()


def faulty_store(root: str | os.PathLike[str], faults: Faults, *, registry: Registry | None = None) -> CheckpointStore:
    """A checkpoint store on the local directory ``root`` whose disk calls go through
    ``faults`` (see ``Faults``); ``store.storage.fs.disk`` models a power loss."""
    storage = LocalStorage(root, fs=FaultyFileSystem(faults))
    return CheckpointStore(storage, registry=registry, history=False)


def power_loss(store: CheckpointStore, *, keep_names: bool = False) -> None:
    """Leave the store's folder as a power loss at this instant would: data never fsynced
    is gone, and so are renames and links whose folder was never fsynced after them. With
    ``keep_names``, the other outcome a file system may give: every name kept, each file
    holding only its synced data (a link or rename persisted before the data it names)."""
    fs = getattr(store.storage, "fs", None)
    if not isinstance(fs, FaultyFileSystem):
        raise TypeError("power_loss needs a store made by amber.testing.faulty_store")
    fs.disk.apply(keep_names=keep_names)
