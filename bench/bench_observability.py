"""Observability overhead: full checkpoints with every adapter on against none (issue: observability).

    python -m bench.bench_observability [--accounts N] [--runs R]

One manager checkpoints the service (the standard workload in tables) with observability
switched on and off between checkpoints, who goes first alternating run by run, so that
drift and the disk hit both alike:

- bare: no listeners, no history journal, Amber's loggers at their default (WARNING);
- observed: the history journal, a Prometheus listener, an OpenTelemetry listener with the
  SDK's tracer provider exporting every span, a Recorder, and the ``amber`` loggers at
  DEBUG into a JSON-lines file.

Also times the events of one checkpoint through those adapters alone (no checkpoint), a
figure the noise of whole checkpoints would hide. Medians of R runs; writes
bench/results/observability.json.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

import amber
from amber.events import Event, JsonFormatter, Listener, Recorder
from amber.otel import TracingListener
from amber.prometheus import PrometheusListener
from bench import workload
from bench.bench_manager import Service


class CountingExporter(SpanExporter):
    """Exports every span (counting them) so that the SDK does all of its work."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


def adapters() -> tuple[list[Listener], CountingExporter]:
    import prometheus_client

    exporter = CountingExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    listeners: list[Listener] = [
        PrometheusListener(prometheus_client.CollectorRegistry()),
        TracingListener(provider),
        Recorder(),
    ]
    return listeners, exporter


class Switch:
    """One manager and store whose observability is switched on or off between checkpoints,
    so that both configurations write the same state to the same disk."""

    def __init__(self, service: Service, root: Path, log_file: Path) -> None:
        store = amber.open_store(root, registry=workload.registry)
        self.manager = amber.Manager(store, [service], retention=amber.Retention(keep_last=2))
        self.history = store.history
        self.listeners, self.exporter = adapters()
        self.handler = logging.FileHandler(log_file)
        self.handler.setFormatter(JsonFormatter())

    def set(self, on: bool) -> None:
        logger = logging.getLogger("amber")
        self.manager.listeners[:] = self.listeners if on else []
        self.manager.store.history = self.history if on else None
        logger.setLevel(logging.DEBUG if on else logging.WARNING)
        if on:
            logger.addHandler(self.handler)
        else:
            logger.removeHandler(self.handler)


def events_of_one_checkpoint(m: amber.Manager) -> list[Event]:
    recorder = Recorder()
    m.listeners.append(recorder)
    m.checkpoint(full=True)
    m.listeners.remove(recorder)
    return recorder.events


def dispatch_cost(m: amber.Manager, events: list[Event], repeats: int) -> float:
    """Seconds to deliver one checkpoint's events to every adapter (log, listeners, history)."""
    started = time.perf_counter()
    for _ in range(repeats):
        for event in events:
            m._emit(event)
    return (time.perf_counter() - started) / repeats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=31)
    args = parser.parse_args()
    service = Service(args.accounts)
    with tempfile.TemporaryDirectory(prefix="amber-bench-") as tmp:
        switch = Switch(service, Path(tmp) / "store", Path(tmp) / "amber.jsonl")
        found: dict[str, list[float]] = {"bare_s": [], "observed_s": [], "bare_pause": [], "observed_pause": []}
        for run in range(args.runs):
            for on in (run % 2 == 0, run % 2 == 1):  # who goes first alternates
                switch.set(on)
                name = "observed" if on else "bare"
                started = time.perf_counter()  # the whole call: listeners after the commit count too
                result = switch.manager.checkpoint(full=True)
                found[f"{name}_s"].append(time.perf_counter() - started)
                found[f"{name}_pause"].append(result.pause)
        switch.set(True)
        events = events_of_one_checkpoint(switch.manager)
        cost = statistics.median(dispatch_cost(switch.manager, events, 200) for _ in range(args.runs))
        switch.set(False)
        r: dict[str, Any] = {"accounts": args.accounts, "runs": args.runs, "python": sys.version.split()[0]}
        r.update({k: statistics.median(v) for k, v in found.items()})
        paired = [o / b for o, b in zip(found["observed_s"], found["bare_s"], strict=True)]
        r.update(paired_ratio=statistics.median(paired), paired_min=min(paired), paired_max=max(paired))
        r.update(events=len(events), dispatch_s=cost, spans=switch.exporter.spans)
    report(r)


def report(r: dict[str, Any]) -> None:
    print(f"\nstandard workload in tables: {r['accounts']:,} accounts, median of {r['runs']} runs\n")
    print("| measure | all adapters on | none | ratio | target |\n|---|---|---|---|---|")
    ratio = r["observed_s"] / r["bare_s"]
    print(f"| full checkpoint | {r['observed_s'] * 1000:.1f} ms | {r['bare_s'] * 1000:.1f} ms | {ratio:.3f} | ≤ 1.02 |")
    paired = f"{r['paired_ratio']:.3f} ({r['paired_min']:.3f}-{r['paired_max']:.3f})"
    print(f"| full checkpoint, paired by run | | | {paired} | ≤ 1.02 |")
    pause = r["observed_pause"] / r["bare_pause"]
    print(f"| its pause | {r['observed_pause'] * 1000:.1f} ms | {r['bare_pause'] * 1000:.1f} ms | {pause:.3f} | - |")
    share = r["dispatch_s"] / r["bare_s"]
    print(
        f"\nDelivering one checkpoint's {r['events']} events to every adapter alone: "
        f"{r['dispatch_s'] * 1e6:.0f} µs = {share:.5f} of a full checkpoint ({r['spans']} spans exported in all)."
    )
    workload.save_results("observability", r)


if __name__ == "__main__":
    main()
