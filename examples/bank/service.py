"""The bank as an HTTP service, its state managed by Amber.

    python -m examples.bank.service --release v1 --store ./state [--port 8000] [--follow]

It restores its state from the store (waiting for the store's writer lock while another
instance holds it), seeds a fresh store, then serves JSON over HTTP. With ``--follow`` it
starts as a follower of the instance writing the store instead (``amber.Follower``: each
checkpoint that one commits is applied to its state, read through this release's code) and
takes over when told to (``POST /admin/promote``), without a restore:

    POST /transfers          {"source": 1, "target": 2, "amount_cents": 500} -> {"id": 17}
    GET  /accounts/<id>      {"id": 1, "holder": "customer 0", "balance_cents": 123456}
    POST /transfers/check    {"transfers": [[id, source, target, cents], ...]} -> {"missing": [...]}
    GET  /stats              release, role, manager phase, newest checkpoint, write pins
    GET  /totals             accounts, transfers, the sum of balances and the books' total
    GET  /shape              the records held, by type and version: {"bank.Account": {"2": 20000}, ...}
    POST /admin/checkpoint   {"full": false}: take one now, in the background
    POST /admin/handover     stop taking transfers, take a final checkpoint, release the store
                             ({"successor": "follower"}: a delta, for a follower to apply)
    POST /admin/promote      a follower takes the store (once released) and serves, warm
    POST /admin/unpin        write every type at this release's version from now on
    POST /admin/read-store   can this release's code restore the store's newest checkpoint?

A transfer is acknowledged (200) only once a committed checkpoint holds it (``durability.py``),
so a crash, even a SIGKILL in the middle of a checkpoint, loses no acknowledged transfer.
The store must be a local folder: its writer lock is what makes a second instance wait.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import statistics
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import amber
from amber.events import CheckpointCommitted, Event, FollowerCaughtUp

from .common import Bank, Closed, InsufficientFunds, Ledger
from .durability import Durability

log = logging.getLogger("bank")
RELEASES = ("v1", "v2", "v3")
Reply = tuple[HTTPStatus, dict[str, Any]]


class Service:
    """One instance of the bank: its state, its manager, and what the routes do."""

    def __init__(self, bank: Bank, store: amber.CheckpointStore, *, spacing: float, lock_wait: float) -> None:
        self.bank = bank
        self.store = store
        self.role = "standby"  # until this instance holds the store
        self.restored: dict[str, Any] = {}
        ledger = next(p for p in bank.participants if isinstance(p, Ledger))
        self.manager = amber.Manager(
            store,
            bank.participants,
            interval=5.0,  # a checkpoint now and then even when nobody waits
            capture="fork",  # the service pauses only for prepare, snapshot and fork()
            lock_wait=lock_wait,  # a rolling upgrade's new instance waits for the old one
            app_version=bank.release,
            compact_on_close=True,  # a stopped service leaves one full checkpoint: ready for `amber migrate`
            on_invalid="refuse",  # falling back to an older checkpoint would drop acknowledged transfers
        )
        self.durability = Durability(ledger, self.manager, spacing)
        self.manager.listeners.append(self.durability.on_event)
        self.store.listeners.append(self.on_event)  # the manager's events and a follower's
        self.follower: amber.Follower | None = None
        self.promote_asked = threading.Event()
        self.online = threading.Event()  # set once this instance serves (or failed to)
        self.deltas: list[float] = []  # seconds each delta checkpoint of this instance took
        self.caught_up: list[FollowerCaughtUp] = []
        self.promotion: dict[str, Any] = {}

    def go_online(self, accounts: int) -> None:
        report = self.manager.restore()  # waits for the writer lock, then verifies everything
        if report.checkpoint is None:
            self.bank.seed(accounts)
            self.manager.checkpoint()
        self.serve(report)

    def serve(self, report: amber.RestoreReport) -> None:
        self.restored = {
            "checkpoint": report.checkpoint,
            "chain": report.chain,
            "fallbacks": report.fallbacks,
            "checks": report.checks,
            "seconds": report.seconds,
        }
        self.durability.start()
        self.role = "primary"
        self.online.set()
        log.info("online from checkpoint %s (a chain of %d)", report.checkpoint, len(report.chain))

    def follow(self, interval: float) -> None:
        """Follow the store's writer: load its newest checkpoint, then apply each one it
        commits (a delta in place), every ``interval`` seconds, read through this release's
        types, rules and steps. Reads are served meanwhile; transfers are not."""
        self.follower = amber.Follower(self.store, self.bank.participants)
        self.follower.start(interval)
        self.role = "follower"
        log.info("following %s from checkpoint %s", self.store.url, self.follower.checkpoint)

    def take_over(self) -> None:
        """Promote the follower: take the store (waiting for its writer to let go of it), apply
        what it committed until then, and serve from the state held, without a restore."""
        assert self.follower is not None
        try:
            report = self.manager.restore(warm=self.follower)
        except amber.AmberError as e:
            log.error("promotion failed: %s", e)
            self.role, self.promotion = "failed", {"error": f"{type(e).__name__}: {e}"}
            self.online.set()
            raise
        self.promotion = {"checkpoint": report.checkpoint, "online_at": time.time(), "kind": self._last_applied()}
        self.serve(report)

    def _last_applied(self) -> str:
        last = self.caught_up[-1] if self.caught_up else None
        return "loaded it whole" if last is not None and last.whole else "applied it in place"

    def on_event(self, event: Event) -> None:
        """A store listener: how long deltas take, how far behind the follower was."""
        if isinstance(event, CheckpointCommitted) and event.kind == "delta":
            self.deltas.append(event.seconds)
        elif isinstance(event, FollowerCaughtUp):
            self.caught_up.append(event)

    def reading(self) -> contextlib.AbstractContextManager[object]:
        """Hold off a follower's next checkpoint while its state is read."""
        follower = self.follower
        if follower is not None and self.role in ("follower", "promoting"):
            return follower.reading()
        return contextlib.nullcontext()

    def shut_down(self) -> None:
        """Before the final checkpoint: refuse new transfers, stop the group commit."""
        self.bank.close()
        self.durability.stop()

    # --- routes ----------------------------------------------------------------------------

    def transfer(self, body: dict[str, Any], ack_timeout: float = 10.0) -> Reply:
        if self.role == "promoting":  # taking over now: the transfer waits for it to serve
            self.online.wait(ack_timeout)
        if self.role != "primary":
            return HTTPStatus.SERVICE_UNAVAILABLE, {"error": f"this instance is {self.role}"}
        try:
            tid = self.bank.transfer(int(body["source"]), int(body["target"]), int(body["amount_cents"]))
        except (KeyError, ValueError, TypeError) as e:
            return HTTPStatus.BAD_REQUEST, {"error": f"bad transfer: {e!r}"}
        except InsufficientFunds as e:
            return HTTPStatus.CONFLICT, {"error": str(e)}
        except Closed as e:
            return HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(e)}
        if not self.durability.wait(tid, ack_timeout):  # applied, but not durable in time
            return HTTPStatus.SERVICE_UNAVAILABLE, {"error": "not durable yet; outcome unknown", "id": tid}
        return HTTPStatus.OK, {"id": tid}

    def check_transfers(self, body: dict[str, Any]) -> Reply:
        rows = body.get("transfers")
        if not isinstance(rows, list):
            return HTTPStatus.BAD_REQUEST, {"error": "expected {'transfers': [[id, source, target, cents], ...]}"}
        with self.reading():
            return HTTPStatus.OK, {"missing": self.bank.missing_transfers(rows)}

    def handover(self, body: dict[str, Any]) -> Reply:
        """Stop taking transfers, commit a final checkpoint, and release the store's writer
        lock, so that the new release's instance, waiting for it, takes over. For a follower
        (``{"successor": "follower"}``) the final checkpoint is a delta, which it applies in
        place, not a full one (``compact_on_close``), which it would load whole."""
        self.shut_down()
        if body.get("successor") == "follower":
            self.manager.compact_on_close = False
        result = self.manager.close()  # the final checkpoint acknowledges every waiting transfer
        self.role = "drained"
        return HTTPStatus.OK, {
            "final_checkpoint": result.info.id if result else None,
            "kind": result.kind if result else None,
            "released_at": time.time(),
        }

    def promote(self, body: dict[str, Any]) -> Reply:
        if self.role != "follower":
            return HTTPStatus.CONFLICT, {"error": f"this instance is {self.role}, not a follower"}
        self.role = "promoting"
        self.promote_asked.set()  # the main thread takes over
        return HTTPStatus.ACCEPTED, {"promoting": True}

    def unpin(self, body: dict[str, Any]) -> Reply:
        before, self.store.write_versions = self.store.write_versions, {}
        return HTTPStatus.OK, {"unpinned": before}

    def read_store(self, body: dict[str, Any]) -> Reply:
        """Restore the newest checkpoint into scratch objects with this release's code, as
        this instance would if it had to take over again. Writes nothing (no lock, no
        quarantine, no history entry)."""
        scratch = type(self.bank)()
        store = amber.open_store(
            self.store.url, registry=self.bank.registry, create=False, history=False, read_newer=False
        )
        manager = amber.Manager(store, scratch.participants, exclusive=False, on_invalid="refuse")
        try:
            report = manager.restore()
        except amber.AmberError as e:
            return HTTPStatus.OK, {"ok": False, "error": f"{type(e).__name__}: {e}"}
        return HTTPStatus.OK, {"ok": True, "checkpoint": report.checkpoint, "totals": scratch.totals()}

    def checkpoint_soon(self, body: dict[str, Any]) -> Reply:
        threading.Thread(target=self._checkpoint, args=(bool(body.get("full")),), daemon=True).start()
        return HTTPStatus.ACCEPTED, {"started": True}

    def _checkpoint(self, full: bool) -> None:
        try:
            self.manager.checkpoint(full=full)
        except amber.AmberError as e:
            log.warning("checkpoint on demand failed: %s", e)

    def stats(self) -> dict[str, Any]:
        """Cheap: polled often, it takes no lock of the bank's."""
        return {
            "release": self.bank.release,
            "role": self.role,
            "pid": os.getpid(),
            "phase": self.manager.phase,
            "last": self.manager.last.id if self.manager.last else None,
            "durable": self.durability.durable,
            "checkpoints": self.durability.committed,
            "write_versions": self.store.write_versions,
            "restored": self.restored,
            "delta_ms": statistics.median(self.deltas) * 1000 if self.deltas else None,
            "following": self.following(),
            "promotion": self.promotion,
        }

    def following(self) -> dict[str, Any]:
        """What the follower did: checkpoints applied (in place or whole), and its lag: from
        each commit to its application, in ms (the first load left out)."""
        if self.follower is None:
            return {}
        events = self.caught_up[1:]
        lags = sorted(e.lag_seconds * 1000 for e in events)
        cuts = statistics.quantiles(lags, n=100, method="inclusive") if len(lags) > 1 else lags * 99
        return {
            "checkpoint": self.follower.checkpoint,
            "applied": sum(e.applied for e in events),
            "whole": sum(e.whole for e in events),
            "lag_ms": {"p50": cuts[49], "p99": cuts[98], "max": lags[-1]} if lags else None,
        }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the load client reuses its connections
    server: BankServer
    posts: ClassVar[dict[str, Callable[[Service, dict[str, Any]], Reply]]] = {
        "/transfers": Service.transfer,
        "/transfers/check": Service.check_transfers,
        "/admin/checkpoint": Service.checkpoint_soon,
        "/admin/handover": Service.handover,
        "/admin/promote": Service.promote,
        "/admin/unpin": Service.unpin,
        "/admin/read-store": Service.read_store,
    }

    def do_GET(self) -> None:
        service = self.server.service
        account = self.path.removeprefix("/accounts/")
        if self.path == "/stats":
            self._reply(HTTPStatus.OK, service.stats())
            return
        with service.reading():
            if self.path == "/totals":
                self._reply(HTTPStatus.OK, service.bank.totals())
            elif self.path == "/shape":
                self._reply(HTTPStatus.OK, service.bank.shape())
            elif account != self.path and account.isdigit() and int(account) in service.bank.accounts:
                self._reply(HTTPStatus.OK, service.bank.account_view(int(account)))
            else:
                self._reply(HTTPStatus.NOT_FOUND, {"error": f"nothing at {self.path}"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            self._reply(HTTPStatus.BAD_REQUEST, {"error": "the body is not a JSON object"})
        elif self.path in self.posts:
            self._reply(*self.posts[self.path](self.server.service, body))
        else:
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"nothing at {self.path}"})

    def _reply(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


class BankServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, service: Service) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.service = service


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m examples.bank.service", description=__doc__.split("\n")[0])
    parser.add_argument("--release", choices=RELEASES, required=True, help="which release of the code to run")
    parser.add_argument("--store", required=True, help="the checkpoint store: a local folder")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed on stdout)")
    parser.add_argument("--accounts", type=int, default=20_000, help="accounts to open in a fresh store")
    parser.add_argument("--pin", action="append", default=[], type=pin, metavar="TYPE=VERSION", help="a write pin")
    parser.add_argument("--spacing", type=float, default=0.05, help="at most one group commit per this many s")
    parser.add_argument("--lock-wait", type=float, default=120.0, help="seconds to wait for the store")
    parser.add_argument("--follow", action="store_true", help="follow the store's writer until POST /admin/promote")
    return parser.parse_args(argv)


