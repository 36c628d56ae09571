"""Model classes benchmark: the standard workload as pydantic models and attrs classes (issue 19).

    python -m bench.bench_models [--accounts N] [--runs R]

The standard workload's state (``bench/workload.py``) built three ways, with the same values
and the same sharing: as ``amber.Record`` classes (the workload's own), as pydantic v2
``BaseModel`` classes and as ``@attrs.define`` classes, each declared with ``@amber.record``
in a registry of its own. Targets: a save and a load of the pydantic or attrs state within 2x
of the same state as Records, and faster than pickle of the same objects.

Each run measures every kind in turn (who goes first rotating run by run). A kind's saves run
as in ``bench_core``, in a child process holding that state alone (so that pickle's GC passes
see one state, not three): ``pickle.dump`` protocol 5 + flush + fsync with the GC on (the
default) and off, then ``store.save`` into an empty local store. Loads run in fresh processes
(import time excluded): ``store.load()`` and ``pickle.load``. Every figure is the median of R
runs. Prints a Markdown table and writes bench/results/models.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs
import pydantic

import amber
from bench import workload
from bench.bench_core import time_pickle_dump

ROOT = Path(__file__).parent.parent

pydantic_registry = amber.Registry()
attrs_registry = amber.Registry()


@amber.record("bank.Customer", version=1, registry=pydantic_registry)
class PydanticCustomer(pydantic.BaseModel):
    id: int
    name: str


@amber.record("bank.Account", version=1, registry=pydantic_registry)
class PydanticAccount(pydantic.BaseModel):
    id: int
    owner: PydanticCustomer
    balance: int
    tags: list[str]
    updated: float


@amber.record("bank.Customer", version=1, registry=attrs_registry)
@attrs.define
class AttrsCustomer:
    id: int
    name: str


@amber.record("bank.Account", version=1, registry=attrs_registry)
@attrs.define
class AttrsAccount:
    id: int
    owner: AttrsCustomer
    balance: int
    tags: list[str]
    updated: float


KINDS = ("record", "pydantic", "attrs")
REGISTRIES = {"record": workload.registry, "pydantic": pydantic_registry, "attrs": attrs_registry}
ACCOUNT_CLASSES: dict[str, type] = {"record": workload.Account, "pydantic": PydanticAccount, "attrs": AttrsAccount}


def build(kind: str, accounts: int) -> dict[str, Any]:
    """The standard workload as ``kind``'s classes: the Records' values, customers shared alike."""
    state = workload.build(accounts)
    if kind == "record":
        return state
    people: list[Any]
    if kind == "pydantic":
        people = [PydanticCustomer(id=c.id, name=c.name) for c in state["customers"]]
        table: dict[int, Any] = {
            i: PydanticAccount(
                id=a.id, owner=people[a.owner.id], balance=a.balance, tags=list(a.tags), updated=a.updated
            )
            for i, a in state["accounts"].items()
        }
    else:
        people = [AttrsCustomer(c.id, c.name) for c in state["customers"]]
        table = {
            i: AttrsAccount(a.id, people[a.owner.id], a.balance, list(a.tags), a.updated)
            for i, a in state["accounts"].items()
        }
    assert all(c.id == i for i, c in enumerate(people))  # owner ids index the customers
    return {"accounts": table, "customers": people}


def saves(kind: str, accounts: int, folder: Path) -> dict[str, float]:
    """One run of a kind's saves (in a child process holding that state alone); leaves the
    pickle file and the store in ``folder`` for the loads."""
    state = build(kind, accounts)
    pickle_path, store_path = folder / f"{kind}.pickle", folder / f"{kind}-store"
    pickle_gc = time_pickle_dump(state, pickle_path)
    gc.disable()
    pickle_nogc = time_pickle_dump(state, pickle_path)
    gc.enable()
    shutil.rmtree(store_path, ignore_errors=True)
    store = amber.open_store(store_path, registry=REGISTRIES[kind])
    started = time.perf_counter()
    info = store.save(state)
    saved = time.perf_counter() - started
    return {
        "amber_save_s": saved,
        "pickle_dump_s": pickle_gc,
        "pickle_dump_gc_off_s": pickle_nogc,
        "amber_bytes": info.size,
        "pickle_bytes": pickle_path.stat().st_size,
    }


# The states are built and pickled only in children that import this module by name, so that
# pickle names the classes bench.bench_models.* (not __main__.*, which a load could not find).
SAVE_CHILD = """
import json, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from bench import bench_models
print(json.dumps(bench_models.saves(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))))
"""

LOAD_CHILD = """
import pickle, sys, time
sys.path.insert(0, {root!r})
import amber
from bench import bench_models
kind, how, target = sys.argv[1], sys.argv[2], sys.argv[3]
started = time.perf_counter()
if how == "pickle":
    with open(target, "rb") as f:
        state = pickle.load(f)
