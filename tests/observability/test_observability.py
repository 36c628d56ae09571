"""Observability on real manager runs: events, logs, Prometheus metrics and OpenTelemetry spans."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import amber
from amber import commands
from amber._store._commit import Committer
from amber._store._history import History
from amber.events import (
    AnyEvent,
    CheckpointAborted,
    CheckpointCommitted,
    CheckpointStarted,
    Event,
    Listener,
    MigrationFinished,
    MigrationStep,
    PhaseFinished,
    Recorder,
    RestoreFinished,
    ServiceResumed,
    recording,
)
from amber.events._log_lines import LOG_LINES
from amber.otel import TracingListener
from amber.prometheus import PrometheusListener
from tests.support import migration_app
from tests.support.bank_service import Bank, registry
from tests.support.sample import bank as sample_bank
from tests.support.sample import registry as sample_registry

PHASES = ["preparing", "capturing", "validating", "committing"]


class Observed:
    """A bank service whose manager has every adapter on, each with its own sink."""

    def __init__(self, tmp_path: Path, capture: str = "inline", **options: Any) -> None:
        self.registry = prometheus_client.CollectorRegistry()
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.recorder = Recorder()
        self.store = amber.open_store(tmp_path / "store", registry=registry)
        self.bank = Bank()
        listeners: list[Listener] = [self.recorder, PrometheusListener(self.registry), TracingListener(provider)]
        self.manager = amber.Manager(
            self.store,
            self.bank.participants,
            capture=capture,  # type: ignore[arg-type]
            listeners=listeners,
            **{"exclusive": False, **options},  # the tests restart it while it lives on
        )
        self.manager.restore()

    def corrupt(self, checkpoint_id: str) -> None:
        """Flip a byte near the end of a checkpoint's data file (its last segment)."""
        data = Path(self.store.storage.root) / self.store.manifest(checkpoint_id).data  # type: ignore[attr-defined]
        raw = bytearray(data.read_bytes())
        raw[-3] ^= 0xFF
        data.write_bytes(bytes(raw))

    def metric(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, {"store": "", **labels})
        return 0.0 if value is None else value

    def spans(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.name == name]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        assert parent.context is not None
        return [
            s
            for s in self.exporter.get_finished_spans()
            if s.parent is not None and s.parent.span_id == parent.context.span_id
        ]


@pytest.fixture
def observed(tmp_path: Path) -> Iterator[Observed]:
    o = Observed(tmp_path, max_delta_ratio=5.0)
    o.bank.open_accounts(10, 300)
    yield o
    o.manager.close(final=False)


# --- events -----------------------------------------------------------------------------------


@pytest.mark.parametrize("capture", ["inline", "fork"])
def test_a_checkpoint_reports_every_step_in_order(tmp_path: Path, capture: str) -> None:
    o = Observed(tmp_path, capture)
    o.bank.open_accounts(5, 40)
    result = o.manager.checkpoint()
    kinds = o.recorder.kinds()
    assert kinds[0] == "RestoreStarted" and kinds[1] == "RestoreFinished"
    checkpoint = kinds[2:]
    assert checkpoint[0] == "CheckpointStarted" and checkpoint[-1] == "CheckpointCommitted"
    phases = o.recorder.of(PhaseFinished)
    assert [p.phase for p in phases] == PHASES
    assert checkpoint.count("ServiceResumed") == 1
    committing = phases[-1]
    assert committing.bytes == result.info.size and all(not p.error for p in phases)
    methods = {(c.participant, c.method) for p in phases for c in p.calls}
    assert {
        ("accounts", "prepare"),
        ("accounts", "snapshot"),
        ("ledger", "snapshot"),
        ("accounts", "resume"),
    } <= methods
    assert ("ledger", "invariants") in methods, "the child's invariants are reported too"
    committed = o.recorder.of(CheckpointCommitted)[0]
    assert committed.checkpoint == result.info.id and committed.capture == capture
    assert committed.phases == pytest.approx(result.phases) and committed.pause_seconds == result.pause
    resumed = o.recorder.of(ServiceResumed)[0]
    assert resumed.pause_seconds == pytest.approx(result.pause)
    first_prepare = next(c for c in phases[0].calls if c.method == "prepare")
    assert committed.start <= phases[0].start <= resumed.start <= first_prepare.start, "paused from the first prepare()"
    o.manager.close(final=False)


