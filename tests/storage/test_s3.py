"""The S3 store on a real S3-protocol server (moto on 127.0.0.1): commits, races, multipart
uploads, errors at the boundary, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import amber
from amber import commands
from amber._store import _lease
from amber._store._capture import capture, take_tables
from amber._store._commit import Committer
from amber.storage import S3Storage
from tests.support import sample
from tests.support.bank_service import Bank, registry
from tests.support.s3_server import BUCKET


def test_a_service_checkpoints_deltas_and_restores_through_s3(s3_url: str) -> None:
    bank = Bank()
    bank.open_accounts(20, 500)
    manager = amber.Manager(amber.open_store(s3_url, registry=registry), bank.participants)
    manager.restore()
    assert manager.checkpoint().kind == "full"
    bank.transfer(1, 2, 30)
    assert manager.checkpoint().kind == "delta"
    again = Bank()
    with pytest.raises(amber.LeaseHeldError):  # one writer: the first manager holds the store's lease
        amber.Manager(amber.open_store(s3_url, registry=registry), again.participants).restore()
    manager.close(final=False)
    report = amber.Manager(amber.open_store(s3_url, registry=registry), again.participants).restore()
    assert len(report.chain) == 2 and again.balances() == bank.balances()
    assert amber.open_store(s3_url).verify().segments > 0


def test_a_managers_lease_lasts_lease_seconds_and_a_replacement_waits_only_that_long(s3_url: str) -> None:
    bank = Bank()
    bank.open_accounts(5, 50)
    manager = amber.Manager(amber.open_store(s3_url, registry=registry), bank.participants, lease_seconds=1.5)
    manager.restore()
    committed = manager.checkpoint().info.id
    lease = manager.store.lease
    assert lease is not None and lease.seconds == 1.5
    record = _lease.peek_lease(manager.store.storage, _lease.LEASE_KEY)
    assert record is not None and record.expires - time.time() <= 1.5
    lease._stop.set()  # its renewals stop, as a paused process's do
    successor = Bank()
    taken = amber.Manager(amber.open_store(s3_url, registry=registry), successor.participants, lock_wait=120)
    assert taken.restore().checkpoint == committed  # after waiting for the lease to expire
    bank.transfer(1, 2, 3)
    with pytest.raises(amber.CheckpointAbortedError) as aborted:
        manager.checkpoint()
    assert isinstance(aborted.value.__cause__, amber.FencedError)
    taken.close()
    with pytest.raises(ValueError, match="lease_seconds"):
        amber.Manager(amber.open_store(s3_url), [], lease_seconds=0)


def test_racing_writers_each_commit_under_their_own_sequence_number(s3_url: str) -> None:
    ids: list[str] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        store = amber.open_store(s3_url)
        for k in range(3):
            info = store.save({"writer": n, "k": k})
            with lock:
                ids.append(info.id)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store = amber.open_store(s3_url)
    assert sorted(ids) == store.ids() and len(set(ids)) == 12, "create-only manifests: no commit lost"
    assert sorted((s["writer"], s["k"]) for s in map(store.load, ids)) == [(n, k) for n in range(4) for k in range(3)]


def test_a_large_data_file_goes_up_in_parts(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import amber.storage._s3 as s3

    monkeypatch.setattr(s3, "PART_SIZE", 5 << 20)  # S3's smallest part
    payload = os.urandom(12 << 20)  # incompressible: three parts
    store = amber.open_store(s3_url, compression_level=1)
    info = store.save({"blob": payload})
    assert info.size > 12 << 20 and store.load()["blob"] == payload


def test_compare_and_swap_refuses_a_stale_etag(s3_url: str) -> None:
    storage = S3Storage(BUCKET, s3_url.rsplit("/", 1)[1])
    first = storage.replace("lease", b"token 1", etag=None)
    with pytest.raises(amber.ConflictError):
        storage.replace("lease", b"token 1 again", etag=None)  # create-only: it exists
    second = storage.replace("lease", b"token 2", etag=first)
    with pytest.raises(amber.ConflictError):
        storage.replace("lease", b"token 3", etag=first)  # someone else moved it on
    assert storage.etag("lease") == second and storage.get_range("lease", 0, 100) == b"token 2"


def test_errors_at_the_boundary_are_amber_errors(s3_endpoint: str) -> None:
    with pytest.raises(amber.StoreNotFoundError, match="no store at s3://no-such-bucket"):
        amber.open_store("s3://no-such-bucket/x", create=False)
    with pytest.raises(amber.StoreNotFoundError, match="no such bucket"):
        amber.open_store("s3://no-such-bucket/x").save({"a": 1})
    with pytest.raises(amber.StoreError, match="plain HTTP is allowed on loopback only"):
        amber.open_store(f"s3://{BUCKET}/x", storage_options={"endpoint": "http://example.com:9000"})
    with pytest.raises(amber.CheckpointNotFoundError):
        amber.open_store(f"s3://{BUCKET}/empty-prefix").load()
    with pytest.raises(ValueError, match="s3:// stores only"):
        amber.open_store("memory://", storage_options={"region": "eu-west-1"})
    with pytest.raises(ValueError, match="without"):
        amber.open_store(f"s3://{BUCKET}/a?x=1")
    with pytest.raises(ValueError, match="invalid storage key"):
        amber.open_store(f"s3://{BUCKET}/a/../b")
    with pytest.raises(amber.StoreNotFoundError):
        amber.open_store(f"s3://{BUCKET}/typo-prefix", create=False)  # nothing there: no store


def test_small_objects_go_up_in_one_request_and_retries_are_not_conflicts(s3_url: str) -> None:
    storage = S3Storage(BUCKET, s3_url.rsplit("/", 1)[1])
    assert storage.put("note.json", [b"a", b"b"]) == 2  # no multipart upload for two bytes
    first = storage.replace("lease", b"token 1", etag=None)
    assert storage.replace("lease", b"token 1", etag=None) == first, "our own bytes: a retried success"


def test_the_cli_works_on_s3_urls(s3_url: str) -> None:
    amber.open_store(s3_url).save({"n": 1})
    for command in (["ls", s3_url], ["verify", s3_url], ["report", s3_url]):
        run = subprocess.run([sys.executable, "-m", "amber", *command], capture_output=True, text=True, check=False)
        assert run.returncode == 0, run.stderr
    assert (
        "000000000001"
        in subprocess.run(
            [sys.executable, "-m", "amber", "ls", s3_url], capture_output=True, text=True, check=True
        ).stdout
    )


def test_without_obstore_an_s3_store_asks_for_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['obstore'] = None\n"
        "import amber\n"
        "try:\n"
        "    amber.open_store('s3://bucket/prefix')\n"
        "except amber.MissingExtraError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install 'amber-state[s3]'" in out


WRITER = """
import sys, amber