else:
    state = amber.open_store(target, registry=bench_models.REGISTRIES[kind]).load()
print(time.perf_counter() - started)
assert len(state["accounts"]) > 0
assert all(type(a) is bench_models.ACCOUNT_CLASSES[kind] for a in state["accounts"].values())
"""


def child(code: str, *argv: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code.format(root=str(ROOT)), *argv], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    samples: dict[str, dict[str, list[float]]] = {kind: {} for kind in KINDS}
    with tempfile.TemporaryDirectory(prefix="amber-bench-") as tmp:
        root = Path(tmp)
        for run in range(args.runs):
            for kind in KINDS[run % 3 :] + KINDS[: run % 3]:  # who goes first rotates
                found: dict[str, float] = json.loads(child(SAVE_CHILD, kind, str(args.accounts), str(root)))
                found["amber_load_s"] = float(child(LOAD_CHILD, kind, "amber", str(root / f"{kind}-store")))
                found["pickle_load_s"] = float(child(LOAD_CHILD, kind, "pickle", str(root / f"{kind}.pickle")))
                for key, value in found.items():
                    samples[kind].setdefault(key, []).append(value)
    r: dict[str, Any] = {"accounts": args.accounts, "runs": args.runs, "python": sys.version.split()[0]}
    r.update(
        pydantic=pydantic.VERSION,
        attrs=attrs.__version__,
        kinds={kind: {key: statistics.median(v) for key, v in found_.items()} for kind, found_ in samples.items()},
    )
    for kind in ("pydantic", "attrs"):
        for op, key in (("save", "amber_save_s"), ("load", "amber_load_s")):
            paired = [m / b for m, b in zip(samples[kind][key], samples["record"][key], strict=True)]
            r[f"{kind}_vs_record_{op}"] = r["kinds"][kind][key] / r["kinds"]["record"][key]
            r[f"{kind}_vs_record_{op}_paired"] = [statistics.median(paired), min(paired), max(paired)]
    for kind in KINDS:
        k = r["kinds"][kind]
        r[f"{kind}_save_vs_pickle"] = k["pickle_dump_s"] / k["amber_save_s"]
        r[f"{kind}_save_vs_pickle_gc_off"] = k["pickle_dump_gc_off_s"] / k["amber_save_s"]
        r[f"{kind}_load_vs_pickle"] = k["pickle_load_s"] / k["amber_load_s"]
    report(r)


def report(r: dict[str, Any]) -> None:
    k = r["kinds"]
    print(
        f"\nstandard workload as model classes: {r['accounts']:,} accounts, median of {r['runs']} runs, "
        f"Python {r['python']}, pydantic {r['pydantic']}, attrs {r['attrs']}\n"
    )
    print("| measure | amber | baseline | ratio | target | met |\n|---|---|---|---|---|---|")
    for kind in ("pydantic", "attrs"):
        for op, label in (("save", "save"), ("load", "load, fresh process")):
            key, ratio = f"amber_{op}_s", r[f"{kind}_vs_record_{op}"]
            _, low, high = r[f"{kind}_vs_record_{op}_paired"]
            print(
                f"| {kind} {label} | {k[kind][key]:.3f} s | Records {k['record'][key]:.3f} s "
                f"| {ratio:.2f}x (runs {low:.2f}-{high:.2f}) | <= 2x | {_met(ratio <= 2)} |"
            )
    for kind in KINDS:
        s, target = k[kind], "faster" if kind != "record" else "(context)"
        save, nogc, load = (r[f"{kind}_{x}"] for x in ("save_vs_pickle", "save_vs_pickle_gc_off", "load_vs_pickle"))
        print(
            f"| {kind} save vs pickle.dump | {s['amber_save_s']:.3f} s | pickle.dump {s['pickle_dump_s']:.3f} s "
            f"(gc off {s['pickle_dump_gc_off_s']:.3f} s) | {save:.2f}x faster (gc off {nogc:.2f}x) | {target} "
            f"| {_met(save > 1) if kind != 'record' else '-'} |"
        )
        print(
            f"| {kind} load vs pickle.load | {s['amber_load_s']:.3f} s | pickle.load {s['pickle_load_s']:.3f} s "
            f"| {load:.2f}x faster | {target} | {_met(load > 1) if kind != 'record' else '-'} |"
        )
    for kind in KINDS:
        s = k[kind]
        print(
            f"| {kind} size | {s['amber_bytes'] / 1e6:.1f} MB | pickle {s['pickle_bytes'] / 1e6:.1f} MB "
            f"| {s['amber_bytes'] / s['pickle_bytes']:.2f} | - | - |"
        )
    workload.save_results("models", r)


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


if __name__ == "__main__":
    main()
