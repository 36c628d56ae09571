"""Write the migration matrix's golden checkpoints: one per frozen release of the sample app.

    python -m tests.golden.make_matrix

Run once when a release is added; the existing files are never rewritten.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import amber
from tests.support.matrix_app import RELEASES, state

HERE = Path(__file__).parent / "matrix"


def main() -> None:
    for release, registry in RELEASES.items():
        target = HERE / f"app-v{release}"
        if target.exists() and "--force" not in sys.argv:
            print(f"{target} exists; kept")
            continue
        shutil.rmtree(target, ignore_errors=True)
        amber.open_store(target, registry=registry).save(state(release), meta={"release": release})
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
