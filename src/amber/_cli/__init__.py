"""The ``amber`` command: a thin layer over ``amber.commands``.

Text for people, ``--json`` for machines. Errors are one line on stderr. Exit status:
0 success, 1 an Amber error (unsound checkpoint, missing store, ...), 2 a usage error.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import click
import msgspec

from .. import commands
from .._store._open import open_store, parse_size
from ..errors import AmberError
from ..events import JsonFormatter
from . import _render as render

_json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
_lease_option = click.option(
    "--lease",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Take the store's writer lease first (a store written under one), waiting up to SECONDS for it.",
)


def _run(
    action: Callable[[], Any],
    render: Callable[[Any], str] | None,
    as_json: bool,
    failed: Callable[[Any], bool] | None = None,
) -> None:
    """Run a verb and print its result (``render`` None: the verb printed it as it went);
    an error is one line on stderr, as JSON with ``--json``."""
    try:
        result = action()
        text = None if render is None else msgspec.json.encode(result).decode() if as_json else render(result)
    except AmberError as e:
        _fail(str(e), e, as_json)
    except click.ClickException:
        raise  # said by the group, in one line
    except (UnicodeEncodeError, UnicodeDecodeError) as e:  # a path no file system can name (a lone surrogate)
        _fail(f"not text a file system or a store can hold: {e.object!r:.80}", e, as_json)
    except BrokenPipeError:  # `amber dump ... | head`: the reader has all it wanted, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        sys.exit(0)
    except OSError as e:  # the terminal's or a file's, outside any store (a store's are StoreErrors)
        _fail(f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e), e, as_json)
    except Exception as e:  # a defect of ours: still one line (AMBER_DEBUG=1 shows the traceback)
        if os.environ.get("AMBER_DEBUG"):
            raise
        message = f"internal error {type(e).__name__}: {e} (a bug: please report it; AMBER_DEBUG=1 shows where)"
        _fail(message, e, as_json)
    if text is not None:
        click.echo(text)
    if failed is not None and failed(result):
        sys.exit(1)


def _fail(message: str, error: BaseException | None = None, as_json: bool = False, status: int = 1) -> NoReturn:
    """One line on stderr, whatever the message holds (an id or a path with a newline in
    it, a terminal escape), and exit status 1 (2 for usage). With ``--json``, the line is
    ``{"error": {"type", "message", "checkpoint", "part"}}``."""
    if as_json:
        body = {
            "type": _error_type(error),
            "message": one_line(message),  # JSON cannot hold an unpaired surrogate either
            "checkpoint": _text_or_none(getattr(error, "checkpoint", None)),
            "part": _text_or_none(getattr(error, "part", None)),
        }
        click.echo(msgspec.json.encode({"error": body}).decode(), err=True)
    else:
        click.echo(f"amber: error: {one_line(message)}", err=True)
    sys.exit(status)


def one_line(text: str) -> str:
    """``text`` with every unprintable character escaped, so it prints as one inert line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _text_or_none(value: Any) -> str | None:
    return None if value is None else one_line(str(value))


def _error_type(error: BaseException | None) -> str:
    """The ``type`` of a JSON error: an Amber error's class, else one of a few stable names."""
    if isinstance(error, AmberError):
        return type(error).__name__
    if isinstance(error, click.UsageError):
        return "UsageError"
    if isinstance(error, UnicodeError):
        return "UsageError"
    if isinstance(error, OSError | click.ClickException) or error is None:
        return "OSError" if isinstance(error, OSError) else "Error"
    return "InternalError"


def _wants_json(args: Any) -> bool:
    """Whether the command line asks for JSON (usage errors come before the option is parsed)."""
    words = sys.argv[1:] if args is None else list(args)
    return "--json" in words


