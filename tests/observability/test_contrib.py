"""The example alert rules and Grafana dashboard under contrib/ use only metrics Amber exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import prometheus_client
import pytest
import yaml

from amber.prometheus import PrometheusListener

CONTRIB = Path(__file__).parents[2] / "contrib"
OTHERS = {"process_start_time_seconds"}  # prometheus_client's process collector


def exported() -> set[str]:
    registry = prometheus_client.CollectorRegistry()
    PrometheusListener(registry)
    names: set[str] = set()
    for family in registry.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(family.type, [""])
        names.update(family.name + s for s in suffixes)
    return names


def used(expr: str) -> set[str]:
    return set(re.findall(r"\b(amber_[a-z_]+|process_[a-z_]+)\b", expr))


def test_every_alert_is_complete_and_uses_exported_metrics() -> None:
    rules = yaml.safe_load((CONTRIB / "prometheus" / "amber-alerts.yml").read_text())["groups"][0]["rules"]
    assert len(rules) >= 8
    names = exported() | OTHERS
    for rule in rules:
        assert rule["alert"].startswith("Amber") and rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
        assert used(rule["expr"]) and used(rule["expr"]) <= names, rule["alert"]
    alerted = set().union(*(used(r["expr"]) for r in rules))
    assert "amber_last_successful_checkpoint_timestamp_seconds" in alerted


def test_the_dashboard_plots_exported_metrics_only() -> None:
    dashboard = json.loads((CONTRIB / "grafana" / "amber-dashboard.json").read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    plotted = set().union(*(used(e) for e in exprs))
    assert plotted <= exported()
    bases = {re.sub(r"_(bucket|sum|count|total)$", "", n) for n in exported()}
    assert {re.sub(r"_(bucket|sum|count|total)$", "", n) for n in plotted} >= bases - {
        "amber_gc_deleted_checkpoints",
        "amber_gc_deleted_files",
        "amber_quarantined_checkpoints",
        "amber_migration_step_duration_seconds",
        "amber_restore_fallbacks",  # the restore panel and alert use the last restore's gauges
        "amber_last_restore_success",
        "amber_last_restore_timestamp_seconds",
    }


def test_the_alert_rules_pass_promtool_and_their_unit_tests() -> None:
    """Scenarios in amber-alerts.test.yml: a stalled service fires, a restart after downtime
    does not, the first aborts count, a refused restore is a failure and not a fallback."""
    promtool = shutil.which("promtool")
    if promtool is None:
        message = "promtool is not installed (apt-get install prometheus)"
        if os.environ.get("AMBER_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    folder = CONTRIB / "prometheus"
    for command in (["check", "rules", "amber-alerts.yml"], ["test", "rules", "amber-alerts.test.yml"]):
        run = subprocess.run([promtool, *command], cwd=folder, capture_output=True, text=True, check=False)
        assert run.returncode == 0, run.stdout + run.stderr
