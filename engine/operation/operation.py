"""Operation: one statement or metadata call, with an explicit state machine and a fetch buffer.

Subclasses implement :meth:`Operation.run_internal`, which produces rows into ``self.buffer``
(each row a tuple matching ``result_schema()``, or a plain string for one-column results).
``run`` executes it inline (``runAsync=false``) or on the bounded background pool.

An operation with a ``timeout`` (ExecuteStatement: ``run.timeout`` or the statement's
``queryTimeout``) has its cancel token armed on the engine's deadline scheduler when the manager
starts it. A fetch of a running operation waits until a row exists or the operation ends (capped by
``fetch.wait``); a cancel, a close or the engine stopping ends the operation's waits at once.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from engine.common.cancel import CancelReason, CancelToken
from engine.common.deadline import DeadlineScheduler
from engine.common.errors import (
    EngineError,
    InvalidStateError,
    OperationCanceledError,
    OperationTimeoutError,
)
from engine.common.handle import OperationHandle, OperationType
from engine.common.logging_context import log_context
from engine.common.redaction import redact_text
from engine.common.types import LOG_SCHEMA, REPLY_SCHEMA, Row, RowBatch, TableSchema
from engine.operation.context import OperationContext
from engine.operation.fetch_buffer import FetchOrientation, IncrementalFetchBuffer
from engine.operation.operation_log import OperationLog, stamp
from engine.operation.state import OperationState, check_transition

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OperationStatus:
    state: OperationState
    sqlstate: str | None = None
    error_code: int = 0
    error_message: str | None = None
    has_result_set: bool = True
    started_ms: int = 0
    completed_ms: int = 0


class Operation:
    op_type = OperationType.EXECUTE_STATEMENT
    run_id: str | None = None  # the agent run it runs or follows (ExecuteStatement, __attach:)

    def __init__(
        self,
        ctx: OperationContext,
        statement: str = "",
        *,
        schema: TableSchema | None = REPLY_SCHEMA,
        has_result_set: bool = True,
        run_async: bool = True,
    ) -> None:
        self.ctx = ctx
        self.statement = statement
        self.run_async = run_async
        self.handle = OperationHandle(op_type=self.op_type, has_result_set=has_result_set)
        self.buffer = IncrementalFetchBuffer(ctx.compact_threshold)
        self.cancel_token = CancelToken()  # armed by arm() when the operation has a timeout
        self.timeout: float | None = None  # seconds from start; set by operations with a deadline
        self.timeout_message = ""  # the error text when it passes (names the key)
        self._lock = threading.Lock()
        self._state = OperationState.INITIALIZED
        self._state_changed = threading.Condition(self._lock)
        self._error: EngineError | None = None
        self._schema = schema
        self.log = OperationLog()  # FetchResults fetchType=1: a bounded window of lines
        self.created = time.time()
        self.started = 0.0
        self.completed = 0.0
        self.last_access = time.monotonic()
        self._done = threading.Event()

    # --- identity ------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.handle.id

    @property
    def user(self) -> str:
        return self.ctx.user

    @property
    def state(self) -> OperationState:
        with self._lock:
            return self._state

    def touch(self) -> None:
        self.last_access = time.monotonic()

    # --- lifecycle -----------------------------------------------------------------------------
    def arm(self, scheduler: DeadlineScheduler) -> None:
        """Start the operation's deadline (if it has a timeout) on the engine's scheduler."""
        if self.timeout is not None:
            deadline = scheduler.clock() + self.timeout
            self.cancel_token.arm(deadline, self.timeout_message or None, scheduler=scheduler)

    def run(self, submit: Callable[[Callable[[], None]], None]) -> None:
        """Start the operation: inline when not async, else through ``submit`` (the bounded pool)."""
        if not self.run_async:
            self._execute()
            return
        self._set_state(OperationState.PENDING)
        context = contextvars.copy_context()
        try:
            submit(lambda: context.run(self._execute))
        except EngineError as exc:
            self._fail(exc)
            raise

    def _execute(self) -> None:
        with log_context(self.ctx.session_id, self.id):
            if not self._set_state(OperationState.RUNNING):  # cancelled or closed while queued
                self.on_complete()
                self._done.set()
                return
            self.started = time.time()
            try:
                self.run_internal()
                self._set_state(OperationState.FINISHED)
            except OperationCanceledError:
                self._set_state(OperationState.CANCELED)
            except OperationTimeoutError as exc:
                self._fail(exc, OperationState.TIMEDOUT)
            except EngineError as exc:
                self._fail(exc)
            except Exception as exc:  # a bug must still end as a clear ERROR, never a hang
                log.exception("operation %s failed unexpectedly", self.id)
                self._fail(EngineError(f"internal error: {type(exc).__name__}: {redact_text(str(exc))}"))
            finally:
                self.completed = time.time()
                self.buffer.finish()
                self.on_complete()
                self._done.set()

    def run_internal(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def on_complete(self) -> None:
        """Hook for subclasses (release session locks...). Runs once, after the terminal state."""

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    def _set_state(self, new: OperationState) -> bool:
        """Apply a transition; False when the operation already left the running states."""
        with self._lock:
            current = self._state
            if current.terminal and new != OperationState.CLOSED:
                return False
            if current == new:
                return True
            check_transition(current, new)
            self._state = new
            self._state_changed.notify_all()
        elapsed = time.time() - self.created
        log.info("operation %s: %s -> %s after %.3f s", self.id, current.name, new.name, elapsed)
        self.add_log(stamp("INFO", f"state {current.name} -> {new.name}"))
        return True

    def _fail(self, error: EngineError, state: OperationState = OperationState.ERROR) -> None:
        with self._lock:
            if self._error is None:
                self._error = error
        if not self._set_state(state):
            return
        self.add_log(stamp("ERROR", error.message))

    def detach(self, on_end: Callable[[], None]) -> bool:
        """Its session's connection dropped: True when the operation goes on without a client and
        calls ``on_end`` when it ends (an agent run); False (the default) when it should simply be
        closed with its session."""
        return False

    def cancel(self, reason: CancelReason = CancelReason.USER) -> None:
        """CancelOperation (``USER``) or the engine stopping (``SHUTDOWN``): a running operation
        stops, and every fetch waiting on it returns at once; a terminal one is left as it is."""
        self.touch()
        if self._set_state(OperationState.CANCELED):
            self.cancel_token.cancel(reason)
            self.buffer.finish()

    def close(self) -> None:
        """CloseOperation (or its session closing): stops the run and ends every wait on it."""
        self.cancel_token.cancel(CancelReason.USER, "the operation was closed")
        with self._lock:
            already = self._state == OperationState.CLOSED
        if not already:
            self._set_state(OperationState.CLOSED)
        self.buffer.release()

    def error(self) -> EngineError | None:
        with self._lock:
            return self._error

    # --- status and results --------------------------------------------------------------------
    def status(self) -> OperationStatus:
        self.touch()
        with self._lock:
            state, error = self._state, self._error
        return OperationStatus(
            state=state,
            sqlstate=error.sqlstate if error else None,
            error_code=error.vendor_code if error else 0,
            error_message=error.message if error else None,
            has_result_set=self.handle.has_result_set,
            started_ms=int(self.started * 1000) if self.started else int(self.created * 1000),
            completed_ms=int(self.completed * 1000) if self.completed else 0,
        )

    def set_schema(self, schema: TableSchema) -> None:
        with self._lock:
            self._schema = schema
            self._state_changed.notify_all()

    def _wait_for_schema(self, timeout: float) -> TableSchema | None:
        """The result schema, waiting up to ``timeout`` while a running operation has not decided
        it yet (table mode); a terminal state (cancel, close, stop, the run's end) ends the wait."""
        with self._lock:
            self._state_changed.wait_for(lambda: self._schema is not None or self._state.terminal, timeout)
            return self._schema

    def result_schema(self) -> TableSchema:
        """GetResultSetMetadata: waits (capped by ``fetch.wait``) for a schema decided at run time."""
        self.touch()
        self._check_open()
        schema = self._wait_for_schema(self.ctx.fetch_wait)
        if schema is None:
            error = self.error()
            if error is not None:
                raise error
            raise InvalidStateError(
                "the result schema is not known yet; the statement produced no result set"
            )
        return schema

    def _check_open(self) -> None:
        if self.state == OperationState.CLOSED:
            raise InvalidStateError(f"operation {self.id} is closed")

    def fetch(self, orientation: FetchOrientation, max_rows: int) -> RowBatch:
        self.touch()
        self._check_open()
        # A running operation: wait for a row (or its end), capped by fetch.wait, never answering
        # empty early (PyHive, impyla and hive-jdbc take an empty batch for the end). A table-mode
        # run first decides its columns; the same cap covers both waits.
        started = time.monotonic()
        schema = self._wait_for_schema(self.ctx.fetch_wait)
        if schema is None:  # still no columns when the cap passed (or the run ended without any)
            return RowBatch([[]], self.buffer.position, not self.state.terminal, protocol=self.ctx.protocol)
        wait = max(0.0, self.ctx.fetch_wait - (time.monotonic() - started))
        chunk = self.buffer.fetch(orientation, max_rows, wait)
        width = len(schema.columns)
        if width == 1 and (not chunk.items or not isinstance(chunk.items[0], tuple)):
            return RowBatch([chunk.items], chunk.start_offset, chunk.has_more, schema, self.ctx.protocol)
        rows = cast(list[Row], chunk.items)  # a multi-column operation buffers only tuples
        batch = RowBatch.from_rows(rows, width, chunk.start_offset, chunk.has_more, self.ctx.protocol)
        batch.schema = schema
        return batch

    # --- operation log (FetchResults fetchType=1) ---------------------------------------------
    def add_log(self, line: str) -> None:
        self.log.append(line)
        with self._lock:
            self._state_changed.notify_all()  # a status long poll returns with the news

    def fetch_log(self, orientation: FetchOrientation, max_rows: int) -> RowBatch:
        self.touch()
        self._check_open()
        lines, start, pending = self.log.read(max_rows, orientation == FetchOrientation.FETCH_FIRST)
        more = pending or not self.state.terminal
        return RowBatch([lines], start, more, LOG_SCHEMA, self.ctx.protocol)

    def wait_for_progress(self, timeout: float) -> None:
        """GetOperationStatus' long poll: wait up to ``timeout`` while the operation is pending or
        running, returning as soon as its state changes or a log line is added."""
        with self._lock:
            state, logged = self._state, self.log.total
            if state.terminal or timeout <= 0:
                return
            self._state_changed.wait_for(
                lambda: self._state is not state or self.log.total != logged, timeout
            )