def test_listeners_run_after_the_pause_not_in_it(tmp_path: Path) -> None:
    o = Observed(tmp_path)
    o.bank.open_accounts(3, 9)
    delivered: list[tuple[str, bool]] = []

    def slow(event: Any) -> None:
        delivered.append((type(event).__name__, o.bank.gate.locked()))
        time.sleep(0.05)

    o.manager.listeners.append(slow)
    result = o.manager.checkpoint()
    assert result.pause < 0.05, "a slow listener does not lengthen the service's pause"
    assert all(not locked for _, locked in delivered), "no listener runs while the service is fenced"
    names = [name for name, _ in delivered]
    assert names[:4] == ["CheckpointStarted", "PhaseFinished", "PhaseFinished", "ServiceResumed"]
    o.manager.close(final=False)


def test_store_listeners_see_direct_saves_and_a_shared_listener_is_called_once(tmp_path: Path) -> None:
    recorder = Recorder()
    store = amber.open_store(tmp_path / "store", registry=registry, listeners=[recorder])
    bank = Bank()
    bank.open_accounts(2, 4)
    info = store.save({"ledger": bank.ledger})
    assert recorder.kinds() == ["CheckpointStarted", "PhaseFinished", "PhaseFinished", "CheckpointCommitted"]
    assert recorder.of(CheckpointStarted)[0].capture == "direct"
    assert recorder.of(CheckpointCommitted)[0].bytes == info.size
    recorder.clear()
    manager = amber.Manager(store, bank.participants, listeners=[recorder])
    manager.restore()
    manager.checkpoint()
    assert recorder.kinds().count("CheckpointCommitted") == 1, "one listener on store and manager: told once"


def test_recording_captures_events_inside_a_block_only(observed: Observed) -> None:
    with recording(observed.manager) as recorder:
        observed.manager.checkpoint()
    observed.manager.checkpoint()
    assert recorder.kinds().count("CheckpointCommitted") == 1
    assert recorder not in observed.manager.listeners


def test_a_listener_that_raises_is_logged_and_does_not_fail_the_checkpoint(
    observed: Observed, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: Any) -> None:
        raise RuntimeError("listener bug")

    observed.manager.listeners.append(broken)
    result = observed.manager.checkpoint()
    assert result.info.id in observed.store.ids()
    assert any(r.name == "amber.listener" and "listener bug" in (r.exc_text or "") for r in caplog.records)


# --- logs -------------------------------------------------------------------------------------


def test_the_happy_path_is_silent_at_the_default_level_and_one_line_per_checkpoint_at_info(
    observed: Observed, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="amber"):
        observed.manager.checkpoint()
    assert caplog.records == []
    observed.bank.deposit(1, 1)  # something to write: an unchanged state is not checkpointed again
    with caplog.at_level(logging.INFO, logger="amber"):
        result = observed.manager.checkpoint()
    assert [r.name for r in caplog.records] == ["amber.checkpoint"]
    record = caplog.records[0]
    message = record.getMessage()
    assert message.startswith("checkpoint committed ")
    assert f"checkpoint={result.info.id}" in message and f"bytes={result.info.size}" in message
    assert "outcome=committed" in message and "duration=" in message and "pause=" in message
    fields = record.amber  # type: ignore[attr-defined]
    assert fields["event"] == "CheckpointCommitted" and fields["checkpoint"] == result.info.id
    assert fields["bytes"] == result.info.size and fields["duration"] == pytest.approx(result.seconds)


def test_restore_fallbacks_and_quarantines_are_warnings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    o = Observed(tmp_path)
    o.bank.open_accounts(3, 6)
    first = o.manager.checkpoint(full=True).info
    o.bank.deposit(1, 5)
    bad = o.manager.checkpoint(full=True).info
    o.corrupt(bad.id)
    o.manager.close(final=False)
    with caplog.at_level(logging.INFO, logger="amber"):
        again = Observed(tmp_path)
    finished = again.recorder.of(RestoreFinished)[0]
    assert finished.checkpoint == first.id and finished.fallbacks[0][0] == bad.id
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("checkpoint refused") and f"checkpoint={bad.id}" in m for m in warnings)
    assert any(m.startswith("checkpoint quarantined") for m in warnings)
    assert any(m.startswith("restore finished") and "fallbacks=1" in m for m in warnings)
    assert again.metric("amber_restore_fallbacks_total", action="quarantined") == 1
    assert again.metric("amber_last_restore_fallbacks") == 1 and again.metric("amber_last_restore_success") == 1
    assert again.metric("amber_last_restore_timestamp_seconds") == finished.time
    assert again.metric("amber_quarantined_checkpoints_total") == 1
    restore = again.spans("amber.restore")[0]
    assert [e.name for e in restore.events] == ["checkpoint quarantined", "checkpoint refused"]
    assert restore.attributes is not None and restore.attributes["amber.checkpoint"] == first.id


