"""Text renderings of the commands' results, for people (the CLI prints JSON for machines)."""

from __future__ import annotations

from typing import Any

import msgspec


def migrate(r: dict[str, Any]) -> str:
    lines = []
    for t in r["types"]:
        change = _versions(t, " -> ")
        lines.append(f"  {t['name']:24} {change:12} {t['records']:>10} records  {t['how']}")
    if not r["changed"]:
        head = f"{r['source']} is already at the code's versions; nothing to do"
    elif r["dry_run"]:
        head = f"dry run: {r['source']} would migrate ({r['records']} records checked in {r['seconds']:.2f} s)"
        head += "; nothing written"
    else:
        head = (
            f"migrated {r['source']} -> {r['target']}: {r['records']} records in {r['seconds']:.2f} s; "
            f"{r['target']} is the newest now, replacing {r['source']}, which stays"
        )
    undo = [f"  undo: {r['undo']}"] if r.get("undo") else []
    return "\n".join([head, *lines, *undo])


def copy(r: dict[str, Any]) -> str:
    already = f" ({len(r['present'])} were already there)" if r["present"] else ""
    skipped = f" but the quarantined {', '.join(r['unverified'])}" if r["unverified"] else ""
    checked = f"; every checkpoint verified there{skipped}" if r["verified"] else "; not verified (--no-verify)"
    return (
        f"copied {len(r['checkpoints'])} checkpoints{already} from {r['source']} to {r['target']}: "
        f"{r['files']} files, {r['bytes'] / 1e6:.1f} MB in {r['seconds']:.1f} s{checked}"
    )


def release(r: dict[str, Any]) -> str:
    if not r["released"]:
        return "nothing was quarantined"
    return "\n".join(f"released {cid} (it had been set aside: {why})" for cid, why in r["released"].items())


def rollback(r: dict[str, Any]) -> str:
    superseded = r["superseded"]
    return "\n".join(
        [
            f"rolled back: {r['target']} restores {r['restored']} (was {r['from']}); nothing deleted",
            f"  superseded: {len(superseded)} newer checkpoint(s), kept but no longer the newest: {_ids(superseded)}",
            f"  undo: {r['undo']}",
        ]
    )


def _ids(ids: list[str], shown: int = 10) -> str:
    """Checkpoint ids for a line: every one, or the first and last few of a long run (--json
    lists them all)."""
    if len(ids) <= 2 * shown:
        return ", ".join(ids)
    return f"{', '.join(ids[:shown])}, ... ({len(ids) - 2 * shown} more), {', '.join(ids[-shown:])}"


def log(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "no migrations"
    finished = {e["run"] for e in entries if e["outcome"] != "started"}
    lines = []
    for e in entries:
        outcome = (
            e["outcome"] if e["outcome"] != "started" or e["run"] in finished else "interrupted (nothing committed)"
        )
        outcome += " (recovered from its checkpoint)" if e.get("recovered") else ""
        target = f" -> {e['target']}" if e.get("target") else ""
        detail = "; ".join(f"{t['name']} {_versions(t, '->')} ({t['how']})" for t in e.get("types", ()))
        extra = f"  undo: {e['undo']}" if e.get("undo") else (f"  error: {e['error']}" if e.get("error") else "")
        lines.append(f"{e['time']}  {e['action']:8} {outcome:10} {e['source']}{target}  {detail}{extra}")
    return "\n".join(lines)


def ls(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no checkpoints"
    lines = [f"{'ID':12}  {'TIME':27}  {'KIND':18}  {'SIZE':>10}  {'RECORDS':>9}  TYPES"]
    for r in rows:
        mark = f"  QUARANTINED: {r['quarantined']}" if "quarantined" in r else ""
        if "error" in r:
            lines.append(f"{r['id']:12}  UNREADABLE: {r['error']}{mark}")
            continue
        types = ", ".join(f"{n} v{v}" for n, v in r["types"].items())
        kind = f"delta on {r['parent']}" if r["parent"] else "full"
        lines.append(
            f"{r['id']:12}  {r['time']:27}  {kind:18}  {size(r['size']):>10}  {r['records']:>9}  {types}{mark}"
        )
    return "\n".join(lines)


def gc(r: dict[str, Any]) -> str:
    verb = "would delete" if r["dry_run"] else "deleted"
    lines = [
        f"{verb} {len(r['deleted_checkpoints'])} checkpoint(s) and {len(r['deleted_files'])} file(s); "
        f"kept {len(r['kept'])}" + ("; dry run, nothing deleted" if r["dry_run"] else "")
    ]
    lines.extend(f"  {verb}: {cid}" for cid in r["deleted_checkpoints"])
    lines.extend(f"  {verb}: {key}" for key in r["deleted_files"])
    lines.extend(f"  kept {cid}: needed by {', '.join(by)}" for cid, by in sorted(r["needed"].items()))
    lines.extend(f"  kept {cid}: its manifest is unreadable" for cid in r["unreadable"])
    return "\n".join(lines)


def query(r: dict[str, Any]) -> str:
    """The rows as an aligned text table (values as JSON would show them)."""
    header = [str(c) for c in r["columns"]]
    rows = [[_cell(v) for v in row] for row in r["rows"]]
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)
    lines.append(f"({_rows(len(rows))}, checkpoint {r['checkpoint']})")
    return "\n".join(lines)


def _rows(count: int) -> str:
    return f"{count} row{'' if count == 1 else 's'}"


def _cell(value: Any) -> str:
    """A value as DuckDB's own shell shows it: text, numbers and timestamps as they read."""
    if value is None:
        return "NULL"
    text = (
        msgspec.json.encode(value).decode()
        if isinstance(value, bool | int | float | list | dict | tuple)
        else str(value)
    )
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)  # no terminal escapes


