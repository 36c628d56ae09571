"""Failing checkpoints are loud by default and visible in ``manager.health``: a service with no
logging configured sees one line on stderr per incident (and one when they succeed again),
never one per attempt; ``stop_after`` stops a service whose state is not being saved."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import amber

SERVICE = textwrap.dedent(
    """
    import sys, time, amber

    class Flaky:
        name = "flaky"
        def __init__(self, failures):
            self.failures = failures
        def snapshot(self):
            if self.failures:
                self.failures -= 1
                raise OSError("the disk is not there yet")
            return {"n": 1}
        def restore(self, state):
            pass

    failures, stop_after = int(sys.argv[2]), (int(sys.argv[3]) or None)
    participant = Flaky(failures)
    manager = amber.Manager(amber.open_store(sys.argv[1]), [participant], interval=0.01, stop_after=stop_after)
    with manager:
        deadline = time.monotonic() + 60
        while (participant.failures or not manager.health.ok) and time.monotonic() < deadline:
            time.sleep(0.01)
        health = manager.health
    print(health.ok, health.consecutive_failures, health.last_checkpoint is not None, flush=True)
    """
)


def run(tmp_path: Path, failures: int, stop_after: int = 0) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "service.py"
    script.write_text(SERVICE)
    store = tmp_path / "store"
    command = [sys.executable, str(script), str(store), str(failures), str(stop_after)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_failing_periodic_checkpoints_say_so_once_per_incident_without_any_logging_set_up(tmp_path: Path) -> None:
    done = run(tmp_path, failures=7)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    failing = [line for line in lines if "periodic checkpoints of" in line and "are failing" in line]
    again = [line for line in lines if "succeed again" in line]
    assert len(failing) == 1 and "the disk is not there yet" in failing[0], lines
    assert len(again) == 1 and "after 7 failed" in again[0], lines
    assert done.stdout.split() == ["True", "0", "True"]


def test_stop_after_stops_a_service_whose_state_is_not_saved(tmp_path: Path) -> None:
    done = run(tmp_path, failures=10**6, stop_after=3)
    assert "3 checkpoints failed in a row: stopping the service" in done.stderr
    assert done.returncode != 0 and "True" not in done.stdout


def test_health_counts_failures_and_the_last_error(tmp_path: Path) -> None:
    class Broken:
        name = "broken"
        fail = True

        def snapshot(self) -> object:
            if self.fail:
                raise ValueError("nope")
            return 1

        def restore(self, state: object) -> None:
            pass

    broken = Broken()
    manager = amber.Manager(amber.open_store(tmp_path), [broken])
    manager.restore()
    assert manager.health.ok and manager.health.last_success is None
    for _ in range(2):
        with pytest.raises(amber.CheckpointAbortedError):
            manager.checkpoint()
    health = manager.health
    assert (health.ok, health.consecutive_failures) == (False, 2) and "nope" in health.last_error
    broken.fail = False
    info = manager.checkpoint().info
    assert manager.health == amber.Health(
        True, 0, manager.health.last_success, info.id, health.last_failure, health.last_error
    )
    manager.close(final=False)
    with pytest.raises(ValueError, match="stop_after"):
        amber.Manager(amber.open_store(tmp_path), [broken], stop_after=0)


def test_a_failure_the_application_handled_does_not_hide_the_periodic_incident(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, time, amber

            class Broken:
                name = "broken"
                def snapshot(self):
                    raise OSError("no disk")
                def restore(self, state):
                    pass

            manager = amber.Manager(amber.open_store(sys.argv[1]), [Broken()], interval=0.01)
            manager.restore()
            try:
                manager.checkpoint()  # the application's own call: it sees the error itself
            except amber.CheckpointAbortedError:
                pass
            manager.start()
            while manager.health.consecutive_failures < 5:
                time.sleep(0.01)
            manager.close(final=False)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "s")], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.stderr.count("are failing") == 1, done.stderr
    assert "succeed again" not in done.stderr


def test_loud_warnings_obey_an_application_that_set_up_logging(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent(
            """
            import logging, amber
            from amber.events._loud import loud
            handler = logging.StreamHandler()
            handler.setLevel(logging.ERROR)  # the application wants errors only
            logging.getLogger().addHandler(handler)
            logging.getLogger().setLevel(logging.DEBUG)
            loud(logging.getLogger("amber.manager"), logging.WARNING, "a warning the application filtered out")
            """
        )
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "filtered out" not in done.stderr
