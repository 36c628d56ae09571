"""Running a function in a real child process that may be killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ChildOutcome:
    """How a child ended: ``killed`` by SIGKILL, or exited (``error`` holds the traceback
    of an exception it raised; empty when it returned)."""

    killed: bool
    exit_code: int
    error: str = ""

    @property
    def returned(self) -> bool:
        return not self.killed and self.exit_code == 0


def run_in_child(function: Callable[[], Any], *, timeout: float = 60.0) -> ChildOutcome:
    """Run ``function`` in a forked child and wait for it (killing it after ``timeout``).

    With ``Faults().kill(...)`` on a ``faulty_store`` the child dies by a real SIGKILL at
    that disk call: what it leaves behind is what a crash there leaves (the page cache is
    the parent's disk). Only the child is killed; the test goes on in the parent."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_end)
        code = 0
        try:
            function()
        except BaseException:  # reported to the parent, whatever it is
            code = 1
            os.write(write_end, traceback.format_exc().encode()[-8000:])
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        status = _wait(pid, timeout)
        error = _read_all(read_end).decode(errors="replace")
    finally:
        os.close(read_end)
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    return ChildOutcome(killed, os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1, error)


def _wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            return os.waitpid(pid, 0)[1]
        time.sleep(0.002)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)