def export(r: dict[str, Any]) -> str:
    lines = [f"checkpoint {r['checkpoint']}: {len(r['files'])} {r['format']} files"]
    lines.extend(f"  {f['path']}  {_rows(f['rows'])}  {size(f['bytes'])}" for f in r["files"])
    return "\n".join(lines)


def diff(r: dict[str, Any]) -> str:
    lines = [f"{r['a']} -> {r['b']}"]
    if not (r["types"] or r["schemas"] or r["paths"]):
        lines.append("  no differences")
    for name, t in r["types"].items():
        lines.append(f"  {name}: {t['added']} added, {t['changed']} changed, {t['deleted']} deleted")
        lines.extend(_keys_listed(t))
    for pointer, change in r["paths"].items():
        if "keys" in change:
            counts = f"{change['added']} added, {change['changed']} changed, {change['deleted']} deleted"
            lines.append(f"  {pointer} (outside tables): {counts}")
            lines.extend(_keys_listed(change))
        else:
            lines.append(f"  {pointer} (outside tables): {next(iter(change))}")
    for s in r["schemas"]:
        a = f"v{s['a']['version']}" if s["a"] else "-"
        b = f"v{s['b']['version']}" if s["b"] else "-"
        lines.append(f"  schema {s['type']}: {s['change']} ({a} -> {b})")
    return "\n".join(lines)


def _keys_listed(found: dict[str, Any]) -> list[str]:
    lines = []
    for change, keys in found["keys"].items():
        more = found[change] - len(keys)
        listing = ", ".join(msgspec.json.encode(k).decode() for k in keys) + (f" (+{more} more)" if more else "")
        lines.append(f"      {change}: {listing}")
    return lines


def show(r: dict[str, Any]) -> str:
    lines = [
        f"checkpoint {r['id']}  {r['time']}  format {r['format_version']}  written by {r['library']}",
        f"size {size(r['size'])}  records {r['records']}  digest {r['digest']}",
    ]
    if r["meta"]:
        lines.append(f"meta {msgspec.json.encode(r['meta']).decode()}")
    if r["parent"]:
        lines.append(f"a delta on {r['parent']} (depth {r['depth']}): records and table changes since it")
    for t in r["types"]:
        links = f"{t['links']} links  " if t["links"] else ""
        lines.append(
            f"  {t['name']} v{t['version']}  fingerprint {t['fingerprint']}  {t['count']} records  {links}"
            f"{size(t['stored_bytes'])} stored ({size(t['raw_bytes'])} raw)"
        )
        lines.extend(f"      {f['name']}: {f['type']}{'' if f['required'] else ' (has default)'}" for f in t["fields"])
    lines.append(f"  root  {size(r['root']['stored_bytes'])} stored ({size(r['root']['raw_bytes'])} raw)")
    return "\n".join(lines)


def verify(r: dict[str, Any]) -> str:
    return (
        f"OK {r['id']}: {r['segments']} segments, {r['records']} records, "
        f"{size(r['stored_bytes'])} stored, {size(r['raw_bytes'])} raw; "
        "digests, lengths, structure and references sound"
    )


def verify_all(rows: list[dict[str, Any]]) -> str:
    lines = [verify(r) if r["ok"] else f"BAD {r['id']}: {r['error']}" for r in rows]
    bad = sum(not r["ok"] for r in rows)
    return "\n".join([*lines, f"{len(rows) - bad} sound, {bad} bad"])


