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


def test_the_demo_runs_unattended(tmp_path: Path) -> None:
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
