"""Running one statement: a named worker thread follows the operation on the main connection
and hands what it reads to the calling (main) thread through a queue.

The main thread never touches the main connection while a run goes on, so Ctrl-C (a
KeyboardInterrupt in the main thread) never tears a Thrift frame: the cancel goes out on the
second ("control") connection of the same user, which also carries approval decisions.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from client.connection import Column, ConnectionLostError, Hs2Connection, OperationStatus, ServerError

FETCH_SIZE = 1000
IDLE_POLL = 0.05  # an empty fetch answered faster than this is followed by a short wait
CANCEL_GRACE = 10.0  # after a cancel, how long the run may take to end before it is abandoned

EVENTS, ANSWER, TABLE, NONE = "events", "answer", "table", "none"

T = TypeVar("T")


@dataclass(frozen=True)
class Decision:
    approved: bool
    reason: str = ""


class Approver(Protocol):
    """Decides a parked tool call (an ``approval_request`` event)."""

    def decide(self, request: dict[str, Any]) -> Decision: ...


class Sink(Protocol):
    """Shows a run: the rendering differs for a terminal, plain text and JSON lines."""

    def begin(self, kind: str, columns: list[Column]) -> None: ...

    def event(self, event: dict[str, Any], raw: str) -> None: ...

    def row(self, values: tuple[Any, ...]) -> None: ...

    def flush(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def note(self, text: str, style: str = "") -> None: ...

    def end(self, outcome: Outcome) -> None: ...


@dataclass
class Outcome:
    state: str = "UKNOWN"
    error: str = ""
    cancelled: bool = False
    errors: list[str] = field(default_factory=list)  # `error` event messages
    answer: list[str] = field(default_factory=list)  # content_delta texts, or answer-mode rows
    rows: int = 0
    finish: dict[str, Any] | None = None  # the agent_finish event
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.state == "FINISHED" and not self.errors and not self.error


def result_kind(columns: list[Column]) -> str:
    """What the rows are: event rows (``reply``), one answer text (``answer``) or a table."""
    if not columns:
        return NONE
    if len(columns) == 1 and columns[0].type == "STRING":
        if columns[0].name == "reply":
            return EVENTS
        if columns[0].name == "answer":
            return ANSWER
    return TABLE


class _Worker:
    """Follows one operation on the main connection; every result goes on ``items``."""

    def __init__(self, conn: Hs2Connection, statement: str, conf_overlay: dict[str, str]) -> None:
        self.conn = conn
        self.statement = statement
        self.conf_overlay = conf_overlay
        self.items: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.handle: Any = None
        self.handle_ready = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="data-agent-fetch", daemon=True)

    def _run(self) -> None:
        final: tuple[str, Any]
        try:
            self.handle = self.conn.execute(self.statement, conf_overlay=self.conf_overlay)
            self.handle_ready.set()
            columns = self.conn.schema(self.handle) if self.handle.hasResultSet else []
            self.items.put(("schema", columns))
            final = ("end", self._follow(bool(columns)))
        except Exception as exc:  # never lose the run's end: the main thread waits for it
            final = ("failed", exc)
        finally:
            self.handle_ready.set()
        if self.handle is not None and not self.stop.is_set():
            try:
                self.conn.close_operation(self.handle)
            except (ServerError, ConnectionLostError):
                pass
        # Only now is the connection free for the main thread's next statement.
        self.items.put(final)

    def _follow(self, has_rows: bool) -> OperationStatus:
        while True:
            started = time.monotonic()
            rows = self.conn.fetch(self.handle, FETCH_SIZE) if has_rows else []
            if rows:
                self.items.put(("rows", rows))
                continue
            # An empty batch is not the end: only the operation status says so.
            status = self.conn.status(self.handle)
            if status.terminal:
                while has_rows and (rows := self.conn.fetch(self.handle, FETCH_SIZE)):
                    self.items.put(("rows", rows))
                return status
            if time.monotonic() - started < IDLE_POLL:
                self.stop.wait(IDLE_POLL)


def _take(item: tuple[str, Any], pending: deque[tuple[str, Any]]) -> None:
    tag, value = item
    if tag == "rows":
        pending.extend(("row", values) for values in value)
    else:
        pending.append(item)


class StatementRunner:
    """Runs statements on the main connection; approvals and cancels go on a second connection
    of the same user, opened on first use. ``connect`` opens one connection to the server."""

    def __init__(self, connect: Callable[[], Hs2Connection]) -> None:
        self._connect = connect
        self.main = connect()
        self._control: Hs2Connection | None = None
        self._main_broken = False

    def close(self) -> None:
        for conn in (self._control, self.main):
            if conn is not None:
                conn.close()
        self._control = None

    def control(self, call: Callable[[Hs2Connection], T]) -> T:
        """Run ``call`` on the control connection. An interrupted or broken call discards the
        connection (its stream may be torn), so the next call opens a fresh one."""
        if self._control is None:
            self._control = self._connect()
        conn = self._control
        try:
            return call(conn)
        except ServerError:
            raise
        except BaseException:
            self._control = None
            conn.abort()
            conn.close()
            raise

    def run(
        self,
        statement: str,
        sink: Sink,
        approver: Approver,
        conf_overlay: dict[str, str] | None = None,
    ) -> Outcome:
        if self._main_broken:  # the last run lost the connection: open a new session first
            self.main.close()
            self.main = self._connect()
            self._main_broken = False
            sink.note("reconnected: a new session (settings made with SET start over)", "yellow")
        worker = _Worker(self.main, statement, conf_overlay or {})
        outcome = Outcome()
        started = time.monotonic()
        kind = NONE
        pending: deque[tuple[str, Any]] = deque()  # survives a Ctrl-C in the middle of a batch
        cancel_deadline: float | None = None
        worker.thread.start()
        while True:
            try:
                while True:
                    if not pending:
                        timeout = 0.1
                        if cancel_deadline is not None:
                            timeout = max(0.0, min(timeout, cancel_deadline - time.monotonic()))
                            if timeout == 0.0:
                                self._abandon(worker, sink)
                                outcome.cancelled, outcome.state = True, "CANCELED"
                                outcome.error = "the server did not confirm the cancel; reconnected"
                                outcome.elapsed = time.monotonic() - started
                                sink.end(outcome)
                                return outcome
                        try:
                            _take(worker.items.get(timeout=timeout), pending)
                        except queue.Empty:
                            sink.flush()
                            continue
                        while True:
                            try:
                                _take(worker.items.get_nowait(), pending)
                            except queue.Empty:
                                break
                    while pending:
                        tag, value = pending.popleft()
                        if tag == "schema":
                            kind = result_kind(value)
                            sink.begin(kind, value)
                        elif tag == "row":
                            self._row(kind, value, sink, approver, outcome)
                        else:
                            self._main_broken = isinstance(value, ConnectionLostError)
                            self._finish(tag, value, outcome)
                            outcome.elapsed = time.monotonic() - started
                            sink.end(outcome)
                            return outcome
                    sink.flush()
            except KeyboardInterrupt:
                if cancel_deadline is not None:  # a second Ctrl-C: stop waiting for the server
                    cancel_deadline = time.monotonic()
                    continue
                outcome.cancelled = True
                cancel_deadline = time.monotonic() + CANCEL_GRACE
                sink.resume()
                sink.note("cancelling the run (Ctrl-C again to stop waiting)", "yellow")
                self._cancel(worker, sink)

    # --- rows ----------------------------------------------------------------------------------
    def _row(
        self, kind: str, values: tuple[Any, ...], sink: Sink, approver: Approver, outcome: Outcome
    ) -> None:
        outcome.rows += 1
        if kind != EVENTS:
            if kind == ANSWER and values and values[0] is not None:
                outcome.answer.append(str(values[0]))
            sink.row(values)
            return
        raw = str(values[0]) if values and values[0] is not None else ""
        try:
            event = json.loads(raw)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            event = {"type": "unknown", "text": raw}
        sink.event(event, raw)
        kind_of_event = event.get("type")
        if kind_of_event == "content_delta":
            outcome.answer.append(str(event.get("text", "")))
        elif kind_of_event == "error":
            outcome.errors.append(str(event.get("message", "")))
        elif kind_of_event == "agent_finish":
            outcome.finish = event
        elif kind_of_event == "approval_request":
            self._decide(event, sink, approver)

    def _decide(self, request: dict[str, Any], sink: Sink, approver: Approver) -> None:
        request_id = str(request.get("requestId", ""))
        sink.pause()
        try:
            decision = approver.decide(request)
        finally:
            sink.resume()
        if decision.approved:
            statement = f"__approve:{request_id}"
        else:
            reason = " ".join(decision.reason.split())  # one line
            statement = f"__deny:{request_id}" + (f" {reason}" if reason else "")
        try:
            _columns, rows = self.control(lambda conn: conn.query(statement))
        except (ServerError, ConnectionLostError) as exc:
            sink.note(f"could not send the decision: {exc}", "red")
            return
        reply: dict[str, Any] = {}
        if rows and rows[0] and isinstance(rows[0][0], str):
            try:
                reply = json.loads(rows[0][0])
            except ValueError:
                reply = {}
        action = "approved" if decision.approved else "denied"
        if reply.get("status") == "ok":
            sink.note(f"{action} {request_id}" + (f": {decision.reason}" if decision.reason else ""), "dim")
        else:
            sink.note(f"{action} {request_id}: the server no longer waits for it ({reply or rows})", "yellow")

    @staticmethod
    def _finish(tag: str, value: Any, outcome: Outcome) -> None:
        if tag == "failed":
            outcome.state = "ERROR"
            outcome.error = str(value)
            return
        status: OperationStatus = value
        outcome.state = status.state
        if status.state == "CANCELED":
            outcome.cancelled = True
        elif status.state != "FINISHED":
            outcome.error = status.error or f"the statement ended in state {status.state}"

    # --- cancel --------------------------------------------------------------------------------
    def _cancel(self, worker: _Worker, sink: Sink) -> None:
        if not worker.handle_ready.wait(2.0) or worker.handle is None:
            return  # not started yet: the worker ends by itself (or is abandoned)
        handle = worker.handle
        for attempt in range(2):  # a fresh control connection if the first one was torn
            try:
                self.control(lambda conn: conn.cancel(handle))
                return
            except ConnectionLostError as exc:
                if attempt:
                    sink.note(f"cancel failed: {exc}", "red")
            except ServerError as exc:
                sink.note(f"cancel failed: {exc}", "red")
                return

    def _abandon(self, worker: _Worker, sink: Sink) -> None:
        """Give up on a run whose server does not answer: break the main connection, open anew."""
        worker.stop.set()
        self.main.abort()
        worker.thread.join(2.0)
        self.main.close()
        try:
            self.main = self._connect()
        except Exception as exc:
            sink.note(f"could not reconnect: {exc}", "red")
