"""Prometheus metrics from Amber's events (``pip install 'amber-state[prometheus]'``)::

    from amber.prometheus import PrometheusListener
    manager = amber.Manager(store, participants, listeners=[PrometheusListener()])

Metric names follow Prometheus conventions (base units, ``_total`` counters); the list,
with example alerts and a Grafana dashboard, is in ``docs/observability.md`` and
``contrib/``. Listeners on one registry share its metrics: two managers in one process
add up, as the counters of one service should.
"""

from __future__ import annotations

import functools
import threading
import weakref
from typing import Any

from .errors import MissingExtraError
from .events import (
    CheckpointAborted,
    CheckpointCommitted,
    CheckpointRefused,
    CheckpointSkipped,
    Event,
    FollowerCaughtUp,
    GarbageCollected,
    MigrationFinished,
    MigrationStep,
    PhaseFinished,
    Quarantined,
    RestoreFailed,
    RestoreFinished,
    RolledBack,
)

try:
    import prometheus_client as prom
except ImportError:  # pragma: no cover - exercised in a subprocess by the tests
    raise MissingExtraError("amber.prometheus", "prometheus", "prometheus_client") from None

__all__ = ["PrometheusListener"]

# From a millisecond to ten minutes: a delta of a small service to a full one of a big one.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# The service's pause: from a tenth of a millisecond (a forked delta) to seconds.
PAUSE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class _Metrics:
    """Every metric, registered once per registry; each has a ``store`` label first."""

    def __init__(self, registry: prom.CollectorRegistry) -> None:
        def histogram(name: str, doc: str, labels: tuple[str, ...], buckets: tuple[float, ...]) -> Any:
            return prom.Histogram(name, doc, ("store", *labels), registry=registry, buckets=buckets)

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
            return prom.Counter(name, doc, ("store", *labels), registry=registry)

        def gauge(name: str, doc: str) -> Any:
            return prom.Gauge(name, doc, ("store",), registry=registry)

        self.checkpoint_seconds = histogram(
            "amber_checkpoint_duration_seconds",
            "Committed checkpoints: first prepare() to commit.",
            ("kind",),
            DURATION_BUCKETS,
        )
        self.phase_seconds = histogram(
            "amber_checkpoint_phase_duration_seconds",
            "Checkpoint phases (preparing, capturing, validating, committing), committed or not.",
            ("phase",),
            DURATION_BUCKETS,
        )
        self.pause_seconds = histogram(
            "amber_checkpoint_pause_seconds",
            "How long the service was held per checkpoint: first prepare() to last resume().",
            ("capture",),
            PAUSE_BUCKETS,
        )
        self.written_bytes = counter(
            "amber_checkpoint_written_bytes", "Bytes stored by committed checkpoints.", ("kind",)
        )
        self.checkpoints = counter("amber_checkpoints", "Checkpoints by kind and outcome.", ("kind", "outcome"))
        self.aborts = counter("amber_checkpoint_aborts", "Aborted checkpoints by the phase that failed.", ("phase",))
        self.failing = gauge(
            "amber_checkpoint_consecutive_failures", "Checkpoints aborted since the last one committed (0: saving)."
        )
        self.last_success = gauge(
            "amber_last_successful_checkpoint_timestamp_seconds",
            "When the last checkpoint was committed, or the service restored (Unix time).",
        )
        self.last_size = gauge("amber_last_checkpoint_size_bytes", "Bytes stored by the last committed checkpoint.")
        self.follower_lag = gauge(
            "amber_follower_lag_seconds", "A follower's lag at its last catch-up: from a commit to its application."
        )
        self.follower_applied = counter(
            "amber_follower_applied_total", "Checkpoints a follower applied, by how.", ("how",)
        )
        self.chain = gauge(
            "amber_delta_chain_length", "Deltas between the last committed checkpoint and its full base."
        )
        self.restore_seconds = histogram(
            "amber_restore_duration_seconds",
            "Restores, from start to online or failure.",
            ("outcome",),
            DURATION_BUCKETS,
        )
        self.restores = counter("amber_restores", "Restores by outcome: restored, fresh or failed.", ("outcome",))
        self.fallbacks = counter(
            "amber_restore_fallbacks", "Checkpoints a restore passed over, by action taken.", ("action",)
        )
        self.quarantined = counter("amber_quarantined_checkpoints", "Checkpoints set aside as unsound.")
        # A restore runs once, at start-up, usually before the first scrape: counters would
        # appear already at 1 and increase() would miss them. These gauges describe the last one.
        self.last_restore = gauge("amber_last_restore_timestamp_seconds", "When the last restore ended (Unix time).")
        self.last_restore_ok = gauge(
            "amber_last_restore_success", "1 if the last restore brought the service online, 0 if it failed."
        )
        self.last_restore_fallbacks = gauge(
            "amber_last_restore_fallbacks", "Checkpoints the last restore passed over (newer than the one it used)."
        )
        self.migration_records = counter(
            "amber_migration_records", "Records upgraded by committed migrations, by type.", ("type",)
        )
        self.step_seconds = histogram(
            "amber_migration_step_duration_seconds",
            "Upgrading one type in one checkpoint (migrations, not dry runs).",
            ("type",),
            DURATION_BUCKETS,
        )
        self.migrations = counter("amber_migrations", "Migrations by outcome.", ("outcome",))
        self.rollbacks = counter("amber_rollbacks", "Rollbacks to an earlier checkpoint.")
        self.gc_checkpoints = counter("amber_gc_deleted_checkpoints", "Checkpoints deleted by retention.")
        self.gc_files = counter("amber_gc_deleted_files", "Data files and leftovers deleted by retention.")

    def start(self, store: str) -> None:
        """Create every known series of ``store`` at zero, so that rates and increases see
        the first event (a series that appears at 1 has no increase)."""
        for kind in KINDS:
            self.checkpoint_seconds.labels(store, kind)
            self.written_bytes.labels(store, kind)
            for outcome in ("committed", "aborted"):
                self.checkpoints.labels(store, kind, outcome)
        for phase in PHASES:
            self.phase_seconds.labels(store, phase)
            self.aborts.labels(store, phase)
        for outcome in ("restored", "fresh", "failed"):
            self.restores.labels(store, outcome)
        for action in ("quarantined", "skipped", "refused"):
            self.fallbacks.labels(store, action)
        for outcome in ("committed", "failed"):
            self.migrations.labels(store, outcome)
        for metric in (self.quarantined, self.rollbacks, self.gc_checkpoints, self.gc_files):
            metric.labels(store)
        # Gauges appear with their first value: a 0 would read as "1970" or "empty".


