"""One named thread that cancels tokens whose deadline has passed (tool-call timeouts).

Cancelling a tool call's token runs the hooks the tool layer registered on it, which cancel the
running SQL statement; the tool then returns an error result instead of blocking the run.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time

from engine.common.cancel import CancelToken

log = logging.getLogger(__name__)


class DeadlineWatchdog:
    def __init__(self, name: str = "agent-deadline-watchdog") -> None:
        self._name = name
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, CancelToken]] = []
        self._live: set[int] = set()
        self._ids = itertools.count()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def watch(self, token: CancelToken, reason: str = "timed out") -> int:
        """Cancel ``token`` with ``reason`` once its deadline passes; returns a handle."""
        if token.deadline is None:
            return -1
        with self._cond:
            key = next(self._ids)
            self._live.add(key)
            heapq.heappush(self._heap, (token.deadline, key, token))
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(
                    target=self._loop, args=(reason,), name=self._name, daemon=True
                )
                self._thread.start()
            self._cond.notify()
            return key

    def unwatch(self, key: int) -> None:
        with self._cond:
            self._live.discard(key)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self, reason: str) -> None:
        while True:
            due: list[CancelToken] = []
            with self._cond:
                if self._stopped:
                    return
                now = time.monotonic()
                while self._heap and (self._heap[0][1] not in self._live or self._heap[0][0] <= now):
                    _deadline, key, token = heapq.heappop(self._heap)
                    if key in self._live:
                        self._live.discard(key)
                        due.append(token)
                if not due:
                    wait = self._heap[0][0] - now if self._heap else 1.0
                    self._cond.wait(min(1.0, max(0.005, wait)))
                    continue
            for token in due:
                log.info("a tool call passed its timeout; cancelling it")
                token.cancel(reason)
