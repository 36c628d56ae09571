"""`amber report`: the store's history as data, as text, and as an HTML page drawn in Chromium."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner

import amber
from amber import commands
from amber._cli import cli
from amber._cli._render import report as render_text
from amber._cli._report_html import render
from amber._maintenance._report import outliers
from amber.events import CheckpointAborted
from tests.support import report_sample
from tests.support.browser import browser, open_rendered, require_browser


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return report_sample.build(tmp_path_factory.mktemp("report") / "store")


@pytest.fixture(scope="module")
def data(sample: Path) -> dict[str, Any]:
    return commands.report(str(sample), keep_last=8)


def test_the_report_joins_manifests_history_and_the_migration_log(data: dict[str, Any], sample: Path) -> None:
    rows = data["checkpoints"]
    store = amber.open_store(sample, registry=report_sample.registry_v2)
    assert [r["id"] for r in rows] == store.ids()
    untimed = [r["origin"] for r in rows if "duration" not in r]
    assert untimed == ["rollback to 000000000010 (sharing its data file)"], "a rollback has no capture to time"
    migrated = [r for r in rows if r.get("origin", "").startswith("migration")]
    assert len(migrated) == 2 and all(r["capture"] == "migration" and r["pause"] is None for r in migrated)
    assert all(r["pause"] <= r["duration"] for r in rows if r.get("pause") is not None)
    assert len(data["aborts"]) == 2 and all(a["phase"] == "validating" for a in data["aborts"])
    assert "negative stock" in data["aborts"][0]["reason"]
    outcomes = [(m["action"], m["outcome"]) for m in data["migrations"]]
    assert outcomes.count(("migrate", "committed")) == 2 and ("rollback", "committed") in outcomes
    assert [r["outcome"] for r in data["restores"]] == ["fresh", "restored"]


def test_held_versions_show_the_migration_and_the_rollback(data: dict[str, Any]) -> None:
    by_origin = {r.get("origin", "").split(" ")[0]: r for r in data["checkpoints"] if r.get("origin")}
    assert by_origin["migration"]["held"]["shop.Item"] == 2
    assert by_origin["rollback"]["held"]["shop.Item"] == 1, "a rollback holds the old version again"
    assert data["checkpoints"][0]["held"] == {"shop.Item": 1, "shop.Totals": 1}
    assert data["checkpoints"][-1]["held"] == {"shop.Item": 2, "shop.Totals": 1}, "a delta holds its base's types"


def test_retention_preview_keeps_whole_chains_and_deletes_nothing(data: dict[str, Any], sample: Path) -> None:
    rows = {r["id"]: r for r in data["checkpoints"]}
    kept = [cid for cid, r in rows.items() if r["kept"]]
    assert len(kept) >= 8 and len(kept) < len(rows)
    for cid in kept:
        parent = rows[cid]["parent"]
        assert not parent or rows[parent]["kept"], f"{cid} is kept but its parent {parent} is not"
    assert data["retention"]["source"] == "given"
    assert amber.open_store(sample).ids() == list(rows), "a preview deletes nothing"
    recorded = commands.report(str(sample))["retention"]
    assert recorded["policy"] == "keep the last 30" and "recorded by the manager" in recorded["source"]


def test_outliers_are_the_burst_not_the_ordinary_checkpoints(data: dict[str, Any]) -> None:
    flagged = {(o["checkpoint"], o["metric"]) for o in data["outliers"]}
    big = {r["id"] for r in data["checkpoints"] if r.get("kind") == "delta" and r["records"] > 1000}
    assert {cid for cid, metric in flagged if metric == "size"} == big and len(big) == 2


def test_the_page_escapes_what_the_store_holds(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path)
    store.save({"x": 1}, meta={"migrated_from": "</script><script>alert(1)</script>"})
    page = render(commands.report(str(tmp_path)))
    assert "<script>alert(1)" not in page and "&lt;/script&gt;&lt;script&gt;alert(1)" in page


def test_the_cli_writes_the_page_and_prints_a_summary(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", str(sample), "--html", str(out), "--keep-last", "8"])
    assert result.exit_code == 0, result.output
    assert "23 checkpoints" in result.output and f"HTML report written to {out}" in result.output
    assert out.stat().st_size > 1_000_000, "plotly.js is inline: the page works offline"
    as_json = CliRunner().invoke(cli, ["report", str(sample), "--json"])
    assert json.loads(as_json.output)["store"] == sample.as_uri()
    bad = CliRunner().invoke(cli, ["report", str(sample), "--keep-within", "soon"])
    assert bad.exit_code == 2


def test_without_plotly_the_page_asks_for_the_extra(sample: Path, tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['plotly'] = None; sys.modules['plotly.offline'] = None\n"
        "from amber._cli import main; main()\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, "report", str(sample), "--html", str(tmp_path / "r.html")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1 and "pip install 'amber-state[report]'" in run.stderr


def test_the_page_renders_in_headless_chromium(data: dict[str, Any], tmp_path: Path) -> None:
    require_browser()
    page = tmp_path / "report.html"
    page.write_text(render(data), encoding="utf-8")
    with browser() as driver:
        open_rendered(driver, page)
        assert driver.execute_script("return document.body.dataset.error") is None
        assert driver.execute_script("return document.body.dataset.rendered") == "4"
        drawn = driver.execute_script(
            "return ['sizes', 'durations', 'chains', 'versions'].map(function (id) {"
            "  var el = document.getElementById(id);"
            "  return [el.querySelectorAll('.main-svg').length, el.data.map(function (t) {"
            "    return (t.x || []).filter(function (x) { return x !== null; }).length; })]; })"
        )
        points = {
            name: counts for name, (_, counts) in zip(["sizes", "durations", "chains", "versions"], drawn, strict=True)
        }
        assert all(svgs > 0 for svgs, _ in drawn), "every chart drew its SVG"
        kinds = [r.get("kind") for r in data["checkpoints"]]
        assert points["sizes"][:2] == [kinds.count("full"), kinds.count("delta")]
        rows = data["checkpoints"]
        timed = [r for r in rows if r.get("duration") is not None]
        stopped = sum(a["shutdown"] for a in data["aborts"])
        paused = sum(r["pause"] is not None for r in timed)
        assert points["durations"] == [len(timed), paused, len(data["aborts"]) - stopped, stopped]
        assert sum(points["chains"][1:]) == len(rows), "every checkpoint on the chain chart"
        assert points["chains"][0] == 2 * sum(bool(r["parent"]) for r in rows), "a line to each delta's parent"
        assert points["versions"] == [len(data["checkpoints"])]
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        text = driver.find_element("tag name", "body").text
        assert "Migration log" in text and "negative stock" in text
        assert _toolbars_over_plots(driver) == [], "a chart's toolbar covers its plot (the heatmap's top row, once)"


_BOXES = """
function box(e) { var r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }
return ['sizes', 'durations', 'chains', 'versions'].map(function (id) {
  var chart = document.getElementById(id);
  var cells = chart.querySelector('.hm');  // the heatmap's cells, drawn as one image
  return [id, box(chart.querySelector('.modebar')), box(cells || chart.querySelector('.nsewdrag'))];
});
"""


def _toolbars_over_plots(driver: Any) -> list[str]:
    """The charts whose toolbar (Plotly's modebar) overlaps their plot area or heatmap cells."""
    covered = []
    for chart, (left, top, right, bottom), (p_left, p_top, p_right, p_bottom) in driver.execute_script(_BOXES):
        assert right > left and bottom > top, f"{chart} has no toolbar to measure"
        if left < p_right and p_left < right and top < p_bottom and p_top < bottom:
            covered.append(chart)
    return covered


# --- found in review: each of these failed before its fix ---------------------------------------


def _figures(page: str) -> list[dict[str, Any]]:
    raw = page.split('<script id="amber-figures" type="application/json">', 1)[1].split("</script>", 1)[0]
    return json.loads(raw)  # type: ignore[no-any-return]


def test_a_store_with_damage_still_gets_its_report(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path)
    for n in range(4):
        store.save({"n": n})
    (tmp_path / "checkpoints" / "000000000002.manifest").write_bytes(b"garbage")
    (tmp_path / store.manifest(3).data).unlink()
    (tmp_path / "history" / "9999999999999999-00000000.json").write_text('{"event": "CheckpointCommitted"')
    (tmp_path / "history" / "0000000000000001-00000000.json").write_text(
        json.dumps(
            {
                "event": "GarbageCollected",
                "time": 1e300,
                "deleted_checkpoints": [],
                "deleted_files": [],
                "kept": [],
                "dry_run": False,
            }
        )
    )
    data = commands.report(str(tmp_path))
    errors = {r["id"]: r.get("error", "") for r in data["checkpoints"]}
    assert "000000000002" in errors and "manifest" in errors["000000000002"]
    assert "missing" in errors["000000000003"], "a missing data file is not a healthy checkpoint"
    assert data["history_unreadable"] == 2
    page = render(data)
    assert "unreadable</td><td>2" in page


def test_stored_bytes_count_a_shared_data_file_once(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path)
    store.save({"big": "x" * 50_000})
    store.save({"small": 1})
    amber.commands.rollback(store, "1")
    data = commands.report(str(tmp_path))
    on_disk = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.parts[-2] in ("checkpoints", "data"))
    assert data["stored_bytes"] == on_disk
    assert sum(r["size"] for r in data["checkpoints"]) > on_disk, "the rollback's row names the shared file too"