KINDS = ("full", "delta")
PHASES = ("preparing", "capturing", "validating", "committing")
_registries: weakref.WeakKeyDictionary[prom.CollectorRegistry, _Metrics] = weakref.WeakKeyDictionary()
_registries_lock = threading.Lock()


def _metrics_for(registry: prom.CollectorRegistry) -> _Metrics:
    with _registries_lock:
        metrics = _registries.get(registry)
        if metrics is None:
            metrics = _registries[registry] = _Metrics(registry)
        return metrics


class PrometheusListener:
    """Updates Prometheus metrics from Amber's events, in ``registry`` (default: the
    ``prometheus_client`` global one, which ``start_http_server`` exposes).

    ``store_name`` is the value of the ``store`` label on every metric: give each store of a
    process its own (and its own listener), or their gauges would overwrite each other."""

    def __init__(self, registry: prom.CollectorRegistry | None = None, *, store_name: str = "") -> None:
        self.registry = registry if registry is not None else prom.REGISTRY
        self.store_name = store_name
        self.metrics = _metrics_for(self.registry)
        self.metrics.start(store_name)
        self._pending: dict[str, list[MigrationStep]] = {}  # run -> its steps, counted once committed
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        self._on(event)

    @functools.singledispatchmethod
    def _on(self, event: Event) -> None:
        """A kind no metric counts (the handlers below, by the event's class)."""

    # --- checkpoints ----------------------------------------------------------------------

    @_on.register
    def _phase(self, event: PhaseFinished) -> None:
        self.metrics.phase_seconds.labels(self.store_name, event.phase).observe(event.seconds)

    @_on.register
    def _committed(self, event: CheckpointCommitted) -> None:
        m, s = self.metrics, self.store_name
        m.checkpoint_seconds.labels(s, event.kind).observe(event.seconds)
        m.pause_seconds.labels(s, event.capture).observe(event.pause_seconds)
        m.written_bytes.labels(s, event.kind).inc(event.bytes)
        m.checkpoints.labels(s, event.kind, "committed").inc()
        m.last_success.labels(s).set(event.time)
        m.failing.labels(s).set(0)
        m.last_size.labels(s).set(event.bytes)
        m.chain.labels(s).set(event.depth)

    @_on.register
    def _caught_up(self, event: FollowerCaughtUp) -> None:
        m, s = self.metrics, self.store_name
        m.follower_lag.labels(s).set(event.lag_seconds)
        m.follower_applied.labels(s, "delta").inc(event.applied - event.whole)
        m.follower_applied.labels(s, "whole").inc(event.whole)

    @_on.register
    def _skipped(self, event: CheckpointSkipped) -> None:
        """Nothing changed, so nothing was written: the store holds the live state, which is a
        success (an idle service is not a stalled one)."""
        m, s = self.metrics, self.store_name
        m.checkpoints.labels(s, "delta", "skipped").inc()
        m.pause_seconds.labels(s, event.capture).observe(event.pause_seconds)
        m.last_success.labels(s).set(event.time)
        m.failing.labels(s).set(0)

    @_on.register
    def _aborted(self, event: CheckpointAborted) -> None:
        m, s = self.metrics, self.store_name
        m.checkpoints.labels(s, event.kind, "aborted").inc()
        m.aborts.labels(s, event.phase).inc()
        m.failing.labels(s).inc()
        m.pause_seconds.labels(s, event.capture).observe(event.pause_seconds)

    # --- restore --------------------------------------------------------------------------

    @_on.register
    def _restored(self, event: RestoreFinished) -> None:
        m, s = self.metrics, self.store_name
        outcome = "restored" if event.checkpoint else "fresh"
        m.restore_seconds.labels(s, outcome).observe(event.seconds)
        m.restores.labels(s, outcome).inc()
        m.last_restore.labels(s).set(event.time)
        m.last_restore_ok.labels(s).set(1)
        m.last_restore_fallbacks.labels(s).set(len(event.fallbacks))
        # Restored, the service holds exactly what its store holds: nothing is at risk yet.
        m.last_success.labels(s).set(event.time)
        if event.checkpoint:
            m.chain.labels(s).set(len(event.chain) - 1)

    @_on.register
    def _restore_failed(self, event: RestoreFailed) -> None:
        m, s = self.metrics, self.store_name
        m.restore_seconds.labels(s, "failed").observe(event.seconds)
        m.restores.labels(s, "failed").inc()
        m.last_restore.labels(s).set(event.time)
        m.last_restore_ok.labels(s).set(0)
        m.last_restore_fallbacks.labels(s).set(0)  # it fell back to nothing: it failed

    @_on.register
    def _refused(self, event: CheckpointRefused) -> None:
        self.metrics.fallbacks.labels(self.store_name, event.action).inc()

    @_on.register
    def _quarantined(self, event: Quarantined) -> None:
        self.metrics.quarantined.labels(self.store_name).inc()

    # --- migrations, rollbacks, collections ------------------------------------------------

    @_on.register
    def _step(self, event: MigrationStep) -> None:
        if event.dry_run:
            return
        m, s = self.metrics, self.store_name
        m.step_seconds.labels(s, event.type).observe(event.seconds)
        m.migration_records.labels(s, event.type)  # at 0 until the migration commits
        with self._lock:
            self._pending.setdefault(event.run, []).append(event)

    @_on.register
    def _migrated(self, event: MigrationFinished) -> None:
        m, s = self.metrics, self.store_name
        with self._lock:
            steps = self._pending.pop(event.run, [])
        if event.outcome == "committed":  # a migration that failed upgraded nothing that stayed
            for step in steps:
                m.migration_records.labels(s, step.type).inc(step.records)
        m.migrations.labels(s, event.outcome).inc()

    @_on.register
    def _rolled_back(self, event: RolledBack) -> None:
        self.metrics.rollbacks.labels(self.store_name).inc()

    @_on.register
    def _collected(self, event: GarbageCollected) -> None:
        if event.dry_run:
            return
        m, s = self.metrics, self.store_name
        m.gc_checkpoints.labels(s).inc(len(event.deleted_checkpoints))
        m.gc_files.labels(s).inc(len(event.deleted_files))
