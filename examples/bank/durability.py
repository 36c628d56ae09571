"""Group commit: acknowledge a transfer only once a committed checkpoint holds it."""

from __future__ import annotations

import logging
import threading
import time

import amber
from amber.events import CheckpointCommitted, Event

from .common import Ledger

log = logging.getLogger("bank")
MAX_BACKOFF = 2.0  # seconds between attempts while checkpoints keep failing


class Durability:
    """The ledger's ``prepare()`` notes the newest transfer each checkpoint holds; when that
    checkpoint commits, every transfer up to it is durable. A committer thread takes a
    checkpoint as soon as someone waits, at most one every ``spacing`` seconds, so one
    checkpoint acknowledges every transfer that arrived meanwhile.

    Reading ``ledger.captured`` on the commit event is sound because the manager delivers a
    checkpoint's events inside ``checkpoint()``, under its lock: the next checkpoint's
    ``prepare()`` cannot have moved the mark yet.
    """

    def __init__(self, ledger: Ledger, manager: amber.Manager, spacing: float) -> None:
        self.ledger = ledger
        self.manager = manager
        self.spacing = spacing
        self.durable = ledger.captured  # the newest durable transfer id
        self.wanted = 0  # the newest transfer someone waits for
        self.committed = 0  # checkpoints committed by this instance
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
        """Block until ``transfer`` is durable (True), or ``timeout`` seconds (False)."""
        with self._cond:
            self.wanted = max(self.wanted, transfer)
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self.durable >= transfer, timeout)

    def start(self) -> None:
        self.durable = max(self.durable, self.ledger.captured)  # what the restore brought back
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        last, backoff = 0.0, self.spacing
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self.wanted > self.durable or self._stopped)
                if self._stopped:
                    return
            time.sleep(max(0.0, last + backoff - time.monotonic()))
            last = time.monotonic()
            try:
                self.manager.checkpoint()
                backoff = self.spacing
            except amber.AmberError as e:  # aborted: nothing committed, the next one retries
                backoff = min(MAX_BACKOFF, backoff * 2)
                log.warning("checkpoint failed, transfers wait for the next (in %.2f s): %s", backoff, e)