class Counter:
    name = "counter"
    def __init__(self):
        self.n = 0
    def snapshot(self):
        return {"n": self.n}
    def restore(self, state):
        self.n = state["n"]

counter = Counter()
manager = amber.Manager(amber.open_store(sys.argv[1]), [counter])
try:
    manager.restore()
except amber.AmberError as e:
    print("refused", type(e).__name__, flush=True)
    sys.exit(3)
counter.n += 1
print("acknowledged", manager.checkpoint().info.id, flush=True)
sys.stdin.readline()  # hold the store until told
counter.n += 1
print("acknowledged", manager.checkpoint().info.id, flush=True)
manager.close(final=False)
"""


def test_a_second_service_on_one_s3_store_is_refused_before_it_acknowledges_anything(
    s3_url: str, tmp_path: Path
) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    command = [sys.executable, str(script), s3_url]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as first:
        try:
            assert first.stdout is not None and first.stdin is not None
            assert first.stdout.readline().split()[0] == "acknowledged"
            second = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)
            assert second.returncode == 3 and second.stdout.split() == ["refused", "LeaseHeldError"], second.stderr
            first.stdin.write("go\n")
            first.stdin.flush()
            assert first.stdout.readline().split()[0] == "acknowledged"
            assert first.wait(timeout=120) == 0
        finally:
            first.kill()
    store = amber.open_store(s3_url)
    assert len(store.ids()) == 2 and store.load()["counter"] == {"n": 2}, "only the first service committed"


def test_two_managers_on_one_store_object_are_refused_too(s3_url: str) -> None:
    store = amber.open_store(s3_url, registry=registry)
    first = amber.Manager(store, Bank().participants)
    first.restore()
    with pytest.raises(amber.LeaseHeldError, match="another manager of this process"):
        amber.Manager(store, Bank().participants).restore()
    first.close(final=False)
    amber.Manager(store, Bank().participants).restore()


def test_gc_spares_a_data_file_its_writer_has_marked_whatever_the_grace(s3_url: str) -> None:
    """Found by a hostile review: with no lock on S3, gc with a short grace deleted the data
    file of a commit in progress, which then committed (and re-checked) between gc's listing
    and its deletion: acknowledged, then lost. Writers now mark the data file first."""
    store = amber.open_store(s3_url, registry=sample.registry)
    store.save(sample.bank(accounts=1))

    def collect_now(phase: str) -> None:
        if phase == "commit":  # the data file is written, no manifest names it yet
            report = commands.gc(store, keep_last=1, grace="0s")
            assert report["deleted_files"] == []

    captured = capture(store, sample.bank(accounts=2), take_tables(store, sample.bank(accounts=2)))
    info = Committer(store).write(captured, check=collect_now)
    assert len(amber.open_store(s3_url, registry=sample.registry).load(info.id)["accounts"]) == 2
    assert store.storage.list("pending/") == [], "the marker goes with the commit"
    commands.gc(store, keep_last=1, grace="0s")
    assert store.ids() == [info.id] and len(store.load()["accounts"]) == 2


def test_gc_spares_the_data_file_a_rollback_is_about_to_name(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = amber.open_store(s3_url, registry=sample.registry)
    store.save(sample.bank(accounts=1))
    store.save(sample.bank(accounts=2))
    commit = Committer._commit

    def collect_first(self: Committer, draft: Any, tried: list[str]) -> Any:
        commands.gc(self.store, keep_last=1, grace="0s")  # deletes 1's manifest, must keep its data
        return commit(self, draft, tried)

    monkeypatch.setattr(Committer, "_commit", collect_first)
    result = commands.rollback(store, "1")
    monkeypatch.undo()
    assert "000000000001" not in store.ids(), "gc did run: the source's manifest went"
    assert len(store.load(result["target"])["accounts"]) == 1, "and its data file, marked, stayed"


class _Refusing(BaseHTTPRequestHandler):
    """An instance metadata endpoint with no role to hand out, as a laptop's network answers."""

    def _refuse(self) -> None:
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = _refuse

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def refusing_metadata_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_without_credentials_the_error_says_which_were_looked_for(
    s3_url: str, refusing_metadata_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("AWS_") and n not in ("AWS_ENDPOINT_URL", "AWS_REGION")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_PROFILE", "dev")  # set, as on a laptop: obstore does not read it
    monkeypatch.setenv("AWS_METADATA_ENDPOINT", refusing_metadata_endpoint)
    with pytest.raises(amber.StoreError) as raised:
        amber.open_store(s3_url).save({"a": 1})
    message = str(raised.value)
    assert "no AWS credentials found" in message and "403" in message
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        assert variable in message
    assert "AWS_PROFILE and ~/.aws/credentials are not read" in message


def test_with_credentials_a_refused_request_is_not_blamed_on_missing_ones(
    s3_url: str, refusing_metadata_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_METADATA_ENDPOINT", refusing_metadata_endpoint)  # never asked: keys are set
    store = amber.open_store(s3_url)
    store.save({"a": 1})
    with pytest.raises(amber.StoreError) as raised:
        amber.open_store(s3_url, storage_options={"endpoint": refusing_metadata_endpoint}).load()
    assert "no AWS credentials" not in str(raised.value)
