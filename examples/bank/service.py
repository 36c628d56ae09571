"""The bank as an HTTP service, its state managed by Amber.

    python -m examples.bank.service --release v1 --store ./state [--port 8000]

It restores its state from the store (waiting for the store's writer lock while another
instance holds it), seeds a fresh store, then serves JSON over HTTP:

    POST /transfers          {"source": 1, "target": 2, "amount_cents": 500} -> {"id": 17}
    GET  /accounts/<id>      {"id": 1, "holder": "customer 0", "balance_cents": 123456}
    POST /transfers/check    {"transfers": [[id, source, target, cents], ...]} -> {"missing": [...]}
    GET  /stats              release, role, manager phase, totals, write pins
    POST /admin/checkpoint   {"full": false}: take one now, in the background
    POST /admin/handover     stop taking transfers, take a final checkpoint, release the store
    POST /admin/unpin        write every type at this release's version from now on
    POST /admin/read-store   can this release's code restore the store's newest checkpoint?

A transfer is acknowledged (200) only once a committed checkpoint holds it: the ``Durability``
group commit below. So a crash, even a SIGKILL in the middle of a checkpoint, loses no
acknowledged transfer.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import amber
from amber.events import CheckpointCommitted, Event

from .common import Bank, Closed, InsufficientFunds, Ledger

log = logging.getLogger("bank")
RELEASES = ("v1", "v2", "v3")


class Durability:
    """Group commit: a transfer waits until a checkpoint holding it has committed.

    The ledger's ``prepare()`` notes the newest transfer each checkpoint holds; when that
    checkpoint commits, every transfer up to it is durable. A committer thread takes a
    checkpoint as soon as someone waits, at most one every ``spacing`` seconds, so one
    checkpoint acknowledges every transfer that arrived meanwhile.
    """

    def __init__(self, ledger: Ledger, manager: amber.Manager, spacing: float) -> None:
        self.ledger = ledger
        self.manager = manager
        self.spacing = spacing
        self.durable = ledger.captured  # what the restored checkpoint holds
        self.wanted = 0  # the newest transfer someone waits for
        self.committed = 0
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="bank-group-commit", daemon=True)

    def on_event(self, event: Event) -> None:
        """A manager listener: a commit makes what its ``prepare()`` saw durable."""
        if isinstance(event, CheckpointCommitted):
            with self._cond:
                self.durable = max(self.durable, self.ledger.captured)
                self.committed += 1
                self._cond.notify_all()

    def wait(self, transfer: int, timeout: float) -> bool:
        with self._cond:
            self.wanted = max(self.wanted, transfer)
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self.durable >= transfer, timeout)

    def start(self) -> None:
        self.durable = max(self.durable, self.ledger.captured)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        last = 0.0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self.wanted > self.durable or self._stopped)
                if self._stopped:
                    return
            time.sleep(max(0.0, last + self.spacing - time.monotonic()))
            last = time.monotonic()
            try:
                self.manager.checkpoint()
            except amber.AmberError as e:  # aborted: nothing committed, the next one retries
                log.warning("checkpoint failed, transfers wait for the next: %s", e)


class Service:
    def __init__(self, bank: Bank, store: amber.CheckpointStore, args: argparse.Namespace) -> None:
        self.bank = bank
        self.store = store
        self.role = "standby"  # until this instance holds the store
        self.restored: dict[str, Any] = {}
        ledger = next(p for p in bank.participants if isinstance(p, Ledger))
        self.manager = amber.Manager(
            store,
            bank.participants,
            interval=args.interval,  # a checkpoint now and then even when nobody waits
            capture="fork",  # the service pauses only for prepare, snapshot and fork()
            lock_wait=args.lock_wait,  # a rolling upgrade's new instance waits for the old one
            app_version=bank.release,
            compact_on_close=True,  # a stopped service leaves one full checkpoint: ready for `amber migrate`
        )
        self.durability = Durability(ledger, self.manager, args.spacing)
        self.manager.listeners.append(self.durability.on_event)
        self.ack_timeout = args.ack_timeout

    def go_online(self, accounts: int) -> amber.RestoreReport:
        report = self.manager.restore()  # verified: digests, references, invariants
        self.restored = {
            "checkpoint": report.checkpoint,
            "chain": report.chain,
            "fallbacks": report.fallbacks,
            "checks": report.checks,
            "seconds": report.seconds,
        }
        if report.checkpoint is None:
            self.bank.seed(accounts)
            self.manager.checkpoint()
        self.durability.start()
        self.role = "primary"
        return report

    def transfer(self, body: dict[str, Any]) -> Reply:
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
        if not self.durability.wait(tid, self.ack_timeout):  # applied, but not yet durable
            return HTTPStatus.SERVICE_UNAVAILABLE, {"error": "not durable yet; outcome unknown", "id": tid}
        return HTTPStatus.OK, {"id": tid}

    def handover(self) -> dict[str, Any]:
        """Stop taking transfers, commit a final checkpoint, and release the store's writer
        lock so that the new release's instance, waiting for it, takes over."""
        self.bank.close()
        self.durability.stop()
        result = self.manager.close()  # the final checkpoint acknowledges every waiting transfer
        self.role = "drained"
        return {"final_checkpoint": result.info.id if result else None}

    def unpin(self) -> dict[str, Any]:
        before, self.store.write_versions = self.store.write_versions, {}
        return {"unpinned": before}

    def read_store(self) -> dict[str, Any]:
        """Restore the newest checkpoint into scratch objects with this release's code, as
        this instance would if it had to take over again. Reads only: no lock, no quarantine."""
        scratch = type(self.bank)()
        store = amber.open_store(self.store.url, registry=self.bank.registry, create=False)
        manager = amber.Manager(store, scratch.participants, exclusive=False, on_invalid="refuse")
        try:
            report = manager.restore()
        except amber.AmberError as e:
            return {"ok": False, "error": f"{type(e).__name__}: {e}"}
        return {"ok": True, "checkpoint": report.checkpoint, "totals": scratch.totals()}

    def checkpoint_soon(self, full: bool) -> dict[str, Any]:
        threading.Thread(target=self._checkpoint, args=(full,), daemon=True).start()
        return {"started": True}

    def _checkpoint(self, full: bool) -> None:
        try:
            self.manager.checkpoint(full=full)
        except amber.AmberError as e:
            log.warning("checkpoint on demand failed: %s", e)

    def stats(self) -> dict[str, Any]:
        return {
            "release": self.bank.release,
            "role": self.role,
            "pid": os.getpid(),
            "phase": self.manager.phase,
            "durable": self.durability.durable,
            "checkpoints": self.durability.committed,
            "write_versions": self.store.write_versions,
            "restored": self.restored,
            **self.bank.totals(),
        }


