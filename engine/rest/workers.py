"""The REST API's bounded pool for blocking calls (password checks, the store, the catalog).

The event loop never blocks: each blocking backend call runs on one of ``rest-worker-N``. A
request waits for a free thread at most ``kyuubi.frontend.rest.worker.wait``, then is refused
(503); the threads and the waiting requests are both bounded.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from engine.rest.errors import ApiError

T = TypeVar("T")

QUEUE_FACTOR = 8  # requests waiting for a thread, per thread


class Workers:
    def __init__(self, threads: int, wait: float) -> None:
        self.threads = threads
        self.wait = wait
        counter = itertools.count(1)
        self._pool = ThreadPoolExecutor(
            max_workers=threads,
            thread_name_prefix="rest-worker",
            initializer=lambda: setattr(threading.current_thread(), "name", f"rest-worker-{next(counter)}"),
        )
        self._admitted = threading.BoundedSemaphore(threads * (1 + QUEUE_FACTOR))
        self._slots: asyncio.Semaphore | None = None

    async def run(self, call: Callable[..., T], *args: object) -> T:
        """``call(*args)`` on a worker thread (with the caller's context variables)."""
        if self._slots is None:  # created on the server's loop
            self._slots = asyncio.Semaphore(self.threads)
        if not self._admitted.acquire(blocking=False):
            raise ApiError(503, "the REST API is busy: too many requests wait for a worker; retry later")
        try:
            try:
                await asyncio.wait_for(self._slots.acquire(), self.wait)
            except TimeoutError:
                raise ApiError(
                    503, f"the REST API is busy: no worker freed within {self.wait:g} s; retry later"
                ) from None
            try:
                loop = asyncio.get_running_loop()
                context = contextvars.copy_context()
                return await loop.run_in_executor(self._pool, functools.partial(context.run, call, *args))
            finally:
                self._slots.release()
        finally:
            self._admitted.release()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