def test_the_burst_is_the_size_outlier(data: dict[str, Any]) -> None:
    assert "size" in {o["metric"] for o in data["outliers"]}


def test_routine_jitter_is_not_an_outlier() -> None:
    """Millisecond pauses and durations vary; that is not news. (Synthetic timings: real ones on a
    loaded CI machine can hold a genuine 30 ms stall, which the report rightly calls out.)"""
    rng = random.Random(3)
    rows = [
        {
            "id": f"{i:012}",
            "kind": "delta",
            "size": 4000 + rng.randrange(500),
            "duration": 0.010 + rng.random() * 0.012,
            "pause": 0.001 + rng.random() * 0.008,
            "capture": "fork",
        }
        for i in range(1, 60)
    ]
    assert outliers(rows) == []
    rows[7]["duration"] = 0.5  # a real stall still is
    assert [(o["checkpoint"], o["metric"]) for o in outliers(rows)] == [("000000000008", "duration")]


def test_without_a_policy_no_point_claims_to_be_kept_by_retention(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path)
    store.save({"n": 1})
    chains = next(f for f in _figures(render(commands.report(str(tmp_path)))) if f["id"] == "chains")
    drawn = {t["name"]: len(t["x"]) for t in chains["data"] if t["x"]}
    assert drawn == {"checkpoint": 1}


