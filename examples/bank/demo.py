"""`make demo`: the bank service from release 1 to release 3, under load, with a crash on the way
and a zero-downtime upgrade.

    python -m examples.bank.demo [--dir DIR] [--accounts N] [--seconds S]

Every claim it prints is checked; it exits 1 if one fails. The store, the services' logs and
the HTML report stay in DIR (default: a new folder under the system's temp folder).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import amber
from amber import commands

from . import v3
from .client import LoadClient
from .instance import DemoFailed, Instance, check
from .summary import summarize

ROOT = Path(__file__).resolve().parents[2]  # the repository: `examples.bank` imports from here
MIGRATE = ("--app", "examples.bank.v3:registry")


def say(text: str) -> None:
    print(text, flush=True)


def step(number: int, text: str) -> None:
    say(f"\n== {number}. {text}")


class Demo:
    def __init__(self, folder: Path, accounts: int, seconds: float) -> None:
        self.dir = folder
        self.store = folder / "state"
        self.accounts = accounts
        self.seconds = seconds  # of load in the first phase
        self.instances: list[Instance] = []
        self.env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.client = LoadClient(accounts, threads=32)

    # --- tools ----------------------------------------------------------------------------

    def start(self, release: str, *extra: str) -> Instance:
        log_path = self.dir / "logs" / f"{len(self.instances) + 1}-{release}.log"
        log_path.parent.mkdir(exist_ok=True)
        command = [sys.executable, "-m", "examples.bank.service", "--release", release, "--store", str(self.store)]
        instance = Instance(
            release, [*command, "--accounts", str(self.accounts), *extra], cwd=ROOT, env=self.env, log_path=log_path
        )
        self.instances.append(instance)
        return instance

    def cleanup(self) -> None:
        """Leave no service running, whatever happened."""
        for instance in self.instances:
            if instance.running():
                instance.kill()
        self.client.stop()

    def amber(self, *args: str, show: bool = True) -> str:
        """Run the operator's command line, as an operator would; its stderr (the progress bar
        on a terminal) goes straight to ours."""
        if show:
            say(f"   $ amber {' '.join(args)}")
        command = [sys.executable, "-m", "amber", *args]
        result = subprocess.run(command, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, text=True, check=False)
        check(result.returncode == 0, f"amber {' '.join(args)} succeeded")
        if show:
            for line in result.stdout.rstrip().splitlines():
                say(f"     {line}")
        return result.stdout

    def load(self, instance: Instance, seconds: float) -> None:
        before = len(self.client.acknowledged())
        self.client.point_at(instance.release, instance.port)
        time.sleep(seconds)
        acked = len(self.client.acknowledged()) - before
        checkpoints = instance.get("/stats")["checkpoints"]
        say(
            f"   {instance.release} under load for {seconds:.0f} s: {acked} transfers acknowledged, "
            f"{checkpoints} checkpoints committed by this instance"
        )

    def holds_every_acknowledged_transfer(self, instance: Instance) -> int:
        acked = self.client.acknowledged()
        missing = instance.post("/transfers/check", {"transfers": acked})["missing"]
        check(not missing, f"{instance.release} holds every acknowledged transfer (missing: {missing[:10]})")
        totals = instance.get("/totals")
        check(totals["balances_cents"] == totals["books_cents"], f"{instance.release}: balances sum to the books")
        return len(acked)

    def newest_holding_accounts(self, wait: float = 10) -> tuple[str, int]:
        """The newest checkpoint holding accounts and its bank.Account version, once one begun
        after this call has committed (the one under way may predate a change)."""
        first = commands.ls(str(self.store))[-1]["id"]
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            rows = [r for r in commands.ls(str(self.store)) if r["id"] > first]
            if len(rows) >= 2 and "bank.Account" in rows[-1]["types"]:
                return rows[-1]["id"], int(rows[-1]["types"]["bank.Account"])
            time.sleep(0.05)
        raise DemoFailed("the service commits checkpoints holding accounts")

    # --- the story ------------------------------------------------------------------------

    def run(self) -> None:
        v1 = self.start_under_load()
        v1 = self.crash_and_restart(v1)
        v2 = self.zero_downtime_upgrade(v1)
        self.unpin(v1, v2)
        self.stop_and_migrate(v2)
        self.rollback_and_migrate_again()
        self.run_release_3()
        self.check_the_final_store()
        summarize(self.store, self.dir / "report.html", self.client, self.amber, step)

    def start_under_load(self) -> Instance:
        step(1, f"start release 1 on a fresh store ({self.accounts:,} accounts), under load from 32 clients")
        v1 = self.start("v1")
        v1.wait_for("come online", lambda s: s["role"] == "primary")
        self.client.point_at("v1", v1.port)
        self.client.start()
        say("   a transfer is acknowledged only once a committed checkpoint holds it (group commit,")
        say("   a checkpoint at most every 50 ms, captured in a forked child: the service pauses only to fork)")
        self.load(v1, self.seconds)
        return v1

    def crash_and_restart(self, v1: Instance) -> Instance:
        step(2, "kill -9 release 1 in the middle of a checkpoint")
        unknown_before = self.client.tally.unknown
        v1.post("/admin/checkpoint", {"full": True})  # a full one: a longer write to land in
        stats = v1.wait_for("be committing a checkpoint", lambda s: s["phase"] == "committing")
        v1.kill()
        self.client.point_at(None)
        say(
            f"   SIGKILL to pid {v1.pid} while a checkpoint was being written; the newest committed one was "
            f"{stats['last']}, holding every transfer up to #{stats['durable']}"
        )
        step(3, "restart release 1: it restores the newest committed checkpoint and checks it")
        v1 = self.start("v1")
        restored = v1.wait_for("come online", lambda s: s["role"] == "primary")["restored"]
        if restored["checkpoint"] == stats["last"]:
            say("   the checkpoint being written was never committed: its forked child saw its service gone")
        else:
            check(restored["checkpoint"] > stats["last"], "the restart restores the newest committed checkpoint")
            say(f"   the checkpoint being written, {restored['checkpoint']}, had committed before the kill landed")
        say(
            f"   restored {restored['checkpoint']} (a chain of {len(restored['chain'])}) in "
            f"{restored['seconds'] * 1000:.0f} ms; checks passed: {', '.join(restored['checks'])}"
        )
        held = self.holds_every_acknowledged_transfer(v1)
        say(
            f"   every one of the {held} transfers acknowledged before the kill is there; "
            f"{self.client.tally.unknown - unknown_before} requests cut off by the kill were never acknowledged"
        )
        return v1

    def zero_downtime_upgrade(self, v1: Instance) -> Instance:
        step(4, "upgrade to release 2 with zero downtime: it follows release 1 under load, then takes over")
        say("   release 2 renames Account.owner to holder and adds Account.currency: no code to read old data;")
        say("   it writes bank.Account at version 1 while release 1 may still read the store (a write pin)")
        v2 = self.start("v2", "--follow", "--pin", "bank.Account=1")
        v2.wait_for("follow release 1", lambda s: s["role"] == "follower" and bool(s["following"]["checkpoint"]))
        self.load(v1, self.seconds / 2)
        following = v2.get("/stats")["following"]
        lag = following["lag_ms"] or {"p50": 0, "p99": 0}
        applied, whole = following["applied"], following["whole"]
        say(f"   meanwhile release 2, a follower, applied release 1's {applied} checkpoints as they committed,")
        say(f"   through its own types ({applied - whole} deltas in place, {whole} full ones loaded whole);")
        say(f"   its lag behind each commit: median {lag['p50']:.0f} ms, p99 {lag['p99']:.0f} ms")
        self.in_release_2_shape(v2, "as a follower")
        v2.post("/admin/promote")  # it waits for the store's writer lock
        self.client.point_at("v2", v2.port)  # from now on transfers wait at release 2 until it serves
        handover = v1.post("/admin/handover", {"successor": "follower"})
        final = handover["final_checkpoint"]
        stats = v2.wait_for("take over", lambda s: s["role"] == "primary")
        check(stats["restored"]["checkpoint"] == final, f"release 2 takes over at release 1's final checkpoint {final}")
        first, last = self.client.first_ack("v2"), self.client.tally.last_ack.get("v1")
        if first is None or last is None:
            raise DemoFailed("release 1 acknowledged transfers before the handover, and release 2 after it")
        gap, delta = (first - last) * 1000, v1.get("/stats")["delta_ms"]
        check(bool(delta), "release 1 committed delta checkpoints")
        promotion = stats["promotion"]
        say(f"   release 1 stopped taking transfers, committed a final {handover['kind']} ({final}), let the store go;")
        say(
            f"   release 2, promoted, {promotion['kind']} and served "
            f"{(promotion['online_at'] - handover['released_at']) * 1000:.0f} ms later, without a restore"
        )
        say(f"   handover gap: {gap:.0f} ms from the last transfer release 1 acknowledged to the first release 2 did,")
        say(f"   {gap / delta:.1f}x one delta checkpoint of release 1 ({delta:.0f} ms, median): release 2's first")
        say("   acknowledgement waits for its own first checkpoint")
        held = self.holds_every_acknowledged_transfer(v2)
        self.in_release_2_shape(v2, "serving")
        say(f"   no acknowledged transfer lost: release 2 holds all {held}, and every account as a bank.Account v2")
        self.load(v2, self.seconds / 2)
        pinned, version = self.newest_holding_accounts()
        check(version == 1, "release 2 writes bank.Account v1 while pinned")
        back = v1.post("/admin/read-store")
        check(back["ok"] and back["checkpoint"] >= pinned, f"release 1 restores release 2's checkpoints ({back})")
        say(f"   release 2's checkpoints hold bank.Account v1 ({pinned}, ...), so release 1 (still up, drained)")
        say(
            f"   restores them: checkpoint {back['checkpoint']}, {back['totals']['transfers']} transfers, invariants"
            " hold. Rolling the deploy back is safe."
        )
        return v2

    def in_release_2_shape(self, v2: Instance, how: str) -> None:
        shape = v2.get("/shape")
        accounts = shape.get("bank.Account", {})
        check(
            set(accounts) == {"2"} and sum(accounts.values()) == self.accounts,
            f"release 2, {how}, holds every account as a bank.Account v2 ({shape})",
        )
        others = {name: versions for name, versions in shape.items() if name != "bank.Account"}
        check(all(set(versions) == {"1"} for versions in others.values()), f"release 2, {how}, holds {shape}")

    def unpin(self, v1: Instance, v2: Instance) -> None:
        step(5, "lift the pin: release 2 writes bank.Account v2 from now on")
        v2.post("/admin/unpin")
        newest, version = self.newest_holding_accounts()
        check(version == 2, "release 2 writes bank.Account v2 once unpinned")
        refused = v1.post("/admin/read-store")
        check(not refused["ok"] and "IncompatibleSchemaError" in refused["error"], "release 1 cannot read it")
        say(f"   checkpoint {newest} holds bank.Account v2, and release 1 refuses the store, as it should:")
        say(textwrap.fill(refused["error"], 100, initial_indent="     ", subsequent_indent="     "))
        v1.stop()
        say("   so release 1 is stopped (SIGTERM)")
        self.load(v2, self.seconds / 2)

    def stop_and_migrate(self, v2: Instance) -> None:
        step(6, "release 3 stores money in integer cents and splits Customer in two: migrate offline")
        self.client.point_at(None)
        held = self.holds_every_acknowledged_transfer(v2)
        v2.stop()
        say(f"   release 2 held all {held} acknowledged transfers; stopped, it left a full checkpoint")
        self.amber("migrate", str(self.store), *MIGRATE, "--dry-run")
        self.amber("migrate", str(self.store), *MIGRATE)

    def rollback_and_migrate_again(self) -> None:
        step(7, "suppose release 3's smoke test fails: roll the store back, then forward again")
        self.amber("rollback", str(self.store))
        v2 = self.start("v2")
        v2.wait_for("come online", lambda s: s["role"] == "primary")
        held = self.holds_every_acknowledged_transfer(v2)
        v2.stop()
        say(f"   release 2 restores the rolled-back store: all {held} transfers, invariants hold")
        self.amber("migrate", str(self.store), *MIGRATE)
        self.amber("log", str(self.store))

    def run_release_3(self) -> None:
        step(8, "start release 3 on the migrated store, under load")
        v3 = self.start("v3")
        v3.wait_for("come online", lambda s: s["role"] == "primary")
        self.load(v3, self.seconds / 2)
        self.client.point_at(None)
        held = self.holds_every_acknowledged_transfer(v3)
        totals = v3.get("/totals")
        v3.stop()
        self.client.stop()
        say(f"   release 3 holds all {held} acknowledged transfers, every amount now in integer cents;")
        say(f"   balances sum to the books: {totals['balances_cents']:,} cents")
        self.amber("verify", str(self.store))

    def check_the_final_store(self) -> None:
        """Every transfer ever acknowledged, in the store release 3 left (read here, with its code)."""
        bank = v3.Bank()
        store = amber.open_store(self.store, registry=v3.registry, history=False)
        amber.Manager(store, bank.participants, exclusive=False).restore()
        acked = self.client.acknowledged()
        missing = bank.missing_transfers(acked)
        check(not missing, f"the final store holds every acknowledged transfer (missing: {missing[:10]})")
        say(f"   the final store, read with release 3's code, holds all {len(acked)} acknowledged transfers")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.bank.demo", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dir", type=Path, help="where to keep the store, logs and report (default: a new temp folder)"
    )
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=6.0, help="load in the first phase (later ones: half)")
    args = parser.parse_args(argv)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="amber-bank-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    demo = Demo(folder.resolve(), args.accounts, args.seconds)
    started = time.monotonic()
    try:
        demo.run()
    except DemoFailed as e:
        say(f"\nDEMO FAILED: {e}")
        sys.exit(1)
    finally:
        demo.cleanup()
    say(f"\nDone in {time.monotonic() - started:.0f} s. Next: docs/tutorial.md builds such a service step by step.")


if __name__ == "__main__":
    main()
