"""Deltas that check themselves: a record changed in place without ``touch()`` is found by
the manager, written at once, and named in a warning, inline and in a forked child, and a
real SIGKILL after such a checkpoint loses nothing."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Any

import pytest

import amber
from amber.testing import assert_restores_to, run_in_child

registry = amber.Registry()


@registry.record("v.Customer", version=1)
class Customer(amber.Record):
    name: str


@registry.record("v.Session", version=1)
class Session(amber.Record):
    user: str
    hits: int
    owner: Customer | None = None


class Sessions:
    name = "sessions"

    def __init__(self) -> None:
        self.customers: amber.Table[int, Customer] = amber.Table()
        self.by_user: amber.Table[str, Session] = amber.Table()

    def snapshot(self) -> Any:
        return {"customers": self.customers, "by_user": self.by_user}

    def restore(self, state: Any) -> None:
        self.customers, self.by_user = state["customers"], state["by_user"]


def filled() -> Sessions:
    s = Sessions()
    for c in range(10):
        s.customers[c] = Customer(f"c{c}")
    for i in range(200):
        s.by_user[f"u{i}"] = Session(f"u{i}", 0, s.customers[i % 10])
    return s


def manager(path: Path, participant: Sessions, **options: Any) -> amber.Manager:
    return amber.Manager(amber.open_store(path, registry=registry), [participant], **options)


@pytest.mark.parametrize("capture", ["inline", "fork"])
def test_a_forgotten_touch_is_written_at_once_and_named(
    tmp_path: Path, capture: str, caplog: pytest.LogCaptureFixture
) -> None:
    live = filled()
    m = manager(tmp_path, live, capture=capture, verify_every=1)
    m.restore()
    m.checkpoint()
    for key in ("u3", "u42", "u150"):
        live.by_user[key].hits += 1  # changed in place, never touched
    live.customers[1].name = "renamed"  # a shared record, changed in place and touched: no false alarm
    live.customers.touch(1)
    with caplog.at_level(logging.WARNING, logger="amber"):
        result = m.checkpoint()
    assert result.kind == "delta"
    (said,) = [r.getMessage() for r in caplog.records if "without touch()" in r.getMessage()]
    assert "['sessions']['by_user']: 3 key(s) 'u150', 'u3', 'u42'" in said or all(
        k in said for k in ("u3", "u42", "u150")
    )
    assert "'customers'" not in said
    m.close(final=False)
    assert_restores_to(amber.open_store(tmp_path, registry=registry), {"sessions": live.snapshot()})


def test_without_the_check_a_delta_misses_it_and_the_test_kit_says_so(tmp_path: Path) -> None:
    live = filled()
    m = manager(tmp_path, live, verify_every=0)
    m.restore()
    m.checkpoint()
    live.by_user["u7"].hits = 99
    m.checkpoint()
    m.close(final=False)
    with pytest.raises(AssertionError, match="1 key\\(s\\) holding other values: 'u7'"):
        assert_restores_to(amber.open_store(tmp_path, registry=registry), {"sessions": live.snapshot()})


def test_an_inline_manager_checks_every_tenth_checkpoint_by_default(tmp_path: Path) -> None:
    live = filled()
    m = manager(tmp_path, live, max_delta_ratio=100)  # deltas all along: no full checkpoint writes it
    m.restore()
    m.checkpoint()  # full (its new tables' baseline taken), the first of ten
    live.by_user["u1"].hits = 5
    for _ in range(8):  # eight deltas, unchecked
        m.checkpoint()
    assert amber.open_store(tmp_path, registry=registry).load()["sessions"]["by_user"]["u1"].hits == 0
    m.checkpoint()  # the 10th checkpoint: checked
    assert amber.open_store(tmp_path, registry=registry).load()["sessions"]["by_user"]["u1"].hits == 5
    m.close(final=False)


def test_a_service_that_forgets_touch_loses_nothing_to_a_sigkill(tmp_path: Path) -> None:
    """A real service process: fork capture, changes in place without touch(), a delta, then
    SIGKILL. The restart restores every change, and the service's log named the keys."""
    log_file = tmp_path / "service.log"

    def service() -> None:
        handler = logging.FileHandler(log_file)
        logging.getLogger("amber").addHandler(handler)
        live = Sessions()
        m = manager(tmp_path / "store", live, capture="fork")
        m.restore()
        for i in range(300):
            live.by_user[f"u{i}"] = Session(f"u{i}", 0)
        m.checkpoint()
        for i in range(0, 300, 7):
            live.by_user[f"u{i}"].hits = i  # the bug: no touch()
        m.checkpoint()
        handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    outcome = run_in_child(service)
    assert outcome.killed, outcome.error
    restarted = Sessions()
    manager(tmp_path / "store", restarted).restore()
    assert {k: s.hits for k, s in restarted.by_user.items() if s.hits} == {f"u{i}": i for i in range(7, 300, 7)}
    said = log_file.read_text()
    assert "entries changed in place without touch()" in said and "['sessions']['by_user']: 42 key(s)" in said