# --- a failure in each phase: logs, metrics, spans --------------------------------------------


def _break(o: Observed, phase: str) -> str:
    """Make the next checkpoint fail in ``phase``; return what the cause must mention."""
    accounts, ledger = o.bank.participants[0], o.bank.participants[1]
    if phase == "preparing":
        accounts.prepare = lambda: (_ for _ in ()).throw(RuntimeError("fence stuck"))  # type: ignore[attr-defined]
        return "fence stuck"
    if phase == "capturing":
        ledger.snapshot = lambda: {"ledger": object()}  # type: ignore[method-assign]
        return "cannot"
    if phase == "validating":
        o.bank.ledger.total += 1
        return "balances sum to the ledger total"
    o.manager.timeouts = amber.Timeouts(committing=0.0)
    return "ran over"


@pytest.mark.parametrize("phase", PHASES)
def test_a_checkpoint_failing_in_each_phase_shows_in_logs_metrics_and_spans(
    tmp_path: Path, phase: str, caplog: pytest.LogCaptureFixture
) -> None:
    o = Observed(tmp_path)
    o.bank.open_accounts(3, 9)
    o.manager.checkpoint()
    o.bank.deposit(1, 1)  # something to write: an unchanged state is not checkpointed again
    cause = _break(o, phase)
    with caplog.at_level(logging.WARNING, logger="amber"), pytest.raises(amber.CheckpointAbortedError):
        o.manager.checkpoint()
    aborted = o.recorder.of(CheckpointAborted)
    assert len(aborted) == 1 and aborted[0].phase == phase and cause in aborted[0].reason
    lines = [r.getMessage() for r in caplog.records if r.name == "amber.checkpoint"]
    assert len(lines) == 1 and lines[0].startswith("checkpoint aborted") and f"phase={phase}" in lines[0]
    assert cause in lines[0] and "outcome=aborted" in lines[0]
    assert o.metric("amber_checkpoints_total", kind="delta", outcome="aborted") == 1
    assert o.metric("amber_checkpoint_aborts_total", phase=phase) == 1
    assert o.metric("amber_checkpoints_total", kind="full", outcome="committed") == 1
    root = o.spans("amber.checkpoint")[-1]
    assert root.status.status_code == StatusCode.ERROR and cause in (root.status.description or "")
    assert root.attributes is not None and root.attributes["amber.phase"] == phase
    failed = [s for s in o.children(root) if s.name == f"amber.checkpoint.{phase}"]
    assert len(failed) == 1 and failed[0].status.status_code == StatusCode.ERROR
    o.manager.close(final=False)


# --- Prometheus ---------------------------------------------------------------------------------


