"""Running a checkpoint in a forked child (copy-on-write, as Redis BGSAVE does).

The child sees the state as it was at ``fork()`` while the parent goes back to serving.
It reports over a pipe, one JSON message per line, each a tagged Struct below: the tables
it checked, the phase it enters, each participant's invariants, the data file it is about
to write, and finally its outcome (``Committed``, ``Staged`` or ``Failed``). The parent
decodes them with one decoder of their union. The parent bounds every wait; a child that
hangs is killed with SIGKILL and reaped, and one that dies is reaped and reported.

A second pipe carries the parent's go-ahead: the child may wait for it (``go()``) before
anything irreversible, so that what the parent decides after ``fork()`` (a participant
failing to resume) still counts, and a parent that dies first leaves nothing committed.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import select
import signal
import sys
import time
from collections.abc import Callable, Iterator

import msgspec

from .._format._format import Manifest
from .._store._capture import gc_paused


class Verified(msgspec.Struct, tag=True):
    """The child checked the tables: where their digests wait (a private file), what it found."""

    digests: str  # the file's path: digests may be megabytes
    missed: str  # entries changed without touch(), described ("" when none)


class Phase(msgspec.Struct, tag=True):
    """The child enters a phase (validating, committing)."""

    phase: str


class Call(msgspec.Struct, tag=True):
    """The child ran a participant's ``invariants()``."""

    participant: str
    start: float  # wall time
    seconds: float
    error: str  # "" when the invariants held


class DataFile(msgspec.Struct, tag=True):
    """The child is about to write this data file (removed by the parent if the child dies)."""

    key: str


class Committed(msgspec.Struct, tag=True):
    """The outcome: the child committed this checkpoint."""

    checkpoint: str


class Staged(msgspec.Struct, tag=True):
    """The outcome: the child wrote the data file to its spool; the parent uploads and commits it."""

    draft: Manifest


class Skipped(msgspec.Struct, tag=True):
    """The outcome: nothing changed since the last checkpoint (its check found no missed
    change either), so the child wrote nothing."""


class Failed(msgspec.Struct, tag=True):
    """The outcome: the child failed (an ``amber.CheckpointAbortedError`` keeps its phase and participant)."""

    phase: str
    participant: str | None
    reason: str
    error: str  # the exception's type name


Done = Committed | Staged | Skipped
Message = Verified | Phase | Call | DataFile | Committed | Staged | Skipped | Failed
Send = Callable[[Message], None]
Go = Callable[[], bool]  # blocks until the parent says go (True) or gives up or dies (False)

_decoder = msgspec.json.Decoder(Message)
_encoder = msgspec.json.Encoder()

_PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies
_MAX_ALARM = 2**31 - 1  # seconds: alarm(2) takes an unsigned int


class Child:
    """The parent's handle on a forked child: its messages, then its reaping."""

    def __init__(self, pid: int, pipe: int, go_pipe: int) -> None:
        self.pid = pid
        self._pipe = pipe
        self._go_pipe: int | None = go_pipe
        self._buffer = b""
        self.status: int | None = None

    def go(self) -> None:
        """Let the child proceed past its ``go()``."""
        if self._go_pipe is not None:
            with contextlib.suppress(BrokenPipeError):  # the child already ended: its report says how
                os.write(self._go_pipe, b"g")
            self._close_go()

    def _close_go(self) -> None:
        if self._go_pipe is not None:
            os.close(self._go_pipe)
            self._go_pipe = None

    def messages(self, deadline: Callable[[], float]) -> Iterator[Message]:
        """The child's messages, each awaited until ``deadline()`` (a monotonic time)."""
        while True:
            line = self._line(deadline())
            if line is None:
                return
            yield _decoder.decode(line)

    def _line(self, deadline: float) -> bytes | None:
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._pipe], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(self._pipe, 65536)
            if not chunk:
                return None  # the child closed its end: it exited (or died)
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def drain(self, seconds: float = 5.0) -> list[Message]:
        """The messages left in the pipe of a child that was killed (read until it closes)."""
        found: list[Message] = []
        deadline = time.monotonic() + seconds
        with contextlib.suppress(TimeoutError, ValueError):  # ValueError: a line cut by the kill
            while (line := self._line(deadline)) is not None:
                found.append(_decoder.decode(line))
        return found

    def kill(self) -> None:
        self._close_go()  # no go-ahead will come
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def reap(self) -> str:
        """Wait for the child to exit; describe how it ended."""
        self._close_go()
        os.close(self._pipe)
        _, status = os.waitpid(self.pid, 0)
        self.status = status
        if os.WIFSIGNALED(status):
            return f"killed by signal {signal.Signals(os.WTERMSIG(status)).name}"
        return f"exited with status {os.WEXITSTATUS(status)}"


def fork(job: Callable[[Send, Go], Done], *, lifetime: float) -> Child:
    """Run ``job(send, go)`` in a forked child; its return value is the final message.
    The child dies with this process, and after ``lifetime`` seconds in any case."""
    read_end, write_end = os.pipe()
    go_read, go_write = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        os.close(go_write)
        _die_with(parent, lifetime)
        _child(job, write_end, go_read)
    os.close(write_end)
    os.close(go_read)
    return Child(pid, read_end, go_write)


def _die_with(parent: int, lifetime: float) -> None:
    """An orphan must not outlive its service: it would hold the store's writer lock (which it
    keeps, so that a restart cannot commit before it) while its invariants hang or it writes.
    Linux kills it with its parent; elsewhere, and as a bound everywhere, an alarm does."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before that took effect
        os._exit(1)
    if math.isfinite(lifetime):  # SIGALRM's default action ends the process
        signal.alarm(min(max(1, math.ceil(lifetime)), _MAX_ALARM))


def _child(job: Callable[[Send, Go], Done], pipe: int, go_pipe: int) -> None:
    # The collector would touch every object's header and copy the whole heap; the child
    # is short-lived, so it runs without (never resumed: the child ends in os._exit()).
    with gc_paused():
        _run(job, pipe, go_pipe)


def _run(job: Callable[[Send, Go], Done], pipe: int, go_pipe: int) -> None:
    """Run the job and send its outcome, or its failure; then exit. Never returns."""
    code = 1
    # Signals meant for the service are not ours.
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signum, signal.SIG_DFL)

    def send(message: Message) -> None:
        data = _encoder.encode(message) + b"\n"
        while data:
            data = data[os.write(pipe, data) :]

    def go() -> bool:
        return os.read(go_pipe, 1) == b"g"  # b"": the parent closed its end, or died

    try:
        send(job(send, go))
        code = 0
    except BaseException as e:  # everything is reported to the parent, nothing escapes the child
        with contextlib.suppress(BaseException):
            send(_failure(e))
    finally:
        os._exit(code)


def _failure(error: BaseException) -> Failed:
    participant = getattr(error, "participant", None)
    return Failed(
        phase=str(getattr(error, "phase", "") or ""),
        participant=participant if isinstance(participant, str) else None,
        reason=str(getattr(error, "reason", None) or f"{type(error).__name__}: {error}"),
        error=type(error).__name__,
    )
