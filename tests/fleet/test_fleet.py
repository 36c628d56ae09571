"""Fleets: sharded checkpoints across workers, all or nothing, fenced, and rescaled on restore."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import amber
from amber._cli import cli
from tests.support.fleet_worker import KEY_GROUPS, KEYS, Item, registry


def fleet_at(where: Path | str) -> amber.Fleet:
    return amber.open_fleet(where, key_groups=KEY_GROUPS, registry=registry, fsync=False)


def fill(worker: amber.FleetWorker, tables: dict[str, amber.Table[Any, Any]], epoch: int) -> None:
    items = tables.setdefault("items", amber.Table())
    for key in range(KEYS):
        if worker.owns(key):
            items[key] = Item(key, epoch, "x" * (key % 50))


def run_epoch(
    workers: list[amber.FleetWorker], states: list[dict[str, Any]], epoch: int, *, skip: int = -1, timeout: float = 10
) -> list[Any]:
    """Every worker (but ``skip``) checkpoints ``epoch`` in its own thread; their outcomes."""
    outcomes: list[Any] = [None] * len(workers)

    def one(i: int) -> None:
        fill(workers[i], states[i], epoch)
        try:
            outcomes[i] = workers[i].checkpoint(states[i], epoch=epoch, timeout=timeout)
        except amber.AmberError as e:
            outcomes[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(workers)) if i != skip]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def check_partition(fleet: amber.Fleet, workers: int, epoch: int) -> None:
    """Restored into ``workers`` workers, each gets exactly its keys, all of them at ``epoch``."""
    seen: set[int] = set()
    for w in range(workers):
        tables, restored = fleet.load(w, workers)
        keys = set(tables["items"])
        assert restored == epoch
        assert all(fleet.worker_for(k, workers) == w for k in keys), "a key went to a worker that does not own it"
        assert not keys & seen
        seen |= keys
        assert {item.epoch for item in tables["items"].values()} == {epoch}
    assert seen == set(range(KEYS))


def test_three_workers_commit_epochs_that_restore_into_any_number_of_workers(tmp_path: Path) -> None:
    fleet = fleet_at(tmp_path)
    workers = [fleet.join(i, 3) for i in range(3)]
    states: list[dict[str, Any]] = [w.restore() for w in workers]
    for epoch in (1, 2, 3):
        outcomes = run_epoch(workers, states, epoch)
        assert all(isinstance(o, amber.FleetCheckpoint) and o.epoch == epoch for o in outcomes), outcomes
    assert [o.kind for o in outcomes] == ["delta"] * 3  # shards after the first are deltas
    decision = fleet.committed()
    assert decision is not None and decision.epoch == 3 and [s.worker for s in decision.shards] == [0, 1, 2]
    for m in (1, 2, 3, 5, KEY_GROUPS):
        check_partition(fleet, m, 3)
    for w in workers:
        w.leave()


def test_a_worker_that_does_not_vote_aborts_the_epoch_for_all(tmp_path: Path) -> None:
    fleet = fleet_at(tmp_path)
    workers = [fleet.join(i, 3) for i in range(3)]
    states: list[dict[str, Any]] = [{} for _ in workers]
    run_epoch(workers, states, 1)
    outcomes = run_epoch(workers, states, 2, skip=1, timeout=0.5)
    for o in (outcomes[0], outcomes[2]):
        assert isinstance(o, amber.FleetCheckpointAbortedError) and o.epoch == 2 and o.missing == (1,)
        assert "worker 1 did not vote in time" in str(o)
    assert fleet.committed() is not None and fleet.committed().epoch == 1  # type: ignore[union-attr]
    check_partition(fleet, 3, 1)
    with pytest.raises(amber.FleetCheckpointAbortedError, match="decided already"):
        workers[1].checkpoint(states[1], epoch=2)  # the straggler is told, not let in
    # The aborted epoch's changes were given back: the next epoch commits them, as deltas.
    outcomes = run_epoch(workers, states, 3)
    assert all(isinstance(o, amber.FleetCheckpoint) for o in outcomes), outcomes
    check_partition(fleet, 2, 3)
    for w in workers:
        w.leave()


def test_the_same_layout_restores_from_its_own_shard_and_goes_on_with_deltas(tmp_path: Path) -> None:
    fleet = fleet_at(tmp_path)
    workers = [fleet.join(i, 2) for i in range(2)]
    states: list[dict[str, Any]] = [{} for _ in workers]
    run_epoch(workers, states, 1)
    for w in workers:
        w.leave()
    again = [fleet.join(i, 2) for i in range(2)]
    states = [w.restore() for w in again]
    assert [w.epoch for w in again] == [1, 1]
    assert [o.kind for o in run_epoch(again, states, 2)] == ["delta", "delta"]
    for w in again:
        w.leave()
    rescaled = [fleet.join(i, 3) for i in range(3)]  # the leases of workers 0 and 1 are free
    states = [w.restore() for w in rescaled]
    assert [o.kind for o in run_epoch(rescaled, states, 3)] == ["full"] * 3  # new layout: full shards
    check_partition(fleet, 4, 3)


def test_keys_of_other_workers_groups_are_refused(tmp_path: Path) -> None:
    fleet = fleet_at(tmp_path)
    worker = fleet.join(0, 2)
    stranger = next(k for k in range(100) if not worker.owns(k))
    tables = {"items": amber.Table({stranger: Item(stranger, 1, "")})}
    with pytest.raises(amber.SerializationError, match=rf"key {stranger} of key group \d+, outside worker 0"):
        worker.checkpoint(tables, epoch=1)
    assert fleet.decisions() == [] and worker.store.ids() == []
    with pytest.raises(TypeError, match="mapping of names to amber.Table"):
        worker.checkpoint({"items": {}}, epoch=1)  # type: ignore[dict-item]


def test_a_worker_that_fails_to_write_its_shard_aborts_the_epoch_at_once(tmp_path: Path) -> None:
    fleet = fleet_at(tmp_path)
    workers = [fleet.join(i, 2) for i in range(2)]
    states: list[dict[str, Any]] = [{}, {"items": amber.Table(), "bad": amber.Table()}]
    key = next(k for k in range(100) if workers[1].owns(k))
    states[1]["bad"][key] = object()  # cannot be saved
    outcomes = run_epoch(workers, states, 1, timeout=60)
    assert isinstance(outcomes[1], amber.SerializationError)
    assert isinstance(outcomes[0], amber.FleetCheckpointAbortedError)
    assert "worker 1 failed: SerializationError" in str(outcomes[0])


def test_a_worker_joining_an_epoch_already_aborted_is_told_why(tmp_path: Path) -> None:
    """CI (a loaded machine): worker 0 came to the epoch after worker 1 had failed and aborted
    it, and heard only "it is decided already", not why."""
    fleet = fleet_at(tmp_path)
    workers = [fleet.join(i, 2) for i in range(2)]
    bad: amber.Table[int, Any] = amber.Table()
    bad[next(k for k in range(100) if workers[1].owns(k))] = object()  # cannot be saved
    with pytest.raises(amber.SerializationError):
        workers[1].checkpoint({"bad": bad}, epoch=1)
    with pytest.raises(
        amber.FleetCheckpointAbortedError, match=r"decided already \(worker 1 failed: SerializationError"
    ):
        workers[0].checkpoint({"items": amber.Table()}, epoch=1)


def test_a_worker_slot_has_one_holder_and_a_taken_over_one_is_fenced(tmp_path: Path) -> None:
    fleet = fleet_at(tmp_path)
    old = fleet.join(0, 1, lease_seconds=0.2)
    old.lease._stop.set()  # its host stops: no more renewals
    with pytest.raises(amber.LeaseHeldError):
        fleet_at(tmp_path).join(0, 1)
    new = fleet_at(tmp_path).join(0, 1, wait=5)
    assert new.lease.token == old.lease.token + 1
    with pytest.raises(amber.FencedError, match="taken over"):
        old.checkpoint({"items": amber.Table()}, epoch=1)
    assert isinstance(new.checkpoint({"items": amber.Table()}, epoch=1), amber.FleetCheckpoint)
    assert fleet.decisions()[0].shards[0].token == new.lease.token


def test_a_vote_cast_after_a_takeover_aborts_its_epoch(tmp_path: Path) -> None:
    """The old holder committed its shard, then stopped; it votes after its replacement
    took the lease: the epoch must not commit a shard of a writer that lost its slot."""
    fleet = fleet_at(tmp_path)
    old = fleet.join(0, 1, lease_seconds=0.2)
    old.lease._stop.set()
    replacement: list[amber.FleetWorker] = []
    vote = old.ballot.vote

    def vote_after_a_takeover(epoch: int, checkpoint: str) -> None:
        replacement.append(fleet_at(tmp_path).join(0, 1, wait=5))
        vote(epoch, checkpoint)

    old.ballot.vote = vote_after_a_takeover  # type: ignore[method-assign,assignment]
    with pytest.raises(amber.FleetCheckpointAbortedError, match="voted with lease token 1, but token 2 stands"):
        old.checkpoint({"items": amber.Table()}, epoch=1)
    assert fleet.committed() is None
    assert replacement[0].checkpoint({"items": amber.Table()}, epoch=2).epoch == 2
    with pytest.raises(amber.FencedError):
        old.checkpoint({"items": amber.Table()}, epoch=3)


def test_a_worker_is_never_told_of_a_commit_without_its_shard(tmp_path: Path) -> None:
    """During a scale-up the old fleet commits the epoch the new worker is voting in."""
    fleet = fleet_at(tmp_path)
    old, new = fleet.join(0, 1), fleet.join(1, 2)
    vote = new.ballot.vote

    def vote_then_old_fleet_commits(epoch: int, checkpoint: str) -> Any:
        cast = vote(epoch, checkpoint)
        old.checkpoint({"items": amber.Table()}, epoch=epoch)
        return cast

    new.ballot.vote = vote_then_old_fleet_commits  # type: ignore[method-assign]
    with pytest.raises(amber.FleetCheckpointAbortedError, match="committed without this worker's shard"):
        new.checkpoint({"items": amber.Table()}, epoch=7)
    assert new.epoch == 0


def test_a_retry_after_voting_does_not_pass_for_the_first_try(tmp_path: Path) -> None:
    fleet = fleet_at(tmp_path)
    worker = fleet.join(0, 1)
    decide = worker.ballot.decide
    failures = iter([amber.StoreError("the connection dropped")])

    def flaky(epoch: int, deadline: float) -> Any:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return decide(epoch, deadline)

    worker.ballot.decide = flaky  # type: ignore[method-assign]
    items = amber.Table({k: Item(k, 1, "first try") for k in range(KEYS) if worker.owns(k)})
    with pytest.raises(amber.StoreError):
        worker.checkpoint({"items": items}, epoch=1)  # voted, then failed
    items[0] = Item(0, 1, "second try")
    first_try = worker.store.ids()[-1]
    again = worker.checkpoint({"items": items}, epoch=1)  # the epoch is decided with the first try's shard
    assert again.epoch == 1 and again.checkpoint == first_try and worker.epoch == 1
    assert fleet.load(0, 1)[0]["items"][0].payload == "first try"
    done = worker.checkpoint({"items": items}, epoch=2)
    assert done.kind == "full" and fleet.load(0, 1)[0]["items"][0].payload == "second try"


def test_a_retry_of_an_epoch_committed_meanwhile_reports_its_shard(tmp_path: Path) -> None:
    fleet = fleet_at(tmp_path)
    workers = [fleet.join(i, 2) for i in range(2)]
    decide = workers[0].ballot.decide

    def fail_once(epoch: int, deadline: float) -> Any:
        workers[0].ballot.decide = decide  # type: ignore[method-assign]
        raise amber.StoreError("the connection dropped")

    workers[0].ballot.decide = fail_once  # type: ignore[method-assign]
    outcomes = run_epoch(workers, [{}, {}], 1)
    assert isinstance(outcomes[0], amber.StoreError) and isinstance(outcomes[1], amber.FleetCheckpoint)
    again = workers[0].checkpoint({"items": amber.Table()}, epoch=1)
    assert again.checkpoint == fleet.committed(1).shards[0].checkpoint  # type: ignore[union-attr]


def test_collect_spares_shards_of_epochs_decided_while_it_ran(tmp_path: Path) -> None:
    fleet = fleet_at(tmp_path)
    workers = [fleet.join(i, 2) for i in range(2)]
    states: list[dict[str, Any]] = [{}, {}]
    for epoch in (1, 2, 3):
        run_epoch(workers, states, epoch)
    listed = fleet.decisions()  # what a collection running now saw
    run_epoch(workers, states, 4)
    run_epoch(workers, states, 5, skip=1, timeout=0.2)  # aborted, with worker 0's shard written
    fleet.decisions = lambda *_: listed  # type: ignore[method-assign]
    fleet.collect(keep_last=1)
    del fleet.decisions
    check_partition(fleet, 2, 4)


def test_collect_after_a_scale_down_and_up_spares_the_returning_workers_shards(tmp_path: Path) -> None:
    fleet = fleet_at(tmp_path)
    pair = [fleet.join(i, 2) for i in range(2)]
    states: list[dict[str, Any]] = [{}, {}]
    for epoch in (1, 2):
        run_epoch(pair, states, epoch)
    for w in pair:
        w.leave()
    single = fleet.join(0, 1)
    solo: list[dict[str, Any]] = [single.restore()]
    for epoch in (3, 4):
        run_epoch([single], solo, epoch)
    single.leave()
    listed = fleet.decisions()
    pair = [fleet.join(i, 2) for i in range(2)]
    states = [w.restore() for w in pair]
    run_epoch(pair, states, 5)
    run_epoch(pair, states, 6, skip=0, timeout=0.2)  # aborted: worker 1's shard written
    fleet.decisions = lambda *_: listed  # type: ignore[method-assign]
    assert fleet.collect(keep_last=2) == [1, 2]
    del fleet.decisions
    check_partition(fleet, 3, 5)


def test_a_worker_that_left_commits_nothing(tmp_path: Path) -> None:
    fleet = fleet_at(tmp_path)
    worker = fleet.join(0, 1)
    worker.checkpoint({"items": amber.Table()}, epoch=1)
    worker.leave()
    with pytest.raises(amber.FencedError, match="released"):
        worker.checkpoint({"items": amber.Table()}, epoch=2)
    assert [d.epoch for d in fleet.decisions()] == [1]


def test_the_number_of_key_groups_never_changes(tmp_path: Path) -> None:
    fleet_at(tmp_path)
    with pytest.raises(ValueError, match="has 32 key groups, not 64"):
        amber.open_fleet(tmp_path, key_groups=64)
    with pytest.raises(ValueError, match="workers <= key groups"):
        fleet_at(tmp_path).join(0, KEY_GROUPS + 1)


def test_a_damaged_shard_or_decision_is_a_clear_error(tmp_path: Path) -> None:
    fleet = fleet_at(tmp_path)
    workers = [fleet.join(i, 2) for i in range(2)]
    run_epoch(workers, [{}, {}], 1)
    decision = fleet.committed()
    assert decision is not None
    shard = tmp_path / "workers" / "1" / "checkpoints" / f"{decision.shards[1].checkpoint}.manifest"
    shard.write_bytes(shard.read_bytes().replace(b'"golden"', b'"x"') + b"\n")
    with pytest.raises(amber.CorruptCheckpointError, match="epoch 1 worker 1: shard: expected manifest digest"):
        fleet.load(0, 1)
    (tmp_path / "epochs" / "000000000001.decision").write_bytes(b"[1, 2")
    with pytest.raises(amber.CorruptCheckpointError, match="epoch 1: decision"):
        fleet.decision(1)
    assert fleet.committed() is None  # a damaged decision is passed over (with a warning)
    shown = CliRunner().invoke(cli, ["fleet", "status", str(tmp_path)])
    assert shown.exit_code == 0 and "epoch      1  UNREADABLE checkpoint epoch 1: decision" in shown.output


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: {**d, "shards": []},
        lambda d: {**d, "shards": d["shards"][1:]},
        lambda d: {**d, "shards": [{**d["shards"][0], "checkpoint": "../../fleet"}, d["shards"][1]]},
        lambda d: {**d, "shards": [{**d["shards"][0], "groups": [0, 31]}, d["shards"][1]]},
        lambda d: {**d, "key_groups": 8},
        lambda d: {**d, "epoch": 2},
        lambda d: {**d, "outcome": "abort"},
    ],
)
def test_a_hostile_decision_is_refused_not_half_read(tmp_path: Path, damage: Callable[[Any], Any]) -> None:
    fleet = fleet_at(tmp_path)
    workers = [fleet.join(i, 2) for i in range(2)]
    run_epoch(workers, [{}, {}], 1)
    path = tmp_path / "epochs" / "000000000001.decision"
    path.write_bytes(json.dumps(damage(json.loads(path.read_bytes()))).encode())
    with pytest.raises(amber.CorruptCheckpointError, match="epoch 1: decision"):
        fleet.decision(1)
    assert fleet.load(0, 1) == ({}, 0)


def test_collect_keeps_the_newest_epochs_and_the_shards_they_need(tmp_path: Path) -> None:
    fleet = fleet_at(tmp_path)
    workers = [fleet.join(i, 2) for i in range(2)]
    states: list[dict[str, Any]] = [{} for _ in workers]
    for epoch in range(1, 6):
        run_epoch(workers, states, epoch)
    assert fleet.collect(keep_last=2) == [1, 2, 3]
    assert [d.epoch for d in fleet.decisions()] == [4, 5]
    check_partition(fleet, 3, 5)
    tables, _ = fleet.load(0, 1, epoch=4)  # a kept epoch's delta chain is intact
    assert {i.epoch for i in tables["items"].values()} == {4}


STORABLE_KEYS = st.one_of(
    st.integers(-(2**63), 2**64 - 1), st.text(max_size=8), st.tuples(st.integers(0, 9), st.text())
)


@settings(max_examples=15, deadline=None)
@given(st.sets(STORABLE_KEYS))
def test_worker_for_and_owns_agree_on_any_key(keys: set[Any]) -> None:
    fleet = amber.Fleet(amber.storage.MemoryStorage(), KEY_GROUPS)
    for workers in (1, 3, 7):
        joined = [fleet.join(i, workers, lease_seconds=60) for i in range(workers)]
        for key in keys:
            owners = [w.worker for w in joined if w.owns(key)]
            assert owners == [fleet.worker_for(key, workers)]
        for w in joined:
            w.leave()
    with pytest.raises(amber.SerializationError, match="cannot be a table key"):
        amber.key_group(2**64, KEY_GROUPS)


# --- several real worker processes on the S3 server, one killed with SIGKILL -------------------


def start_workers(url: str, workers: int, first: int, last: int, extra: Callable[[int], list[str]]) -> list[Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "tests.support.fleet_worker", url]
    return [
        subprocess.Popen(
            [*command, str(w), str(workers), str(first), str(last), *extra(w)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for w in range(workers)
    ]


def finish(processes: list[Any]) -> list[tuple[int, list[dict[str, Any]], str]]:
    results = []
    for p in processes:
        out, err = p.communicate(timeout=120)
        results.append((p.returncode, [json.loads(line) for line in out.splitlines()], err))
    return results


@pytest.mark.parametrize("die_in", ["data", "vote"])
def test_a_worker_killed_mid_checkpoint_aborts_it_and_the_fleet_restores_and_rescales(s3_url: str, die_in: str) -> None:
    # Three workers commit epochs 1 and 2; in epoch 3 worker 1 is killed with SIGKILL, in the
    # middle of uploading its shard or with its shard committed but before its vote.
    die = ["--die-at", "3", "--die-in", die_in, "--timeout", "4"]
    results = finish(start_workers(s3_url, 3, 1, 4, lambda w: die if w == 1 else ["--timeout", "4"]))
    assert results[1][0] == -9, results[1]
    for code, lines, err in (results[0], results[2]):
        assert code == 0, err
        assert [line.get("outcome") for line in lines[1:]] == ["commit", "commit", "abort"]
        assert lines[-1] == {"epoch": 3, "outcome": "abort", "missing": [1]}
    fleet = fleet_at(s3_url)
    assert [(d.epoch, d.outcome) for d in fleet.decisions()] == [(1, "commit"), (2, "commit"), (3, "abort")]
    check_partition(fleet, 3, 2)
    # A new generation of two workers (worker 1's dead holder's lease expires first) takes
    # over from epoch 2, each restoring exactly its keys, and commits epoch 4.
    results = finish(start_workers(s3_url, 2, 4, 4, lambda w: []))
    for code, lines, err in results:
        assert code == 0, err
        assert lines[0]["restored"] == 2 and lines[1] == {"epoch": 4, "outcome": "commit", "kind": "full"}
    assert sorted(results[0][1][0]["keys"] + results[1][1][0]["keys"]) == list(range(KEYS))
    check_partition(fleet, 5, 4)


def test_the_cli_shows_a_fleets_epochs_and_workers_and_collects_it(tmp_path: Path) -> None:
    fleet = fleet_at(tmp_path)
    workers = [fleet.join(i, 2) for i in range(2)]
    states: list[dict[str, Any]] = [{}, {}]
    for epoch in (1, 2, 3):
        run_epoch(workers, states, epoch)
    run_epoch(workers, states, 4, skip=0, timeout=0.2)
    runner = CliRunner()
    shown = runner.invoke(cli, ["fleet", "status", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert "32 key groups" in shown.output and "worker 1: held by" in shown.output
    assert "epoch      4  ABORTED" in shown.output and "worker 0 did not vote in time" in shown.output
    status = json.loads(runner.invoke(cli, ["fleet", "status", str(tmp_path), "--json"]).output)
    assert [(e["epoch"], e["outcome"]) for e in status["epochs"]] == [
        (1, "commit"),
        (2, "commit"),
        (3, "commit"),
        (4, "abort"),
    ]
    assert [w["token"] for w in status["workers"]] == [1, 1]
    collected = runner.invoke(cli, ["fleet", "gc", str(tmp_path), "--keep-last", "1"])
    assert collected.exit_code == 0 and "deleted 2 epoch(s): 1, 2" in collected.output
    check_partition(fleet, 3, 3)
    missing = runner.invoke(cli, ["fleet", "status", str(tmp_path / "none")])
    assert missing.exit_code == 1 and "no fleet at" in missing.output


def test_a_decision_cannot_pass_one_epochs_or_workers_shard_for_another(tmp_path: Path) -> None:
    fleet = fleet_at(tmp_path)
    workers = [fleet.join(i, 2) for i in range(2)]
    states: list[dict[str, Any]] = [{}, {}]
    run_epoch(workers, states, 1)
    run_epoch(workers, states, 2)
    path = tmp_path / "epochs" / "000000000002.decision"
    decision = json.loads(path.read_bytes())
    first = fleet.decision(1)
    assert first is not None
    decision["shards"][0] = {
        **decision["shards"][0],
        **{k: getattr(first.shards[0], k) for k in ("checkpoint", "manifest")},
    }
    path.write_bytes(json.dumps(decision).encode())  # epoch 2 naming worker 0's epoch-1 shard
    with pytest.raises(amber.CorruptCheckpointError, match="a shard written for"):
        fleet.load(0, 2, epoch=2)


def test_a_workers_poll_interval_is_the_one_its_round_uses(tmp_path: Path) -> None:
    worker = fleet_at(tmp_path).join(0, 1)
    assert worker.poll == 0.05
    worker.poll = 0.001
    assert worker.ballot.poll == 0.001, "set on the worker, used by its ballot"
