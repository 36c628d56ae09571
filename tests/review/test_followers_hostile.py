"""Hostile review of warm followers, promotion, leases and the Kubernetes recipe.

Each test is a defect found in review: it fails until the code is fixed. The oracle is a cold
load of the store (``amber.open_store(url).load()``) or a cold ``Manager.restore()``.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import amber

KUBE = Path(__file__).resolve().parent.parent.parent / "examples" / "kubernetes"

reg = amber.Registry()


@reg.record("review.Item", version=1)
class Item(amber.Record):
    sku: str
    qty: int


class Shop:
    """A participant holding one table."""

    def __init__(self, name: str = "shop") -> None:
        self.name = name
        self.items: amber.Table[str, Item] = amber.Table()

    def snapshot(self) -> dict[str, Any]:
        return {"items": self.items}

    def restore(self, state: dict[str, Any]) -> None:
        self.items = state["items"]


def qty(table: Any) -> dict[str, int]:
    return {k: v.qty for k, v in table.items()}


def open_(path: Path, registry: amber.Registry = reg) -> amber.CheckpointStore:
    return amber.open_store(path, registry=registry)


def cold(path: Path) -> dict[str, int]:
    return qty(open_(path).load()["shop"]["items"])


def writer(path: Path, keys: str = "abc") -> tuple[Shop, amber.Manager]:
    live = Shop()
    for k in keys:
        live.items[k] = Item(k, 1)
    manager = amber.Manager(open_(path), [live], max_delta_ratio=100.0)
    manager.restore()
    manager.checkpoint()
    return live, manager


def change(shop: Shop, key: str, value: int) -> None:
    shop.items[key].qty = value
    shop.items.touch(key)


# --- 1. a checkpoint replaced under the id the follower holds --------------------------------


def _replace_held_checkpoint(path: Path) -> tuple[Shop, amber.Follower]:
    """A follower holds checkpoint 2; 2 is deleted (an operator discarding a bad write, a
    restore of a backup) and a restarted writer commits another checkpoint 2, acknowledging
    c=50 on the way."""
    live, manager = writer(path)
    change(live, "a", 2)
    held = manager.checkpoint().info.id
    manager.close(final=False)
    replica = Shop()
    follower = amber.Follower(open_(path), [replica])
    follower.catch_up()
    assert follower.checkpoint == held
    (path / "checkpoints" / f"{held}.manifest").unlink()
    restarted = Shop()
    again = amber.Manager(open_(path), [restarted], max_delta_ratio=100.0)
    again.restore()
    change(restarted, "c", 50)
    assert again.checkpoint().info.id == held  # the same id, other content (c=50 acknowledged)
    again.close(final=False)
    return replica, follower


def test_a_follower_never_notices_the_checkpoint_it_holds_was_replaced_under_its_id(tmp_path: Path) -> None:
    """A follower compares ids only (``i > held``): a checkpoint committed again under the id it
    holds is never read. The replica serves a=2, c=1 with ``lag() == (0, 0)`` forever, while
    every cold load of that same checkpoint gives a=1, c=50. check_link guards the next delta's
    parent, but nothing guards the head the follower sits on."""
    path = tmp_path / "store"
    replica, follower = _replace_held_checkpoint(path)
    follower.catch_up()
    with follower.reading():
        assert qty(replica.items) == cold(path), "the follower holds a state no checkpoint of the store holds"


def test_promoting_a_follower_whose_checkpoint_was_replaced_loses_an_acknowledged_write(tmp_path: Path) -> None:
    """``Restorer._load`` takes the follower's state when ``warm.checkpoint == cid``, by id
    alone, without comparing the manifest digest it applied with the one in the store. The
    promoted manager goes online with a=2, c=1 and its first checkpoint commits that: c=50,
    which the previous writer acknowledged, is gone from the store."""
    path = tmp_path / "store"
    replica, follower = _replace_held_checkpoint(path)
    expected = cold(path)
    promoted = amber.Manager(open_(path), [replica], max_delta_ratio=100.0)
    promoted.restore(warm=follower)
    promoted.checkpoint()
    promoted.close(final=False)
    assert cold(path) == expected, "the promoted manager overwrote an acknowledged write (c=50)"


# --- 2. promoting one follower twice ---------------------------------------------------------


def test_a_follower_promoted_twice_commits_writes_nobody_acknowledged(tmp_path: Path) -> None:
    """After a promotion the follower's tables *are* the promoted manager's live tables. When
    that manager dies (close(final=False): a crash, a failed start) and the same follower is
    promoted again (a retry of the promotion), it is accepted: the follower applies the first
    manager's delta in place on tables that still hold the first manager's unsaved change
    (b=99), the entry counts match, and the second manager commits b=99 as acknowledged
    state. A cold restore gives b=1. The second promotion should refuse (the follower is spent)
    or load the checkpoint whole."""
    path = tmp_path / "store"
    _, old = writer(path)
    replica = Shop()
    follower = amber.Follower(open_(path), [replica])
    follower.catch_up()
    old.close(final=False)
    first = amber.Manager(open_(path), [replica], max_delta_ratio=100.0)
    first.restore(warm=follower)
    change(replica, "a", 2)
    first.checkpoint()  # a=2 acknowledged
    change(replica, "b", 99)  # never checkpointed: its caller got an error / no answer
    first.close(final=False)  # dies before the next checkpoint
    expected = cold(path)
    assert expected["b"] == 1
    second = amber.Manager(open_(path), [replica], max_delta_ratio=100.0)
    try:
        second.restore(warm=follower)
    except amber.AmberError:
        return  # refusing the spent follower is a fix
    try:
        with follower.reading():
            assert qty(replica.items) == expected, "the second promotion holds a write never acknowledged"
    finally:
        second.close(final=False)


# --- 3. quarantine -------------------------------------------------------------------------


def test_a_follower_serves_a_checkpoint_that_builds_on_a_quarantined_one(tmp_path: Path) -> None:
    """docs/followers.md: "Quarantined checkpoints are skipped, as restores skip them." A
    follower skips the quarantined id itself, but then loads whole the next delta, whose chain
    runs through it (``_newer`` filters ids, ``_whole`` never looks at the chain). A restore
    skips that delta too ("builds on quarantined checkpoint") and gives checkpoint 1: the
    replica serves a=2, b=3 from data an operator set aside, with lag 0."""
    path = tmp_path / "store"
    live, manager = writer(path)
    replica = Shop()
    follower = amber.Follower(open_(path), [replica])
    follower.catch_up()
    change(live, "a", 2)
    bad = manager.checkpoint().info.id
    change(live, "b", 3)
    manager.checkpoint()
    manager.close(final=False)
    open_(path).quarantine(bad, "operator: written by a buggy release")
    follower.catch_up()
    restored = Shop()
    report = amber.Manager(open_(path), [restored]).restore()
    with follower.reading():
        assert follower.checkpoint == report.checkpoint, "the follower holds a checkpoint restores skip"
        assert qty(replica.items) == qty(restored.items)


# --- 4. a follower whose participants are not the writer's ------------------------------------


def test_a_follower_of_a_store_holding_none_of_its_participants_is_silent(tmp_path: Path) -> None:
    """A follower pointed at the wrong store (or whose participant was renamed) reports
    caught up, ``lag() == (0, 0)``, and serves an empty table: ``_hand_over`` skips every
    participant the state lacks. A cold ``Manager.restore()`` of the same store refuses
    (RestoreError: "holds none of the participants ... the next checkpoint would replace it").
    A read replica serving nothing, unsaid, until the promotion fails."""
    path = tmp_path / "store"
    _, manager = writer(path)
    manager.close(final=False)
    with pytest.raises(amber.RestoreError):
        amber.Manager(open_(path), [Shop("inventory")]).restore()
    follower = amber.Follower(open_(path), [Shop("inventory")])
    with pytest.raises(amber.AmberError):
        follower.catch_up()


# --- 5. an upgrade step failing on one delta mid-way ------------------------------------------


def _two_releases() -> tuple[amber.Registry, amber.Registry, type]:
    r1, r2 = amber.Registry(), amber.Registry()

    @r1.record("review.Item", version=1)
    class ItemV1(amber.Record):
        sku: str
        qty: int

    @r2.record("review.Item", version=1)
    class ItemV1Kept(amber.Record):
        sku: str
        qty: int

    @r2.record("review.Item", version=2)
    class ItemV2(amber.Record):
        sku: str
        on_hand: int

    @r2.upgrade("review.Item", 1)
    def renamed(fields: dict[str, Any]) -> dict[str, Any]:
        if fields["qty"] == 666:
            raise ValueError("release 2's step cannot read 666")
        fields["on_hand"] = fields.pop("qty")
        return fields

    return r1, r2, ItemV1


def test_after_a_step_fails_on_one_delta_the_follower_understates_its_lag(tmp_path: Path) -> None:
    """Release 2 follows release 1; its step fails on the delta holding qty=666 (a
    MigrationError, said once). The follower then forgets what it holds (``_loaded = None``:
    ``checkpoint`` is None, though its participants still hold checkpoint 1's state), and
    ``lag()`` of a follower holding nothing is ``ids[-1:]``: it says 1 checkpoint behind while
    3 are unapplied, so ``amber_follower_lag``-style alerts and the upgrade runbook's "caught up
    when lag is 0" see a follower one checkpoint from done, not stuck."""
    r1, r2, item_v1 = _two_releases()
    path = tmp_path / "store"
    store = amber.open_store(path, registry=r1)
    live = Shop()  # release 1, serving
    for k in "abc":
        live.items[k] = item_v1(k, 1)
    manager = amber.Manager(store, [live], max_delta_ratio=100.0)
    manager.restore()
    manager.checkpoint()
    upcoming = Shop()
    follower = amber.Follower(amber.open_store(path, registry=r2), [upcoming])
    follower.catch_up()
    held = follower.checkpoint
    change(live, "a", 666)
    manager.checkpoint()
    change(live, "b", 2)
    manager.checkpoint()
    change(live, "c", 3)
    manager.checkpoint()
    manager.close(final=False)
    with pytest.raises(amber.MigrationError):
        follower.catch_up()
    unapplied = [i for i in amber.open_store(path, registry=r1).ids() if held is not None and i > held]
    assert len(unapplied) == 3
    assert follower.lag().checkpoints == len(unapplied), "lag() says 1 checkpoint behind; 3 are unapplied"


# --- 6. leases and the Kubernetes entrypoint's environment ------------------------------------


def test_a_lease_of_nan_seconds_is_taken_and_bricks_the_store_for_every_writer(tmp_path: Path) -> None:
    """``store.acquire_lease(seconds=nan)`` passes its ``seconds <= 0`` check, writes a lease whose
    expiry is NaN (JSON null), and from then on every writer of the store fails with
    StoreError "not a lease object ... remove it to reset the lease": a typo'd
    AMBER_LEASE_SECONDS=nan in the Kubernetes entrypoint (which hands it straight to
    acquire_lease) crash-loops the pod and its replacements until an operator deletes the
    lease by hand. Manager(lease_seconds=nan) is refused; acquire_lease must be too."""
    path = tmp_path / "store"
    store = amber.open_store(path)
    try:
        with pytest.raises(ValueError, match="seconds"):
            store.acquire_lease(seconds=math.nan)
    finally:
        store.release_lease()
    other = amber.open_store(path)
    other.acquire_lease(seconds=5)  # the store is still writable
    other.release_lease()


def _entrypoint(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AMBER_", "WORKERS", "PORT", "HOSTNAME"))}
    return subprocess.run(
        [sys.executable, str(KUBE / "entrypoint.py"), *args],
        env={**clean, **env},
        cwd=KUBE,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"AMBER_LEASE_SECONDS": "nan"},
        {"AMBER_LEASE_SECONDS": "0"},
        {"WORKERS": "nan"},
        {"WORKERS": "inf"},
        {"PORT": "inf"},
        {"AMBER_INTERVAL": "nan"},
    ],
)
def test_the_entrypoint_refuses_a_bad_environment_with_its_config_status(tmp_path: Path, bad: dict[str, str]) -> None:
    """entrypoint.py promises exit status 2 (BAD_CONFIG) and one line naming the variable for a
    bad environment. ``_number`` accepts nan/inf (``float()``, then only ``< 0`` is refused):
    WORKERS=nan/inf and PORT=inf end in a ValueError/OverflowError traceback (status 1),
    AMBER_LEASE_SECONDS=nan is accepted and damages the store's lease (see above),
    AMBER_LEASE_SECONDS=0 and AMBER_INTERVAL=nan pass config() and fail later, inside the
    manager or the lease, after the pod has started serving /healthz."""
    env = {"HOSTNAME": "counters-0", "WORKERS": "1", "AMBER_STORE": str(tmp_path / "stores"), **bad}
    done = _entrypoint(env, "--identity")
    assert done.returncode == 2, f"status {done.returncode}: {done.stderr[-400:]}"
    assert "Traceback" not in done.stderr