class _Amber(click.Group):
    """The command group, whose usage errors are one line too (``amber: usage: ...``, exit 2)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        as_json = _wants_json(args[0] if args else kwargs.get("args"))
        try:
            return super().main(*args, **kwargs)
        except click.exceptions.Exit as e:  # --help, --version
            sys.exit(e.exit_code)
        except click.Abort:
            _fail("interrupted", None, as_json)
        except click.ClickException as e:
            ctx: click.Context | None = getattr(e, "ctx", None)  # usage errors know their command
            where = f" (amber {ctx.command_path.partition(' ')[2]} --help)".replace("  ", " ") if ctx else ""
            if as_json:
                _fail(e.format_message() + where, e, as_json, e.exit_code)
            kind = "usage" if isinstance(e, click.UsageError) else "error"
            click.echo(f"amber: {kind}: {one_line(e.format_message())}{where}", err=True)
            sys.exit(e.exit_code)


@click.group(cls=_Amber, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="amber-state", prog_name="amber")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="warning",
    show_default=True,
    help="Log Amber's steps (gc, migrations, rollbacks) at this level and above on stderr.",
)
@click.option("--log-json", is_flag=True, help="Log one JSON object a line, with every structured field.")
def cli(log_level: str, log_json: bool) -> None:
    """Inspect, verify, migrate and move Amber checkpoint stores (no application code needed,
    but for --app).

    STORE is a directory path, a file:// URL, or s3://bucket/prefix (with the s3 extra; the
    endpoint and credentials come from the AWS_* environment variables).
    """
    limit = os.environ.get("AMBER_MAX_LOAD_MEMORY", "").strip()
    if limit:
        try:
            parse_size(limit, "AMBER_MAX_LOAD_MEMORY")
        except ValueError as e:
            raise click.UsageError(str(e)) from None
    logger = logging.getLogger("amber")
    for old in [h for h in logger.handlers if isinstance(h, _CliHandler)]:  # invoked again in one process
        logger.removeHandler(old)
    handler = _CliHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_json else logging.Formatter("amber: %(levelname)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(log_level.upper())


@cli.command()
@click.argument("store")
@_json_option
def ls(store: str, as_json: bool) -> None:
    """List committed checkpoints, one a line, newest last (exit 1 if any is unreadable)."""
    _run(lambda: commands.ls(store), render.ls, as_json, lambda rows: any("error" in r for r in rows))


@cli.command()
@click.argument("store")
@click.argument("checkpoint", required=False)
@_json_option
def show(store: str, checkpoint: str | None, as_json: bool) -> None:
    """Show a checkpoint's types, versions, fingerprints, counts and sizes (newest by default)."""
    _run(lambda: commands.show(store, checkpoint), render.show, as_json)


@cli.command()
@click.argument("store")
@click.argument("checkpoint", required=False)
@click.option("--all", "every", is_flag=True, help="Verify every committed checkpoint, not only one.")
@_json_option
def verify(store: str, checkpoint: str | None, every: bool, as_json: bool) -> None:
    """Check digests, lengths, structure and references; exit 0 only when sound."""
    if every and checkpoint is not None:
        raise click.UsageError("give a CHECKPOINT or --all, not both")
    if every:
        _run(
            lambda: commands.verify_all(store), render.verify_all, as_json, lambda rows: not all(r["ok"] for r in rows)
        )
    else:
        _run(lambda: commands.verify(store, checkpoint), render.verify, as_json)


@cli.command()
@click.argument("store")
@click.argument("checkpoint", required=False)
@click.option("--type", "type_name", metavar="NAME", help="Print only the records of this type.")
@click.option("--key", metavar="KEY", help='Print the table entries at KEY (JSON such as 42 or [1, "a"], or text).')
@click.option("--path", metavar="POINTER", help="Print the value at this JSON Pointer into the root: /accounts/42.")
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help="Print at most N records.")
@click.option("--jsonl", is_flag=True, help="One JSON object a line: the header, the root or selection, each record.")
@click.option("--changes", is_flag=True, help="What the checkpoint itself holds (a delta: its changes), not the state.")
@_json_option
def dump(store: str, checkpoint: str | None, as_json: bool, jsonl: bool, changes: bool, **select: Any) -> None:
    """Print the whole state at a checkpoint as JSON (a delta's chain resolved), streamed:
    the header, the root, then every record it reaches. --json: on one line."""
    if changes and (jsonl or any(v is not None for v in select.values())):
        raise click.UsageError(
            "--changes shows the checkpoint's own content: no --type, --key, --path, --limit or --jsonl"
        )
    if select["key"] is not None and select["path"] is not None:
        raise click.UsageError("give --key or --path, not both")
    if changes:
        _run(
            lambda: commands.dump_changes(store, checkpoint),
            lambda r: msgspec.json.format(msgspec.json.encode(r)).decode(),
            as_json,
        )
        return
    _run(lambda: _print_dump(commands.dump_lines(store, checkpoint, **select), jsonl, as_json), None, as_json)


