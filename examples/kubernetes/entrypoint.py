"""The container's command for an Amber service run as a Kubernetes StatefulSet
(docs/kubernetes.md): ``python /app/entrypoint.py``.

A StatefulSet names its pods ``<name>-0`` to ``<name>-<replicas - 1>``, and each pod's
hostname is its name: the number at its end, the pod's ordinal, is its identity. It picks the
pod's state:

- ``AMBER_STORE=s3://bucket/prefix`` (or a folder, a PersistentVolume's mount): each pod has
  its own store, ``<AMBER_STORE>/pod-<ordinal>``, and an ``amber.Manager`` of its own.
- ``AMBER_FLEET=s3://bucket/prefix``: the pods are one fleet, each its worker ``<ordinal>`` of
  ``WORKERS`` (``amber.open_fleet(url).join(ordinal, WORKERS)``), checkpointing together an
  epoch every ``AMBER_INTERVAL`` seconds of the wall clock; the state restores into any
  number of workers.

Either way the pod first takes its store's lease, so that two processes with one identity
(a pod on a partitioned node, and its replacement) never both commit: the second waits up to
``AMBER_LEASE_WAIT`` seconds for the first's lease, then fences it off; the first, if it
wakes up, exits with status 3 and commits nothing. A pod that finds the lease held past that
wait exits with status 4 (the kubelet restarts it). On S3, that is; on a volume, the lease
holds among one host's processes only, and the volume's access mode guards across nodes.

On SIGTERM (after the preStop hook), the pod refuses new requests, takes its final
checkpoint (a fleet worker: takes part in epochs until one commits, for up to
``AMBER_STOP_SECONDS``), releases its lease and exits 0.

The service is a set of counters over HTTP on ``PORT``: ``POST /counters/<key>?by=N`` adds
N (default 1), ``GET /counters/<key>`` reads one; ``/healthz`` is the liveness probe (the
process answers), ``/ready`` the readiness probe (200 once the state is restored, while
checkpoints succeed and the lease is held; 503 otherwise). A fleet worker answers 421 for a
key of another worker, naming it.

``python entrypoint.py --identity`` prints the pod's identity and store, and exits.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import amber

if TYPE_CHECKING:  # the type checker reads this folder as the package examples.kubernetes
    from examples.kubernetes.counters import Counter
else:  # the image runs /app/entrypoint.py, beside /app/counters.py
    from counters import Counter

log = logging.getLogger("counters")
FENCED, LEASE_HELD, BAD_CONFIG = 3, 4, 2  # exit statuses


class ConfigError(ValueError):
    """The pod's environment does not say who it is or where its state is."""


@dataclass(frozen=True)
class Identity:
    """Who this pod is: ``counters-2`` is ordinal 2 of the StatefulSet ``counters``."""

    pod: str
    statefulset: str
    ordinal: int
    workers: int

    def peer(self, ordinal: int) -> str:
        return f"{self.statefulset}-{ordinal}"


@dataclass(frozen=True)
class Config:
    store: str | None  # AMBER_STORE: a store per pod under it
    fleet: str | None  # AMBER_FLEET: one fleet
    port: int
    interval: float  # seconds between checkpoints (fleet: between epochs)
    lease_seconds: float
    lease_wait: float
    stop_seconds: float  # fleet: how long a stopping worker tries to commit a last epoch
    epoch_timeout: float  # fleet: how long an epoch waits for every worker's vote, after its time (< interval)


def identity(environ: Mapping[str, str]) -> Identity:
    """The pod's identity, from its hostname (``HOSTNAME``, else the host's name) and
    ``WORKERS``, the StatefulSet's replicas."""
    pod = environ.get("HOSTNAME") or socket.gethostname()
    match = re.fullmatch(r"(?P<name>[a-z0-9]([-a-z0-9]*[a-z0-9])?)-(?P<ordinal>0|[1-9][0-9]*)", pod)
    if match is None:
        raise ConfigError(f"hostname {pod!r} is not a StatefulSet pod's <name>-<ordinal>: run me in a StatefulSet")
    workers = _number(environ, "WORKERS", None)
    ordinal = int(match["ordinal"])
    if workers < 1 or int(workers) != workers:
        raise ConfigError(f"WORKERS={environ['WORKERS']}: the StatefulSet's replicas, a positive whole number")
    if ordinal >= workers:
        raise ConfigError(f"{pod} is ordinal {ordinal}, but WORKERS={int(workers)}: set WORKERS to the replicas")
    return Identity(pod, match["name"], ordinal, int(workers))


