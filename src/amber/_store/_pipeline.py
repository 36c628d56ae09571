"""Overlapping CPU work on a helper thread, in order, with bounded memory."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def pipelined(items: Iterator[tuple[Any, Any]], work: Callable[[Any], T], depth: int = 2) -> Iterator[tuple[Any, T]]:
    """Run ``work`` on a helper thread, ``depth`` items ahead, yielding results in order.

    zstd and xxhash release the GIL, so compression overlaps encoding on a second core while
    at most ``depth`` segments are held in memory.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="amber-io") as pool:
        queue: deque[tuple[Any, Future[T]]] = deque()
        for key, arg in items:
            queue.append((key, pool.submit(work, arg)))
            if len(queue) > depth:
                key0, future = queue.popleft()
                yield key0, future.result()
        while queue:
            key0, future = queue.popleft()
            yield key0, future.result()