def _print_dump(parts: Iterator[dict[str, Any]], jsonl: bool, compact: bool) -> None:
    """Write the dump as it is read: JSON Lines, or one JSON document holding a record a line."""
    out = _Buffered()
    try:
        _write_dump(parts, jsonl, compact, out.write)
    finally:
        out.flush()


class _Buffered:
    """Output gathered into writes of about 1 MiB: one ``click.echo`` a record is slow."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0

    def write(self, text: str) -> None:
        self._parts.append(text)
        self._size += len(text)
        if self._size > 1 << 20:
            self.flush()

    def flush(self) -> None:
        if self._parts:
            click.echo("".join(self._parts), nl=False)
        self._parts, self._size = [], 0


def _write_dump(parts: Iterator[dict[str, Any]], jsonl: bool, compact: bool, write: Callable[[str], None]) -> None:
    encode = msgspec.json.Encoder().encode
    header = next(parts)  # a refused selection raises here, before anything is printed
    parts = itertools.chain([header], parts)
    if jsonl:
        for part in parts:
            write(encode(part).decode() + "\n")
        return
    newline, indent = ("", "") if compact else ("\n", " ")
    fields = 0
    open_list: str | None = None  # "entries" or "records", while its items are written

    def field(name: str) -> None:
        nonlocal fields
        write(("," if fields else "") + f"{newline}{indent}{encode(name).decode()}:{indent}")
        fields += 1

    def close() -> None:
        if open_list is not None:
            write(f"{newline}{indent}]")

    write("{")
    had_records = False
    for part in parts:
        name, item = (
            ("records", part) if "$id" in part else ("entries", part["entry"]) if "entry" in part else ("", part)
        )
        if name and name == open_list:
            write(f",{newline}{indent * 2}{encode(item).decode()}")
            continue
        close()
        open_list = name or None
        if name:
            had_records = had_records or name == "records"
            field(name)
            write(f"[{newline}{indent * 2}{encode(item).decode()}")
            continue
        for key, value in part.items():
            field(key)
            write(encode(value).decode())
    close()
    if not had_records:
        field("records")
        write("[]")
    write(f"{newline}}}\n")


@cli.command()
@click.argument("store")
@click.option("--app", required=True, help="MODULE (or MODULE:REGISTRY) that declares the application's types.")
@click.option("--dry-run", is_flag=True, help="Show the plan and run it in memory; write nothing.")
@click.option("--policy", metavar="LOCKFILE", help="Refuse types older than the lock file's oldest_supported.")
@_lease_option
@_json_option
def migrate(store: str, app: str, as_json: bool, **options: Any) -> None:
    """Upgrade the newest checkpoint to the app's versions, as a new checkpoint (the source stays)."""

    def action() -> Any:
        target = open_store(store, create=False, policy=options["policy"])
        target.progress = _ProgressBars() if sys.stderr.isatty() and not as_json else None
        return commands.migrate(target, app, dry_run=options["dry_run"], lease=options["lease"])

    _run(action, render.migrate, as_json)


@cli.command()
@click.argument("source")
@click.argument("target")
@click.option("--no-verify", is_flag=True, help="Skip reading every copied checkpoint back from the target.")
@_json_option
def copy(source: str, target: str, no_verify: bool, as_json: bool) -> None:
    """Copy a store's checkpoints to another place (a folder to S3); verify them there."""
    progress = _ProgressBars() if sys.stderr.isatty() and not as_json else None
    _run(lambda: commands.copy(source, target, verify=not no_verify, progress=progress), render.copy, as_json)


@cli.command()
@click.argument("store")
@click.option("--to", "to", metavar="ID", help="The checkpoint to restore (default: the last migration's source).")
@_lease_option
@_json_option
def rollback(store: str, to: str | None, lease: float | None, as_json: bool) -> None:
    """Make the pre-migration checkpoint the newest again; nothing is deleted, and it is logged."""
    _run(lambda: commands.rollback(store, to, lease=lease), render.rollback, as_json)


@cli.command("log")
@click.argument("store")
@_json_option
def log_(store: str, as_json: bool) -> None:
    """Show the store's migration log, oldest first."""
    _run(lambda: commands.log(store), render.log, as_json)