def size(n: int) -> str:
    """Bytes for people: 512 B, 20.7 MiB."""
    if n < 1024:
        return f"{n} B"
    value, unit = float(n) / 1024, "KiB"
    for bigger in ("MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"


def lock(r: dict[str, Any]) -> str:
    lines = [f"locked {len(r['types'])} type(s)"]
    for name, t in r["types"].items():
        versions = ", ".join(f"v{v}" for v in t["versions"])
        lines.append(f"  {name}: current v{t['current']}, supported from v{t['oldest_supported']} ({versions})")
    return "\n".join(lines)


def check(findings: list[dict[str, str]]) -> str:
    if not findings:
        return "schema check passed: the code reads everything the lock supports"
    lines = []
    for f in findings:
        fix = f" -> {f['fix']}" if f["fix"] else ""
        lines.append(f"{f['severity']}: {f['type']}: {f['message']}{fix}")
    errors = sum(f["severity"] == "error" for f in findings)
    lines.append(f"{errors} error(s), {len(findings) - errors} note(s)")
    return "\n".join(lines)


def by_shutdown(aborts: list[dict[str, Any]]) -> str:
    """How many aborted attempts the service shutting down cut short (nothing failed), as a
    note: " (1 by shutdown)", or "" when none was."""
    stopped = sum(bool(a.get("shutdown")) for a in aborts)
    return f" ({stopped} by shutdown)" if stopped else ""


def report(r: dict[str, Any]) -> str:
    rows = r["checkpoints"]
    lines = [
        f"{r['store']}: {len(rows)} checkpoints ({sum(c.get('kind') == 'delta' for c in rows)} deltas), "
        f"{size(r['stored_bytes'])}, {len(r['aborts'])} aborted attempts{by_shutdown(r['aborts'])}, "
        f"{sum(bool(c.get('quarantined')) for c in rows)} quarantined"
    ]
    timed = [c for c in rows if c.get("pause") is not None]
    if timed:
        last = timed[-1]
        lines.append(
            f"last timed checkpoint {last['id']}: {last['duration']:.3f} s, pause {last['pause'] * 1000:.1f} ms"
        )
    if r["retention"]["policy"]:
        deleted = [c["id"] for c in rows if c.get("kept") is False]
        lines.append(f"retention ({r['retention']['policy']}): {len(deleted)} would go at the next gc")
    for o in r["outliers"]:
        lines.append(f"outlier: {o['checkpoint']} {o['metric']} {o['value']:.4g} (median {o['median']:.4g})")
    if "html" in r:
        lines.append(f"HTML report written to {r['html']}")
    return "\n".join(lines)


def _lease_text(r: dict[str, Any]) -> str:
    if r["state"] == "none":
        return "no lease"
    if r["state"] == "held":
        return f"held by {r['holder']} (token {r['token']}), expires in {r['expires_in']} s"
    return f"{r['state']} (last holder {r['holder']}, token {r['token']})"


def lease(r: dict[str, Any]) -> str:
    lines = [f"lease: {_lease_text(r['lease'])}"]
    for f in r["fences"]:
        voids = f"from checkpoint {f['first']}" if f["first"] is not None else "closed (its taker never wrote it)"
        lines.append(f"  fence: token {f['token']} {voids}")
    return "\n".join(lines)


def fleet(r: dict[str, Any]) -> str:
    lines = [f"fleet {r['url']}: {r['key_groups']} key groups"]
    for w in r["workers"]:
        lines.append(f"  worker {w['worker']}: {_lease_text(w)}")
    if not r["epochs"]:
        lines.append("no epochs decided")
    for e in r["epochs"]:
        if e["outcome"] == "commit":
            shards = ", ".join(f"{s['worker']}:{s['checkpoint']}" for s in e["shards"])
            lines.append(f"epoch {e['epoch']:>6}  committed  {e['created']}  {e['workers']} workers  shards {shards}")
        else:
            lines.append(f"epoch {e['epoch']:>6}  ABORTED    {e['created']}  {e['reason']}")
    lines.extend(f"epoch {u['epoch']:>6}  UNREADABLE {u['error']}" for u in r["unreadable"])
    return "\n".join(lines)


def fleet_gc(r: dict[str, Any]) -> str:
    gone = r["deleted_epochs"]
    return f"deleted {len(gone)} epoch(s)" + (f": {', '.join(map(str, gone))}" if gone else "")


def _versions(change: dict[str, Any], arrow: str) -> str:
    """A type's versions across a migration: "v1 -> v2", "v2" (unchanged), "new v1" (created)."""
    old, new = change["from_version"], change["to_version"]
    if old == 0:
        return f"new v{new}"
    return f"v{new}" if old == new else f"v{old}{arrow}v{new}"