def test_prometheus_metrics_hold_the_values_of_a_real_run(tmp_path: Path) -> None:
    o = Observed(tmp_path, max_delta_ratio=5.0, retention=amber.Retention(keep_last=1))
    o.bank.open_accounts(10, 200)
    results = [o.manager.checkpoint()]
    o.bank.deposit(3, 7)
    results.append(o.manager.checkpoint())
    full, delta = results
    assert (full.kind, delta.kind) == ("full", "delta")
    assert o.metric("amber_checkpoints_total", kind="full", outcome="committed") == 1
    assert o.metric("amber_checkpoints_total", kind="delta", outcome="committed") == 1
    assert o.metric("amber_checkpoint_written_bytes_total", kind="full") == full.info.size
    assert o.metric("amber_checkpoint_written_bytes_total", kind="delta") == delta.info.size
    assert o.metric("amber_last_checkpoint_size_bytes") == delta.info.size
    assert o.metric("amber_delta_chain_length") == 1
    committed = o.recorder.of(CheckpointCommitted)
    assert o.metric("amber_last_successful_checkpoint_timestamp_seconds") == committed[-1].time
    assert o.metric("amber_checkpoint_duration_seconds_count", kind="delta") == 1
    assert o.metric("amber_checkpoint_duration_seconds_sum", kind="delta") == pytest.approx(delta.seconds)
    assert o.metric("amber_checkpoint_pause_seconds_count", capture="inline") == 2
    assert o.metric("amber_checkpoint_pause_seconds_sum", capture="inline") == pytest.approx(full.pause + delta.pause)
    for phase in PHASES:
        assert o.metric("amber_checkpoint_phase_duration_seconds_count", phase=phase) == 2
        expected = full.phases[phase] + delta.phases[phase]
        assert o.metric("amber_checkpoint_phase_duration_seconds_sum", phase=phase) == pytest.approx(expected)
    assert o.metric("amber_restores_total", outcome="fresh") == 1
    assert o.metric("amber_gc_deleted_checkpoints_total") == 0, "the delta needs its base: nothing deleted"
    o.manager.checkpoint(full=True)
    assert o.metric("amber_gc_deleted_checkpoints_total") == 2
    assert o.metric("amber_gc_deleted_files_total") == 2, "their two data files"
    gc_span = [s for s in o.spans("amber.gc") if s.attributes and s.attributes["amber.deleted_checkpoints"] == 2]
    assert len(gc_span) == 1 and gc_span[0].attributes is not None and gc_span[0].attributes["amber.deleted_files"] == 2
    o.manager.close(final=False)
    again = Observed(tmp_path)
    restored = again.recorder.of(RestoreFinished)[0]
    assert again.metric("amber_restores_total", outcome="restored") == 1
    assert again.metric("amber_restore_duration_seconds_sum", outcome="restored") == pytest.approx(restored.seconds)


def test_migration_metrics_and_spans_count_the_records_of_each_type(tmp_path: Path) -> None:
    amber.open_store(tmp_path, registry=sample_registry).save(sample_bank(customers=3, accounts=10))
    registry_ = prometheus_client.CollectorRegistry()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    recorder = Recorder()
    listeners: list[Listener] = [recorder, PrometheusListener(registry_), TracingListener(provider)]
    store = amber.open_store(tmp_path, registry=migration_app.registry, listeners=listeners)
    commands.migrate(store, dry_run=True)
    assert registry_.get_sample_value("amber_migration_records_total", {"store": "", "type": "bank.Account"}) is None
    result = commands.migrate(store)
    steps = [s for s in recorder.of(MigrationStep) if not s.dry_run]
    assert [(s.type, s.from_version, s.to_version, s.records) for s in steps] == [("bank.Account", 1, 2, 10)]
    assert steps[0].how == "step 1->2" and steps[0].checkpoint == result["source"]
    assert registry_.get_sample_value("amber_migration_records_total", {"store": "", "type": "bank.Account"}) == 10
    step_seconds = registry_.get_sample_value(
        "amber_migration_step_duration_seconds_sum", {"store": "", "type": "bank.Account"}
    )
    assert step_seconds == pytest.approx(steps[0].seconds), "dry runs are not timed as migrations"
    assert registry_.get_sample_value("amber_migrations_total", {"store": "", "outcome": "committed"}) == 1
    assert registry_.get_sample_value("amber_migrations_total", {"store": "", "outcome": "dry-run"}) == 1
    finished = recorder.of(MigrationFinished)[-1]
    assert (finished.outcome, finished.target) == ("committed", result["target"])
    migrations = [s for s in exporter.get_finished_spans() if s.name == "amber.migration"]
    committed = next(s for s in migrations if s.attributes and s.attributes["amber.outcome"] == "committed")
    assert committed.context is not None
    step_spans = [s for s in exporter.get_finished_spans() if s.name == "amber.migration.step"]
    mine = [s for s in step_spans if s.parent is not None and s.parent.span_id == committed.context.span_id]
    assert len(mine) == 1 and mine[0].attributes is not None and mine[0].attributes["amber.records"] == 10
    commands.rollback(store)
    assert registry_.get_sample_value("amber_rollbacks_total", {"store": ""}) == 1
    assert [s.name for s in exporter.get_finished_spans()].count("amber.rollback") == 1