def pin(text: str) -> tuple[str, int]:
    name, _, version = text.rpartition("=")
    if not name or not version.isdigit():
        raise argparse.ArgumentTypeError(f"expected TYPE=VERSION, like bank.Account=1, not {text!r}")
    return name, int(version)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {args.release} %(name)s: %(message)s")
    release = importlib.import_module(f"examples.bank.{args.release}")  # one of RELEASES
    bank: Bank = release.Bank()
    # read_newer=False: a release rolled back onto a newer release's unpinned checkpoints refuses
    # them, rather than reading them by the rules and silently defaulting renamed fields.
    store = amber.open_store(args.store, registry=bank.registry, write_versions=dict(args.pin), read_newer=False)
    service = Service(bank, store, spacing=args.spacing, lock_wait=args.lock_wait)
    server = BankServer(args.port, service)
    threading.Thread(target=server.serve_forever, name="bank-http", daemon=True).start()
    print(json.dumps({"port": server.server_address[1], "pid": os.getpid()}), flush=True)
    if args.follow:
        service.follow(interval=0.02)
        while not service.promote_asked.wait(0.5):  # not untimed: see below
            pass
        service.take_over()
    else:
        service.go_online(args.accounts)
    with service.manager:  # SIGTERM: a final checkpoint, then exit with status 128 + 15
        try:
            # Not an untimed wait: the kernel may deliver SIGTERM to another thread, and Python
            # then runs its handler only when the main thread next runs Python code.
            forever = threading.Event()
            while not forever.wait(0.5):
                pass
        finally:
            service.shut_down()
    server.shutdown()


if __name__ == "__main__":
    main()
