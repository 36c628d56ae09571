"""A real S3-protocol server on 127.0.0.1 for the tests: moto's standalone server, started
by the test session itself (so `make test` needs nothing running beforehand)."""

from __future__ import annotations

import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

BUCKET = "amber-tests"
PR_SET_PDEATHSIG = 1
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "amber-test",
    "AWS_SECRET_ACCESS_KEY": "amber-test-secret",
    "AWS_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """Start moto's server, make the test bucket, yield the endpoint; stop it afterwards."""
    port = _free_port()
    process = subprocess.Popen(  # this interpreter's moto: the venv's, whatever PATH says
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, before exec
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(endpoint, process)
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{BUCKET}", method="PUT"), timeout=10).close()
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies (even by SIGKILL)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_until_up(endpoint: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited at start ({process.returncode}); is moto[server] installed?")
        try:
            urllib.request.urlopen(endpoint, timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not answer on {endpoint} within 30 s ({sys.executable})")


def fresh_url() -> str:
    """A new, empty store in the test bucket."""
    return f"s3://{BUCKET}/{secrets.token_hex(6)}"