def config(environ: Mapping[str, str]) -> Config:
    store, fleet = environ.get("AMBER_STORE"), environ.get("AMBER_FLEET")
    if (store is None) == (fleet is None):
        raise ConfigError("set one of AMBER_STORE (a store per pod) and AMBER_FLEET (one fleet)")
    interval = _number(environ, "AMBER_INTERVAL", 30.0)
    if fleet is not None and (interval < 1 or interval != int(interval)):
        raise ConfigError(f"AMBER_INTERVAL={interval:g}: a fleet's epochs are whole seconds apart, at least 1")
    epoch_timeout = _number(environ, "AMBER_EPOCH_TIMEOUT", min(interval / 2, 10.0))
    if fleet is not None and epoch_timeout >= interval:  # else workers could take turns missing each other's epochs
        raise ConfigError(
            f"AMBER_EPOCH_TIMEOUT={epoch_timeout:g}: less than AMBER_INTERVAL={interval:g}, or a worker "
            "waiting out a missing one is late for the next epoch"
        )
    lease_seconds = _number(environ, "AMBER_LEASE_SECONDS", 30.0)
    if lease_seconds <= 0 or interval <= 0:
        raise ConfigError("AMBER_LEASE_SECONDS and AMBER_INTERVAL must be more than 0 seconds")
    return Config(
        store=store.rstrip("/") if store else None,
        fleet=fleet.rstrip("/") if fleet else None,
        port=int(_number(environ, "PORT", 8080)),
        interval=interval,
        lease_seconds=lease_seconds,
        lease_wait=_number(environ, "AMBER_LEASE_WAIT", 60.0),
        stop_seconds=_number(environ, "AMBER_STOP_SECONDS", interval + epoch_timeout),
        epoch_timeout=epoch_timeout,
    )


def store_url(cfg: Config, ordinal: int) -> str:
    """The store holding pod ``ordinal``'s checkpoints (a fleet worker's: its shards)."""
    if cfg.store is not None:
        return f"{cfg.store}/pod-{ordinal}"
    return f"{cfg.fleet}/workers/{ordinal}"


def _number(environ: Mapping[str, str], name: str, default: float | None) -> float:
    text = environ.get(name)
    if text is None:
        if default is None:
            raise ConfigError(f"{name} is not set")
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r}: expected a number") from None
    if not 0 <= value < math.inf:  # nan and inf too: they would pass every comparison later, or none
        raise ConfigError(f"{name}={text!r}: expected a finite number >= 0")
    return value


# --- the service ---------------------------------------------------------------------------


class Closed(Exception):
    """The pod is stopping (or not restored yet): requests go elsewhere."""


class Counters:
    """The service's state, an ``amber.Table`` of counters, and a manager's participant."""

    name = "counters"

    def __init__(self, who: Identity) -> None:
        self.who = who
        self.lock = threading.Lock()  # around every change, and the pause of a checkpoint
        self.table: amber.Table[str, Counter] = amber.Table()
        self.accepting = False  # restored, and not stopping
        self.owner_of: Callable[[str], int] = lambda key: who.ordinal  # a fleet routes keys to their worker
        self.healthy: Callable[[], bool] = lambda: True  # checkpoints succeed, the lease is held
        self.health: dict[str, Any] = {}  # what /ready says besides yes or no

    def add(self, key: str, by: int) -> int:
        with self.lock:
            if not self.accepting:
                raise Closed
            counter = self.table.get(key)
            if counter is None:
                self.table[key] = counter = Counter(key, by)
            else:
                counter.value += by
                self.table.touch(key)  # changed in place: the next delta must hold it
            value: int = counter.value
            return value

    def get(self, key: str) -> int | None:
        with self.lock:
            if not self.accepting:
                raise Closed
            counter: Counter | None = self.table.get(key)
            return None if counter is None else counter.value

    def open(self) -> None:
        with self.lock:
            self.accepting = True

    def close(self) -> None:
        """Refuse requests from now on: every one acknowledged so far is in the state the
        final checkpoint takes (a request holds the lock while it changes it)."""
        with self.lock:
            self.accepting = False

    def ready(self) -> bool:
        return self.accepting and self.healthy()

    # the participant's side
    def prepare(self) -> None:
        self.lock.acquire()

    def resume(self) -> None:
        self.lock.release()

    def snapshot(self) -> amber.Table[str, Counter]:
        return self.table

    def restore(self, state: amber.Table[str, Counter]) -> None:
        self.table = state


