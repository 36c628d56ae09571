"""The load: client threads sending random transfers to whichever instance serves.

It keeps every acknowledged transfer (what the service promised is durable), so the demo can
ask each later instance whether it still holds them all.
"""

from __future__ import annotations

import http.client
import json
import random
import statistics
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Tally:
    acknowledged: list[list[int]] = field(default_factory=list)  # [id, source, target, cents]
    by_release: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds, request to durable ack
    refused: int = 0  # insufficient funds: a business answer, nothing changed
    unknown: int = 0  # no answer (the instance died mid-request), or not durable in time: never promised
    redirected: int = 0  # 503 from an instance not (or no longer) serving: sent again
    first_ack: dict[str, float] = field(default_factory=dict)  # per release, time.monotonic() of its first ack
    last_ack: dict[str, float] = field(default_factory=dict)  # and of its last


class LoadClient:
    def __init__(self, accounts: int, threads: int = 16, seed: int = 1) -> None:
        self.accounts = accounts
        self.threads = threads
        self.seed = seed
        self.tally = Tally()
        self._target: tuple[str, int] | None = None  # (release, port)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def point_at(self, release: str | None, port: int | None = None) -> None:
        """Send transfers to this instance from now on (None: hold them)."""
        self._target = (release, port) if release is not None and port is not None else None

    def start(self) -> None:
        self._stop.clear()
        self._workers = [threading.Thread(target=self._work, args=(i,), daemon=True) for i in range(self.threads)]
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join()

    def acknowledged(self) -> list[list[int]]:
        with self._lock:
            return list(self.tally.acknowledged)

    def first_ack(self, release: str, timeout: float = 30) -> float | None:
        """When ``release`` first acknowledged a transfer (``time.monotonic()``), waiting up to
        ``timeout`` seconds for it (None: it did not)."""
        deadline = time.monotonic() + timeout
        while release not in self.tally.first_ack and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.tally.first_ack.get(release)

    def latency_ms(self) -> dict[str, float]:
        with self._lock:
            values = sorted(self.tally.latencies)
        if len(values) < 2:
            return {"p50": 0.0, "p99": 0.0}
        cuts = statistics.quantiles(values, n=100)
        return {"p50": cuts[49] * 1000, "p99": cuts[98] * 1000}

    def _work(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        conn: http.client.HTTPConnection | None = None
        port = 0
        while not self._stop.is_set():
            target = self._target
            if target is None:
                time.sleep(0.01)
                continue
            if conn is None or port != target[1]:
                if conn is not None:
                    conn.close()
                port = target[1]
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn = self._send(conn, target[0], rng)
        if conn is not None:
            conn.close()

    def _send(
        self, conn: http.client.HTTPConnection, release: str, rng: random.Random
    ) -> http.client.HTTPConnection | None:
        source, target = rng.sample(range(self.accounts), 2)
        body = {"source": source, "target": target, "amount_cents": rng.randrange(1, 5_000)}
        started = time.perf_counter()
        try:
            conn.request("POST", "/transfers", json.dumps(body), {"Content-Type": "application/json"})
            response = conn.getresponse()
            answer = json.loads(response.read())
            received = time.monotonic()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            with self._lock:
                if isinstance(e, ConnectionRefusedError):  # nobody listens: nothing was sent
                    self.tally.redirected += 1
                else:  # reset or cut off mid-request: the outcome is unknown
                    self.tally.unknown += 1
            time.sleep(0.02)
            return None
        redirected = False
        with self._lock:
            if response.status == 200:
                self.tally.first_ack[release] = min(received, self.tally.first_ack.get(release, received))
                self.tally.last_ack[release] = max(received, self.tally.last_ack.get(release, received))
                self.tally.acknowledged.append([answer["id"], source, target, body["amount_cents"]])
                self.tally.by_release[release] = self.tally.by_release.get(release, 0) + 1
                self.tally.latencies.append(time.perf_counter() - started)
            elif response.status == 409:
                self.tally.refused += 1
            elif response.status == 503 and "id" in answer:
                self.tally.unknown += 1  # applied but not durable in time: never promised
            else:
                self.tally.redirected += 1
                redirected = True
        if redirected:
            time.sleep(0.02)  # not under the lock: the other clients' answers are counted meanwhile
        return conn