Reply = tuple[HTTPStatus, dict[str, Any]]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the load client reuses its connections
    server: BankServer
    routes: ClassVar[dict[str, Callable[[Service, dict[str, Any]], Reply]]] = {
        "/transfers": lambda service, body: service.transfer(body),
        "/transfers/check": lambda service, body: (
            HTTPStatus.OK,
            {"missing": service.bank.missing_transfers(body["transfers"])},
        ),
        "/admin/checkpoint": lambda service, body: (
            HTTPStatus.ACCEPTED,
            service.checkpoint_soon(bool(body.get("full"))),
        ),
        "/admin/handover": lambda service, body: (HTTPStatus.OK, service.handover()),
        "/admin/unpin": lambda service, body: (HTTPStatus.OK, service.unpin()),
        "/admin/read-store": lambda service, body: (HTTPStatus.OK, service.read_store()),
    }

    def do_GET(self) -> None:
        service = self.server.service
        if self.path == "/stats":
            self._reply(HTTPStatus.OK, service.stats())
        elif self.path.startswith("/accounts/") and self.path[10:].isdigit():
            try:
                self._reply(HTTPStatus.OK, service.bank.account_view(int(self.path[10:])))
            except KeyError:
                self._reply(HTTPStatus.NOT_FOUND, {"error": "no such account"})
        else:
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            self._reply(HTTPStatus.BAD_REQUEST, {"error": "the body is not a JSON object"})
        elif self.path in self.routes:
            self._reply(*self.routes[self.path](self.server.service, body))
        else:
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no route {self.path}"})

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
    parser.add_argument("--store", required=True, help="the checkpoint store: a folder, or an s3:// URL")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed on stdout)")
    parser.add_argument("--accounts", type=int, default=20_000, help="accounts to open in a fresh store")
    parser.add_argument("--pin", action="append", default=[], metavar="TYPE=VERSION", help="a write pin")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between idle checkpoints")
    parser.add_argument("--spacing", type=float, default=0.05, help="at most one group commit per this many s")
    parser.add_argument("--lock-wait", type=float, default=120.0, help="seconds to wait for the store")
    parser.add_argument("--ack-timeout", type=float, default=10.0, help="longest wait for a durable transfer")
    return parser.parse_args(argv)


def pins(values: list[str]) -> dict[str, int]:
    pairs = (value.rpartition("=") for value in values)
    return {name: int(version) for name, _, version in pairs}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {args.release} %(name)s: %(message)s")
    release = importlib.import_module(f"examples.bank.{args.release}")  # one of RELEASES
    bank: Bank = release.Bank()
    store = amber.open_store(args.store, registry=bank.registry, write_versions=pins(args.pin))
    service = Service(bank, store, args)
    server = BankServer(args.port, service)
    threading.Thread(target=server.serve_forever, name="bank-http", daemon=True).start()
    print(json.dumps({"port": server.server_address[1], "pid": os.getpid()}), flush=True)
    report = service.go_online(args.accounts)
    log.info("online from checkpoint %s (chain %s), %s", report.checkpoint, report.chain, bank.totals())
    with service.manager:  # SIGTERM: a final checkpoint, then exit
        try:
            threading.Event().wait()
        finally:
            service.durability.stop()
    server.shutdown()


if __name__ == "__main__":
    main()
