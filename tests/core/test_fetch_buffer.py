"""IncrementalFetchBuffer: a Hypothesis state machine against a plain list, and producer/consumer."""

from __future__ import annotations

import threading

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from engine.common.errors import FetchWindowError, UnsupportedError
from engine.operation.fetch_buffer import FetchOrientation, IncrementalFetchBuffer

THRESHOLD = 8


class FetchBufferMachine(RuleBasedStateMachine):
    """The model: a plain list of every row ever appended, a cursor and the last fetch start."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = IncrementalFetchBuffer(compact_threshold=THRESHOLD)
        self.rows: list[int] = []
        self.position = 0
        self.fetch_start = 0
        self.trimmed = 0  # the lowest row the model still promises to serve
        self.finished = False

    @precondition(lambda self: not self.finished)
    @rule(count=st.integers(min_value=0, max_value=20))
    def append(self, count: int) -> None:
        new = list(range(len(self.rows), len(self.rows) + count))
        self.buffer.extend(new)
        self.rows.extend(new)

    @precondition(lambda self: not self.finished)
    @rule()
    def finish(self) -> None:
        self.buffer.finish()
        self.finished = True

    def _fetch(self, orientation: FetchOrientation, start: int, max_rows: int) -> None:
        if start < self.trimmed:
            with pytest.raises(FetchWindowError):
                self.buffer.fetch(orientation, max_rows)
            return
        chunk = self.buffer.fetch(orientation, max_rows)
        expected = self.rows[start : start + max_rows]
        assert chunk.items == expected
        assert chunk.start_offset == start
        self.fetch_start = start
        self.position = start + len(expected)
        if self.fetch_start - self.trimmed >= THRESHOLD:
            self.trimmed = self.fetch_start
        assert chunk.has_more == (not self.finished or self.position < len(self.rows))

    @rule(max_rows=st.integers(min_value=0, max_value=15))
    def fetch_next(self, max_rows: int) -> None:
        self._fetch(FetchOrientation.FETCH_NEXT, self.position, max_rows)

    @rule(max_rows=st.integers(min_value=0, max_value=15))
    def fetch_first(self, max_rows: int) -> None:
        self._fetch(FetchOrientation.FETCH_FIRST, 0, max_rows)

    @rule(max_rows=st.integers(min_value=0, max_value=15))
    def fetch_prior(self, max_rows: int) -> None:
        self._fetch(FetchOrientation.FETCH_PRIOR, max(0, self.fetch_start - max_rows), max_rows)

    @rule(
        orientation=st.sampled_from(
            [FetchOrientation.FETCH_LAST, FetchOrientation.FETCH_ABSOLUTE, FetchOrientation.FETCH_RELATIVE]
        )
    )
    def unsupported(self, orientation: FetchOrientation) -> None:
        with pytest.raises(UnsupportedError):
            self.buffer.fetch(orientation, 5)

    @invariant()
    def positions_agree(self) -> None:
        assert self.buffer.position == self.position
        assert self.buffer.size == len(self.rows)
        assert self.buffer.trimmed == self.trimmed


TestFetchBufferMachine = FetchBufferMachine.TestCase
TestFetchBufferMachine.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)


@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_producer_consumer_sees_exactly_range_in_order(batch: int) -> None:
    total = 20_000
    buffer = IncrementalFetchBuffer(compact_threshold=1024)

    def produce() -> None:
        for value in range(total):
            buffer.append(value)
        buffer.finish()

    producer = threading.Thread(target=produce, name="test-producer")
    producer.start()
    seen: list[int] = []
    while True:
        chunk = buffer.fetch(FetchOrientation.FETCH_NEXT, batch, wait=0.5)
        assert chunk.start_offset == len(seen)
        seen.extend(chunk.items)
        if not chunk.has_more:
            break
    producer.join(timeout=10)
    assert seen == list(range(total))
    assert buffer.trimmed > 0  # consumed rows were compacted away


def test_long_poll_returns_as_soon_as_a_row_exists() -> None:
    buffer = IncrementalFetchBuffer()
    timer = threading.Timer(0.05, buffer.append, args=("row",))
    timer.name = "test-appender"
    timer.start()
    chunk = buffer.fetch(FetchOrientation.FETCH_NEXT, 10, wait=5.0)
    timer.join()
    assert chunk.items == ["row"]
    assert chunk.has_more


def test_long_poll_times_out_empty_while_running_and_ends_when_finished() -> None:
    buffer = IncrementalFetchBuffer()
    chunk = buffer.fetch(FetchOrientation.FETCH_NEXT, 10, wait=0.05)
    assert chunk.items == [] and chunk.has_more
    buffer.finish()
    chunk = buffer.fetch(FetchOrientation.FETCH_NEXT, 10, wait=5.0)
    assert chunk.items == [] and not chunk.has_more


def test_fetch_into_compacted_region_is_a_clear_error() -> None:
    buffer = IncrementalFetchBuffer(compact_threshold=4)
    buffer.extend(range(10))
    buffer.fetch(FetchOrientation.FETCH_NEXT, 5)
    buffer.fetch(FetchOrientation.FETCH_NEXT, 5)  # fetch_start 5 >= 4: rows 0..4 compacted
    with pytest.raises(FetchWindowError, match="already fetched and released"):
        buffer.fetch(FetchOrientation.FETCH_FIRST, 5)
