"""The fleet's rules on literal values: no storage, no processes (alembic tests its
revision graph the same way). Which votes make a fleet, which decisions are sound."""

from __future__ import annotations

import pytest

from amber._fleet._keys import groups_of, key_group
from amber._fleet._records import Decision, Vote, decision_problem, make_a_fleet

DIGEST = "0" * 32


def votes_of(workers: int, key_groups: int) -> list[Vote]:
    return [
        Vote(w, workers, groups_of(w, workers, key_groups), f"{w + 1:012d}", DIGEST, token=1) for w in range(workers)
    ]


def test_one_vote_per_worker_for_its_own_groups_makes_a_fleet() -> None:
    assert make_a_fleet(votes_of(3, 8), 3, 8)


def test_votes_of_another_fleet_size_do_not_make_this_fleet() -> None:
    assert not make_a_fleet(votes_of(2, 8), 3, 8)
    assert not make_a_fleet(votes_of(3, 8)[:2], 3, 8), "a worker missing"


def test_a_vote_claiming_another_workers_groups_is_refused() -> None:
    votes = votes_of(2, 8)
    votes[1] = Vote(1, 2, (3, 8), votes[1].checkpoint, DIGEST, 1)
    assert not make_a_fleet(votes, 2, 8)


def commit(votes: list[Vote], epoch: int = 5, key_groups: int = 8) -> Decision:
    return Decision("amber.fleet.epoch", epoch, "commit", "t", len(votes), key_groups, tuple(votes))


def test_a_sound_commit_has_no_problem() -> None:
    assert decision_problem(commit(votes_of(2, 8)), 5, 8) is None


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        (commit(votes_of(2, 8), epoch=6), "epoch 5"),
        (commit(votes_of(2, 8), key_groups=16), "8 key groups"),
        (commit(votes_of(2, 8)[::-1]), "worker 0's shard"),
        (Decision("amber.fleet.epoch", 5, "commit", "t", 2, 8, tuple(votes_of(2, 8)[:1])), "worker 1's shard"),
        (Decision("amber.fleet.epoch", 5, "abort", "t", 2, 8, tuple(votes_of(2, 8))), "no shards in an aborted"),
    ],
)
def test_an_unsound_decision_says_what_was_expected(decision: Decision, expected: str) -> None:
    problem = decision_problem(decision, 5, 8)
    assert problem is not None and expected in problem[0]


def test_a_forged_checkpoint_id_in_a_shard_is_a_problem() -> None:
    votes = votes_of(1, 8)
    votes[0] = Vote(0, 1, (0, 8), "../../etc/passwd", DIGEST, 1)
    assert decision_problem(commit(votes), 5, 8) == ("a checkpoint id, a manifest digest and a token", repr(votes[0]))


def test_every_key_group_belongs_to_exactly_one_worker() -> None:
    for workers in range(1, 9):
        owned = [g for w in range(workers) for g in range(*groups_of(w, workers, 8))]
        assert owned == list(range(8))


def test_key_groups_are_stable_across_processes() -> None:
    """xxh3-64 of the msgpack encoding, pinned: stores written before a change of hash or
    encoding would route their keys to other workers after it."""
    assert [key_group(k, 128) for k in (0, 1, "a", b"a", (1, "x"))] == [91, 107, 104, 88, 124]
    assert key_group(1, 1) == 0
