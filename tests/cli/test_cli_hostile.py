"""Every CLI command with hostile arguments and environments: never a traceback, never an
"internal error", at most one error line on stderr, and a documented exit status (0, 1, 2)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import amber
from amber._cli import cli
from tests.support.sample import Account, Customer, registry

# Text that breaks naive parsing: other scripts' digits, controls, separators, escapes.
_HOSTILE = st.sampled_from(["²", "①", "٣", "\uff13", "\n", "\r", "\x00", "\x1b[31m", " ", "-", "..", "/", "%", "'"])
_TEXT = st.lists(st.one_of(st.characters(exclude_characters=":\x00"), _HOSTILE), max_size=12).map("".join)
_IDS = st.one_of(st.sampled_from(["1", "2", "000000000002", "0", "999999999999", "9" * 13, "-1"]), _TEXT)
_DURATIONS = st.one_of(st.sampled_from(["0s", "1h", "90", "1e400s", "nan", "-1s", "٣s", "1_0m"]), _TEXT)
# Mostly none, so that most runs reach the command; never a NUL or a lone surrogate (no variable holds one).
_KEYS = st.one_of(
    *[st.none()] * 4,
    st.sampled_from(["", "short", "k" * 32, "k" * 32 + ",x", ","]),
    _TEXT.filter(lambda t: "\x00" not in t and t.isprintable() and t == t.encode("utf-8", "replace").decode()),
)


@pytest.fixture(scope="module")
def golden_store() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp()) / "store"
    store = amber.open_store(root, registry=registry)
    people = amber.Table({i: Customer(i, f"c{i}") for i in range(3)})
    accounts = amber.Table({i: Account(i, people[i % 3], i) for i in range(5)})
    state = {"people": people, "accounts": accounts}
    first = store.save(state)
    accounts[7] = Account(7, people[1], 7)
    store.save(state, parent=first.id)
    yield root
    shutil.rmtree(root.parent)


def _commands(store: str, other: str) -> st.SearchStrategy[list[str]]:
    """argv for every command, with hostile values where an operator types them."""
    named = st.sampled_from([store, other, f"file://{store}", "memory://", f"{store}/checkpoints", f"{store}/data"])
    where = st.one_of(named, _TEXT.map(lambda t: f"{other}/{t}"))
    return st.one_of(
        st.tuples(st.just("ls"), where).map(list),
        st.tuples(st.just("show"), where, _IDS).map(list),
        st.tuples(st.just("verify"), where, _IDS).map(list),
        st.tuples(st.just("verify"), where, st.just("--all")).map(list),
        st.tuples(st.just("dump"), where, _IDS).map(list),
        st.tuples(st.just("diff"), where, _IDS, _IDS).map(list),
        st.tuples(st.just("log"), where).map(list),
        st.tuples(st.just("lease"), where).map(list),
        st.tuples(st.just("rollback"), where, st.just("--to"), _IDS).map(list),
        st.tuples(st.just("release"), where, _IDS).map(list),
        st.tuples(st.just("gc"), where, st.just("--keep-last"), st.sampled_from(["1", "0", "-3", "x", "10"])).map(list),
        st.tuples(st.just("gc"), where, st.just("--keep-within"), _DURATIONS, st.just("--grace"), _DURATIONS).map(list),
        st.tuples(st.just("report"), where, st.just("--keep-within"), _DURATIONS).map(list),
        st.tuples(
            st.just("migrate"), where, st.just("--app"), st.sampled_from(["tests.support.sample:registry", "os", "x"])
        ).map(list),
        st.tuples(st.just("copy"), where, st.sampled_from([other + "/copy", store, "memory://"])).map(list),
        st.tuples(st.just("fleet"), st.just("status"), where).map(list),
        st.tuples(st.just("schema"), st.just("check"), st.just("--app"), _TEXT).map(list),
        st.tuples(st.just("schema"), st.just("lock"), st.just("--oldest"), _TEXT, st.just("--app"), _TEXT).map(list),
    )


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), keys=st.tuples(_KEYS, _KEYS), as_json=st.booleans())
def test_no_command_prints_a_traceback_or_more_than_one_error_line(
    golden_store: Path, tmp_path: Path, data: st.DataObject, keys: tuple[str | None, str | None], as_json: bool
) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as scratch:
        store = Path(scratch) / "store"
        shutil.copytree(golden_store, store)
        argv = data.draw(_commands(str(store), str(Path(scratch) / "elsewhere")))
        argv += ["--json"] if as_json and argv[0] not in {"fleet", "schema"} else []
        env = {"AMBER_SIGNING_KEY": keys[0], "AMBER_VERIFY_KEYS": keys[1]}
        result = CliRunner().invoke(cli, argv, env=env, catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), (argv, repr(result.exception))
    assert result.exit_code in {0, 1, 2}, (argv, result.exit_code)
    errors = [
        line for line in result.stderr.splitlines() if line.startswith(("amber: error", "amber: usage", '{"error":'))
    ]
    assert "Traceback" not in result.output and "internal error" not in result.stderr, (argv, result.stderr)
    assert len(errors) <= 1, (argv, result.stderr)
    # A failure is one error line, or (ls, verify --all, schema check) a report saying what is bad.
    assert result.exit_code == 0 or errors or result.stdout.strip(), (argv, result.stderr)
    assert all(line.startswith(("amber: ", '{"error":')) for line in result.stderr.splitlines()), (argv, result.stderr)
    if as_json and errors:  # --json: the error is JSON too, with the same status
        assert errors[0].startswith('{"error":') or argv[0] in {"fleet", "schema"}, (argv, result.stderr)