@cli.command()
@click.argument("store")
@click.option("--keep-last", type=click.IntRange(min=1), metavar="N", help="Keep the newest N checkpoints.")
@click.option("--keep-within", metavar="AGE", help="Keep checkpoints younger than AGE (90s, 15m, 12h, 7d).")
@click.option("--grace", default="1h", show_default=True, help="Leave unnamed files younger than this alone.")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; delete nothing.")
@click.option(
    "--wait", default="5m", show_default=True, help="Wait this long for checkpoint writes in progress (local stores)."
)
@_json_option
def gc(store: str, as_json: bool, **policy: Any) -> None:
    """Delete checkpoints the policy does not keep (never one a kept delta needs), then
    unreferenced data files and leftovers of interrupted writes."""
    if policy["keep_last"] is None and policy["keep_within"] is None:
        raise click.UsageError("give --keep-last, --keep-within or both")
    for value in (policy["keep_within"], policy["grace"], policy["wait"]):
        if value is not None:
            try:
                commands.parse_duration(value)
            except ValueError as e:
                raise click.BadParameter(str(e)) from None
    _run(lambda: commands.gc(store, **policy), render.gc, as_json)


@cli.command()
@click.argument("store")
@click.argument("a")
@click.argument("b")
@_json_option
def diff(store: str, a: str, b: str, as_json: bool) -> None:
    """What changed from checkpoint A to B: table keys added, changed, deleted per type; schemas."""
    _run(lambda: commands.diff(store, a, b), render.diff, as_json)


def _checkpoint_then(words: tuple[str, ...], what: str) -> tuple[str | None, str]:
    """``[CHECKPOINT] WHAT``: one word is WHAT, two are the checkpoint and WHAT."""
    if len(words) not in (1, 2):
        raise click.UsageError(f"give [CHECKPOINT] {what}")
    return (None, words[0]) if len(words) == 1 else (words[0], words[1])


@cli.command()
@click.argument("store")
@click.argument("words", nargs=-1, required=True, metavar="[CHECKPOINT] SQL")
@click.option("--no-cache", is_flag=True, help="Read the checkpoint again; neither use nor fill the query cache.")
@_json_option
def query(store: str, words: tuple[str, ...], no_cache: bool, as_json: bool) -> None:
    """Run SQL (DuckDB) over a checkpoint's state: each record type is a table, named
    "bank.Account" (quoted) or Account; references hold the _id of the record they name."""
    checkpoint, sql = _checkpoint_then(words, "SQL")
    _run(lambda: commands.query(store, sql, checkpoint, cache=not no_cache), render.query, as_json)


@cli.command()
@click.argument("store")
@click.argument("words", nargs=-1, required=True, metavar="[CHECKPOINT] DIR")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "arrow", "csv"]),
    default="parquet",
    show_default=True,
    help="One file per record type: Parquet, Arrow IPC, or CSV (nested values as JSON text).",
)
@_json_option
def export(store: str, words: tuple[str, ...], fmt: str, as_json: bool) -> None:
    """Write each record type of a checkpoint's state as a file in DIR (a delta's chain resolved)."""
    checkpoint, directory = _checkpoint_then(words, "DIR")
    if _inside_store(store, directory):
        raise click.BadParameter(f"{directory} is inside the store: export elsewhere", param_hint="DIR")
    _run(lambda: commands.export(store, directory, checkpoint, fmt=fmt), render.export, as_json)


@cli.command()
@click.argument("store")
@click.option("--html", "html_path", metavar="FILE", help="Write a self-contained HTML page with charts to FILE.")
@click.option("--keep-last", type=click.IntRange(min=1), metavar="N", help="Preview this retention policy.")
@click.option("--keep-within", metavar="AGE", help="Preview keeping checkpoints younger than AGE.")
@_json_option
def report(store: str, html_path: str | None, keep_last: int | None, keep_within: str | None, as_json: bool) -> None:
    """The store's history: checkpoints over time (size, duration, pause, aborts), delta
    chains and what retention keeps, schema versions per checkpoint, outliers, migrations."""
    if keep_within is not None:
        try:
            commands.parse_duration(keep_within)
        except ValueError as e:
            raise click.BadParameter(str(e)) from None

    def action() -> Any:
        data = commands.report(store, keep_last=keep_last, keep_within=keep_within)
        if html_path is not None and _inside_store(store, html_path):
            raise click.BadParameter(f"{html_path} is inside the store: write the page elsewhere", param_hint="--html")
        if html_path is not None:
            from ._report_html import render as render_html

            try:
                Path(html_path).write_text(render_html(data), encoding="utf-8")
            except OSError as e:
                raise click.FileError(html_path, hint=e.strerror or str(e)) from None
            data["html"] = html_path
        return data

    _run(action, render.report, as_json)


