"""The pre-upgrade check of the counters service (docs/kubernetes.md), run from the *new*
release's image before any pod is replaced: by a Helm pre-upgrade hook Job
(pre-upgrade-job.yaml), which fails the upgrade, or by an initContainer with ``--this-pod``,
which stops the rollout at the first pod.

1. ``amber schema check --app counters``: the new code reads every version that amber.lock
   (committed with the code) supports.
2. For each pod's store (ordinals 0 to WORKERS - 1, the same stores entrypoint.py uses; with
   ``--this-pod``, only the one of this pod's HOSTNAME): ``amber migrate STORE --app counters
   --dry-run``, which plans the upgrade of the newest checkpoint and runs every step on its
   data in memory, writing nothing. A store with no checkpoint yet has nothing to check.

Prints each command before running it; exits 1 at the first refusal, 0 when all pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import amber

if TYPE_CHECKING:  # the type checker reads this folder as the package examples.kubernetes
    from examples.kubernetes.entrypoint import BAD_CONFIG, ConfigError, config, identity, store_url
else:  # the image runs /app/preupgrade.py, beside /app/entrypoint.py
    from entrypoint import BAD_CONFIG, ConfigError, config, identity, store_url

APP = Path(__file__).resolve().parent  # where counters.py and amber.lock are


def amber_command(*args: str) -> bool:
    print("$ amber " + " ".join(args), flush=True)
    return subprocess.run([sys.executable, "-m", "amber", *args], cwd=APP, check=False).returncode == 0


def main(argv: list[str]) -> int:
    if argv[1:] not in ([], ["--this-pod"]):
        print("usage: preupgrade.py [--this-pod]", file=sys.stderr)
        return BAD_CONFIG
    try:
        cfg = config(os.environ)
        if argv[1:] == ["--this-pod"]:
            ordinals = [identity(os.environ).ordinal]
        else:
            ordinals = list(range(int(os.environ.get("WORKERS", "0"))))
            if not ordinals:
                raise ConfigError("WORKERS is not set: the StatefulSet's replicas, whose stores to check")
    except ConfigError as e:
        print(f"preupgrade: {e}", file=sys.stderr)
        return BAD_CONFIG
    if not amber_command("schema", "check", "--app", "counters", "--file", "amber.lock"):
        print("preupgrade: refused: the new release cannot read what amber.lock supports", flush=True)
        return 1
    for ordinal in ordinals:
        url = store_url(cfg, ordinal)
        if not _checkpoints(url):
            print(f"pod {ordinal}: {url} holds no checkpoint yet: nothing to migrate", flush=True)
            continue
        where = url if "://" in url else os.path.abspath(url)  # amber runs in APP
        if not amber_command("migrate", where, "--app", "counters", "--dry-run"):
            print(f"preupgrade: refused: the new release would not load pod {ordinal}'s state", flush=True)
            return 1
    print(f"preupgrade: the new release reads the state of {len(ordinals)} pod(s)", flush=True)
    return 0


def _checkpoints(url: str) -> int:
    try:
        return len(amber.open_store(url, create=False).ids())
    except amber.StoreNotFoundError:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