class Handler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:
        app, path = self.server.app, urlsplit(self.path).path
        if path == "/healthz":
            self._reply(200, {"alive": True})
        elif path == "/ready":
            self._reply(200 if app.ready() else 503, {"ready": app.ready(), "pod": app.who.pod, **app.health})
        elif path.startswith("/counters/"):
            self._counter(path.removeprefix("/counters/"), None)
        else:
            self._reply(404, {"error": f"no {path}"})

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        if not parts.path.startswith("/counters/"):
            self._reply(404, {"error": f"no {parts.path}"})
            return
        by = parse_qs(parts.query).get("by", ["1"])[0]
        if not re.fullmatch(r"-?[0-9]{1,18}", by):
            self._reply(400, {"error": f"by={by!r}: expected a whole number"})
            return
        self._counter(parts.path.removeprefix("/counters/"), int(by))

    def _counter(self, key: str, by: int | None) -> None:
        app = self.server.app
        owner = app.owner_of(key)
        if owner != app.who.ordinal:  # a fleet: another worker's key
            self._reply(
                421, {"error": f"{key!r} belongs to worker {owner}", "worker": owner, "pod": app.who.peer(owner)}
            )
            return
        try:
            value = app.get(key) if by is None else app.add(key, by)
        except Closed:
            self._reply(503, {"error": f"{app.who.pod} is not serving (restoring or stopping)"})
            return
        self._reply(200, {"key": key, "value": value})

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, app: Counters) -> None:
        super().__init__(("", port), Handler)
        self.app = app


@contextmanager
def serving(port: int, app: Counters) -> Iterator[Server]:
    """The HTTP server, from before the restore (the liveness probe must pass while a large
    state loads; readiness says 503 until it is loaded) until the process exits."""
    server = Server(port, app)
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), name="http", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# --- one store per pod: a manager ---------------------------------------------------------


def run_manager(cfg: Config, who: Identity) -> int:
    url = store_url(cfg, who.ordinal)
    store = amber.open_store(url)
    app = Counters(who)
    with serving(cfg.port, app):  # /healthz answers while the pod waits for its lease and restores
        lease = take_lease(store, cfg, who)
        log.info("%s: lease of %s taken (token %d); restoring", who.pod, url, lease.token)
        try:
            manager = amber.Manager(store, [app], interval=cfg.interval or None, lock_wait=cfg.lease_wait)
            with manager:  # restores
                app.healthy = lambda: manager.health.ok and _held(lease)
                app.health["restored"] = manager.last.id if manager.last else None
                log.info("%s: restored %s (%d keys); ready", who.pod, manager.last and manager.last.id, len(app.table))
                app.open()
                try:
                    while True:  # the main thread waits in steps, for Python to run the SIGTERM handler
                        time.sleep(0.5)
                        lease.check_held()  # FencedError once a successor has taken this pod's store
                        app.health["last_checkpoint"] = manager.health.last_checkpoint
                except SystemExit:  # SIGTERM: leaving the block takes the final checkpoint
                    app.close()
                    log.info("%s: stopping: requests refused, taking the final checkpoint", who.pod)
        except amber.FencedError as e:  # the manager took no final checkpoint: it could commit nothing
            log.error("%s: fenced off, exiting without a final checkpoint: %s", who.pod, e)
            return FENCED
        except SystemExit:  # SIGTERM during the restore: nothing to save
            store.release_lease()
            return 0
    final = manager.last_result
    if final is not None and not final.skipped:
        log.info("%s: final checkpoint %s committed (%s, %.3f s)", who.pod, final.info.id, final.kind, final.seconds)
    else:
        log.info("%s: nothing changed since %s: no final checkpoint needed", who.pod, manager.last and manager.last.id)
    store.release_lease()  # the next pod with this identity need not wait for it to expire
    log.info("%s: lease released; exiting", who.pod)
    return 0


def take_lease(store: amber.CheckpointStore, cfg: Config, who: Identity) -> amber.Lease:
    """The pod's store lease, named after the pod and its node (``amber lease`` shows them).
    Taken here rather than by the manager, to last ``AMBER_LEASE_SECONDS``, and to be taken on
    a volume too, where the manager holds only its lock of the folder."""
    node = os.environ.get("NODE_NAME", socket.gethostname())
    return store.acquire_lease(seconds=cfg.lease_seconds, wait=cfg.lease_wait, holder=f"{who.pod}@{node}:{os.getpid()}")


def _held(lease: amber.Lease) -> bool:
    try:
        lease.check_held()
    except amber.FencedError:
        return False
    return True


# --- one fleet: this pod is a worker ------------------------------------------------------