def test_hover_texts_are_escaped_for_plotly(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path)
    store.save({"n": 1})
    event = amber.events.CheckpointAborted(
        time=time.time(),
        attempt="a",
        kind="full",
        capture="inline",
        phase="validating",
        participant="p",
        reason="<span style='font-size:300px'>BIG</span>",
        error="X",
        start=time.time(),
        seconds=0.1,
        pause_seconds=0.1,
    )
    store.emit(event)
    durations = next(f for f in _figures(render(commands.report(str(tmp_path)))) if f["id"] == "durations")
    texts = [t for trace in durations["data"] for t in trace["text"]]
    assert any("&lt;span" in t for t in texts) and not any("<span" in t for t in texts)


def test_many_checkpoints_still_colour_the_version_heatmap(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path, fsync=False, history=False, registry=report_sample.registry_v1)
    for n in range(160):
        store.save({"item": report_sample.ItemV1(sku=n, stock=1)})
    versions = next(f for f in _figures(render(commands.report(str(tmp_path)))) if f["id"] == "versions")
    heatmap = versions["data"][0]
    assert len(heatmap["x"]) == 160 and heatmap["xgap"] == 0 and heatmap["texttemplate"] == ""


def test_an_unwritable_page_is_a_one_line_error(sample: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", str(sample), "--html", str(tmp_path / "missing" / "r.html")])
    assert result.exit_code == 1 and "Traceback" not in result.output and "r.html" in result.output


# --- a checkpoint cut short by the service shutting down is not a failure -------------------------


def test_a_sigterm_during_a_checkpoint_shows_as_aborted_by_shutdown_not_as_a_failure(tmp_path: Path) -> None:
    service = subprocess.Popen(
        [sys.executable, "-m", "tests.support.shutdown_service", str(tmp_path / "store")],
        cwd=Path(__file__).parent.parent.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert service.stdout is not None
    assert service.stdout.readline().strip() == "CAPTURING"
    service.send_signal(signal.SIGTERM)
    out, _ = service.communicate(timeout=60)
    assert service.returncode == 128 + signal.SIGTERM and "UNREACHABLE" not in out
    data = commands.report(str(tmp_path / "store"))
    [abort] = data["aborts"]
    assert abort["shutdown"] and abort["phase"] == "capturing"
    assert abort["reason"] == "the service is shutting down (SystemExit 143: SIGTERM)"
    assert len(data["checkpoints"]) == 1, "the final checkpoint of `with manager:` still committed"
    assert "1 aborted attempts (1 by shutdown)" in render_text(data)
    page = render(data)
    assert "aborted by shutdown" in _aborts_table(page)
    durations = next(f for f in _figures(page) if f["id"] == "durations")
    marks = {trace["name"]: len(trace["x"]) for trace in durations["data"]}
    assert marks["aborted"] == 0 and marks["aborted by shutdown"] == 1, "a neutral mark, not a red cross"


def test_aborts_journaled_before_the_shutdown_field_are_told_apart_by_their_error(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path)
    store.save({"x": 1})
    for error in ("SystemExit", "CheckpointTimeoutError"):
        event = CheckpointAborted(
            time=time.time(),
            attempt=error,
            kind="delta",
            capture="inline",
            phase="capturing",
            participant=None,
            reason="as an older Amber wrote it",
            error=error,
            start=time.time(),
            seconds=0.5,
            pause_seconds=0.1,
        )
        old_entry = msgspec.to_builtins(event)
        del old_entry["shutdown"]  # not written before it existed
        key = f"history/{int(event.start * 1e6):016d}-{len(error):08x}.json"
        store.storage.put(key, [msgspec.json.encode(old_entry)], create_only=True)
    aborts = commands.report(str(tmp_path))["aborts"]
    assert {a["error"]: a["shutdown"] for a in aborts} == {"SystemExit": True, "CheckpointTimeoutError": False}


def _aborts_table(page: str) -> str:
    return page.split("<h2>Aborted checkpoints</h2>", 1)[1].split("</section>", 1)[0]
