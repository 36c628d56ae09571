"""``amber report --html``: the report's data as one self-contained page, charts by Plotly.

Everything the page needs is inline (plotly.js from the ``plotly`` package, the data as
JSON), so it opens offline and can be attached to an incident ticket. Every string from
the store is escaped: a checkpoint's metadata never becomes markup or script.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

import msgspec

from ..errors import MissingExtraError

KIND_COLORS = {"full": "#1f77b4", "delta": "#2ca02c"}
DENSE_COLUMNS = 150  # checkpoints beyond which the version heatmap drops its gaps and labels


def render(data: dict[str, Any]) -> str:
    """The page for ``data`` (from ``_report.gather``)."""
    try:
        from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]
    except ImportError:
        raise MissingExtraError("amber report --html", "report", "plotly") from None
    drawn = [_sizes(data), _durations(data), _chains(data), _versions(data)]
    figures = [f for f in drawn if f is not None]
    payload = msgspec.json.encode(figures).replace(b"<", b"\\u003c").decode()  # no "</script>" in data
    return _PAGE.format(
        title=html.escape(f"Amber report: {data['store']}"),
        style=_STYLE,
        summary=_summary(data),
        charts="\n".join(
            f'<section><h2>{html.escape(f["title"])}</h2><div id="{f["id"]}" class="chart"></div>'
            f'<p class="note">{html.escape(f["note"])}</p></section>'
            for f in figures
        ),
        tables=_tables(data),
        plotly=get_plotlyjs(),
        figures=payload,
    )


# --- charts ---------------------------------------------------------------------------------


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
    aborts = [
        {"time": a["start"], "seconds": a["seconds"], "id": f"aborted in {a['phase']}: {a['reason'][:200]}"}
        for a in data["aborts"]
    ]
    traces.append(_marker_trace(aborts, "seconds", "aborted", marker={"color": "#d62728", "symbol": "x", "size": 11}))
    note = (
        "From the store's history: the whole checkpoint (prepare to commit) and the service's pause "
        "(prepare to resume); red crosses are aborted attempts."
    )
    return _figure(
        "durations", "Duration and pause", note, traces, {"yaxis": {"title": {"text": "seconds"}, "type": "log"}}
    )


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
        "height": max(180, 60 + 40 * len(names)),
        "margin": {"l": 160, "t": 10, "r": 10, "b": 60},
    }
    return _figure("versions", "Schema versions held over time", note, [trace], layout)


# --- tables ---------------------------------------------------------------------------------


def _summary(data: dict[str, Any]) -> str:
    rows = data["checkpoints"]
    sound = [r for r in rows if "error" not in r]
    newest = sound[-1] if sound else None
    facts = [
        ("store", data["store"]),
        (
            "checkpoints",
            f"{len(rows)} ({sum(r.get('kind') == 'full' for r in rows)} full, "
            f"{sum(r.get('kind') == 'delta' for r in rows)} delta)",
        ),
        ("newest", f"{newest['id']} at {newest['time']}" if newest else "none"),
        ("stored", _bytes(data["stored_bytes"])),
        ("aborted attempts", str(len(data["aborts"]))),
        ("quarantined", str(sum(bool(r.get("quarantined")) for r in rows))),
        ("unreadable", str(sum("error" in r for r in rows))),
        ("migrations", str(_committed(data, "migrate"))),
        ("rollbacks", str(_committed(data, "rollback"))),
        ("generated", f"{data['generated']} by amber {data['amber']}"),
    ]
    return _table(["", ""], facts, cls="summary")


def _committed(data: dict[str, Any], action: str) -> int:
    return sum(m.get("action") == action and m.get("outcome") == "committed" for m in data["migrations"])


def _tables(data: dict[str, Any]) -> str:
    parts = []
    if data["outliers"]:
        parts.append(
            _section(
                "Outliers",
                _table(
                    ["checkpoint", "kind", "metric", "value", "median of its kind"],
                    [
                        (o["checkpoint"], o["kind"], o["metric"], _num(o["value"]), _num(o["median"]))
                        for o in data["outliers"]
                    ],
                ),
            )
        )
    parts.append(
        _section(
            "Migration log",
            _table(
                ["#", "time", "action", "outcome", "source", "target", "records", "seconds", "undo / error"],
                [
                    (
                        m["sequence"],
                        m["time"],
                        m["action"],
                        m["outcome"],
                        m["source"],
                        m.get("target", ""),
                        m.get("records", ""),
                        _num(m.get("seconds", 0)),
                        m.get("undo") or m.get("error", ""),
                    )
                    for m in data["migrations"]
                ],
            )
            or "<p>No migration has run on this store.</p>",
        )
    )
    parts.append(
        _section(
            "Aborted checkpoints",
            _table(
                ["time", "kind", "phase", "participant", "error", "reason", "seconds"],
                [
                    (
                        a["time"],
                        a["kind"],
                        a["phase"],
                        a["participant"] or "",
                        a["error"],
                        a["reason"],
                        _num(a["seconds"]),
                    )
                    for a in data["aborts"]
                ],
            )
            or "<p>None recorded.</p>",
        )
    )
    parts.append(
        _section(
            "Restores",
            _table(
                ["time", "outcome", "checkpoint", "fallbacks", "seconds"],
                [
                    (r["time"], r["outcome"], r["checkpoint"], r["fallbacks"], _num(r["seconds"]))
                    for r in data["restores"]
                ],
            )
            or "<p>None recorded.</p>",
        )
    )
    parts.append(
        _section(
            "Checkpoints",
            _table(
                ["id", "kind", "parent", "time", "size", "records", "duration", "pause", "retention", "note"],
                [
                    (
                        c["id"],
                        c.get("kind", "?"),
                        c.get("parent", ""),
                        c.get("time", ""),
                        _bytes(c.get("size", 0)),
                        c.get("records", ""),
                        _num(c.get("duration")),
                        _num(c.get("pause")),
                        _kept(c),
                        c.get("error") or c.get("quarantined") or c.get("origin", ""),
                    )
                    for c in reversed(data["checkpoints"])
                ],
            ),
        )
    )
    if data["history_unreadable"]:
        parts.append(
            f"<p class='note'>{data['history_unreadable']} history entries could not be read and were skipped.</p>"
        )
    return "\n".join(parts)


def _kept(c: dict[str, Any]) -> str:
    if "kept" not in c:
        return ""
    if c["kept"] and c.get("needed_by"):
        return f"kept (needed by {', '.join(c['needed_by'][:3])})"
    return "kept" if c["kept"] else "deleted at next gc"


def _section(title: str, body: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{body}</section>"


def _table(header: list[str], rows: Iterable[Iterable[Any]], cls: str = "") -> str:
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    if not body:
        return ""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header) if any(header) else ""
    return f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _num(value: Any) -> str:
    if not isinstance(value, int | float):
        return ""
    return f"{value:.3g}" if value < 1000 else f"{value:,.0f}"


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 1200px; color: #222; padding: 0 16px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 13px; width: 100%; }
td, th { border-bottom: 1px solid #eee; padding: 3px 8px; text-align: left; vertical-align: top; }
table.summary { width: auto; } table.summary td:first-child { color: #666; }
.note { color: #666; font-size: 12px; } .chart { width: 100%; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{style}</style>
<script>{plotly}</script></head>
<body><h1>{title}</h1>
{summary}
{charts}
{tables}
<script id="amber-figures" type="application/json">{figures}</script>
<script>
(function () {{
  var figures = JSON.parse(document.getElementById("amber-figures").textContent);
  Promise.all(figures.map(function (f) {{
    return Plotly.newPlot(f.id, f.data, f.layout, {{responsive: true, displaylogo: false}});
  }})).then(function () {{ document.body.dataset.rendered = String(figures.length); }},
           function (e) {{ document.body.dataset.error = String(e); }});
}})();
</script>
</body></html>
"""
