"""The charts of ``amber report --html``: the report's data as Plotly figures (plain dicts).

Four figures: checkpoint sizes over time with outliers ringed, durations and pauses with
aborted attempts, delta chains coloured by what retention keeps, and the schema versions
each checkpoint holds. Strings from the store that Plotly shows as hover text are escaped
here; the page (``_report_html``) escapes the rest.
"""

from __future__ import annotations

import html
from typing import Any

KIND_COLORS = {"full": "#1f77b4", "delta": "#2ca02c"}
DENSE_COLUMNS = 150  # checkpoints beyond which the version heatmap drops its gaps and labels
TOOLBAR_ROOM = 34  # pixels above a plot that Plotly's toolbar (about 26 high, 2 from the top) takes


def figures(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures worth drawing for ``data`` (from ``_maintenance/_report.gather``), in page order."""
    drawn = [_sizes(data), _durations(data), _chains(data), _versions(data)]
    return [f for f in drawn if f is not None]


def _points(data: dict[str, Any], kind: str, metric: str) -> list[dict[str, Any]]:
    return [c for c in data["checkpoints"] if c.get("kind") == kind and isinstance(c.get(metric), int | float)]


def _figure(fid: str, title: str, note: str, traces: list[dict[str, Any]], layout: dict[str, Any]) -> dict[str, Any]:
    # The legend above the plot: below it, it would hide the date under the time axis.
    legend = {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0}
    base = {"margin": {"t": 30, "r": 10, "b": 40, "l": 70}, "height": 340, "legend": legend}
    return {"id": fid, "title": title, "note": note, "data": traces, "layout": base | layout}


def _marker_trace(rows: list[dict[str, Any]], metric: str, name: str, **style: Any) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "markers",
        "name": name,
        "x": [r["time"] for r in rows],
        "y": [r[metric] for r in rows],
        "text": [html.escape(str(r["id"])) for r in rows],  # Plotly reads tags in hover text
        "hovertemplate": f"%{{text}}<br>%{{x}}<br>{metric}: %{{y}}<extra>{html.escape(name)}</extra>",
        **style,
    }


def _migration_lines(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Vertical lines where migrations and rollbacks committed."""
    shapes = []
    for m in data["migration_events"]:
        if m.get("action") == "rollback" or m.get("outcome") == "committed":
            color = "#d62728" if m["action"] == "rollback" else "#9467bd"
            shapes.append(
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "paper",
                    "x0": m["time"],
                    "x1": m["time"],
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": color, "dash": "dot"},
                }
            )
    return shapes


def _sizes(data: dict[str, Any]) -> dict[str, Any]:
    traces = [
        _marker_trace(_points(data, kind, "size"), "size", kind, marker={"color": KIND_COLORS[kind]})
        for kind in ("full", "delta")
    ]
    odd = {o["checkpoint"] for o in data["outliers"] if o["metric"] == "size"}
    unusual = [c for c in data["checkpoints"] if c["id"] in odd]
    traces.append(
        _marker_trace(
            unusual,
            "size",
            "outlier",
            marker={"color": "rgba(0,0,0,0)", "size": 16, "line": {"color": "#d62728", "width": 2}},
        )
    )
    note = (
        "Each checkpoint's stored bytes (data file and manifest). Dotted lines: migrations (purple), rollbacks (red)."
    )
    layout = {"yaxis": {"title": {"text": "bytes"}}, "shapes": _migration_lines(data)}
    return _figure("sizes", "Checkpoints over time: size", note, traces, layout)


def _durations(data: dict[str, Any]) -> dict[str, Any]:
    timed = [c for c in data["checkpoints"] if isinstance(c.get("duration"), int | float)]
    traces = [
        _marker_trace(timed, "duration", "duration", marker={"color": "#1f77b4"}),
        _marker_trace(
            [c for c in timed if c["pause"] is not None],
            "pause",
            "service pause",
            marker={"color": "#ff7f0e", "symbol": "diamond"},
        ),
    ]
    failed = _aborts(data, shutdown=False)
    traces.append(_marker_trace(failed, "seconds", "aborted", marker={"color": "#d62728", "symbol": "x", "size": 11}))
    # Cut short by the service stopping (SIGTERM): nothing failed, so a neutral mark, not a red cross.
    stopped = _aborts(data, shutdown=True)
    shutdown_mark = {"color": "#7f7f7f", "symbol": "circle-open", "size": 10, "line": {"width": 2}}
    traces.append(_marker_trace(stopped, "seconds", "aborted by shutdown", marker=shutdown_mark))
    note = (
        "From the store's history: the whole checkpoint (prepare to commit) and the service's pause "
        "(prepare to resume); red crosses are aborted attempts, grey rings attempts cut short by the "
        "service shutting down."
    )
    return _figure(
        "durations", "Duration and pause", note, traces, {"yaxis": {"title": {"text": "seconds"}, "type": "log"}}
    )


