"""ExecuteStatement: a question answered by the agent provider, streamed into the fetch buffer.

Every agent run is a run of the engine's run registry (:mod:`engine.operation.live_run`): it is
registered when its operation is built (its id is known at once), each event is recorded once
(queued to the store's writer, kept for followers) before its row reaches the fetch buffer, and at
the end the conversation's memory and the token usage are queued, then the final status, and the
operation passes the store's barrier before it reports its terminal state. A store outage delays
nothing but that barrier (bounded by ``store.commit.timeout``).

The run's status follows how it ended: ``success``; ``error`` (an agent error or the run's own
deadline); ``stopped`` (CancelOperation, CloseOperation, CloseSession, a stop over the REST API,
or the detached timeout); ``interrupted`` (the engine stopped).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence

from engine.agent.events import (
    AgentEvent,
    AgentFinishEvent,
    AgentStartEvent,
    ApprovalRequestEvent,
    ErrorEvent,
    StepStartEvent,
)
from engine.agent.memory import ConversationMemory
from engine.agent.provider import RunRequest
from engine.common.cancel import CancelReason
from engine.common.config import APPROVAL_TIMEOUT, MODEL, RESULT_MODE, RUN_TIMEOUT, EngineConf
from engine.common.errors import (
    BusyError,
    EngineError,
    InvalidStateError,
    OperationCanceledError,
    OperationTimeoutError,
)
from engine.common.record import RunStatus
from engine.operation.context import OperationContext
from engine.operation.live_run import LiveRun, RunHub
from engine.operation.operation import Operation
from engine.operation.operation_log import ProgressLog
from engine.operation.result_mode import SinkContext, make_sink
from engine.operation.run_log import RunLog, RunObserver, RunTracker
from engine.operation.run_log import RunStatus as RunOutcome
from engine.operation.state import OperationState
from engine.operation.table_stream import TableTransform

log = logging.getLogger(__name__)

# how a cancelled run ends, by the reason its token was cancelled for
CANCELLED_STATUS = {
    CancelReason.USER: RunStatus.STOPPED,
    CancelReason.CLIENT_GONE: RunStatus.STOPPED,
    CancelReason.SHUTDOWN: RunStatus.INTERRUPTED,
    CancelReason.TIMEOUT: RunStatus.ERROR,
}


class ExecuteStatement(Operation):
    def __init__(
        self,
        ctx: OperationContext,
        statement: str,
        conf: EngineConf,
        *,
        run_async: bool,
        query_timeout: int = 0,
        transform: TableTransform | None = None,
        observers: Sequence[RunObserver] | None = None,
    ) -> None:
        super().__init__(ctx, statement, schema=None, run_async=run_async)
        if ctx.runs is None:
            raise InvalidStateError("this session cannot run questions: the engine has no run service")
        self.conf = conf
        # who hears of the run's start, events and end: its log lines unless told otherwise
        self.observers: tuple[RunObserver, ...] = (RunLog(),) if observers is None else tuple(observers)
        self.sink = make_sink(
            conf.get(RESULT_MODE),
            SinkContext(
                buffer=self.buffer,
                set_schema=self.set_schema,
                approvals=ctx.agent_session.approvals,
                operation_id=self.id,
                conf=conf,
                cancel=self.cancel_token,
                datasource=ctx.datasource,
                transform=transform,
                add_log=self.add_log,
            ),
        )
        if self.sink.initial_schema is not None:
            self.set_schema(self.sink.initial_schema)
        # the operation log's lines for the run's events (a gated call parks unless the sink denies it)
        self.progress = ProgressLog(
            self.add_log, conf.get(APPROVAL_TIMEOUT), parks=not self.sink.denies_approvals
        )
        # run.timeout, or the statement's own queryTimeout when it is shorter: the operation's token
        # times out on the engine's deadline scheduler (armed when the manager starts it)
        timeout = conf.get(RUN_TIMEOUT)
        key = "run.timeout"
        if query_timeout and query_timeout > 0 and query_timeout < timeout:
            timeout, key = float(query_timeout), "queryTimeout"
        self.timeout = timeout
        self.timeout_message = f"the statement timed out after {timeout:g} s ({key})"
        # the run: registered now, so that its id can be followed before it starts
        self.hub: RunHub = ctx.runs.hub
        self.run_id = uuid.uuid4().hex
        self.conversation_id = ctx.conversation_id
        ctx.record_conversation()
        self.live_run: LiveRun = self.hub.begin(
            self.run_id,
            ctx.user,
            statement,
            conversation_id=self.conversation_id,
            model=conf.get(MODEL),
            stop=self._stop_run,
        )
        self._end_lock = threading.Lock()
        self._run_ended = False
        self._completed = False
        self._end_listeners: list[Callable[[], None]] = []
        self._started_run = False
        self._tokens_before = (0, 0)
        self._finish: AgentFinishEvent | None = None
        self._steps = 0
        self._tracker: RunTracker | None = None  # the run's log lines and observers, once it runs

    # --- the run --------------------------------------------------------------------------------
    def _memory(self) -> ConversationMemory | None:
        """The conversation's memory, when the provider keeps one."""
        memory = self.ctx.agent_session.memory
        return memory if isinstance(memory, ConversationMemory) else None

    def run_internal(self) -> None:
        memory = self._memory()
        if memory is not None:
            self._tokens_before = (memory.cumulative_prompt_tokens, memory.cumulative_completion_tokens)
        self._started_run = True
        request = RunRequest(
            question=self.statement,
            session=self.ctx.agent_session,
            operation_id=self.id,
            conf=self.conf,
            cancel=self.cancel_token,
        )
        status, error = RunStatus.ERROR, "the run failed unexpectedly"
        self._tracker = RunTracker(self.ctx.user, self.statement, self.observers)
        try:
            # closing(): the provider's cleanup (stream close, memory repair) runs at once on
            # cancel or error rather than whenever the generator is collected.
            with contextlib.closing(self.ctx.provider.run(request)) as events:
                for event in events:
                    self._emit(event)
                    self.cancel_token.raise_if_cancelled()
            self.cancel_token.raise_if_cancelled()
            self.sink.on_finish()
            status, error = RunStatus.SUCCESS, ""
            self._tracker.end()
        except (OperationCanceledError, OperationTimeoutError) as exc:
            # the token's reason decides what the run's end means (a timeout of its own deadline, a
            # user's cancel, the engine stopping), whatever a lower layer raised on the way out
            cancelled = self.cancel_token.reason
            failure = self.cancel_token.error() if cancelled is not None else exc
            self._failed(failure)
            status = CANCELLED_STATUS[cancelled] if cancelled is not None else RunStatus.ERROR
            error = failure.message
            timed_out = isinstance(failure, OperationTimeoutError)
            self._tracker.end(RunOutcome.TIMEOUT if timed_out else RunOutcome.CANCELLED, failure.message)
            if failure is exc:
                raise
            raise failure from None
        except EngineError as exc:
            self._failed(exc)
            error = exc.message
            self._tracker.end(RunOutcome.ERROR, exc.message)
            raise
        except Exception as exc:
            self._tracker.end(RunOutcome.FAULT, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self._end_run(status, error or None)

    def _emit(self, event: AgentEvent) -> None:
        """Record one event of the run, then hand it to the result sink (the client's rows)."""
        if isinstance(event, AgentStartEvent):
            event = dataclasses.replace(event, run_id=self.run_id, conversation_id=self.conversation_id)
        elif isinstance(event, StepStartEvent):
            self._steps = max(self._steps, event.step)
            self.live_run.progress(event.step, 0, 0)
        elif isinstance(event, AgentFinishEvent):
            self._finish = event
            self.live_run.progress(
                event.steps, event.accumulated_prompt_tokens, event.accumulated_completion_tokens
            )
        elif isinstance(event, ApprovalRequestEvent) and self.hub.registry is not None:
            arguments = json.dumps(event.args, ensure_ascii=False, separators=(",", ":"), default=str)
            self.hub.registry.request_approval(
                self.live_run.run_id, event.request_id, event.name, arguments, event.risk_level
            )
        if self._tracker is not None:
            self._tracker.on_event(event)
        row = event.to_row()
        self.live_run.append(event.type, row)
        self.sink.on_event(event, row)
        self.progress.on_event(event)

    def _failed(self, error: EngineError) -> None:
        """The run's last rows when it fails: an ``error`` event unless the agent sent one."""
        if not self.sink.saw_error:
            self._emit(ErrorEvent(error.message))
        self.sink.on_failure(error)

    def _end_run(self, status: RunStatus, error: str | None) -> None:
        """Queue the conversation's memory, the token usage and the run's end, then pass the
        barrier (at most once per run)."""
        with self._end_lock:
            if self._run_ended:
                return
            self._run_ended = True
        started = time.monotonic()
        prompt, completion = self._tokens()
        self.live_run.progress(self._steps, prompt, completion)
        registry = self.hub.registry
        if self._started_run:
            memory = self._memory()
            try:
                if registry is not None and self.conversation_id is not None and memory is not None:
                    registry.save_memory(self.conversation_id, memory.snapshot())
                self.hub.spend(self.live_run, prompt, completion)  # the day's count, kept
            except Exception:  # queued writes do not fail; a bug here must not lose the run's end
                log.warning("run %s: could not queue its memory or token usage", self.run_id, exc_info=True)
        committed = self.hub.end(self.live_run, status, error)
        log.info(
            "run %s ended %s (%d steps, %d prompt + %d completion tokens)%s in %.3f s",
            self.run_id,
            status.value,
            self._steps,
            prompt,
            completion,
            "" if committed else ", its end not yet committed",
            time.monotonic() - started,
        )

    def _tokens(self) -> tuple[int, int]:
        """The run's tokens: its ``agent_finish`` totals, or (a stopped run) what its LLM calls
        added to the conversation's counters."""
        prompt = completion = 0
        memory = self._memory()
        if memory is not None and self._started_run:
            prompt = memory.cumulative_prompt_tokens - self._tokens_before[0]
            completion = memory.cumulative_completion_tokens - self._tokens_before[1]
        if self._finish is not None:
            prompt = max(prompt, self._finish.accumulated_prompt_tokens)
            completion = max(completion, self._finish.accumulated_completion_tokens)
        return max(0, prompt), max(0, completion)

    def _stop_run(self, reason: CancelReason, message: str) -> None:
        """The run hub's stop (the detached timeout, a stop over the REST API): quick."""
        self.cancel_token.cancel(reason, message)

    # --- lifecycle ------------------------------------------------------------------------------
    def cancel(self, reason: CancelReason = CancelReason.USER) -> None:
        """CancelOperation stops the run and reports CANCELED once the run's end is committed
        (bounded by ``store.commit.timeout``); the engine stopping does not wait here."""
        self.cancel_token.cancel(reason)
        if reason is CancelReason.USER and self.state == OperationState.RUNNING:
            self.wait(self.hub.commit_timeout + 1.0)
        super().cancel(reason)

    def detach(self, on_end: Callable[[], None]) -> bool:
        """The session's connection dropped: the run goes on, unwatched by this operation, until it
        ends (``on_end`` is called then) or the detached timeout stops it. False when it has
        already ended."""
        with self._end_lock:
            if self._completed:
                return False
            self._end_listeners.append(on_end)
        self.hub.unwatch(self.live_run)
        return True

    def on_complete(self) -> None:
        # a run that never ran (refused by a full pool, cancelled while queued) still ends
        self._end_run(RunStatus.STOPPED if self.cancel_token.cancelled else RunStatus.ERROR, self._why())
        self.ctx.agent_session.approvals.deny_operation(self.id, "the operation ended")
        lock = self.ctx.agent_session.lock
        if lock.locked():
            try:
                lock.release()
            except RuntimeError:
                pass
        with self._end_lock:
            self._completed = True
            listeners, self._end_listeners = self._end_listeners, []
        for listener in listeners:
            try:
                listener()
            except Exception:
                log.warning("operation %s: an end listener failed", self.id, exc_info=True)

    def _why(self) -> str:
        error = self.error()
        if error is not None:
            return error.message
        return self.cancel_token.message or "the statement never started"


def exclusive_run(ctx: OperationContext, build: Callable[[], Operation]) -> Operation:
    """Build an agent-run operation while holding the session's one-run lock.

    The lock is released by the operation's ``on_complete`` (see :class:`ExecuteStatement`), or
    here when building fails.
    """
    lock = ctx.agent_session.lock
    if not lock.acquire(blocking=False):
        raise BusyError(
            "this session (or another session of its conversation) is already running a statement; "
            "wait for it to finish, cancel it, or open another session"
        )
    try:
        return build()
    except BaseException:
        lock.release()
        raise
