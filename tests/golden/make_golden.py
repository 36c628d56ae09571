"""Write the golden checkpoints of the current format version (run once per format version).

    python -m tests.golden.make_golden

Never rerun this for a format version that has been released: its files are the proof
that later versions of Amber still read what earlier ones wrote.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import msgspec

import amber
from amber import commands
from amber._format import _format
from tests.support.sample import golden_chain, golden_state, kinds_state, registry

HERE = Path(__file__).parent


def main() -> None:
    target = HERE / f"format-{amber.FORMAT_VERSION}"
    if target.exists() and "--force" not in sys.argv:
        sys.exit(f"{target} exists; golden files of a released format are never rewritten")
    shutil.rmtree(target, ignore_errors=True)
    store = amber.open_store(target / "store", registry=registry)
    dump: object
    if amber.FORMAT_VERSION == 1:
        store.save(golden_state(), meta={"golden": True, "library": amber.__version__})
        dump = commands.dump_changes(store)
    elif amber.FORMAT_VERSION == 2:  # format 2 added tables and deltas: a full checkpoint and two deltas
        golden_chain(store)
        dump = [commands.dump_changes(store, i) for i in store.ids()]
    else:
        fenced_chain(store)
        # Format 5 added the parent digest of every delta: the fenced chain's deltas carry it.
        if amber.FORMAT_VERSION >= 4:  # format 4 added enums' names: the first golden state, now with them
            store.acquire_lease(holder="golden-writer-2")
            store.save(golden_state(), meta={"golden": True})
            if amber.FORMAT_VERSION >= 6:  # format 6 added field kinds: a checkpoint holding each
                store.save(kinds_state(), meta={"golden": True})
            store.release_lease()
        dump = [commands.dump_changes(store, i) for i in store.ids()]
    (target / "dump.json").write_bytes(msgspec.json.format(msgspec.json.encode(dump)) + b"\n")
    print(f"wrote {target}")


def fenced_chain(store: amber.CheckpointStore) -> None:
    """Format 3 added lease tokens: writer 1 writes the golden chain (1-3) under its lease,
    writer 2 takes the lease over (its fence starts at 4), writer 1 wakes up and commits 4
    (void: no reader sees it), writer 2 commits a delta on 3 as 5."""
    store.acquire_lease(holder="golden-writer-1")
    golden_chain(store)
    store.release_lease()
    taker = amber.open_store(store.storage.url.removeprefix("file://"), registry=registry)
    taker.acquire_lease(holder="golden-writer-2")
    stale = msgspec.structs.replace(store.manifest(3), id="000000000004", sequence=4, meta={"zombie": True})
    store.storage.put("checkpoints/000000000004.manifest", [_format.encode_manifest(stale)], create_only=True)
    state = taker.load(3)
    state["version"] = 4
    taker.save(state, parent=3, meta={"golden": True})
    taker.release_lease()


if __name__ == "__main__":
    main()