@cli.command()
@click.argument("store")
@click.argument("checkpoints", nargs=-1, metavar="[CHECKPOINT]...")
@click.option("--all", "every", is_flag=True, help="Release every quarantined checkpoint.")
@_json_option
def release(store: str, checkpoints: tuple[str, ...], every: bool, as_json: bool) -> None:
    """Lift the quarantine of checkpoints a restore set aside, so that restores try them again."""
    if bool(checkpoints) == every:
        raise click.UsageError("name the checkpoints to release, or give --all")
    _run(lambda: commands.release(store, None if every else list(checkpoints)), render.release, as_json)


@cli.command()
@click.argument("store")
@_json_option
def lease(store: str, as_json: bool) -> None:
    """Show who holds the store's writer lease, and every takeover (fence)."""
    _run(lambda: commands.lease(store), render.lease, as_json)


@cli.group()
def fleet() -> None:
    """Inspect and collect a fleet of workers' sharded checkpoints (URL: a path or s3://)."""


@fleet.command("status")
@click.argument("url")
@_json_option
def fleet_status(url: str, as_json: bool) -> None:
    """Each worker's lease and every decided epoch: committed with its shards, or aborted and why."""
    _run(lambda: commands.fleet(url), render.fleet, as_json)


@fleet.command("gc")
@click.argument("url")
@click.option("--keep-last", type=click.IntRange(min=1), required=True, metavar="N", help="Epochs to keep.")
@_json_option
def fleet_gc(url: str, keep_last: int, as_json: bool) -> None:
    """Delete all but the newest N committed epochs and every shard no kept epoch needs."""
    _run(lambda: commands.fleet_gc(url, keep_last=keep_last), render.fleet_gc, as_json)


@cli.group()
def schema() -> None:
    """The lock file of persisted types, and the CI check against it."""


def _oldest(values: tuple[str, ...]) -> dict[str, int]:
    pairs = [v.partition("=") for v in values]
    if not all(sep and version.isascii() and version.isdigit() for _, sep, version in pairs):
        raise click.BadParameter("use NAME=VERSION, e.g. bank.Account=2")
    return {name: int(version) for name, _, version in pairs}


@schema.command("lock")
@click.option("--app", required=True, help="MODULE (or MODULE:REGISTRY) that declares the application's types.")
@click.option("--file", "path", default="amber.lock", show_default=True, help="The lock file to write or extend.")
@click.option("--oldest", multiple=True, metavar="NAME=VERSION", help="The oldest version still supported.")
@_json_option
def schema_lock(app: str, path: str, oldest: tuple[str, ...], as_json: bool) -> None:
    """Record every persisted type and version of the app in the lock file (commit it)."""
    _run(lambda: commands.schema_lock(app, path, oldest=_oldest(oldest)), render.lock, as_json)


@schema.command("check")
@click.option("--app", required=True, help="MODULE (or MODULE:REGISTRY) that declares the application's types.")
@click.option("--file", "path", default="amber.lock", show_default=True, help="The lock file to check against.")
@_json_option
def schema_check(app: str, path: str, as_json: bool) -> None:
    """Fail (exit 1) on schema changes that would break reading old data; show notes."""
    failed = lambda findings: any(f["severity"] == "error" for f in findings)  # noqa: E731
    _run(lambda: commands.schema_check(app, path), render.check, as_json, failed)


def _inside_store(store: str, path: str) -> bool:
    """Whether ``path`` lies in a local store's folder (a page written there could replace a
    manifest), whatever the URL spells it as (``file://localhost/...``, percent-encoded)."""
    try:
        root = getattr(open_store(store, create=False).storage, "root", None)
    except AmberError:
        return False  # no store there: the command says so itself
    return isinstance(root, Path) and Path(path).resolve().is_relative_to(root.resolve())


class _CliHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The command's own log handler on stderr (one at a time)."""


class _ProgressBars:
    """One progress bar per phase (read, write), on stderr."""

    def __init__(self) -> None:
        self._bars: dict[str, Any] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        bar = self._bars.get(phase)
        if bar is None:
            bar = self._bars[phase] = click.progressbar(length=total, label=f"{phase:5}", file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)
        if done >= total:
            bar.__exit__(None, None, None)


def main() -> None:
    cli()