def _aborts(data: dict[str, Any], *, shutdown: bool) -> list[dict[str, Any]]:
    """Aborted attempts as points: those cut short by a shutdown, or those that failed."""
    how = "aborted by shutdown" if shutdown else "aborted"
    return [
        {"time": a["start"], "seconds": a["seconds"], "id": f"{how} in {a['phase']}: {a['reason'][:200]}"}
        for a in data["aborts"]
        if bool(a.get("shutdown")) == shutdown
    ]


def _chains(data: dict[str, Any]) -> dict[str, Any]:
    rows = [c for c in data["checkpoints"] if "depth" in c]
    by_id = {r["id"]: r for r in rows}
    xs: list[Any] = []
    ys: list[Any] = []
    for r in rows:
        parent = by_id.get(r.get("parent", ""))
        if parent is not None:
            xs += [parent["time"], r["time"], None]
            ys += [parent["depth"], r["depth"], None]
    links = {
        "type": "scatter",
        "mode": "lines",
        "name": "delta on parent",
        "x": xs,
        "y": ys,
        "line": {"color": "#bbbbbb"},
        "hoverinfo": "skip",
    }
    traces = [links]
    groups = {
        "checkpoint": "#1f77b4",
        "kept by retention": "#2ca02c",
        "deleted by retention": "#7f7f7f",
        "quarantined": "#ff7f0e",
    }
    for label, color in groups.items():
        chosen = [r for r in rows if _retention_group(r) == label]
        traces.append(_marker_trace(chosen, "depth", label, marker={"color": color, "size": 9}))
    policy = data["retention"]["policy"] or "no policy"
    note = (
        f"Each delta sits one level above its parent; a full checkpoint starts a chain at 0. Retention: {policy} "
        f"({data['retention']['source']})."
    )
    return _figure(
        "chains", "Delta chains and retention", note, traces, {"yaxis": {"title": {"text": "chain depth"}, "dtick": 1}}
    )


def _retention_group(row: dict[str, Any]) -> str:
    if row.get("quarantined"):
        return "quarantined"
    if "kept" not in row:
        return "checkpoint"  # no retention policy to preview
    return "kept by retention" if row["kept"] else "deleted by retention"


def _versions(data: dict[str, Any]) -> dict[str, Any] | None:
    rows = [c for c in data["checkpoints"] if "held" in c]
    names = data["types"]
    if not rows or not names:
        return None
    z = [[r["held"].get(n) for r in rows] for n in names]
    dense = len(rows) > DENSE_COLUMNS  # cells too narrow for gaps and labels: colour alone
    trace = {
        "type": "heatmap",
        "x": [r["id"] for r in rows],
        "y": names,
        "z": z,
        "text": [[f"v{v}" if v is not None else "" for v in line] for line in z],
        "texttemplate": "" if dense else "%{text}",
        "colorscale": "Blues",
        "reversescale": True,
        "showscale": dense,
        "xgap": 0 if dense else 1,
        "ygap": 1,
        "hovertemplate": "%{y} in %{x}: %{text}<extra></extra>",
    }
    note = "The version of each type held by each checkpoint: a migration shows as the step from one shade to the next."
    layout = {
        "xaxis": {
            "type": "category",
            "title": {"text": "checkpoint"},
            "tickangle": -45,
            "automargin": True,
            "nticks": 40,
        },
        "height": max(180 + TOOLBAR_ROOM, 60 + TOOLBAR_ROOM + 40 * len(names)),
        # Room above the cells for Plotly's toolbar (its modebar), which would otherwise cover the top row.
        "margin": {"l": 160, "t": TOOLBAR_ROOM, "r": 10, "b": 60},
    }
    return _figure("versions", "Schema versions held over time", note, [trace], layout)