def test_verify_every_takes_a_whole_number(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="verify_every"):
        manager(tmp_path, Sessions(), verify_every=-1)


# --- found by the review: false alarms and checks that never came ------------------------------------


def missed_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "changed in place without touch()" in r.getMessage()]


def test_a_record_held_by_two_keys_and_touched_at_one_is_no_alarm(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    live = filled()
    shared = live.by_user["u1"]
    live.by_user["alias"] = shared
    m = manager(tmp_path, live, verify_every=1)
    m.restore()
    m.checkpoint()
    shared.hits = 5
    live.by_user.touch("u1")  # the docs: touching one key that holds it is enough
    with caplog.at_level(logging.WARNING, logger="amber"):
        m.checkpoint()
    assert missed_warnings(caplog) == []
    m.close(final=False)
    assert_restores_to(amber.open_store(tmp_path, registry=registry), {"sessions": live.snapshot()})


def test_keys_that_encode_alike_are_told_apart(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Odd:
        name = "odd"
        table: amber.Table[Any, int] = amber.Table({(1, 2): 1, frozenset({1, 2}): 2})

        def snapshot(self) -> Any:
            return self.table

        def restore(self, state: Any) -> None:
            self.table = state

    m = amber.Manager(amber.open_store(tmp_path), [Odd()], verify_every=1)
    m.restore()
    with caplog.at_level(logging.WARNING, logger="amber"):
        m.checkpoint()
        m.checkpoint()
    assert missed_warnings(caplog) == []
    m.close(final=False)


def test_a_table_added_after_the_baseline_is_checked_too(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    live = filled()
    m = manager(tmp_path, live, verify_every=3, max_delta_ratio=100)
    m.restore()
    m.checkpoint()
    live.customers = amber.Table({1: Customer("late")})  # a new table: written whole, its baseline taken then
    m.checkpoint()
    live.customers[1].name = "changed"  # never touched
    with caplog.at_level(logging.WARNING, logger="amber"):
        for _ in range(3):
            m.checkpoint()
    assert any("['sessions']['customers']: 1 key(s) 1" in w for w in missed_warnings(caplog))
    m.close(final=False)
    assert_restores_to(amber.open_store(tmp_path, registry=registry), {"sessions": live.snapshot()})


def test_close_checks_its_final_checkpoint(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    live = filled()
    m = manager(tmp_path, live, max_delta_ratio=100)  # inline: a check every 10th checkpoint
    m.restore()
    m.checkpoint()
    live.by_user["u9"].hits = 3
    with caplog.at_level(logging.WARNING, logger="amber"):
        m.close()  # the deploy's last checkpoint: no later check would find it
    assert missed_warnings(caplog)
    assert amber.open_store(tmp_path, registry=registry).load()["sessions"]["by_user"]["u9"].hits == 3


def test_a_check_that_aborts_still_says_so_and_the_next_checkpoint_writes_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    live = filled()
    m = manager(tmp_path, live, verify_every=1)
    m.restore()
    m.checkpoint()
    live.by_user["u2"].hits = 8
    live.invariants = lambda: ["not now"]  # type: ignore[attr-defined]
    with caplog.at_level(logging.WARNING, logger="amber"), pytest.raises(amber.CheckpointAbortedError):
        m.checkpoint()
    assert any("'u2'" in w for w in missed_warnings(caplog))
    del live.invariants  # type: ignore[attr-defined]
    m.checkpoint()
    m.close(final=False)
    assert amber.open_store(tmp_path, registry=registry).load()["sessions"]["by_user"]["u2"].hits == 8


def test_an_inline_manager_left_to_its_default_says_when_its_tables_are_too_big_to_check(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from amber._manager import _manager

    monkeypatch.setattr(_manager, "INLINE_CHECK_LIMIT", 100)  # filled() holds 210 entries
    live = filled()
    with caplog.at_level(logging.WARNING, logger="amber"):
        m = manager(tmp_path, live)
        m.restore()
        m.checkpoint()
        live.by_user["u4"].hits = 1
        for _ in range(10):
            m.checkpoint()
    said = [r.getMessage() for r in caplog.records if "would pause an inline service" in r.getMessage()]
    assert len(said) == 1 and missed_warnings(caplog) == []
    checked = manager(tmp_path / "explicit", filled(), verify_every=1)  # asked for: checked whatever the size
    checked.restore()
    checked.checkpoint()
    checked.close(final=False)
    m.close(final=False)