class Stop:
    """Set by SIGTERM. The handler only sets a flag: waits are short sleeps that look at it."""

    def __init__(self) -> None:
        self.requested = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True

    def sleep_until(self, when: float, lease: amber.Lease) -> None:
        """Until the wall clock reads ``when``, or a stop is requested."""
        while not self.requested and (left := when - time.time()) > 0:
            time.sleep(min(left, 0.2))
            lease.check_held()


def run_fleet(cfg: Config, who: Identity, stop: Stop) -> int:
    assert cfg.fleet is not None
    fleet = amber.open_fleet(cfg.fleet)
    app = Counters(who)
    app.owner_of = lambda key: fleet.worker_for(key, who.workers)
    with serving(cfg.port, app):  # /healthz answers while the pod waits for its lease and restores
        worker = fleet.join(who.ordinal, who.workers, lease_seconds=cfg.lease_seconds, wait=cfg.lease_wait)
        log.info(
            "%s: worker %d of %d (lease token %d); restoring", who.pod, who.ordinal, who.workers, worker.lease.token
        )
        app.healthy = lambda: _held(worker.lease)
        try:
            app.table = worker.restore().get("counts", amber.Table())
            app.health["restored_epoch"] = worker.epoch
            log.info("%s: restored epoch %d (%d keys); ready", who.pod, worker.epoch, len(app.table))
            if not stop.requested:
                app.open()
            last = epochs(cfg, who, app, worker, stop)
        except amber.FencedError as e:
            log.error("%s: fenced off, exiting: %s", who.pod, e)
            return FENCED
    worker.leave()
    if last is None:
        log.warning("%s: no epoch committed since stopping: changes since epoch %d are lost", who.pod, worker.epoch)
    else:
        log.info("%s: last epoch %d committed; lease released; exiting", who.pod, last)
    return 0


def epochs(cfg: Config, who: Identity, app: Counters, worker: amber.FleetWorker, stop: Stop) -> int | None:
    """Checkpoint an epoch every ``interval`` seconds of the wall clock, numbered by the Unix
    time it is due at, as every worker does. Once stopping, refuse requests and take part in
    epochs until one commits (or ``AMBER_STOP_SECONDS`` pass): the first at once (workers
    stopped together, scaled to 0, vote it together; running ones vote it at its time), any
    further one at its time. Returns the epoch committed after the stop, None if none was."""
    step, epoch, deadline = int(cfg.interval), worker.epoch, None
    while True:
        epoch = max(epoch, int(time.time())) // step * step + step  # the next one due
        if deadline is None:
            stop.sleep_until(epoch, worker.lease)  # returns early on SIGTERM
            if stop.requested:
                app.close()
                deadline = time.monotonic() + cfg.stop_seconds
                log.info("%s: stopping: requests refused, taking part in epoch %d", who.pod, epoch)
        elif time.monotonic() + max(0.0, epoch - time.time()) > deadline:
            return None
        else:
            time.sleep(max(0.0, epoch - time.time()))
        try:
            with app.lock:  # the tables must not change until the epoch is decided
                timeout = max(0.0, epoch - time.time()) + cfg.epoch_timeout  # an early vote waits for the others'
                done = worker.checkpoint({"counts": app.table}, epoch=epoch, timeout=timeout)
            app.health["last_epoch"] = done.epoch
            if deadline is not None:
                return done.epoch
        except amber.FleetCheckpointAbortedError as e:
            log.warning("%s: %s", who.pod, e)  # the changes wait for the next epoch
            if deadline is not None and time.monotonic() > deadline:
                return None


# --- main -----------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        who, cfg = identity(os.environ), config(os.environ)
    except ConfigError as e:
        print(f"entrypoint: {e}", file=sys.stderr)
        return BAD_CONFIG
    if argv[1:] == ["--identity"]:
        mode = "its own store" if cfg.store else f"worker {who.ordinal} of {who.workers} of the fleet {cfg.fleet}"
        print(f"{who.pod}: ordinal {who.ordinal} of {who.workers}, {mode}: {store_url(cfg, who.ordinal)}")
        return 0
    log.info("%s: ordinal %d of %d, store %s", who.pod, who.ordinal, who.workers, store_url(cfg, who.ordinal))
    try:
        if cfg.store is not None:
            signal.signal(signal.SIGTERM, _exit)  # before and after the manager's own handler
            return run_manager(cfg, who)
        stop = Stop()
        signal.signal(signal.SIGTERM, stop.handle)
        return run_fleet(cfg, who, stop)
    except (amber.LeaseHeldError, amber.StoreLockedError) as e:  # past AMBER_LEASE_WAIT
        log.error("%s: another process holds this pod's store: %s", who.pod, e)
        return LEASE_HELD


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
