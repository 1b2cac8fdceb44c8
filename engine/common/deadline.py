"""The engine's one clock: a deadline scheduler that runs quick callbacks when their time comes.

The app creates one :class:`DeadlineScheduler` and passes it down to whatever imposes a timeout
(the operation manager for ``run.timeout``, the tool registry for ``tool.call.timeout``, the
datasource for ``query.timeout``). Nobody polls a deadline: a :class:`~engine.common.cancel.CancelToken`
given a deadline arms a timer here, and the timer cancels it.

- :class:`DeadlineHeap` is the pure part, with no thread and no clock of its own: timers ordered
  by time, disarmed ones dropped lazily and compacted away when they pile up.
- :class:`DeadlineScheduler` owns one named thread that sleeps until the earliest timer is due and
  runs its callback. Callbacks run on that thread, so they must be quick: set an event, notify a
  condition, hand a network round trip to a short-lived thread. A slow one is logged.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

SLOW_CALLBACK = 0.1  # seconds; a callback slower than this delays every other deadline (logged)
_IDLE_WAIT = 3600.0  # the thread's wait with nothing scheduled (close() and call_at() wake it)
_COMPACT_MIN = 64  # disarmed entries tolerated before the heap is rebuilt without them


class Timer:
    """One scheduled callback. :meth:`cancel` disarms it; it is idempotent and never blocks on the
    callback (a callback already running finishes)."""

    __slots__ = ("_heap", "_sequence", "callback", "cancelled", "fired", "when")

    def __init__(self, when: float, sequence: int, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False
        self.fired = False
        self._sequence = sequence
        self._heap: DeadlineHeap | None = None

    def cancel(self) -> None:
        heap = self._heap
        if heap is not None:
            heap.discard(self)
        else:
            self.cancelled = True

    @property
    def active(self) -> bool:
        return not (self.cancelled or self.fired)

    def __lt__(self, other: Timer) -> bool:
        return (self.when, self._sequence) < (other.when, other._sequence)

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else ("fired" if self.fired else "armed")
        return f"Timer(when={self.when:.3f}, {state})"


class DeadlineHeap:
    """Armed timers by due time. Thread-safe through its own lock; knows no clock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[Timer] = []
        self._disarmed = 0  # cancelled timers still sitting in _entries
        self._sequence = itertools.count()

    def push(self, when: float, callback: Callable[[], None]) -> Timer:
        with self._lock:
            timer = Timer(when, next(self._sequence), callback)
            timer._heap = self
            heapq.heappush(self._entries, timer)
            return timer

    def discard(self, timer: Timer) -> None:
        with self._lock:
            if timer.cancelled or timer.fired:
                return
            timer.cancelled = True
            self._disarmed += 1
            if self._disarmed > _COMPACT_MIN and self._disarmed * 2 > len(self._entries):
                self._entries = [entry for entry in self._entries if not entry.cancelled]
                heapq.heapify(self._entries)
                self._disarmed = 0

    def pop_due(self, now: float) -> list[Timer]:
        """Remove and return the armed timers due at ``now`` (earliest first), marked fired."""
        due: list[Timer] = []
        with self._lock:
            while self._entries and (self._entries[0].cancelled or self._entries[0].when <= now):
                timer = heapq.heappop(self._entries)
                if timer.cancelled:
                    self._disarmed -= 1
                    continue
                timer.fired = True
                due.append(timer)
        return due

    def next_due(self) -> float | None:
        """When the earliest armed timer is due, or None when nothing is armed."""
        with self._lock:
            while self._entries and self._entries[0].cancelled:
                heapq.heappop(self._entries)
                self._disarmed -= 1
            return self._entries[0].when if self._entries else None

    def clear(self) -> None:
        with self._lock:
            for timer in self._entries:
                timer.cancelled = True
            self._entries = []
            self._disarmed = 0

    def __len__(self) -> int:
        """Armed timers (disarmed ones not counted)."""
        with self._lock:
            return len(self._entries) - self._disarmed


class DeadlineScheduler:
    """One heap, one named thread (started with the first timer), callbacks that must be quick.

    ``clock`` is ``time.monotonic``; deadlines given to :meth:`call_at` are values of it.
    After :meth:`close`, new timers are inert: the engine is stopping and has cancelled its work.
    """

    def __init__(self, name: str = "deadline-scheduler", clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.clock = clock
        self._heap = DeadlineHeap()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` on the scheduler thread once ``clock()`` reaches ``when``."""
        with self._cond:
            if self._closed:
                timer = Timer(when, -1, callback)
                timer.cancelled = True
                log.debug("deadline scheduler %s is closed; a timer was not armed", self.name)
                return timer
            earliest = self._heap.next_due()
            timer = self._heap.push(when, callback)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            elif earliest is None or when < earliest:
                self._cond.notify()  # the thread sleeps until a later time: wake it to sleep less
            return timer

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(self.clock() + max(0.0, delay), callback)

    def pending(self) -> int:
        """Armed timers (for tests and diagnostics)."""
        return len(self._heap)

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                now = self.clock()
                due = self._heap.pop_due(now)
                if not due:
                    upcoming = self._heap.next_due()
                    self._cond.wait(_IDLE_WAIT if upcoming is None else max(0.0, upcoming - now))
                    continue
            for timer in due:
                self._fire(timer)

    def _fire(self, timer: Timer) -> None:
        started = self.clock()
        try:
            timer.callback()
        except Exception:  # one failing callback must not stop the clock
            log.warning("a deadline callback failed", exc_info=True)
        took = self.clock() - started
        if took > SLOW_CALLBACK:
            log.warning("a deadline callback took %.3f s; callbacks must be quick", took)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread; armed timers never fire."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._heap.clear()
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed
