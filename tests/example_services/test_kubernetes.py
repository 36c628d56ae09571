"""The Kubernetes recipe's manifests (examples/kubernetes, docs/kubernetes.md), checked without a
cluster: parsed as YAML, and the fields the recipe relies on asserted, against each other, the
Dockerfile and the entrypoint's own reading of its environment. What the processes do (SIGTERM,
the lease, the pre-upgrade check) is run by docs/kubernetes.md's examples (tests/test_docs.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).parent.parent.parent / "examples" / "kubernetes"
APP = "/app"  # where the Dockerfile puts the files


def manifests(name: str) -> dict[str, Any]:
    """The file's objects by kind."""
    objects = [o for o in yaml.safe_load_all((HERE / name).read_text()) if o is not None]
    kinds = {o["kind"]: o for o in objects}
    assert len(kinds) == len(objects), f"{name}: one object of each kind"
    return kinds


def env_of(container: dict[str, Any]) -> dict[str, str]:
    """The container's plain variables (those given by value)."""
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def entrypoint_config(env: dict[str, str]) -> dict[str, Any]:
    """What entrypoint.py makes of an environment: its Config, as JSON."""
    code = "import dataclasses, json, os, entrypoint as e; print(json.dumps(dataclasses.asdict(e.config(os.environ))))"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AMBER_", "WORKERS", "PORT"))}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=HERE, env=clean | env, check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def identity(env: dict[str, str], hostname: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AMBER_", "WORKERS", "PORT"))}
    return subprocess.run(
        [sys.executable, "entrypoint.py", "--identity"],
        cwd=HERE,
        env=clean | env | {"HOSTNAME": hostname},
        check=False,
        capture_output=True,
        text=True,
    )


def dockerfile() -> tuple[str, list[str], list[str]]:
    """The Dockerfile's WORKDIR, the files it copies into the app's folder, and its CMD."""
    text = (HERE / "Dockerfile").read_text()
    workdir = re.findall(r"^WORKDIR (\S+)$", text, flags=re.MULTILINE)[-1]
    copied = [
        line.split()[1:-1] for line in text.splitlines() if line.startswith("COPY ") and line.split()[-1] == f"{APP}/"
    ]
    cmd = json.loads(re.findall(r"^CMD (\[.*\])$", text, flags=re.MULTILINE)[-1])
    return workdir, [f for files in copied for f in files], cmd


def test_the_image_holds_what_the_manifests_run() -> None:
    workdir, copied, cmd = dockerfile()
    assert workdir == APP
    assert sorted(Path(f).name for f in copied) == ["amber.lock", "counters.py", "entrypoint.py", "preupgrade.py"]
    assert all((HERE.parent.parent / f).is_file() for f in copied), "the Dockerfile copies files of the repository"
    assert cmd == ["python", f"{APP}/entrypoint.py"]
    for name in ["statefulset.yaml", "statefulset-pv.yaml"]:
        pod = manifests(name)["StatefulSet"]["spec"]["template"]["spec"]
        assert pod["containers"][0]["command"] == cmd, f"{name}: the container runs the image's entrypoint"


@pytest.mark.parametrize("name", ["statefulset.yaml", "statefulset-pv.yaml"])
def test_the_statefulset_wires_what_the_entrypoint_reads(name: str) -> None:
    objects = manifests(name)
    spec = objects["StatefulSet"]["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    env = env_of(container)
    replicas = spec["replicas"]

    # identity: the pods' ordinals are 0 to replicas - 1, and WORKERS says how many
    assert int(env["WORKERS"]) == replicas
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    last = identity(env, f"{objects['StatefulSet']['metadata']['name']}-{replicas - 1}")
    assert last.returncode == 0, last.stderr
    assert f"ordinal {replicas - 1} of {replicas}" in last.stdout
    beyond = identity(env, f"counters-{replicas}")
    assert beyond.returncode == 2 and "set WORKERS to the replicas" in beyond.stderr
    node = next(e for e in container["env"] if e["name"] == "NODE_NAME")
    assert node["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"

    # the probes reach the entrypoint's port
    port = next(p for p in container["ports"] if p["name"] == "http")
    config = entrypoint_config(env)
    assert port["containerPort"] == config["port"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert config["lease_wait"] > config["lease_seconds"], "a new pod must wait out the lease of a vanished one"

    # stopping: the preStop sleep, then SIGTERM; the grace period covers both and the final
    # checkpoint, or a fleet worker's last epoch (the same pods with AMBER_FLEET)
    assert spec["podManagementPolicy"] == "Parallel"
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    fleet = entrypoint_config({**{k: v for k, v in env.items() if k != "AMBER_STORE"}, "AMBER_FLEET": "s3://b/f"})
    assert fleet["stop_seconds"] >= fleet["interval"] + fleet["epoch_timeout"]
    assert pod["terminationGracePeriodSeconds"] >= int(pre_stop[1]) + fleet["stop_seconds"] + 10


def test_the_store_is_on_s3_or_on_the_pod_s_own_volume() -> None:
    s3 = manifests("statefulset.yaml")
    service, spec = s3["Service"], s3["StatefulSet"]["spec"]
    assert service["spec"]["clusterIP"] == "None" and spec["serviceName"] == service["metadata"]["name"]
    container = spec["template"]["spec"]["containers"][0]
    assert env_of(container)["AMBER_STORE"].startswith("s3://")
    assert container["envFrom"] == [{"secretRef": {"name": "counters-s3"}}]

    pv = manifests("statefulset-pv.yaml")["StatefulSet"]["spec"]
    (claim,) = pv["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOncePod"]
    pod = pv["template"]["spec"]
    for container in [*pod["initContainers"], *pod["containers"]]:
        (mount,) = container["volumeMounts"]
        assert mount["name"] == claim["metadata"]["name"]
        assert env_of(container)["AMBER_STORE"] == mount["mountPath"]


def test_the_new_release_checks_every_store_the_pods_use() -> None:
    statefulset = manifests("statefulset.yaml")["StatefulSet"]["spec"]["template"]["spec"]["containers"][0]
    job = manifests("pre-upgrade-job.yaml")["Job"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade"
    assert "hook-succeeded" in job["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
    assert job["spec"]["backoffLimit"] == 0
    template = job["spec"]["template"]["spec"]
    assert template["restartPolicy"] == "Never"
    (check,) = template["containers"]
    assert check["command"] == ["python", f"{APP}/preupgrade.py"]
    assert check["image"] == statefulset["image"], "the Job runs the release being installed"
    stores = ("WORKERS", "AMBER_STORE")
    assert {k: env_of(check)[k] for k in stores} == {k: env_of(statefulset)[k] for k in stores}
    assert check["envFrom"] == statefulset["envFrom"]

    pod = manifests("statefulset-pv.yaml")["StatefulSet"]["spec"]["template"]["spec"]
    (init,), (main,) = pod["initContainers"], pod["containers"]
    assert init["command"] == ["python", f"{APP}/preupgrade.py", "--this-pod"]
    assert init["image"] == main["image"]
    assert {k: env_of(init)[k] for k in stores} == {k: env_of(main)[k] for k in stores}
