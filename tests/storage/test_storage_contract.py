"""Every backend keeps the storage contract (amber.storage.contract): memory, local, S3."""

from __future__ import annotations

from pathlib import Path

import pytest

from amber.storage import LocalStorage, MemoryStorage, S3Storage, Storage
from amber.storage.contract import StorageContract, StorageModel
from tests.support.s3_server import BUCKET, fresh_url


class TestMemory(StorageContract):
    def make(self) -> Storage:
        return MemoryStorage()


class TestLocal(StorageContract):
    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.root = tmp_path

    def make(self) -> Storage:
        return LocalStorage(self.root / fresh_url().rsplit("/", 1)[1], fsync=False)


class TestS3(StorageContract):
    @pytest.fixture(autouse=True)
    def _server(self, s3_endpoint: str) -> None:
        pass

    def make(self) -> Storage:
        return S3Storage(BUCKET, fresh_url().rsplit("/", 1)[1])  # type: ignore[no-any-return]


TestMemoryModel = StorageModel.for_storage(MemoryStorage).TestCase


@pytest.mark.usefixtures("s3_endpoint")
class TestS3Model(StorageModel.for_storage(lambda: S3Storage(BUCKET, fresh_url().rsplit("/", 1)[1])).TestCase):  # type: ignore[misc]
    pass
