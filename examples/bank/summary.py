"""The demo's last step: what it did, in figures, from the store's own history."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from amber import commands

from .client import LoadClient


def summarize(
    store: Path,
    report_path: Path,
    client: LoadClient,
    amber: Callable[..., str],
    step: Callable[[int, str], None],
) -> None:
    amber("report", str(store), "--html", str(report_path), show=False)
    data = commands.report(str(store))
    step(9, "summary")
    for line in [*_transfers(client), *_checkpoints(data), *_migrations(data)]:
        print(f"   {line}", flush=True)
    print(f"   HTML report: {report_path}\n   store, service logs: {report_path.parent}", flush=True)


def _transfers(client: LoadClient) -> list[str]:
    tally, latency = client.tally, client.latency_ms()
    per_release = ", ".join(f"{k}: {v}" for k, v in sorted(tally.by_release.items()))
    return [
        f"transfers acknowledged: {len(tally.acknowledged)} ({per_release}), every one of them in the final store",
        f"durable acknowledgement latency: p50 {latency['p50']:.0f} ms, p99 {latency['p99']:.0f} ms; "
        f"{tally.unknown} requests cut off or not durable in time (never acknowledged), "
        f"{tally.refused} refused (insufficient funds)",
    ]


def _checkpoints(data: dict[str, Any]) -> list[str]:
    rows = [r for r in data["checkpoints"] if "time" in r]
    service = [r for r in rows if r.get("pause") is not None]  # not a migration's or a rollback's
    pauses = sorted(r["pause"] * 1000 for r in service)
    fulls = [r["size"] for r in rows if r["kind"] == "full"]
    deltas = [r["size"] for r in rows if r["kind"] == "delta"] or [0]
    restores = [r for r in data["restores"] if r["outcome"] == "restored"]
    return [
        f"checkpoints: {len(rows)} committed ({len(fulls)} full, median {statistics.median(fulls) / 1e3:.0f} kB; "
        f"{len(rows) - len(fulls)} deltas, median {statistics.median(deltas) / 1e3:.1f} kB), "
        f"{data['stored_bytes'] / 1e6:.1f} MB stored, {len(data['aborts'])} aborted",
        f"service pauses: median {statistics.median(pauses):.1f} ms, "
        f"p99 {statistics.quantiles(pauses, n=100)[98]:.1f} ms, max {pauses[-1]:.1f} ms",
        f"invariants (balances = books, no overdraft, ids without gaps, holders are customers) checked before "
        f"each of the {len(service)} service checkpoints committed, and at {len(restores)} restores",
    ]


def _migrations(data: dict[str, Any]) -> list[str]:
    events = data["migration_events"]
    migrations = [e for e in events if e["action"] == "migrate" and e["outcome"] == "committed"]
    sizes = ", ".join(f"{e['records']:,}" for e in migrations)
    rollbacks = sum(e["action"] == "rollback" for e in events)
    return [f"migrations: {len(migrations)} committed (records migrated: {sizes}), {rollbacks} rollback"]
