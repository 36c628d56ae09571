"""A small online recommender whose state lives in memory: pydantic models and numpy arrays
in ``amber.Table``s, checkpointed by an ``amber.Manager`` with fork capture and deltas.

Each update ``observe(user, item)`` moves the user's embedding towards the item's, in
place, and counts the view; every committed checkpoint prints one acknowledgement line:

    ack <checkpoint id> <kind> <capture> updates=<how many updates it holds>

    python -m examples.recommender.service --store DIR [--updates N] [--interval SECONDS]
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pydantic

import amber

registry = amber.Registry()
DIM = 16  # the embeddings' width
RATE = 0.05  # how far one view moves a user's embedding
TAGS = ("news", "sport", "music", "film", "games", "food")


@registry.record("recommender.User", version=1)
class User(pydantic.BaseModel):
    # arbitrary types: pydantic has no numpy types of its own; validate_assignment: an email
    # assigned later is lower-cased too, else the load, which runs the validator, would refuse it
    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True, validate_assignment=True)

    id: int
    email: str
    tags: list[str] = []
    embedding: npt.NDArray[np.float32]  # changed in place by observe()
    views: int = 0

    @pydantic.field_validator("email")
    @classmethod
    def valid_email(cls, value: str) -> str:
        if value.count("@") != 1 or value.startswith("@") or value.endswith("@"):
            raise ValueError(f"not an email address: {value!r}")
        return value.lower()  # idempotent: runs again on load and gives back what it made


@registry.record("recommender.Item", version=1)
class Item(pydantic.BaseModel):
    id: int
    title: str
    tags: list[str] = []
    views: int = 0


@registry.record("recommender.Embeddings", version=1)
class Embeddings(pydantic.BaseModel):
    """A matrix of embeddings, one row per item."""

    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)

    vectors: npt.NDArray[np.float32]


def unit(rng: np.random.Generator, *shape: int) -> npt.NDArray[np.float32]:
    vectors = rng.standard_normal((*shape, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors


class Recommender:
    """The service's state and the only code that changes it: an ``amber.Manager`` participant."""

    name = "recommender"

    def __init__(self, users: int = 10_000, items: int = 500, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.lock = threading.Lock()
        self.users: amber.Table[int, User] = amber.Table(
            (u, User(id=u, email=f"User{u}@Example.com", tags=[TAGS[u % 6]], embedding=unit(rng))) for u in range(users)
        )
        self.items: amber.Table[int, Item] = amber.Table(
            (i, Item(id=i, title=f"item {i}", tags=[TAGS[i % 6], TAGS[i % 5]])) for i in range(items)
        )
        # One entry: written by the checkpoint that sets it, and by no delta until it is set again.
        self.models: amber.Table[str, Embeddings] = amber.Table({"items": Embeddings(vectors=unit(rng, items))})
        self.updates = 0  # how many observe() calls the state holds
        self.captured = 0  # ... as of the last snapshot()

    def observe(self, user_id: int, item_id: int) -> None:
        with self.lock:
            user, item = self.users[user_id], self.items[item_id]
            user.embedding += RATE * (self.models["items"].vectors[item_id] - user.embedding)  # in place
            user.views += 1
            item.views += 1
            self.users.touch(user_id)  # changed in place: the next delta must hold them
            self.items.touch(item_id)
            self.updates += 1

    def recommend(self, user_id: int, k: int = 5) -> list[int]:
        with self.lock:
            scores = self.models["items"].vectors @ self.users[user_id].embedding
            return [int(i) for i in np.argsort(-scores)[:k]]

    # --- the participant ----------------------------------------------------------------------
    def prepare(self) -> None:  # the pause begins: no observe() runs during the capture
        self.lock.acquire()

    def resume(self) -> None:
        self.lock.release()

    def snapshot(self) -> dict[str, Any]:
        self.captured = self.updates
        return {"users": self.users, "items": self.items, "models": self.models, "updates": self.updates}

    def restore(self, state: dict[str, Any]) -> None:
        self.users, self.items, self.models = state["users"], state["items"], state["models"]
        self.updates = self.captured = state["updates"]

    def invariants(self) -> Iterator[amber.Violation]:  # runs in the forked child: takes no lock
        for name, table in (("users", self.users), ("items", self.items)):
            views = sum(record.views for record in table.values())
            if views != self.updates:
                yield amber.Violation(f"every update counts one {name[:-1]} view", f"{views} != {self.updates}")
        bad = [u.id for u in self.users.values() if u.embedding.shape != (DIM,) or not np.isfinite(u.embedding).all()]
        if bad:
            yield amber.Violation("embeddings are finite vectors", f"users {bad[:10]}")


def request(seed: int, n: int, users: int, items: int) -> tuple[int, int]:
    """The n-th request of the traffic: the same for a given seed, whatever ran before."""
    rng = random.Random(seed * 1_000_000_007 + n)
    return rng.randrange(users), rng.randrange(items)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True, help="the checkpoint store: a folder or a URL")
    parser.add_argument("--updates", type=int, default=200_000, help="serve until the state holds this many")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between checkpoints")
    parser.add_argument("--rate", type=float, default=2_000, help="requests per second (0: as fast as it can)")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    service = Recommender(args.users, args.items, args.seed)

    def acknowledge(event: amber.events.Event) -> None:  # runs after the commit: the state is durable
        if isinstance(event, amber.events.CheckpointCommitted):
            print(f"ack {event.checkpoint} {event.kind} {event.capture} updates={service.captured}", flush=True)

    store = amber.open_store(args.store, registry=registry)
    manager = amber.Manager(
        store, [service], interval=args.interval, capture="fork", listeners=[acknowledge], lock_wait=30
    )
    with manager:  # restores the newest checkpoint, then checkpoints every interval, and once more on exit
        print(f"serving from update {service.updates}", flush=True)
        first, start = service.updates, time.monotonic()
        for n in range(first, args.updates):
            if args.rate and (ahead := start + (n - first) / args.rate - time.monotonic()) > 0:
                time.sleep(ahead)  # traffic arrives at --rate requests a second
            service.observe(*request(args.seed, n, args.users, args.items))
    print(f"done: {service.updates} updates; user 0 would like items {service.recommend(0)}", flush=True)


if __name__ == "__main__":
    main()