def test_a_failed_migration_is_an_error_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    amber.open_store(tmp_path, registry=sample_registry).save(sample_bank(customers=2, accounts=4))
    recorder = Recorder()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    store = amber.open_store(tmp_path, registry=migration_app.registry, listeners=[recorder, TracingListener(provider)])

    monkeypatch.setenv("AMBER_TEST_SLOW_STEP", "not a number")  # the upgrade step raises ValueError
    with pytest.raises(amber.MigrationError):
        commands.migrate(store)
    finished = recorder.of(MigrationFinished)[-1]
    assert finished.outcome == "failed" and "not a number" in finished.error
    span = next(s for s in exporter.get_finished_spans() if s.name == "amber.migration")
    assert span.status.status_code == StatusCode.ERROR and "not a number" in (span.status.description or "")


# --- OpenTelemetry --------------------------------------------------------------------------


def test_spans_nest_phases_and_participants_under_each_checkpoint(observed: Observed) -> None:
    result = observed.manager.checkpoint()
    root = observed.spans("amber.checkpoint")[-1]
    assert root.status.status_code == StatusCode.OK
    assert root.attributes is not None
    assert root.attributes["amber.checkpoint"] == result.info.id and root.attributes["amber.bytes"] == result.info.size
    assert root.start_time is not None and root.end_time is not None
    assert (root.end_time - root.start_time) / 1e9 == pytest.approx(result.seconds, abs=1e-3)
    children = observed.children(root)
    names = sorted(s.name for s in children)
    assert names == sorted(["amber.checkpoint.pause"] + [f"amber.checkpoint.{p}" for p in PHASES])
    preparing = next(s for s in children if s.name == "amber.checkpoint.preparing")
    calls = observed.children(preparing)
    assert [(s.name, s.attributes["amber.participant"]) for s in calls if s.attributes] == [
        ("amber.participant.prepare", "accounts")
    ]
    assert all(root.start_time <= s.start_time for s in children if s.start_time is not None)
    restore = observed.spans("amber.restore")[0]
    assert restore.attributes is not None and restore.attributes["amber.outcome"] == "fresh"


def test_a_restore_span_has_a_child_per_participant_call(tmp_path: Path) -> None:
    o = Observed(tmp_path)
    o.bank.open_accounts(2, 4)
    o.manager.checkpoint()
    again = Observed(tmp_path)
    restore = again.spans("amber.restore")[0]
    calls = [(s.name, s.attributes["amber.participant"]) for s in again.children(restore) if s.attributes]
    assert calls == [
        ("amber.participant.restore", "accounts"),
        ("amber.participant.restore", "ledger"),
        ("amber.participant.invariants", "ledger"),
    ]
    assert restore.attributes is not None and restore.attributes["amber.records"] == 7


