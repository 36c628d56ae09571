"""S3 store throughput against raw obstore on the same server (issue: object storage).

    python -m bench.bench_s3 [--accounts N] [--runs R]

Starts moto's S3 server on 127.0.0.1 (as the tests do). Per run: ``store.save`` of the
standard workload through ``s3://`` and ``store.load`` back, against raw ``obstore.put`` of
the same bytes (the data file and the manifest, as one object each, with the same part size)
and raw ``obstore.get`` of them. Throughput is the checkpoint's stored bytes over the time;
the ratio is Amber's over raw's (target: at least 0.7). Also the same save and load on a
local disk, to show what the S3 path adds to Amber's own work (encoding, compression,
decoding). Requests per checkpoint are counted by a wrapper around the storage. Medians of R
runs; writes bench/results/s3.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from typing import Any

import obstore
from tests.support.s3_server import BUCKET, CREDENTIALS, moto_server

import amber
from amber._store._commit import Committer
from amber.storage import S3Storage
from bench import workload


class Counting:
    """A storage that counts the requests made through it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted


def _options(endpoint: str) -> dict[str, str]:
    return {
        "endpoint": endpoint,
        "region": CREDENTIALS["AWS_REGION"],
        "access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


def one_run(endpoint: str, state: Any, n: int) -> dict[str, float]:
    options = _options(endpoint)
    store = amber.open_store(f"s3://{BUCKET}/amber-{n}", registry=workload.registry, storage_options=options)
    started = time.perf_counter()
    info = store.save(state)
    save_s = time.perf_counter() - started
    manifest = store.manifest(info.id)
    started = time.perf_counter()
    store.load(info.id)
    load_s = time.perf_counter() - started
    data = bytes(store.storage.get_range(manifest.data, 0, manifest.data_size))
    head = bytes(store.storage.get_range(f"checkpoints/{info.id}.manifest", 0, 1 << 20))
    raw_store = S3Storage(BUCKET, f"raw-{n}", options)._store
    started = time.perf_counter()
    obstore.put(raw_store, "data", iter([data]), chunk_size=amber.storage._s3.PART_SIZE, max_concurrency=8)
    obstore.put(raw_store, "manifest", head, mode="create")
    raw_put_s = time.perf_counter() - started
    started = time.perf_counter()
    obstore.get(raw_store, "data").bytes()
    obstore.get(raw_store, "manifest").bytes()
    raw_get_s = time.perf_counter() - started
    transfer = _transfer(store, manifest, options, n)
    with tempfile.TemporaryDirectory() as tmp:  # the same save and load on a local disk
        local = amber.open_store(tmp, registry=workload.registry)
        started = time.perf_counter()
        local_info = local.save(state)
        local_save_s = time.perf_counter() - started
        started = time.perf_counter()
        local.load(local_info.id)
        local_load_s = time.perf_counter() - started
    return {
        "bytes": info.size,
        "save_s": save_s,
        "load_s": load_s,
        "raw_put_s": raw_put_s,
        "raw_get_s": raw_get_s,
        "local_save_s": local_save_s,
        "local_load_s": local_load_s,
        **transfer,
    }


def _transfer(store: amber.CheckpointStore, manifest: Any, options: dict[str, str], n: int) -> dict[str, float]:
    """The S3 path alone, without encoding or decoding: uploading an already written data
    file and committing it (what a fork checkpoint's parent does with the child's spool),
    and reading every segment as the reader does (one ranged get each)."""
    with tempfile.TemporaryDirectory() as tmp:
        spool = amber.storage.LocalStorage(tmp, fsync=False)
        spool.put(manifest.data, [store.storage.get_range(manifest.data, 0, manifest.data_size)])
        target = amber.open_store(f"s3://{BUCKET}/upload-{n}", storage_options=options, history=False)
        draft = amber.Manifest(**{f: getattr(manifest, f) for f in manifest.__struct_fields__})
        started = time.perf_counter()
        commit = Committer(target)
        commit.upload(draft, spool)
        commit.publish(draft)
        upload_s = time.perf_counter() - started
    started = time.perf_counter()
    for segment in manifest.segments:
        store.storage.get_range(manifest.data, segment.offset, segment.length)
    fetch_s = time.perf_counter() - started
    return {"upload_s": upload_s, "fetch_s": fetch_s}


def requests(endpoint: str, state: Any) -> dict[str, int]:
    """Storage calls of one save and one load (each call is one request, or one per part)."""
    storage = Counting(amber.open_store(f"s3://{BUCKET}/counted", storage_options=_options(endpoint)).storage)
    store = amber.CheckpointStore(storage, registry=workload.registry)
    info = store.save(state)
    saved = dict(storage.calls)
    storage.calls.clear()
    store.load(info.id)
    loaded = dict(storage.calls)
    leased = amber.CheckpointStore(storage, registry=workload.registry)
    leased.acquire_lease()
    storage.calls.clear()
    leased.save(state)
    with_lease = dict(storage.calls)
    leased.release_lease()
    return {
        "save": sum(saved.values()),
        "load": sum(loaded.values()),
        "save with a lease": sum(with_lease.values()),
        "fleet epoch, 2 workers": fleet_requests(endpoint),
    } | {f"load {k}": v for k, v in loaded.items()}


def fleet_requests(endpoint: str) -> int:
    """Storage calls of one epoch of a two-worker fleet (both workers; small shards)."""
    storage = Counting(amber.open_store(f"s3://{BUCKET}/fleet", storage_options=_options(endpoint)).storage)
    fleet = amber.Fleet(storage, 16, registry=workload.registry, history=False)
    workers = [fleet.join(i, 2) for i in range(2)]
    tables = [{"t": amber.Table({k: k for k in range(100) if w.owns(k)})} for w in workers]
    storage.calls.clear()
    pairs = zip(workers, tables, strict=True)
    threads = [threading.Thread(target=w.checkpoint, args=(t,), kwargs={"epoch": 1}) for w, t in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    calls = sum(storage.calls.values())
    for w in workers:
        w.leave()
    return calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    state = workload.build(args.accounts, max(args.accounts // 100, 10))
    with moto_server() as endpoint:
        runs = [one_run(endpoint, state, n) for n in range(args.runs)]
        calls = requests(endpoint, state)
    r: dict[str, Any] = {"accounts": args.accounts, "runs": args.runs, "python": sys.version.split()[0]}
    r.update({k: statistics.median(run[k] for run in runs) for k in runs[0]})
    r["requests"] = calls
    report(r)


def report(r: dict[str, Any]) -> None:
    mb = r["bytes"] / 1e6
    print(f"\nstandard workload: {r['accounts']:,} accounts, {mb:.1f} MB stored, median of {r['runs']} runs\n")
    print("| measure | amber | raw obstore, same bytes | ratio (throughput) | target |\n|---|---|---|---|---|")
    for name, ours, raw in (("save", "save_s", "raw_put_s"), ("load", "load_s", "raw_get_s")):
        ratio = r[raw] / r[ours]
        print(
            f"| {name} | {r[ours]:.3f} s ({mb / r[ours]:.0f} MB/s) | {r[raw]:.3f} s ({mb / r[raw]:.0f} MB/s) | "
            f"{ratio:.2f} | ≥ 0.70 |"
        )
    for name, ours, raw in (("upload + commit", "upload_s", "raw_put_s"), ("segment reads", "fetch_s", "raw_get_s")):
        print(f"| {name}, S3 path alone | {r[ours]:.3f} s | {r[raw]:.3f} s | {r[raw] / r[ours]:.2f} | - |")
    for name in ("save", "load"):
        local, s3 = r[f"local_{name}_s"], r[f"{name}_s"]
        print(
            f"| {name}, amber on a local disk (fsync) | {local:.3f} s | S3 adds {s3 - local:+.3f} s | "
            f"{local / s3:.2f} | - |"
        )
    print(f"\nrequests (storage calls): {r['requests']}")
    workload.save_results("s3", r)


if __name__ == "__main__":
    main()
