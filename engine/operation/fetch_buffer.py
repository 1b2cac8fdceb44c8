"""IncrementalFetchBuffer: rows a running operation produces, read by FetchResults while it runs.

Positions are logical (absolute from the start of the stream). The buffer compacts rows that
every future fetch has moved past, as Kyuubi's IncrementalFetchIterator does once 1024 rows
have been consumed. Unlike Kyuubi, a fetch that reaches back into a compacted region fails with
a clear error instead of silently skipping rows.

A streaming producer (a typed result read from the database) keeps a bounded read-ahead:
:meth:`wait_for_room` blocks it while the client has more than a few batches still to read, and
every fetch that moves past rows wakes it.

The producer appends and finally calls :meth:`finish` (the operation ends, or is cancelled) or
:meth:`release` (it is closed). A consumer's :meth:`fetch` waits up to ``wait`` seconds for a row
while the producer is still running and returns as soon as one exists; ``finish`` and ``release``
wake it at once.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from engine.common.errors import FetchWindowError, UnsupportedError
from engine.common.types import Row

# One buffered row: a tuple of column values, or the bare value of a one-column STRING result
# (event rows, log lines, a streamed string column; None is NULL), which skips building a tuple
# per row on the hot path.
Item = Row | str | None


class FetchOrientation(enum.IntEnum):
    """``TFetchOrientation`` values."""

    FETCH_NEXT = 0
    FETCH_PRIOR = 1
    FETCH_RELATIVE = 2
    FETCH_ABSOLUTE = 3
    FETCH_FIRST = 4
    FETCH_LAST = 5


SUPPORTED_ORIENTATIONS = frozenset(
    {FetchOrientation.FETCH_NEXT, FetchOrientation.FETCH_PRIOR, FetchOrientation.FETCH_FIRST}
)


@dataclass(frozen=True)
class FetchChunk:
    items: list[Item]
    start_offset: int
    has_more: bool


class IncrementalFetchBuffer:
    """Thread-safe append-only row buffer with logical positions and compaction."""

    def __init__(self, compact_threshold: int = 1024) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._items: list[Item] = []
        self._trimmed = 0  # logical index of _items[0]
        self._position = 0  # next row FETCH_NEXT returns
        self._fetch_start = 0  # first row of the most recent fetch (FETCH_PRIOR moves back from it)
        self._finished = False
        self._threshold = max(1, compact_threshold)
        self._producer_waits = False  # a streaming producer waits for the client to read

    # --- producer ----------------------------------------------------------------------------
    def append(self, item: Item) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def extend(self, items: Iterable[Item]) -> None:
        with self._cond:
            before = len(self._items)
            self._items.extend(items)
            if len(self._items) != before:
                self._cond.notify_all()

    def wait_for_room(self, ahead: int, timeout: float) -> bool:
        """Block a streaming producer while more than ``ahead`` rows wait unread, at most
        ``timeout`` seconds. True when there is room; False when the wait timed out or the buffer
        is finished or released (cancel, close: stop producing)."""
        with self._cond:
            if self._finished:
                return False
            if self._trimmed + len(self._items) - self._position <= ahead:
                return True
            self._producer_waits = True
            try:
                self._cond.wait_for(
                    lambda: self._finished or self._trimmed + len(self._items) - self._position <= ahead,
                    timeout,
                )
            finally:
                self._producer_waits = False
            return not self._finished and self._trimmed + len(self._items) - self._position <= ahead

    def finish(self) -> None:
        """No more rows will come; wakes every waiting consumer."""
        with self._cond:
            self._finished = True
            self._cond.notify_all()

    # --- state ---------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        with self._cond:
            return self._finished

    @property
    def size(self) -> int:
        """Logical number of rows appended so far."""
        with self._cond:
            return self._trimmed + len(self._items)

    @property
    def trimmed(self) -> int:
        with self._cond:
            return self._trimmed

    @property
    def position(self) -> int:
        with self._cond:
            return self._position

    # --- consumer ------------------------------------------------------------------------------
    def fetch(self, orientation: FetchOrientation, max_rows: int, wait: float = 0.0) -> FetchChunk:
        if orientation not in SUPPORTED_ORIENTATIONS:
            raise UnsupportedError(
                f"fetch orientation {orientation.name} is not supported; use FETCH_NEXT, FETCH_PRIOR or FETCH_FIRST"
            )
        max_rows = max(0, int(max_rows))
        with self._cond:
            if orientation == FetchOrientation.FETCH_NEXT:
                start = self._position
            elif orientation == FetchOrientation.FETCH_FIRST:
                start = 0
            else:  # FETCH_PRIOR: the window of max_rows before the previous fetch's start
                start = max(0, self._fetch_start - max_rows)
            if start < self._trimmed:
                raise FetchWindowError(
                    f"rows {start}..{self._trimmed - 1} of this result were already fetched and "
                    f"released (the buffer keeps rows after {self._trimmed}); "
                    "re-run the statement to read them again"
                )
            if max_rows and wait > 0:
                deadline = time.monotonic() + wait
                while self._trimmed + len(self._items) <= start and not self._finished:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            begin = start - self._trimmed
            items = self._items[begin : begin + max_rows]
            self._fetch_start = start
            self._position = start + len(items)
            self._compact()
            if self._producer_waits and items:
                self._cond.notify_all()
            has_more = not self._finished or self._position < self._trimmed + len(self._items)
            return FetchChunk(items, start, has_more)

    def _compact(self) -> None:
        consumable = self._fetch_start - self._trimmed
        if consumable >= self._threshold:
            del self._items[:consumable]
            self._trimmed += consumable

    def release(self) -> None:
        """Drop every row (the operation was closed)."""
        with self._cond:
            self._trimmed += len(self._items)
            self._items = []
            self._finished = True
            self._cond.notify_all()
