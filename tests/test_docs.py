"""Every Python example in the README and docs/ runs, in a fresh interpreter."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.DOTALL)


def run_blocks(doc: Path, cwd: Path) -> None:
    script = "\n\n".join(python_blocks(doc))
    result = subprocess.run(  # the S3 examples reach the test server through the AWS_* variables
        [sys.executable, "-c", script], cwd=cwd, check=False, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"{doc.name}: {result.stderr}"


@pytest.mark.usefixtures("s3_endpoint")
@pytest.mark.parametrize("doc", [d for d in DOCS if python_blocks(d)], ids=lambda p: p.name)
def test_examples_run(doc: Path, tmp_path: Path) -> None:
    if doc != README:
        run_blocks(README, tmp_path)  # later docs use the ./state store the quickstart creates
    run_blocks(doc, tmp_path)


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
    assert "release 1 now refuses the store, as it should" in out
    assert re.search(r"migrated \d+ -> \d+: \d+ records", out)
    assert "rolled back:" in out and "OK 0" in out  # amber rollback, then amber verify
    assert f"HTML report: {tmp_path / 'report.html'}" in out
    assert "<html" in (tmp_path / "report.html").read_text()[:2000].lower()
