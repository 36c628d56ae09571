"""The ``amber`` command: a thin layer over ``amber.commands``.

Text for people, ``--json`` for machines. Errors are one line on stderr. Exit status:
0 success, 1 an Amber error (unsound checkpoint, missing store, ...), 2 a usage error.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
import msgspec

from . import commands
from .errors import AmberError

_json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def _run(
    action: Callable[[], Any],
    render: Callable[[Any], str],
    as_json: bool,
    failed: Callable[[Any], bool] | None = None,
) -> None:
    try:
        result = action()
    except AmberError as e:
        click.echo(f"amber: error: {e}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(msgspec.json.encode(result).decode())
    else:
        click.echo(render(result))
    if failed is not None and failed(result):
        sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="amber-state", prog_name="amber")
def cli() -> None:
    """Inspect and verify Amber checkpoint stores (no application code needed).

    STORE is a directory path or a file:// URL.
    """


@cli.command()
@click.argument("store")
@_json_option
def ls(store: str, as_json: bool) -> None:
    """List committed checkpoints, one a line, newest last (exit 1 if any is unreadable)."""
    _run(lambda: commands.ls(store), _render_ls, as_json, lambda rows: any("error" in r for r in rows))


@cli.command()
@click.argument("store")
@click.argument("checkpoint", required=False)
@_json_option
def show(store: str, checkpoint: str | None, as_json: bool) -> None:
    """Show a checkpoint's types, versions, fingerprints, counts and sizes (newest by default)."""
    _run(lambda: commands.show(store, checkpoint), _render_show, as_json)


@cli.command()
@click.argument("store")
@click.argument("checkpoint", required=False)
@_json_option
def verify(store: str, checkpoint: str | None, as_json: bool) -> None:
    """Check digests, lengths, structure and references; exit 0 only when sound."""
    _run(lambda: commands.verify(store, checkpoint), _render_verify, as_json)


@cli.command()
@click.argument("store")
@click.argument("checkpoint", required=False)
@_json_option
def dump(store: str, checkpoint: str | None, as_json: bool) -> None:
    """Print the whole state as JSON (indented; --json for one compact line)."""
    _run(
        lambda: commands.dump(store, checkpoint),
        lambda r: msgspec.json.format(msgspec.json.encode(r)).decode(),
        as_json,
    )


def _render_ls(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no checkpoints"
    lines = [f"{'ID':12}  {'TIME':27}  {'SIZE':>10}  {'RECORDS':>9}  TYPES"]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['id']:12}  UNREADABLE: {r['error']}")
            continue
        types = ", ".join(f"{n} v{v}" for n, v in r["types"].items())
        lines.append(f"{r['id']:12}  {r['time']:27}  {_size(r['size']):>10}  {r['records']:>9}  {types}")
    return "\n".join(lines)


def _render_show(r: dict[str, Any]) -> str:
    lines = [
        f"checkpoint {r['id']}  {r['time']}  format {r['format_version']}  written by {r['library']}",
        f"size {_size(r['size'])}  records {r['records']}  digest {r['digest']}",
    ]
    if r["meta"]:
        lines.append(f"meta {msgspec.json.encode(r['meta']).decode()}")
    for t in r["types"]:
        lines.append(
            f"  {t['name']} v{t['version']}  fingerprint {t['fingerprint']}  {t['count']} records  "
            f"{_size(t['stored_bytes'])} stored ({_size(t['raw_bytes'])} raw)"
        )
        lines.extend(f"      {f['name']}: {f['type']}{'' if f['required'] else ' (has default)'}" for f in t["fields"])
    lines.append(f"  root  {_size(r['root']['stored_bytes'])} stored ({_size(r['root']['raw_bytes'])} raw)")
    return "\n".join(lines)


def _render_verify(r: dict[str, Any]) -> str:
    return (
        f"OK {r['id']}: {r['segments']} segments, {r['records']} records, "
        f"{_size(r['stored_bytes'])} stored, {_size(r['raw_bytes'])} raw; "
        "digests, lengths, structure and references sound"
    )


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def main() -> None:
    cli()
