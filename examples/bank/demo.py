"""`make demo`: the bank service from release 1 to release 3, under load, with a crash on the way.

    python -m examples.bank.demo [--dir DIR] [--accounts N] [--seconds S]

Every claim it prints is checked; it exits 1 if one fails. The store, the services' logs and
the HTML report stay in DIR (default: a new folder under the system's temp folder).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from amber import commands

from .client import LoadClient

ROOT = Path(__file__).resolve().parents[2]  # the repository: `examples.bank` imports from here
Json = dict[str, Any]


class DemoFailed(Exception):
    """A claim the demo makes turned out false."""


def check(condition: bool, claim: str) -> None:
    if not condition:
        raise DemoFailed(claim)


def say(text: str) -> None:
    print(text, flush=True)


def step(number: int, text: str) -> None:
    say(f"\n== {number}. {text}")


class Instance:
    """One running process of the service, on its own port, its output in a log file."""

    def __init__(self, demo: Demo, release: str, *extra: str) -> None:
        self.release = release
        demo.starts += 1
        demo.instances.append(self)
        self.log_path = demo.dir / "logs" / f"{demo.starts}-{release}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        command = [sys.executable, "-m", "examples.bank.service", "--release", release, "--store", str(demo.store)]
        command += ["--accounts", str(demo.accounts), *extra]
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=demo.env, stdout=subprocess.PIPE, stderr=log, text=True
            )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # the service prints its port, then nothing more
        self.process.stdout.close()
        check(bool(line), f"{release} started (see {self.log_path})")
        self.port = int(json.loads(line)["port"])
        self.pid = self.process.pid

    def get(self, path: str) -> Json:
        return self._call("GET", path, None)

    def post(self, path: str, body: Json | None = None) -> Json:
        return self._call("POST", path, body or {})

    def _call(self, method: str, path: str, body: Json | None) -> Json:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, None if body is None else json.dumps(body))
            answer: Json = json.loads(conn.getresponse().read())
            return answer
        finally:
            conn.close()

    def wait_for(self, what: str, condition: Any, timeout: float = 60) -> Json:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            check(self.process.poll() is None, f"{self.release} is running (see {self.log_path})")
            stats = self.get("/stats")
            if condition(stats):
                return stats
            time.sleep(0.005)
        raise DemoFailed(f"{self.release}: {what} within {timeout} s (see {self.log_path})")

    def stop(self) -> None:
        """SIGTERM: the service takes a final checkpoint and exits."""
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=60)  # 128 + SIGTERM, as a shell reports it
        check(status == 128 + signal.SIGTERM, f"{self.release} stopped cleanly (see {self.log_path})")

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


class Demo:
    def __init__(self, folder: Path, accounts: int, seconds: float) -> None:
        self.dir = folder
        self.store = folder / "state"
        self.accounts = accounts
        self.seconds = seconds  # of load in each phase
        self.starts = 0
        self.instances: list[Instance] = []
        self.env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.client = LoadClient(accounts, threads=32)

    def cleanup(self) -> None:
        """Leave no service running, whatever happened."""
        self.client.stop()
        for instance in self.instances:
            if instance.process.poll() is None:
                instance.kill()

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
        stats = instance.get("/stats")
        acked = len(self.client.acknowledged()) - before
        say(
            f"   {instance.release} under load for {seconds:.0f} s: {acked} transfers acknowledged, "
            f"{stats['checkpoints']} checkpoints committed by this instance"
        )

    def all_acknowledged_held_by(self, instance: Instance) -> int:
        acked = self.client.acknowledged()
        missing = instance.post("/transfers/check", {"transfers": acked})["missing"]
        check(not missing, f"{instance.release} holds every acknowledged transfer (missing: {missing[:10]})")
        return len(acked)

    def sound(self, instance: Instance) -> Json:
        stats = instance.get("/stats")
        check(stats["balances_cents"] == stats["books_cents"], f"{instance.release}: balances sum to the books")
        return stats

    def run(self) -> None:
        v1 = self.start_under_load()
        v1 = self.crash_and_restart(v1)
        v2 = self.rolling_upgrade(v1)
        self.stop_and_migrate(v2)
        self.rollback_and_migrate_again()
        self.run_release_3()
        self.summary()

    def start_under_load(self) -> Instance:
        step(1, f"start release 1 on a fresh store ({self.accounts:,} accounts), under load from 32 clients")
        v1 = Instance(self, "v1")
        v1.wait_for("come online", lambda s: s["role"] == "primary")
        self.client.point_at("v1", v1.port)
        self.client.start()
        say("   a transfer is acknowledged only once a committed checkpoint holds it (group commit,")
        say("   a checkpoint at most every 50 ms, captured in a forked child: the service pauses only to fork)")
        self.load(v1, self.seconds)
        return v1

    def crash_and_restart(self, v1: Instance) -> Instance:
        step(2, "kill -9 release 1 in the middle of a checkpoint")
        v1.post("/admin/checkpoint", {"full": True})
        stats = v1.wait_for("reach a checkpoint's commit", lambda s: s["phase"] == "committing")
        v1.kill()
        self.client.point_at(None)
        leftovers = sorted(p.name for p in (self.store / "data").glob(".*.tmp"))
        say(
            f"   SIGKILL to pid {v1.pid} while its checkpoint was {stats['phase']}; "
            f"{stats['durable']} transfers were durable"
        )
        if leftovers:
            say(f"   the interrupted write left {leftovers[0]} in the store: never committed, never read")
        self.amber("ls", str(self.store), show=False)
        step(3, "restart release 1: it restores the last committed checkpoint and checks it")
        v1 = Instance(self, "v1")
        stats = v1.wait_for("come online", lambda s: s["role"] == "primary")
        restored = stats["restored"]
        say(
            f"   restored checkpoint {restored['checkpoint']} (a chain of {len(restored['chain'])}) "
            f"in {restored['seconds'] * 1000:.0f} ms; checks passed: {', '.join(restored['checks'])}"
        )
        held = self.all_acknowledged_held_by(v1)
        self.sound(v1)
        say(
            f"   every one of the {held} transfers acknowledged before the kill is there; "
            f"{self.client.tally.unknown} requests cut off by the kill were never acknowledged"
        )
        self.load(v1, self.seconds / 2)
        return v1

    def rolling_upgrade(self, v1: Instance) -> Instance:
        step(4, "roll out release 2 beside release 1, writing bank.Account at version 1 (a write pin)")
        say("   release 2 renames Account.owner to holder and adds Account.currency: no code to read old data")
        v2 = Instance(self, "v2", "--pin", "bank.Account=1")
        v2.wait_for("wait for the store", lambda s: s["role"] == "standby")
        say("   release 2 is up and waiting for the store's writer lock; traffic moves to it now")
        self.client.point_at("v2", v2.port)
        final = v1.post("/admin/handover")["final_checkpoint"]
        stats = v2.wait_for("take over", lambda s: s["role"] == "primary")
        say(
            f"   release 1 took a final checkpoint ({final}) and released the store; release 2 restored "
            f"{stats['restored']['checkpoint']}, release 1's, and serves"
        )
        self.load(v2, self.seconds / 2)
        check(self.newest_account_version() == 1, "release 2 writes bank.Account v1 while pinned")
        newest = commands.show(str(self.store))
        back = v1.post("/admin/read-store")
        check(back["ok"], f"release 1 restores release 2's pinned checkpoint ({back.get('error')})")
        say(f"   release 2's checkpoint {newest['id']} holds bank.Account v1, so release 1 (still up, drained)")
        say(f"   can restore it: {back['totals']['transfers']} transfers, invariants hold. Rolling back is safe.")
        step(5, "lift the pin: release 2 writes bank.Account v2 from now on")
        v2.post("/admin/unpin")
        check(self.newest_account_version() == 2, "release 2 writes bank.Account v2 once unpinned")
        refused = v1.post("/admin/read-store")
        check(not refused["ok"], "release 1 cannot read bank.Account v2")
        say("   release 1 now refuses the store, as it should:")
        say(textwrap.fill(refused["error"], 100, initial_indent="     ", subsequent_indent="     "))
        v1.stop()
        say("   so release 1 is stopped (SIGTERM)")
        self.load(v2, self.seconds / 2)
        return v2

    def newest_account_version(self, wait: float = 10) -> int:
        """The version of bank.Account in the newest checkpoint that holds accounts, once a
        checkpoint begun after this call has committed (the one under way may predate a change)."""
        first = commands.ls(str(self.store))[-1]["id"]
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            rows = [r for r in commands.ls(str(self.store)) if r["id"] > first]
            if len(rows) >= 2 and "bank.Account" in rows[-1]["types"]:
                return int(rows[-1]["types"]["bank.Account"])
            time.sleep(0.01)
        raise DemoFailed("the service commits checkpoints holding accounts")

    def stop_and_migrate(self, v2: Instance) -> None:
        step(6, "release 3 stores money in integer cents and splits Customer: migrate offline")
        self.client.point_at(None)
        held = self.all_acknowledged_held_by(v2)
        self.sound(v2)
        v2.stop()
        self.client.stop()
        say(f"   release 2 stopped after a final checkpoint; it held all {held} acknowledged transfers")
        app = "examples.bank.v3:registry"
        self.amber("migrate", str(self.store), "--app", app, "--dry-run")
        self.amber("migrate", str(self.store), "--app", app)

    def rollback_and_migrate_again(self) -> None:
        step(7, "suppose release 3's smoke test fails: roll the store back, then forward again")
        self.amber("rollback", str(self.store))
        v2 = Instance(self, "v2")
        v2.wait_for("come online", lambda s: s["role"] == "primary")
        held = self.all_acknowledged_held_by(v2)
        self.sound(v2)
        v2.stop()
        say(f"   release 2 restores the rolled-back store: all {held} transfers, invariants hold")
        self.amber("migrate", str(self.store), "--app", "examples.bank.v3:registry")
        self.amber("log", str(self.store))

    def run_release_3(self) -> None:
        step(8, "start release 3 on the migrated store, under load")
        v3 = Instance(self, "v3")
        v3.wait_for("come online", lambda s: s["role"] == "primary")
        self.client.start()
        self.load(v3, self.seconds / 2)
        self.client.point_at(None)
        held = self.all_acknowledged_held_by(v3)
        stats = self.sound(v3)
        v3.stop()
        self.client.stop()
        say(f"   release 3 holds all {held} acknowledged transfers, every amount now in integer cents;")
        say(f"   balances sum to the books: {stats['balances_cents']:,} cents")
        self.amber("verify", str(self.store))

    def summary(self) -> None:
        report_path = self.dir / "report.html"
        self.amber("report", str(self.store), "--html", str(report_path), show=False)
        data = commands.report(str(self.store))
        rows = [r for r in data["checkpoints"] if "time" in r]
        service = [r for r in rows if r.get("pause") is not None]
        pauses = sorted(r["pause"] * 1000 for r in service)
        fulls = [r["size"] for r in rows if r["kind"] == "full"]
        deltas = [r["size"] for r in rows if r["kind"] == "delta"]
        migrations = [e for e in data["migration_events"] if e["action"] == "migrate"]
        tally = self.client.tally
        latency = self.client.latency_ms()
        step(9, "summary")
        say(
            f"   transfers acknowledged: {len(tally.acknowledged)} "
            f"({', '.join(f'{k}: {v}' for k, v in sorted(tally.by_release.items()))}), every one of them kept "
            f"through a SIGKILL, a handover, a migration and a rollback"
        )
        say(
            f"   durable ack latency: p50 {latency['p50']:.0f} ms, p99 {latency['p99']:.0f} ms; "
            f"{tally.unknown} cut off or not acknowledged, {tally.refused} refused (insufficient funds)"
        )
        say(
            f"   checkpoints: {len(rows)} committed "
            f"({len(fulls)} full, median {statistics.median(fulls) / 1e3:.0f} kB; "
            f"{len(deltas)} deltas, median {statistics.median(deltas) / 1e3:.1f} kB), "
            f"{data['stored_bytes'] / 1e6:.1f} MB stored, {len(data['aborts'])} aborted"
        )
        say(
            f"   service pauses: median {statistics.median(pauses):.1f} ms, "
            f"p99 {statistics.quantiles(pauses, n=100)[98]:.1f} ms, max {pauses[-1]:.1f} ms"
        )
        say(
            f"   migrations: {sum(e['outcome'] == 'committed' for e in migrations)} committed "
            f"({migrations[-1]['records']:,} records each), "
            f"{sum(e['action'] == 'rollback' for e in data['migration_events'])} rollback"
        )
        say(
            f"   invariants (balances = books, no overdraft, ids without gaps, holders are customers) checked "
            f"before each of the {len(service)} service checkpoints and at {len(data['restores'])} restores"
        )
        say(f"   HTML report: {report_path}")
        say(f"   store, service logs: {self.dir}")


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
