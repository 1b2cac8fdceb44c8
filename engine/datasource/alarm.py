"""The wall clock behind ``query.timeout``: one named thread per datasource fires deadlines.

The database enforces the timeout itself (statement_timeout, max_statement_time, a SQLite
progress handler); this alarm is the second line for drivers or statements the database does
not stop. Callbacks must be quick: slow interrupts (a network round trip) hand off to their own
short-lived thread.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Alarm:
    def __init__(self, name: str = "datasource-alarm") -> None:
        self._name = name
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._live: set[int] = set()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    def schedule(self, delay: float, callback: Callable[[], None]) -> Callable[[], None]:
        """Run ``callback`` after ``delay`` seconds unless the returned function is called first."""
        key = next(self._ids)
        with self._cond:
            if self._closed:
                return lambda: None
            heapq.heappush(self._heap, (time.monotonic() + delay, key, callback))
            self._live.add(key)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()

        def disarm() -> None:
            with self._cond:
                self._live.discard(key)

        return disarm

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    while self._heap and self._heap[0][1] not in self._live:
                        heapq.heappop(self._heap)  # disarmed
                    if not self._heap:
                        self._cond.wait(timeout=60.0)
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        _, key, callback = heapq.heappop(self._heap)
                        self._live.discard(key)
                        break
                    self._cond.wait(timeout=min(wait, 60.0))
            try:
                callback()
            except Exception:
                log.warning("query timeout callback failed", exc_info=True)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._live.clear()
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)
