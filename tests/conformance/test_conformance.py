"""The conformance suite: writer/reader pairs from the public references of schema evolution
(Avro's specification and compatibility tests, Buf's breaking-change rules) and from Python,
each run for real. No case may load a different value than its reference gives, every failure
is a typed amber error, and ``amber schema check`` agrees with the load on every case."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import amber
from tests.conformance import cases_kinds, cases_python
from tests.conformance.harness import expected_rows, run, typed
from tests.conformance.model import Case, Fails, Refused

SUITES = [cases_python, cases_kinds]
try:  # built from the references; see each case's source
    from tests.conformance import cases_avro, cases_buf

    SUITES += [cases_avro, cases_buf]
except ImportError:  # pragma: no cover - while they are being written
    pass
CASES: list[Case] = [c for suite in SUITES for c in suite.CASES]
CONDITIONAL = "fail to load"  # the check's wording for what fails only where records hold it


def test_the_suite_is_large_and_its_ids_unique() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 150


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case(case: Case, tmp_path: Path) -> None:
    outcome = run(case, tmp_path)
    conditional_only = all(CONDITIONAL in e for e in outcome.check_errors)
    if isinstance(case.expect, Refused):
        assert isinstance(outcome.error, amber.IncompatibleSchemaError), outcome
        assert case.expect.says in str(outcome.error)
        assert all(p.fix for p in outcome.error.problems)  # every refusal says what to do
        assert case.newer or outcome.check_errors, "the load refuses what the check passes"
    elif isinstance(case.expect, Fails):
        assert isinstance(outcome.error, amber.MigrationError), outcome
        assert not isinstance(outcome.error, amber.IncompatibleSchemaError)
        assert case.expect.says in str(outcome.error)
        assert conditional_only, outcome.check_errors
    else:
        assert outcome.error is None, outcome.error
        assert outcome.rows is not None
        assert typed(outcome.rows) == typed(expected_rows(case))
        assert conditional_only, f"the check fails what loads: {outcome.check_errors}"


# --- docs/schema-evolution.md's tables say what the cases show ----------------------------------


def _documented_rows() -> list[tuple[str, str, list[str]]]:
    """(the load's verdict, the check's, the case ids) of every table row naming cases."""
    text = (Path(__file__).parents[2] / "docs" / "schema-evolution.md").read_text()
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.replace("\\|", "/").strip("|").split("|")]
        if len(cells) == 4 and cells[3].startswith("`") and cells[1].startswith("**"):
            verdict = cells[1].split("**")[1]
            rows.append((verdict, cells[2].split()[0].rstrip(",;"), re.findall(r"`([a-z0-9-]+)`", cells[3])))
    return rows


def test_the_docs_tables_name_cases() -> None:
    rows = _documented_rows()
    assert len(rows) >= 30
    known = {c.id for c in CASES}
    assert all(ids and set(ids) <= known for _, _, ids in rows), [ids for _, _, ids in rows if not set(ids) <= known]


@pytest.mark.parametrize(("load", "check", "ids"), _documented_rows(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_docs_tables_say_what_the_cases_do(load: str, check: str, ids: list[str], tmp_path: Path) -> None:
    case = next(c for c in CASES if c.id == ids[0])  # the first case shows the row's verdict
    outcome = run(case, tmp_path)
    shown = {Refused: "refused", Fails: "fails"}.get(type(case.expect), "reads")
    assert load == shown
    assert check == ("—" if case.newer else "fails" if outcome.check_errors else "passes")
