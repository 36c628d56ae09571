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


@pytest.mark.parametrize("doc", [d for d in DOCS if python_blocks(d)], ids=lambda p: p.name)
def test_examples_run(doc: Path, tmp_path: Path) -> None:
    # Later docs use the ./state store the README's quickstart creates.
    blocks = python_blocks(README) + ([] if doc == README else python_blocks(doc))
    script = "\n\n".join(blocks)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, check=False, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