# --- extras missing, history ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "package", "extra"),
    [("amber.prometheus", "prometheus_client", "prometheus"), ("amber.otel", "opentelemetry", "otel")],
)
def test_a_missing_extra_says_what_to_install(module: str, package: str, extra: str) -> None:
    code = (
        f"import sys; sys.modules[{package!r}] = None\n"
        "import amber\n"
        "try:\n"
        f"    import {module}\n"
        "except amber.errors.MissingExtraError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert f"pip install 'amber-state[{extra}]'" in out


def test_every_event_kind_has_a_log_line_and_decodes() -> None:
    """A new event kind cannot be forgotten: it needs its row in the table of log lines, and
    a place in ``AnyEvent`` (the history journal decodes with it)."""
    kinds = {v for v in vars(amber.events).values() if isinstance(v, type) and issubclass(v, Event) and v is not Event}
    assert kinds and kinds == set(LOG_LINES)
    assert kinds == set(typing.get_args(AnyEvent))


def test_history_keeps_commits_and_aborts_and_gc_prunes_it(observed: Observed) -> None:
    observed.manager.checkpoint()
    observed.bank.ledger.total += 1
    with pytest.raises(amber.CheckpointAbortedError):
        observed.manager.checkpoint()
    history = History(observed.store.storage)
    kinds = [type(e).__name__ for e in history.read().events]
    assert kinds == ["RestoreFinished", "CheckpointCommitted", "CheckpointAborted"]
    assert len(history.prune(keep=1)) == 2 and len(history.keys()) == 1


def test_the_cli_logs_its_steps_as_json_lines(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path / "store")
    for n in range(3):
        store.save({"n": n})
    gc = ["gc", str(tmp_path / "store"), "--keep-last", "1"]
    run = subprocess.run(
        [sys.executable, "-m", "amber", "--log-level", "info", "--log-json", *gc],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [json.loads(line) for line in run.stderr.splitlines()]
    assert [(x["logger"], x["level"], x["event"]) for x in lines] == [("amber.gc", "info", "GarbageCollected")]
    assert lines[0]["deleted_checkpoints"] == 2 and lines[0]["details"]["deleted_checkpoints"] == [
        "000000000002",
        "000000000001",
    ]
    quiet = subprocess.run(
        [sys.executable, "-m", "amber", "gc", str(tmp_path / "store"), "--keep-last", "1"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert quiet.stderr == "", "the happy path is silent by default"


def test_a_restore_stopped_by_the_codes_error_is_reported_as_failed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    o = Observed(tmp_path)
    o.bank.open_accounts(2, 4)
    o.manager.checkpoint()
    o.manager.close(final=False)
    bank = Bank()
    bank.participants[1].restore = lambda state: (_ for _ in ()).throw(KeyError("bug"))  # type: ignore[method-assign]
    registry_ = prometheus_client.CollectorRegistry()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    listeners: list[Listener] = [PrometheusListener(registry_), TracingListener(provider)]
    manager = amber.Manager(o.store, bank.participants, listeners=listeners)
    with caplog.at_level(logging.ERROR, logger="amber"), pytest.raises(amber.RestoreError):
        manager.restore()
    assert any(r.getMessage().startswith("restore failed") and "bug" in r.getMessage() for r in caplog.records)
    assert registry_.get_sample_value("amber_restores_total", {"store": "", "outcome": "failed"}) == 1
    assert registry_.get_sample_value("amber_last_restore_success", {"store": ""}) == 0
    span = next(s for s in exporter.get_finished_spans() if s.name == "amber.restore")
    assert span.status.status_code == StatusCode.ERROR
    assert o.store.quarantined() == {}, "the code's error: nothing quarantined"


# --- found in review: each of these failed before its fix ---------------------------------------


def test_an_abort_whose_cause_holds_a_lone_surrogate_is_still_an_abort(
    observed: Observed, caplog: pytest.LogCaptureFixture
) -> None:
    bad_name = b"/data/\xff.log".decode("utf-8", "surrogateescape")  # as os.fsdecode gives it

    def prepare() -> None:
        raise FileNotFoundError(2, "No such file", bad_name)

    observed.bank.participants[0].prepare = prepare  # type: ignore[attr-defined]
    with caplog.at_level(logging.WARNING, logger="amber"), pytest.raises(amber.CheckpointAbortedError):
        observed.manager.checkpoint()
    assert len(observed.recorder.of(CheckpointAborted)) == 1
    assert any("\\udcff" in r.getMessage() for r in caplog.records), "logged, the surrogate escaped"
    assert observed.metric("amber_checkpoint_aborts_total", phase="preparing") == 1


def test_every_known_series_exists_from_the_start(tmp_path: Path) -> None:
    registry_ = prometheus_client.CollectorRegistry()
    PrometheusListener(registry_, store_name="orders")
    assert registry_.get_sample_value("amber_restores_total", {"store": "orders", "outcome": "failed"}) == 0
    assert (
        registry_.get_sample_value(
            "amber_checkpoints_total", {"store": "orders", "kind": "delta", "outcome": "aborted"}
        )
        == 0
    )
    never = registry_.get_sample_value("amber_last_successful_checkpoint_timestamp_seconds", {"store": "orders"})
    assert never is None, "a gauge at 0 would read as a checkpoint in 1970"


def test_two_stores_in_one_process_keep_their_own_gauges(tmp_path: Path) -> None:
    registry_ = prometheus_client.CollectorRegistry()
    sizes = {}
    for name in ("a", "b"):
        store = amber.open_store(tmp_path / name, listeners=[PrometheusListener(registry_, store_name=name)])
        sizes[name] = store.save({"payload": "x" * (100 if name == "a" else 5000)}).size
    for name, size in sizes.items():
        assert registry_.get_sample_value("amber_last_checkpoint_size_bytes", {"store": name}) == size


def test_a_migration_commit_is_not_one_of_the_services_checkpoints(tmp_path: Path) -> None:
    amber.open_store(tmp_path, registry=sample_registry).save(sample_bank(customers=2, accounts=4))
    recorder = Recorder()
    registry_ = prometheus_client.CollectorRegistry()
    store = amber.open_store(
        tmp_path, registry=migration_app.registry, listeners=[recorder, PrometheusListener(registry_)]
    )
    commands.migrate(store)
    assert recorder.of(CheckpointStarted) == [] and recorder.of(CheckpointCommitted) == []
    assert (
        registry_.get_sample_value("amber_checkpoints_total", {"store": "", "kind": "full", "outcome": "committed"})
        == 0
    )
    assert registry_.get_sample_value("amber_last_successful_checkpoint_timestamp_seconds", {"store": ""}) is None


def test_a_migration_that_fails_to_commit_reports_its_steps_but_counts_no_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    amber.open_store(tmp_path, registry=sample_registry).save(sample_bank(customers=2, accounts=4))
    recorder = Recorder()
    registry_ = prometheus_client.CollectorRegistry()
    store = amber.open_store(
        tmp_path, registry=migration_app.registry, listeners=[recorder, PrometheusListener(registry_)]
    )

    def disk_full(*args: Any, **kwargs: Any) -> Any:
        raise amber.StoreError("the disk is full")

    monkeypatch.setattr(Committer, "write", disk_full)  # the migration's commit
    with pytest.raises(amber.StoreError):
        commands.migrate(store)
    assert [s.type for s in recorder.of(MigrationStep)] == ["bank.Account"], "the upgrade that ran is reported"
    assert registry_.get_sample_value("amber_migration_records_total", {"store": "", "type": "bank.Account"}) == 0
    assert registry_.get_sample_value("amber_migrations_total", {"store": "", "outcome": "failed"}) == 1


def test_a_failed_dry_run_writes_no_history_and_is_not_a_failed_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    amber.open_store(tmp_path, registry=sample_registry).save(sample_bank(customers=2, accounts=4))
    recorder = Recorder()
    store = amber.open_store(tmp_path, registry=migration_app.registry, listeners=[recorder])
    before = History(store.storage).keys()
    monkeypatch.setenv("AMBER_TEST_SLOW_STEP", "not a number")
    with pytest.raises(amber.MigrationError):
        commands.migrate(store, dry_run=True)
    finished = recorder.of(MigrationFinished)[-1]
    assert (finished.outcome, finished.dry_run) == ("dry-run-failed", True) and finished.run.startswith("dry-run-")
    assert History(store.storage).keys() == before


def test_the_history_prunes_itself_skips_empty_collections_and_shortens_big_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import amber._store._history as history_module

    monkeypatch.setattr(history_module, "MAX_ENTRIES", 5)
    monkeypatch.setattr(history_module, "PRUNE_EVERY", 4)
    store = amber.open_store(tmp_path)
    for n in range(12):
        store.save({"n": n})
    amber.commands.gc(store, keep_last=20)  # deletes nothing: not journaled
    history = History(store.storage)
    assert 5 <= len(history.keys()) <= 5 + 4, "pruned as it is written, without a collection"
    failures = [(f"{n:012d}", "x" * 5000) for n in range(500)]
    store.emit(
        amber.events.RestoreFailed(
            time=time.time(), restore="r", reason="y" * 100_000, failures=failures, start=0, seconds=1
        )
    )
    last = history.read().events[-1]
    assert isinstance(last, amber.events.RestoreFailed) and 0 < len(last.failures) < 500 and len(last.reason) < 100_000


def test_a_refused_checkpoint_that_cannot_be_quarantined_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    o = Observed(tmp_path)
    o.bank.open_accounts(2, 4)
    o.manager.checkpoint(full=True)
    o.bank.deposit(1, 5)
    bad = o.manager.checkpoint(full=True).info
    o.corrupt(bad.id)

    def read_only(*args: Any) -> None:
        raise amber.StoreError("read-only file system")

    store = amber.open_store(tmp_path / "store", registry=registry)
    monkeypatch.setattr(store, "quarantine", read_only)
    recorder = Recorder()
    amber.Manager(store, Bank().participants, listeners=[recorder]).restore()
    refused = recorder.of(amber.events.CheckpointRefused)
    assert [(r.checkpoint, r.action) for r in refused] == [(bad.id, "refused")]
    assert recorder.of(amber.events.Quarantined) == []


@pytest.mark.parametrize("capture", ["inline", "fork"])
def test_invariant_calls_are_reported_only_for_participants_with_invariants_and_fail_visibly(
    tmp_path: Path, capture: str
) -> None:
    o = Observed(tmp_path, capture)
    o.bank.open_accounts(2, 4)
    o.manager.checkpoint()
    ok = [c for p in o.recorder.of(PhaseFinished) for c in p.calls if c.method == "invariants"]
    assert [(c.participant, c.error) for c in ok] == [("ledger", "")]
    o.recorder.clear()
    o.bank.ledger.total += 1
    with pytest.raises(amber.CheckpointAbortedError):
        o.manager.checkpoint()
    failed = [c for p in o.recorder.of(PhaseFinished) for c in p.calls if c.method == "invariants"]
    assert [c.participant for c in failed] == ["ledger"]
    assert "balances sum to the ledger total" in failed[0].error
    span = next(s for s in o.spans("amber.participant.invariants") if s.status.status_code == StatusCode.ERROR)
    assert span.attributes is not None and span.attributes["amber.participant"] == "ledger"
    o.manager.close(final=False)


def test_the_cli_installs_one_log_handler_however_often_it_runs(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from amber._cli import cli

    amber.open_store(tmp_path / "store").save({"n": 1})
    for _ in range(3):
        assert CliRunner().invoke(cli, ["--log-level", "info", "ls", str(tmp_path / "store")]).exit_code == 0
    handlers = [h for h in logging.getLogger("amber").handlers if type(h).__name__ == "_CliHandler"]
    assert len(handlers) == 1
    logging.getLogger("amber").removeHandler(handlers[0])
    logging.getLogger("amber").setLevel(logging.NOTSET)


def test_after_a_restart_the_last_checkpoint_gauge_tells_the_stores_age(tmp_path: Path) -> None:
    o = Observed(tmp_path)
    o.bank.open_accounts(2, 4)
    info = o.manager.checkpoint().info
    o.manager.close(final=False)
    again = Observed(tmp_path)  # a restarted service, before it checkpoints
    restored = again.recorder.of(RestoreFinished)[0]
    assert restored.committed == info.time.timestamp()
    age = again.metric("amber_last_successful_checkpoint_timestamp_seconds")
    assert age == restored.time, "restored, it holds what its store holds: at risk from now on"
    assert again.metric("amber_delta_chain_length") == info.depth


def test_a_failure_while_planning_is_an_abort_like_any_other(
    observed: Observed, monkeypatch: pytest.MonkeyPatch
) -> None:
    observed.manager.checkpoint()

    def broken_listing(*args: Any) -> Any:
        raise amber.StoreError("listing checkpoints/ failed: I/O error")

    monkeypatch.setattr(observed.store, "ids", broken_listing)
    with pytest.raises(amber.CheckpointAbortedError, match="I/O error"):
        observed.manager.checkpoint()
    aborted = observed.recorder.of(CheckpointAborted)
    assert len(aborted) == 1 and aborted[0].phase == "preparing" and aborted[0].pause_seconds == 0
    assert observed.metric("amber_checkpoint_aborts_total", phase="preparing") == 1


def test_history_keeps_an_abort_whose_cause_holds_a_lone_surrogate(observed: Observed) -> None:
    observed.manager.checkpoint()
    bad = b"/srv/caf\xe9.db".decode("utf-8", "surrogateescape")
    observed.bank.participants[1].snapshot = lambda: (_ for _ in ()).throw(OSError(5, "I/O error", bad))  # type: ignore[method-assign]
    with pytest.raises(amber.CheckpointAbortedError):
        observed.manager.checkpoint()
    events = History(observed.store.storage).read().events
    assert isinstance(events[-1], CheckpointAborted) and "caf\\udce9" in events[-1].reason


def test_a_direct_saves_abort_names_its_own_phase_and_no_participant(monkeypatch: pytest.MonkeyPatch) -> None:
    """A save has no participants: an error that names one (raised by a storage, say) does
    not make the event blame it (the one attempt recorder must keep this apart)."""
    recorder = Recorder()
    store = amber.open_store("memory://", listeners=[recorder])

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise amber.CheckpointAbortedError("validating", "someone", "refused by the storage")

    monkeypatch.setattr(Committer, "write", refuse)
    with pytest.raises(amber.CheckpointAbortedError):
        store.save({"v": 1})
    (aborted,) = recorder.of(CheckpointAborted)
    assert (aborted.phase, aborted.participant, aborted.capture) == ("committing", None, "direct")
