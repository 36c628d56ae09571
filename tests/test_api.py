"""The public surface and the layering rules of the package."""

from __future__ import annotations

import inspect
import pickle
import re
import tomllib
from pathlib import Path

import pytest

import amber
import amber.errors

SRC = Path(amber.__file__).parent
ROOT = SRC.parent.parent


def test_every_error_is_in_one_tree_under_amber_error() -> None:
    for name in set(amber.errors.__all__) - {"SchemaProblem", "Violation"}:  # records, not errors
        error = getattr(amber.errors, name)
        assert issubclass(error, amber.AmberError), name
        assert getattr(amber, name) is error
    assert issubclass(amber.CheckpointNotFoundError, FileNotFoundError)
    assert issubclass(amber.StoreNotFoundError, FileNotFoundError)


SPECIAL_ARGUMENTS = {"problems": [], "violations": [], "failures": [("000000000001", "bad")], "missing": (2,)}


def _example(error: type[amber.AmberError]) -> amber.AmberError:
    """An instance of ``error``, each argument of its constructor a made-up value."""
    try:
        parameters = inspect.signature(error).parameters
    except ValueError:  # OSError's own constructor, which has no signature: a message
        return error("a message")
    positional, keywords = [], {}
    for name, parameter in parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        value = SPECIAL_ARGUMENTS.get(name, 7 if name in ("epoch", "token") else f"{name}-value")
        if parameter.kind is parameter.KEYWORD_ONLY:
            keywords[name] = value
        else:
            positional.append(value)
    return error(*positional, **keywords)


@pytest.mark.parametrize("name", sorted(set(amber.errors.__all__) - {"SchemaProblem", "Violation"}))
def test_every_error_survives_pickling_whole(name: str) -> None:
    """A Ray task's or a process pool's caller gets the error itself (Ray said only that it
    could not deserialize a FencedError: its constructor takes keyword-only arguments)."""
    error = _example(getattr(amber.errors, name))
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and copy.args == error.args and str(copy) == str(error)
    assert vars(copy) == vars(error)


def test_an_errors_amber_cause_survives_pickling_and_another_is_left_behind() -> None:
    fenced = amber.FencedError("taken over", lease="s3://b/p/leases/writer.json", token=2, holder="h")
    aborted = amber.CheckpointAbortedError("committing", None, f"FencedError: {fenced}")
    aborted.__cause__ = fenced
    copy = pickle.loads(pickle.dumps(aborted))
    assert isinstance(copy.__cause__, amber.FencedError) and copy.__cause__.token == 2
    aborted.__cause__ = OSError("the disk")
    assert pickle.loads(pickle.dumps(aborted)).__cause__ is None


def _contract_layers() -> list[list[str]]:
    """The import-linter layers of pyproject.toml, top first, as folder names."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    return [[name.strip().removeprefix("amber.") for name in layer.split("|")] for layer in layers]


def _documented_layers() -> list[list[str]]:
    """The folders of docs/architecture.md's layer table, top first, grouped by layer number."""
    section = (ROOT / "docs" / "architecture.md").read_text().split("## Layers")[1].split("\n## ")[0]
    rows = re.findall(r"^\| (\d+) \| (.+?) \|", section, flags=re.MULTILINE)
    grouped: dict[str, list[str]] = {}
    for number, cell in rows:
        grouped.setdefault(number, []).extend(re.findall(r"`([\w.]+)`", cell))
    return list(grouped.values())


def test_the_documented_layers_are_the_checked_ones() -> None:
    assert [sorted(layer) for layer in _documented_layers()] == [sorted(layer) for layer in _contract_layers()]


def test_every_module_and_folder_belongs_to_a_layer() -> None:
    named = {name for layer in _contract_layers() for name in layer}
    found = {p.stem if p.is_file() else p.name for p in SRC.iterdir() if not p.name.startswith(("__", "."))}
    found -= {"py"}  # py.typed
    assert found == named


def test_the_public_names_are_what_the_package_defines() -> None:
    """Every name ``amber`` binds that is not private or a module it imports is exported, and
    nothing else: a name added to the package without its ``__all__`` entry fails."""
    defined = {n for n, v in vars(amber).items() if not n.startswith("_") and not inspect.ismodule(v)}
    modules = {n for n, v in vars(amber).items() if inspect.ismodule(v)}
    assert defined == set(amber.__all__) - modules - {"__version__"}


def test_the_old_name_of_unquarantine_still_works_and_says_it_is_deprecated(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path)
    store.save({"v": 1})
    store.quarantine(1, "a test")
    with pytest.warns(DeprecationWarning, match=r"renamed unquarantine"):
        store.release(1)
    assert store.quarantined() == {}
    store.quarantine(1, "again")
    store.unquarantine("1")
    assert store.quarantined() == {}
