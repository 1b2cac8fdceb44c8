"""The deadline scheduler: a Hypothesis state machine for its heap against a plain model, and its
thread with real time (order, disarm, failing callbacks, close)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from engine.common.deadline import DeadlineHeap, DeadlineScheduler, Timer


class DeadlineHeapMachine(RuleBasedStateMachine):
    """The model: the armed timers as a dict from timer to (when, push order); a clock that only
    moves forward."""

    timers = Bundle("timers")

    def __init__(self) -> None:
        super().__init__()
        self.heap = DeadlineHeap()
        self.armed: dict[Timer, tuple[float, int]] = {}
        self.pushed = 0
        self.now = 0.0
        self.fired: list[int] = []

    @rule(target=timers, delay=st.floats(min_value=0.0, max_value=50.0, allow_nan=False))
    def push(self, delay: float) -> Timer:
        number = self.pushed
        self.pushed += 1
        timer = self.heap.push(self.now + delay, lambda: self.fired.append(number))
        self.armed[timer] = (self.now + delay, number)
        return timer

    @rule(timer=consumes(timers))
    def cancel(self, timer: Timer) -> None:
        timer.cancel()
        timer.cancel()  # idempotent
        self.armed.pop(timer, None)
        assert not timer.active

    @rule(step=st.floats(min_value=0.0, max_value=30.0, allow_nan=False))
    def advance(self, step: float) -> None:
        self.now += step
        due = self.heap.pop_due(self.now)
        expected = sorted(value for value in self.armed.values() if value[0] <= self.now)
        assert [(timer.when, self.armed[timer][1]) for timer in due] == expected
        for timer in due:
            assert timer.fired and not timer.active
            del self.armed[timer]
            timer.callback()
        assert self.fired[len(self.fired) - len(due) :] == [number for _, number in expected]

    @invariant()
    def counts_and_next_due_agree(self) -> None:
        assert len(self.heap) == len(self.armed)
        expected = min((when for when, _ in self.armed.values()), default=None)
        assert self.heap.next_due() == expected


DeadlineHeapMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
TestDeadlineHeap = DeadlineHeapMachine.TestCase


def test_many_disarmed_timers_are_compacted_away() -> None:
    heap = DeadlineHeap()
    timers = [heap.push(1000.0 + i, lambda: None) for i in range(1000)]
    keep = heap.push(5.0, lambda: None)
    for timer in timers:
        timer.cancel()
    assert len(heap) == 1
    assert len(heap._entries) < 200  # rebuilt without the disarmed ones, not kept until their time
    assert heap.pop_due(10.0) == [keep]


# --- the thread ----------------------------------------------------------------------------------
@pytest.fixture
def clock() -> Iterator[DeadlineScheduler]:
    scheduler = DeadlineScheduler("test-clock")
    yield scheduler
    scheduler.close()


def test_callbacks_run_in_deadline_order_on_one_named_thread(clock: DeadlineScheduler) -> None:
    seen: list[tuple[str, str]] = []
    done = threading.Event()

    def record(name: str) -> None:
        seen.append((name, threading.current_thread().name))
        if len(seen) == 3:
            done.set()

    now = time.monotonic()
    clock.call_at(now + 0.3, lambda: record("third"))
    clock.call_at(now + 0.1, lambda: record("first"))
    clock.call_later(0.2, lambda: record("second"))
    assert done.wait(5)
    assert [name for name, _ in seen] == ["first", "second", "third"]
    assert {thread for _, thread in seen} == {"test-clock"}


def test_an_earlier_timer_wakes_a_thread_sleeping_until_a_later_one(clock: DeadlineScheduler) -> None:
    clock.call_later(60, lambda: None)
    fired = threading.Event()
    started = time.monotonic()
    clock.call_later(0.05, fired.set)
    assert fired.wait(5)
    assert time.monotonic() - started < 2


def test_a_cancelled_timer_never_fires(clock: DeadlineScheduler) -> None:
    fired = threading.Event()
    later = threading.Event()
    timer = clock.call_later(0.1, fired.set)
    clock.call_later(0.3, later.set)
    timer.cancel()
    assert later.wait(5)
    assert not fired.is_set()
    assert clock.pending() == 0


def test_a_failing_callback_does_not_stop_the_clock(clock: DeadlineScheduler) -> None:
    def boom() -> None:
        raise RuntimeError("boom")

    after = threading.Event()
    clock.call_later(0.01, boom)
    clock.call_later(0.05, after.set)
    assert after.wait(5)


def test_close_stops_the_thread_and_later_timers_are_inert() -> None:
    scheduler = DeadlineScheduler("test-closing-clock")
    fired = threading.Event()
    scheduler.call_later(30, fired.set)
    thread = next(t for t in threading.enumerate() if t.name == "test-closing-clock")
    scheduler.close()
    assert not thread.is_alive() and scheduler.closed
    timer = scheduler.call_later(0.0, fired.set)
    assert not timer.active and scheduler.pending() == 0
    assert not fired.wait(0.1)
    scheduler.close()  # idempotent


def test_no_thread_until_the_first_timer() -> None:
    scheduler = DeadlineScheduler("test-lazy-clock")
    try:
        assert "test-lazy-clock" not in {t.name for t in threading.enumerate()}
    finally:
        scheduler.close()
