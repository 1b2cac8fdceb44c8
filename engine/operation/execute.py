"""ExecuteStatement: a question answered by the agent provider, streamed into the fetch buffer."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence

from engine.agent.provider import RunRequest
from engine.common.config import RESULT_MODE, RUN_TIMEOUT, EngineConf
from engine.common.errors import BusyError, EngineError, OperationCanceledError, OperationTimeoutError
from engine.operation.context import OperationContext
from engine.operation.operation import Operation
from engine.operation.result_mode import SinkContext, TableTransform, make_sink
from engine.operation.run_log import RunLog, RunObserver, RunStatus, RunTracker

log = logging.getLogger(__name__)


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
            ),
        )
        if self.sink.initial_schema is not None:
            self.set_schema(self.sink.initial_schema)
        # run.timeout, or the statement's own queryTimeout when it is shorter: the operation's token
        # times out on the engine's deadline scheduler (armed when the manager starts it)
        timeout = conf.get(RUN_TIMEOUT)
        key = "run.timeout"
        if query_timeout and query_timeout > 0 and query_timeout < timeout:
            timeout, key = float(query_timeout), "queryTimeout"
        self.timeout = timeout
        self.timeout_message = f"the statement timed out after {timeout:g} s ({key})"

    def run_internal(self) -> None:
        request = RunRequest(
            question=self.statement,
            session=self.ctx.agent_session,
            operation_id=self.id,
            conf=self.conf,
            cancel=self.cancel_token,
        )
        run = RunTracker(self.ctx.user, self.statement, self.observers)
        try:
            # closing(): the provider's cleanup (stream close, memory repair) runs at once on
            # cancel or error rather than whenever the generator is collected.
            with contextlib.closing(self.ctx.provider.run(request)) as events:
                for event in events:
                    run.on_event(event)
                    self.sink.on_event(event)
                    self.cancel_token.raise_if_cancelled()
            self.cancel_token.raise_if_cancelled()
            self.sink.on_finish()
            run.end()
        except (OperationCanceledError, OperationTimeoutError) as exc:
            # the token's reason decides what the run's end means (a timeout of its own deadline, a
            # user's cancel, the engine stopping), whatever a lower layer raised on the way out
            error = self.cancel_token.error() if self.cancel_token.cancelled else exc
            timed_out = isinstance(error, OperationTimeoutError)
            run.end(RunStatus.TIMEOUT if timed_out else RunStatus.CANCELLED, error.message)
            self.sink.on_failure(error)
            if error is exc:
                raise
            raise error from None
        except EngineError as exc:
            run.end(RunStatus.ERROR, exc.message)
            self.sink.on_failure(exc)
            raise
        except Exception as exc:
            run.end(RunStatus.FAULT, f"{type(exc).__name__}: {exc}")
            raise

    def on_complete(self) -> None:
        self.ctx.agent_session.approvals.deny_operation(self.id, "the operation ended")
        lock = self.ctx.agent_session.lock
        if lock.locked():
            try:
                lock.release()
            except RuntimeError:
                pass


def exclusive_run(ctx: OperationContext, build: Callable[[], Operation]) -> Operation:
    """Build an agent-run operation while holding the session's one-run lock.

    The lock is released by the operation's ``on_complete`` (see :class:`ExecuteStatement`), or
    here when building fails.
    """
    lock = ctx.agent_session.lock
    if not lock.acquire(blocking=False):
        raise BusyError(
            "this session is already running a statement; wait for it to finish, cancel it, "
            "or open another session"
        )
    try:
        return build()
    except BaseException:
        lock.release()
        raise
