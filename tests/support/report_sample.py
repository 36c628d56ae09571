"""A store with a history worth reporting: full and delta checkpoints under retention, a burst
of work (an outlier), an aborted checkpoint, a migration from v1 to v2, a rollback and a
second migration. Used by the report tests, and to redraw the screenshot in the docs::

    python -m tests.support.report_sample docs/images/report.png
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import amber
from amber import commands

registry_v1 = amber.Registry()
registry_v2 = amber.Registry()


@registry_v1.record("shop.Item", version=1)
class ItemV1(amber.Record):
    sku: int
    stock: int


@registry_v2.record("shop.Item", version=2)
class ItemV2(amber.Record):
    sku: int
    stock: int
    reserved: int = 0  # new in v2: rules alone upgrade v1 records


@registry_v1.record("shop.Totals", version=1)
class Totals(amber.Record):
    sold: int = 0


@registry_v2.record("shop.Totals", version=1)
class TotalsV2(amber.Record):  # the same type in the next release's code
    sold: int = 0


class Shop:
    """One participant: items in a table, totals beside them."""

    name = "shop"

    def __init__(self, item: type[Any], totals: type[Any]) -> None:
        self.item = item
        self.items: amber.Table[int, Any] = amber.Table()
        self.totals = totals()

    def snapshot(self) -> Any:
        return {"items": self.items, "totals": self.totals}

    def restore(self, state: Any) -> None:
        self.items, self.totals = state["items"], state["totals"]

    def invariants(self) -> list[str]:
        return [f"item {k} has negative stock" for k, i in self.items.items() if i.stock < 0]

    def sell(self, rng: random.Random, n: int) -> None:
        for _ in range(n):
            sku = rng.randrange(len(self.items))
            self.items[sku].stock -= 1
            self.items.touch(sku)
            self.totals.sold += 1


def _run(
    store_dir: Path, release: tuple[amber.Registry, type[Any], type[Any]], rounds: int, rng: random.Random
) -> None:
    registry, item, totals = release
    store = amber.open_store(store_dir, registry=registry)
    shop = Shop(item, totals)
    retention = amber.Retention(keep_last=30)
    manager = amber.Manager(store, [shop], retention=retention, max_chain=3)
    manager.restore()
    if not shop.items:
        shop.items.update({i: item(sku=i, stock=10**6) for i in range(20_000)})
    for n in range(rounds):
        shop.sell(rng, 6000 if n == rounds // 2 else 40)  # one burst: a delta far bigger than the rest
        if n == rounds - 2:
            next(iter(shop.items.values())).stock = -1  # an invariant broken: this checkpoint aborts
            try:
                manager.checkpoint()
            except amber.CheckpointAbortedError:
                next(iter(shop.items.values())).stock = 0
        manager.checkpoint()
    manager.close(final=False)


def build(store_dir: Path) -> Path:
    """Write the sample history into ``store_dir``; return it."""
    rng = random.Random(5)
    _run(store_dir, (registry_v1, ItemV1, Totals), 10, rng)
    commands.migrate(str(store_dir), "tests.support.report_sample:registry_v2")
    commands.rollback(str(store_dir))
    commands.migrate(str(store_dir), "tests.support.report_sample:registry_v2")
    _run(store_dir, (registry_v2, ItemV2, TotalsV2), 10, rng)
    return store_dir


def main() -> None:
    from amber._cli._report_html import render
    from tests.support.browser import screenshot

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images/report.png")
    with tempfile.TemporaryDirectory() as tmp:
        store = build(Path(tmp) / "store")
        page = Path(tmp) / "report.html"
        page.write_text(render(commands.report(str(store), keep_last=8)), encoding="utf-8")
        screenshot(page, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
