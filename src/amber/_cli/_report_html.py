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
from . import _report_charts
from ._render import by_shutdown


def render(data: dict[str, Any]) -> str:
    """The page for ``data`` (from ``_maintenance/_report.gather``)."""
    try:
        from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]
    except ImportError:
        raise MissingExtraError("amber report --html", "report", "plotly") from None
    figures = _report_charts.figures(data)
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
        ("aborted attempts", f"{len(data['aborts'])}{by_shutdown(data['aborts'])}"),
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
    parts = [_outliers(data)] if data["outliers"] else []
    parts += [_migration_log(data), _aborts(data), _restores(data), _checkpoints(data)]
    if data["history_unreadable"]:
        parts.append(
            f"<p class='note'>{data['history_unreadable']} history entries could not be read and were skipped.</p>"
        )
    return "\n".join(parts)


def _outliers(data: dict[str, Any]) -> str:
    header = ["checkpoint", "kind", "metric", "value", "median of its kind"]
    rows = [(o["checkpoint"], o["kind"], o["metric"], _num(o["value"]), _num(o["median"])) for o in data["outliers"]]
    return _section("Outliers", _table(header, rows))


def _migration_log(data: dict[str, Any]) -> str:
    header = ["#", "time", "action", "outcome", "source", "target", "records", "seconds", "undo / error"]
    rows = [
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
    ]
    return _section("Migration log", _table(header, rows) or "<p>No migration has run on this store.</p>")


def _aborts(data: dict[str, Any]) -> str:
    header = ["time", "outcome", "kind", "phase", "participant", "error", "reason", "seconds"]
    rows = [
        (
            a["time"],
            "aborted by shutdown" if a.get("shutdown") else "failed",
            a["kind"],
            a["phase"],
            a["participant"] or "",
            a["error"],
            a["reason"],
            _num(a["seconds"]),
        )
        for a in data["aborts"]
    ]
    return _section("Aborted checkpoints", _table(header, rows) or "<p>None recorded.</p>")


def _restores(data: dict[str, Any]) -> str:
    header = ["time", "outcome", "checkpoint", "fallbacks", "seconds"]
    rows = [(r["time"], r["outcome"], r["checkpoint"], r["fallbacks"], _num(r["seconds"])) for r in data["restores"]]
    return _section("Restores", _table(header, rows) or "<p>None recorded.</p>")


def _checkpoints(data: dict[str, Any]) -> str:
    """Every checkpoint, newest first."""
    header = ["id", "kind", "parent", "time", "size", "records", "duration", "pause", "retention", "note"]
    rows = [
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
    ]
    return _section("Checkpoints", _table(header, rows))


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
