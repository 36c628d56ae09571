"""Every example in the README, docs/ and examples/bank/README.md runs, in a fresh interpreter.

A page's ```python blocks run in order in one interpreter, and its ```sh blocks run with bash
at their place among them, in the same folder (``AMBER_REPO`` names the repository, for a page
that copies files from it). Other blocks are shown, not run, and must say what they are:
```console (a command to adapt, naming your own module or bucket), ```text (output, a layout,
a sketch), ```json, and ```yaml and ```dockerfile: a file of the repository, which its first
line names (``# examples/kubernetes/statefulset.yaml: ...``), copied whole.
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
SHOWN = {"console", "text", "json", "yaml", "dockerfile"}
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
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = os.environ | {"PATH": path, "AMBER_REPO": str(ROOT)}
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


COPIED = {"yaml", "dockerfile"}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_copied_file_is_the_file_itself(doc: Path) -> None:
    """A manifest shown in a page is the one its tests check, not a copy that drifted."""
    for kind, code in blocks(doc):
        if kind in COPIED:
            named = re.match(r"# ([\w./-]+?):?\s", code)
            assert named, f"{doc.name}: a ```{kind} block must name its file on its first line: # <path>: ..."
            assert (ROOT / named[1]).is_file(), f"{doc.name}: {named[1]} is not a file of the repository"
            assert code == (ROOT / named[1]).read_text(), f"{doc.name}: its copy of {named[1]} differs from the file"


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
    assert re.search(r"handover gap: \d+ ms from the last transfer release 1 acknowledged to the first", out)
    assert re.search(r"no acknowledged transfer lost: release 2 holds all \d+, and every account as a bank", out)
    assert "holds bank.Account v2, and release 1 refuses the store, as it should" in out
    assert re.search(r"the final store, read with release 3's code, holds all \d+ acknowledged transfers", out)
    assert re.search(r"migrated \d+ -> \d+: \d+ records", out)
    assert "rolled back:" in out and "OK 0" in out  # amber rollback, then amber verify
    assert f"HTML report: {tmp_path / 'report.html'}" in out
    assert "<html" in (tmp_path / "report.html").read_text()[:2000].lower()


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
OUTSIDE = re.compile(r"`(\.\./[^`]+)`")  # a path in code quotes, relative to the page


def relative_links(doc: Path) -> list[str]:
    """The page's links and quoted relative paths that point at files, not at the web or an anchor."""
    targets = LINK.findall(doc.read_text()) + OUTSIDE.findall(doc.read_text())
    return [t.split("#", 1)[0] for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:|#", t)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_relative_link_resolves_inside_the_repository(doc: Path) -> None:
    """A reader of the repository alone (a clone, a package's sdist) must find what a page points at."""
    broken = []
    for target in relative_links(doc):
        found = (doc.parent / target).resolve()
        if not found.is_relative_to(ROOT.resolve()) or not found.exists():
            broken.append(target)
    assert broken == [], f"{doc.relative_to(ROOT)} points outside the repository or at nothing: {broken}"


IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", flags=re.MULTILINE)


def imported_modules(doc: Path) -> set[str]:
    """The modules a page's python examples import, beyond the standard library and amber."""
    found = {a or b for kind, code in blocks(doc) if kind == "python" for a, b in IMPORT.findall(code)}
    return {m for m in found if m.partition(".")[0] not in {*sys.stdlib_module_names, "amber"}}


def distribution_of(module: str) -> str:
    """The installed distribution whose files hold ``module`` (a namespace package's part, too)."""
    import importlib.metadata
    import importlib.util

    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, f"{module} is not installed"
    origin = Path(spec.origin).resolve()
    for name in importlib.metadata.packages_distributions().get(module.split(".", maxsplit=1)[0], []):
        dist = importlib.metadata.distribution(name)
        if any(Path(str(dist.locate_file(f))).resolve() == origin for f in dist.files or ()):
            return re.sub(r"[-_.]+", "-", name).lower()
    raise AssertionError(f"no distribution holds {module}")


def installed_by_extras() -> set[str]:
    """What `pip install amber-state[...]` can bring: the dependencies and every extra but dev."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [deps for name, deps in project["optional-dependencies"].items() if name != "dev"]
    named = [*project.get("dependencies", []), *(d for deps in extras for d in deps)]
    return {re.sub(r"[-_.]+", "-", re.split(r"[\s<>=!~\[;]", d, maxsplit=1)[0]).lower() for d in named}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_what_an_example_imports_an_extra_installs(doc: Path) -> None:
    """A reader who installs the extras a page names can run its examples (the otel extra
    once lacked the SDK its first example configures)."""
    available = installed_by_extras()
    missing = {m: d for m in imported_modules(doc) if (d := distribution_of(m)) not in available}
    assert missing == {}, f"{doc.name} imports modules no extra installs: {missing}"
