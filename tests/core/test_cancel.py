"""CancelToken: reasons decide the error, deadlines fire on the scheduler, children inherit the
earliest deadline and the parent's cancellation."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from engine.common.cancel import CancelReason, CancelToken
from engine.common.deadline import DeadlineScheduler
from engine.common.errors import OperationCanceledError, OperationTimeoutError


@pytest.fixture
def clock() -> Iterator[DeadlineScheduler]:
    """A scheduler of this test's own, so that its count of armed timers is this test's."""
    scheduler = DeadlineScheduler("test-cancel-clock")
    yield scheduler
    scheduler.close()


def test_the_first_cancel_wins_and_its_reason_decides_the_error() -> None:
    token = CancelToken()
    seen: list[CancelReason | None] = []
    token.on_cancel(lambda: seen.append(token.reason))
    assert token.reason is None and token.message == "" and not token.cancelled
    token.raise_if_cancelled()
    token.cancel(CancelReason.SHUTDOWN)
    token.cancel(CancelReason.TIMEOUT, "too late")
    assert seen == [CancelReason.SHUTDOWN]
    assert token.message == "the engine is shutting down"
    with pytest.raises(OperationCanceledError, match="shutting down"):
        token.raise_if_cancelled()


@pytest.mark.parametrize(
    ("reason", "error"),
    [
        (CancelReason.USER, OperationCanceledError),
        (CancelReason.SHUTDOWN, OperationCanceledError),
        (CancelReason.CLIENT_GONE, OperationCanceledError),
        (CancelReason.TIMEOUT, OperationTimeoutError),
    ],
)
def test_each_reason_maps_to_one_error(reason: CancelReason, error: type) -> None:
    token = CancelToken()
    token.cancel(reason, "the text is not what decides")
    assert type(token.error()) is error
    assert str(token.error()) == "the text is not what decides"


def test_callbacks_run_once_and_can_be_unregistered() -> None:
    token = CancelToken()
    calls: list[str] = []
    token.on_cancel(lambda: calls.append("kept"))
    unregister = token.on_cancel(lambda: calls.append("dropped"))
    unregister()
    token.cancel()
    token.cancel()
    token.on_cancel(lambda: calls.append("late"))  # runs at once: already cancelled
    assert calls == ["kept", "late"]


def test_a_deadline_fires_timeout_with_its_message(clock: DeadlineScheduler) -> None:
    token = CancelToken(clock, deadline=time.monotonic() + 0.1, timeout_message="x timed out (x.timeout)")
    assert token.timeout_message == "x timed out (x.timeout)"
    assert token.wait(5)
    assert token.reason is CancelReason.TIMEOUT
    with pytest.raises(OperationTimeoutError, match=r"\(x\.timeout\)"):
        token.raise_if_cancelled()


def test_a_deadline_needs_a_scheduler_and_a_token_may_adopt_one(clock: DeadlineScheduler) -> None:
    with pytest.raises(ValueError, match="DeadlineScheduler"):
        CancelToken(deadline=time.monotonic() + 1)
    token = CancelToken()
    token.arm(time.monotonic() + 0.05, "adopted", scheduler=clock)
    assert token.scheduler is clock and token.wait(5) and token.message == "adopted"


def test_arming_keeps_the_earliest_deadline(clock: DeadlineScheduler) -> None:
    token = CancelToken(clock, deadline=time.monotonic() + 60, timeout_message="late")
    token.arm(time.monotonic() + 0.05, "early")
    token.arm(time.monotonic() + 30, "later again")
    assert token.wait(5) and token.message == "early"


def test_a_cancelled_token_disarms_its_timer(clock: DeadlineScheduler) -> None:
    before = clock.pending()
    token = CancelToken(clock, deadline=time.monotonic() + 60)
    assert clock.pending() == before + 1
    token.cancel()
    assert clock.pending() == before


def test_a_child_inherits_the_parents_cancellation_with_its_reason() -> None:
    parent = CancelToken()
    child = parent.child()
    grandchild = child.child()
    parent.cancel(CancelReason.CLIENT_GONE, "the connection dropped")
    assert child.reason is grandchild.reason is CancelReason.CLIENT_GONE
    assert grandchild.message == "the connection dropped"


def test_a_childs_own_earlier_deadline_fires_only_the_child(clock: DeadlineScheduler) -> None:
    parent = CancelToken(clock, deadline=time.monotonic() + 60, timeout_message="parent (run.timeout)")
    with parent.child(0.05, message="child (tool.call.timeout)") as child:
        assert child.deadline is not None and child.deadline < (parent.deadline or 0)
        assert child.wait(5)
        assert child.reason is CancelReason.TIMEOUT and child.message == "child (tool.call.timeout)"
    assert not parent.cancelled


def test_a_parents_earlier_deadline_is_inherited_without_a_timer(clock: DeadlineScheduler) -> None:
    parent = CancelToken(clock, deadline=time.monotonic() + 0.2, timeout_message="parent (run.timeout)")
    before = clock.pending()
    with parent.child(60, message="child (tool.call.timeout)") as child:
        assert clock.pending() == before  # the parent fires first and reaches the child
        assert child.deadline == parent.deadline and child.timeout_message == "parent (run.timeout)"
        assert child.wait(5)
        assert child.reason is CancelReason.TIMEOUT and child.message == "parent (run.timeout)"


def test_releasing_a_child_detaches_it_and_disarms_its_timer(clock: DeadlineScheduler) -> None:
    parent = CancelToken(clock)
    before = clock.pending()
    child = parent.child(60)
    assert clock.pending() == before + 1
    child.release()
    assert clock.pending() == before
    parent.cancel()
    assert not child.cancelled


def test_a_child_of_a_cancelled_parent_is_born_cancelled(clock: DeadlineScheduler) -> None:
    parent = CancelToken(clock)
    parent.cancel(CancelReason.SHUTDOWN)
    with parent.child(60) as child:
        assert child.reason is CancelReason.SHUTDOWN


def test_a_child_with_a_timeout_needs_a_scheduler() -> None:
    with pytest.raises(ValueError, match="DeadlineScheduler"):
        CancelToken().child(1.0)


def test_wait_returns_as_soon_as_the_token_is_cancelled() -> None:
    token = CancelToken()
    threading.Timer(0.05, token.cancel).start()
    started = time.monotonic()
    assert token.wait(30)
    assert time.monotonic() - started < 5


def test_remaining_counts_down_and_never_goes_negative(clock: DeadlineScheduler) -> None:
    assert CancelToken().remaining() is None
    token = CancelToken(clock, deadline=time.monotonic() + 30)
    remaining = token.remaining()
    assert remaining is not None and 29 < remaining <= 30
    token.cancel()
    late = CancelToken(clock, deadline=time.monotonic() - 1)
    assert late.remaining() == 0.0 and late.wait(5)
