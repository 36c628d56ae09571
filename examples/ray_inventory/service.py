"""Stock and reservations of a shop, held by one durable Ray actor.

Every change is acknowledged: its reply comes once a checkpoint holds it, so a caller that
was told "reserved" keeps its reservation through any crash of the actor. Reservations are
kept by order id (shipped and cancelled ones too), so a caller retrying a reservation whose
reply a crash swallowed gets the same answer, not a second reservation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ray

import amber
import amber.ray


@amber.record("inventory.Item", version=1)
class Item(amber.Record):
    sku: str
    on_hand: int  # in the warehouse
    reserved: int = 0  # promised to orders not shipped yet


@amber.record("inventory.Reservation", version=1)
class Reservation(amber.Record):
    order: str
    sku: str
    quantity: int
    status: str = "reserved"  # then "shipped" or "cancelled"


def inventory_actor(store: str, **options: Any) -> Any:
    """The actor class of an inventory durable in ``store`` (a folder, ``s3://bucket/prefix``);
    ``options`` go to ``amber.ray.durable`` (``interval``, ``lock_wait``, ...)."""

    @ray.remote(max_restarts=-1, max_task_retries=0)
    @amber.ray.durable(store, name="inventory", **options)
    class Inventory:
        def __init__(self) -> None:
            self.items: amber.Table[str, Item] = amber.Table()
            self.reservations: amber.Table[str, Reservation] = amber.Table()

        # The participant protocol: the state Amber checkpoints and restores, and its rules.
        def snapshot(self) -> dict[str, Any]:
            return {"items": self.items, "reservations": self.reservations}

        def restore(self, state: dict[str, Any]) -> None:
            self.items, self.reservations = state["items"], state["reservations"]

        def invariants(self) -> Iterator[amber.Violation]:
            promised: dict[str, int] = {}
            for r in self.reservations.values():
                if r.status == "reserved":
                    promised[r.sku] = promised.get(r.sku, 0) + r.quantity
            for sku, item in self.items.items():
                if not 0 <= item.reserved <= item.on_hand or item.reserved != promised.get(sku, 0):
                    yield amber.Violation("reserved stock", f"{item} against reservations of {promised.get(sku, 0)}")

        # The service's API.
        @amber.ray.acknowledged
        def restock(self, sku: str, quantity: int) -> int:
            """Add to the stock on hand; the units available now."""
            item = self.items.setdefault(sku, Item(sku, 0))
            item.on_hand += quantity
            self.items.touch(sku)
            return item.on_hand - item.reserved

        @amber.ray.acknowledged
        def reserve(self, order: str, sku: str, quantity: int) -> bool:
            """Promise ``quantity`` of ``sku`` to ``order``; False when there is not enough."""
            if order in self.reservations:  # a retried call: the answer it had (the order is known)
                return True
            item = self.items.get(sku)
            if item is None or item.on_hand - item.reserved < quantity:
                return False
            item.reserved += quantity
            self.items.touch(sku)
            self.reservations[order] = Reservation(order, sku, quantity)
            return True

        @amber.ray.acknowledged
        def ship(self, order: str) -> bool:
            """The order's units leave the warehouse; False for an order not (or no longer) reserved."""
            reservation = self._reserved(order)
            if reservation is None:
                return False
            item = self.items[reservation.sku]
            item.on_hand -= reservation.quantity
            item.reserved -= reservation.quantity
            self.items.touch(reservation.sku)
            reservation.status = "shipped"
            self.reservations.touch(order)
            return True

        @amber.ray.acknowledged
        def cancel(self, order: str) -> bool:
            """The order's units are available again; False for an order not (or no longer) reserved."""
            reservation = self._reserved(order)
            if reservation is None:
                return False
            self.items[reservation.sku].reserved -= reservation.quantity
            self.items.touch(reservation.sku)
            reservation.status = "cancelled"
            self.reservations.touch(order)
            return True

        def _reserved(self, order: str) -> Reservation | None:
            reservation = self.reservations.get(order)
            return reservation if reservation is not None and reservation.status == "reserved" else None

        def available(self, sku: str) -> int:
            item = self.items.get(sku)
            return item.on_hand - item.reserved if item else 0

        def stock(self) -> dict[str, tuple[int, int]]:
            """Every item's (on hand, reserved)."""
            return {sku: (item.on_hand, item.reserved) for sku, item in self.items.items()}

    return Inventory
