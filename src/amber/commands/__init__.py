"""One plain function per CLI verb: the operator's API, usable from Python as well.

Each function takes a store URL (or an open store) and returns plain data (dicts, lists,
numbers, strings) that the CLI prints as text or as JSON. Only ``migrate`` needs the
application's code (``app``); everything the others show comes from the checkpoints'
own schemas.
"""

from __future__ import annotations

from ._app import load_app, schema_check, schema_lock
from ._args import StoreArg as StoreArg  # the type of every verb's store argument
from ._args import parse_duration
from ._inspect import diff, dump, dump_changes, dump_lines, export, ls, query, report, show, verify, verify_all
from ._leases import fleet, fleet_gc, lease
from ._maintain import copy, gc, log, migrate, release, rollback

__all__ = [
    "copy",
    "diff",
    "dump",
    "dump_changes",
    "dump_lines",
    "export",
    "fleet",
    "fleet_gc",
    "gc",
    "lease",
    "load_app",
    "log",
    "ls",
    "migrate",
    "parse_duration",
    "query",
    "release",
    "report",
    "rollback",
    "schema_check",
    "schema_lock",
    "show",
    "verify",
    "verify_all",
]
