"""The recommender example as a real process: it serves updates and acknowledges each
committed checkpoint, is killed by SIGKILL at a random point, and its store restores, bit for
bit, a state at least as new as the last one it acknowledged, written by fork capture with
deltas."""

from __future__ import annotations

import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from examples.recommender.service import Recommender, registry, request

import amber

ROOT = Path(__file__).parent.parent.parent
ACK = re.compile(r"ack (\d{12}) (full|delta) (\w+) updates=(\d+)")
USERS, ITEMS, SEED = 1_000, 100, 7
TIMEOUT = 120.0  # for each acknowledgement: generous, the machine may be slow or busy


def replay(service: Recommender, updates: int) -> Recommender:
    """Advance ``service`` to ``updates`` updates of the service's own traffic."""
    for n in range(service.updates, updates):
        service.observe(*request(SEED, n, USERS, ITEMS))
    return service


def assert_same(state: dict[str, Any], expected: Recommender) -> None:
    """``state`` (a participant's restored state) holds exactly ``expected``: every field,
    every array bit for bit."""
    assert state["updates"] == expected.updates
    assert list(state["users"]) == list(expected.users)
    for key, user in expected.users.items():
        got = state["users"][key]
        assert got.model_dump(exclude={"embedding"}) == user.model_dump(exclude={"embedding"}), key
        assert got.embedding.dtype == np.float32 and got.embedding.tobytes() == user.embedding.tobytes(), key
    assert dict(state["items"]) == dict(expected.items)
    got_vectors, vectors = state["models"]["items"].vectors, expected.models["items"].vectors
    assert got_vectors.dtype == vectors.dtype and np.array_equal(got_vectors, vectors)
    assert got_vectors.tobytes() == vectors.tobytes()


def test_a_sigkill_loses_no_acknowledged_update(tmp_path: Path) -> None:
    store_path, stderr_path = tmp_path / "store", tmp_path / "service.err"
    rng = random.Random()
    wanted = rng.randint(3, 8)  # acknowledgements before the kill, the first delta among them
    command = [sys.executable, "-m", "examples.recommender.service", "--store", str(store_path)]
    command += ["--updates", str(10**9), "--interval", "0.1", "--rate", "3000"]
    command += ["--users", str(USERS), "--items", str(ITEMS), "--seed", str(SEED)]
    lines: queue.Queue[str | None] = queue.Queue()
    with stderr_path.open("w") as stderr:
        service = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True)
    assert service.stdout is not None
    out = service.stdout

    def read() -> None:
        with out:
            for line in out:
                lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    said: list[str] = []
    try:
        while len([a for a in map(ACK.match, said) if a]) < wanted or not any(" delta " in s for s in said):
            line = lines.get(timeout=TIMEOUT)
            assert line is not None, f"the service ended: {stderr_path.read_text()}"
            said.append(line)
        time.sleep(rng.uniform(0, 0.3))  # a random point: mid-update, mid-checkpoint or in between
    finally:
        os.kill(service.pid, signal.SIGKILL)
        assert service.wait(timeout=TIMEOUT) == -signal.SIGKILL
    reader.join(timeout=TIMEOUT)
    while (line := lines.get_nowait()) is not None:
        said.append(line)  # printed before it died: acknowledged too
    acks = [(a[1], a[2], a[3], int(a[4])) for a in map(ACK.match, said) if a]
    errors = stderr_path.read_text()
    assert "Traceback" not in errors and "without touch()" not in errors, errors

    # Restart: the newest checkpoint holds at least every acknowledged update, bit for bit.
    store = amber.open_store(store_path, registry=registry)
    restored = Recommender(USERS, ITEMS, SEED)
    manager = amber.Manager(store, [restored], lock_wait=TIMEOUT)  # waits for an orphaned capture child
    report = manager.restore()
    manager.close(final=False)
    last_id, _, _, last_updates = acks[-1]
    assert report.checkpoint is not None and report.checkpoint >= last_id
    assert restored.updates >= last_updates
    expected = replay(Recommender(USERS, ITEMS, SEED), last_updates)
    acknowledged = {checkpoint: store.load(checkpoint)["recommender"] for checkpoint, *_ in acks}
    assert_same(acknowledged[last_id], expected)
    replay(expected, restored.updates)
    assert_same(restored.snapshot(), expected)
    assert restored.recommend(0) == expected.recommend(0)

    # Every acknowledged checkpoint is there, with what the acknowledgement said; fork capture
    # wrote them all, and some are deltas.
    infos = {info.id: info for info in store.list()}
    for checkpoint, kind, capture, updates in acks:
        assert capture == "fork" and infos[checkpoint].meta["amber"]["capture"] == "fork"
        assert infos[checkpoint].meta["amber"]["kind"] == kind
        assert infos[checkpoint].is_delta == (kind == "delta")
        assert acknowledged[checkpoint]["updates"] == updates
    deltas = [info for info in infos.values() if info.is_delta]
    assert deltas and all(info.parent in infos for info in deltas)
