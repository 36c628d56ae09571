"""Every example in the README, docs/ and examples/bank/README.md runs, in a fresh interpreter.

A page's ```python blocks run in order in one interpreter, and its ```sh blocks run with bash
at their place among them, in the same folder. Other blocks are shown, not run, and must say
what they are: ```console (a command to adapt, naming your own module or bucket), ```text
(output, a layout, a sketch), ```json.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "examples" / "bank" / "README.md"]
FENCE = re.compile(r"^```(\S*)\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)
RUN = {"python", "sh"}
SHOWN = {"console", "text", "json"}
PRELUDE = """import subprocess as _subprocess
def _sh(code):
    _subprocess.run(["bash", "-e", "-o", "pipefail", "-c", code], check=True)
"""


def blocks(path: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(path.read_text())]


def script(path: Path) -> str:
    """The page's runnable blocks as one Python script, in the page's order."""
    parts = [code if kind == "python" else f"_sh({code!r})" for kind, code in blocks(path) if kind in RUN]
    return PRELUDE + "\n\n".join(parts)


def run_blocks(doc: Path, cwd: Path) -> None:
    env = os.environ | {"PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    result = subprocess.run(  # the S3 examples reach the test server through the AWS_* variables
        [sys.executable, "-c", script(doc)], cwd=cwd, env=env, check=False, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, f"{doc.name}: {result.stdout[-3000:]}{result.stderr}"


@pytest.mark.usefixtures("s3_endpoint")
@pytest.mark.parametrize("doc", [d for d in DOCS if any(k in RUN for k, _ in blocks(d))], ids=lambda p: p.name)
def test_examples_run(doc: Path, tmp_path: Path) -> None:
    if doc != README:
        run_blocks(README, tmp_path)  # later docs use the ./state store the quickstart creates
    run_blocks(doc, tmp_path)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_example_says_whether_it_runs(doc: Path) -> None:
    kinds = {kind for kind, _ in blocks(doc)}
    assert kinds <= RUN | SHOWN, f"{doc.name}: blocks labelled {sorted(kinds - RUN - SHOWN)}: label them"


def test_the_quickstart_example_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "refused: checkpoint 000000000002" in result.stdout
    assert "amber rollback: 000000000005 restores 000000000003" in result.stdout


@pytest.mark.slow
def test_the_demo_runs_unattended(tmp_path: Path) -> None:
    """`make demo`, as CI runs it: no terminal, every claim checked by the demo itself."""
    result = subprocess.run(
        [sys.executable, "-m", "examples.bank.demo", "--dir", str(tmp_path)],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"every one of the \d+ transfers acknowledged before the kill is there", out)
    assert "holds bank.Account v2, and release 1 refuses the store, as it should" in out
    assert re.search(r"the final store, read with release 3's code, holds all \d+ acknowledged transfers", out)
    assert re.search(r"migrated \d+ -> \d+: \d+ records", out)
    assert "rolled back:" in out and "OK 0" in out  # amber rollback, then amber verify
    assert f"HTML report: {tmp_path / 'report.html'}" in out
    assert "<html" in (tmp_path / "report.html").read_text()[:2000].lower()
