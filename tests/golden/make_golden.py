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
from tests.sample import golden_chain, golden_state, registry

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
        dump = commands.dump(store)
    else:  # format 2 added tables and deltas: a chain of a full checkpoint and two deltas
        golden_chain(store)
        dump = [commands.dump(store, i) for i in store.ids()]
    (target / "dump.json").write_bytes(msgspec.json.format(msgspec.json.encode(dump)) + b"\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