# --- kept passing: a promotion while the writer (another process) is alive refuses ------------

_WRITER = """
import sys, amber
sys.path.insert(0, {root!r})
from tests.review.test_followers_hostile import Shop, Item, reg
live = Shop()
live.items["a"] = Item("a", 1)
manager = amber.Manager(amber.open_store({path!r}, registry=reg), [live])
manager.restore()
manager.checkpoint()
print("ready", flush=True)
sys.stdin.read()
manager.close(final=False)
"""


def test_a_promotion_while_the_writer_process_is_alive_is_refused_and_leaves_the_follower_as_it_was(
    tmp_path: Path,
) -> None:
    """Guard: a second writer must never start beside a live one. A promotion against a local
    store whose writer process holds its lock gets StoreLockedError at once (no lock_wait), and
    the follower keeps the state it held (nothing applied, nothing stopped for good)."""
    path = tmp_path / "store"
    root = str(Path(__file__).resolve().parent.parent.parent)
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER.format(root=root, path=str(path))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        replica = Shop()
        follower = amber.Follower(open_(path), [replica])
        follower.catch_up()
        held = follower.checkpoint
        with pytest.raises(amber.StoreLockedError):
            amber.Manager(open_(path), [replica]).restore(warm=follower)
        assert follower.checkpoint == held and qty(replica.items) == cold(path)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=60)
        if proc.stdout is not None:
            proc.stdout.close()
