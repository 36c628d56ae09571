"""Shared fixtures: a fresh registry per test, stores of every kind (a local directory, memory,
and S3: moto's server on 127.0.0.1, started once per session), and one in-memory store opened
as often as a test likes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import amber
from tests.support.helpers import OpenStore, memory_opener
from tests.support.s3_server import CREDENTIALS, fresh_url, moto_server


@pytest.fixture
def registry() -> amber.Registry:
    return amber.Registry()


@pytest.fixture
def memory_store() -> OpenStore:
    """The default double where the disk is not the point: one in-memory store that a test
    opens as often as it likes (``memory_store(registry=v2).load()``)."""
    return memory_opener()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The S3 server's endpoint; the standard AWS variables point at it for the session."""
    saved = {k: os.environ.get(k) for k in [*CREDENTIALS, "AWS_ENDPOINT_URL"]}
    with moto_server() as endpoint:
        os.environ.update(CREDENTIALS, AWS_ENDPOINT_URL=endpoint)
        try:
            yield endpoint
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@pytest.fixture(scope="session")
def ray_cluster(s3_endpoint: str) -> Iterator[None]:
    """One local Ray cluster for the session (2 CPUs; started once: each start costs seconds),
    whose workers import this repository's modules and reach the S3 server."""
    ray = pytest.importorskip("ray")
    env = {"PYTHONPATH": str(Path(__file__).parent.parent), **CREDENTIALS, "AWS_ENDPOINT_URL": s3_endpoint}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    yield
    ray.shutdown()


@pytest.fixture
def s3_url(s3_endpoint: str) -> str:
    """A fresh, empty store on the S3 server."""
    return fresh_url()


@pytest.fixture(params=["local", "memory", "s3"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "s3":
        return str(request.getfixturevalue("s3_url"))
    return str(tmp_path / "store") if request.param == "local" else "memory://"
