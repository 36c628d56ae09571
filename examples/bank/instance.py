"""One running process of the bank service, as the demo drives it: over HTTP, with signals."""

from __future__ import annotations

import http.client
import json
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Json = dict[str, Any]


class DemoFailed(Exception):
    """A claim the demo makes turned out false."""


def check(condition: bool, claim: str) -> None:
    if not condition:
        raise DemoFailed(claim)


class Instance:
    """A service process on its own port, its log in a file. It prints its port on stdout,
    then nothing more."""

    def __init__(self, release: str, command: list[str], *, cwd: Path, env: dict[str, str], log_path: Path) -> None:
        self.release = release
        self.log_path = log_path
        with log_path.open("w") as log:
            self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        self.pid = self.process.pid
        self.port = int(json.loads(self._first_line(timeout=60))["port"])

    def _first_line(self, timeout: float) -> str:
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout)
        line = self.process.stdout.readline() if ready else ""
        self.process.stdout.close()
        check(bool(line), f"{self.release} started within {timeout} s (see {self.log_path})")
        return line

    def get(self, path: str) -> Json:
        return self._call("GET", path, None)

    def post(self, path: str, body: Json | None = None) -> Json:
        return self._call("POST", path, body or {})

    def _call(self, method: str, path: str, body: Json | None) -> Json:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, None if body is None else json.dumps(body))
            answer: Json = json.loads(conn.getresponse().read())
            return answer
        finally:
            conn.close()

    def wait_for(self, what: str, condition: Callable[[Json], bool], timeout: float = 60) -> Json:
        """Poll ``/stats`` (cheap: no lock of the bank's) until ``condition`` holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            check(self.process.poll() is None, f"{self.release} is running (see {self.log_path})")
            stats = self.get("/stats")
            if condition(stats):
                return stats
            time.sleep(0.005)
        raise DemoFailed(f"{self.release}: {what} within {timeout} s (see {self.log_path})")

    def stop(self) -> None:
        """SIGTERM: the service takes a final checkpoint and exits."""
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout=60)  # amber's manager exits with 128 + the signal's number
        except subprocess.TimeoutExpired:
            status = None
        check(status == 128 + signal.SIGTERM, f"{self.release} stopped within 60 s of SIGTERM (see {self.log_path})")

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def running(self) -> bool:
        return self.process.poll() is None
