"""OperationManager: every live operation, the bounded background pool, deadlines and reaping.

An operation's deadline (``run.timeout``/``queryTimeout``) is armed on the engine's deadline
scheduler when the manager starts it; nothing here polls. Stopping cancels every operation with
``SHUTDOWN``, which also releases every fetch waiting on one; agent runs then end ``interrupted``
and pass their store barrier before the manager's stop returns (within its timeout).

The manager also owns the engine's runs: the :class:`~engine.operation.live_run.RunHub` of runs
going on and the :class:`~engine.operation.run_service.RunService` every frontend uses, over the
run registry the app hands in (none: runs are kept in memory only while they go on).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from engine.common.cancel import CancelReason
from engine.common.config import (
    ADMINISTRATORS,
    EXEC_POOL_SIZE,
    EXEC_POOL_WAIT_QUEUE,
    OPERATION_IDLE_TIMEOUT,
    RUN_DETACHED_TIMEOUT,
    STORE_COMMIT_TIMEOUT,
    EngineConf,
)
from engine.common.deadline import DeadlineScheduler
from engine.common.errors import BusyError, InvalidHandleError
from engine.common.handle import OperationHandle
from engine.common.metrics import Metrics, NoMetrics
from engine.operation.context import OperationContext
from engine.operation.limits import CONTROL_STATEMENTS, LimitSettings, TokenLedger, UserLimits
from engine.operation.live_run import RunHub
from engine.operation.operation import Operation
from engine.operation.router import StatementRequest, StatementRouter
from engine.operation.run_registry import RunRegistry
from engine.operation.run_service import RunService

log = logging.getLogger(__name__)


class OperationManager:
    def __init__(
        self,
        conf: EngineConf,
        scheduler: DeadlineScheduler,
        *,
        registry: RunRegistry | None = None,
        ledger: TokenLedger | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """``ledger`` keeps the tokens users spend (default: the ``registry``); ``metrics``
        records runs and refusals."""
        self.conf = conf
        self.scheduler = scheduler
        self.metrics: Metrics = metrics or NoMetrics()
        self.router = StatementRouter()  # statement type -> operation: the one routing table
        administrators: tuple[str, ...] = conf.get(ADMINISTRATORS)
        self.limits = UserLimits(
            LimitSettings.from_conf(conf),
            administrators=administrators,
            ledger=ledger if ledger is not None else registry,
            metrics=self.metrics,
        )
        self.hub = RunHub(
            scheduler,
            registry,
            detached_timeout=conf.get(RUN_DETACHED_TIMEOUT),
            commit_timeout=conf.get(STORE_COMMIT_TIMEOUT),
            limits=self.limits,
            metrics=self.metrics,
        )
        self.runs = RunService(self.hub, registry, administrators=administrators)
        self._lock = threading.Lock()
        self._operations: dict[bytes, Operation] = {}
        self._pool_size = conf.get(EXEC_POOL_SIZE)
        self._capacity = self._pool_size + conf.get(EXEC_POOL_WAIT_QUEUE)
        self._in_flight = 0
        counter = itertools.count(1)
        self._pool = ThreadPoolExecutor(
            max_workers=self._pool_size,
            thread_name_prefix="op-exec",
            initializer=lambda: setattr(threading.current_thread(), "name", f"op-exec-{next(counter)}"),
        )
        self._stopping = threading.Event()

    # --- registry ------------------------------------------------------------------------------
    def add(self, operation: Operation) -> None:
        with self._lock:
            self._operations[operation.handle.guid] = operation

    def get(self, handle: OperationHandle) -> Operation:
        with self._lock:
            operation = self._operations.get(handle.guid)
        if operation is None or operation.handle.secret != handle.secret:
            raise InvalidHandleError(f"Invalid OperationHandle: {handle.id}")
        return operation

    def remove(self, handle: OperationHandle) -> Operation:
        with self._lock:
            operation = self._operations.get(handle.guid)
            if operation is None or operation.handle.secret != handle.secret:
                raise InvalidHandleError(f"Invalid OperationHandle: {handle.id}")
            del self._operations[handle.guid]
        return operation

    def operations(self) -> list[Operation]:
        with self._lock:
            return list(self._operations.values())

    def count(self) -> int:
        with self._lock:
            return len(self._operations)

    # --- statements ----------------------------------------------------------------------------
    def new_statement_operation(
        self, ctx: OperationContext, text: str, conf: EngineConf, *, run_async: bool, query_timeout: int = 0
    ) -> Operation:
        """The operation that answers ``text`` (parsed once, routed by the table; not started).
        Every statement but a control statement counts towards the user's statement rate."""
        request = StatementRequest(ctx, text, conf, run_async, query_timeout)
        statement = self.router.parse(request)
        if not isinstance(statement, CONTROL_STATEMENTS):
            self.limits.admit_statement(ctx.user)
        return self.router.build(request, statement)

    # --- execution -----------------------------------------------------------------------------
    def submit(self, work: Callable[[], None]) -> None:
        """Run ``work`` on the bounded pool; rejects with BusyError when pool and queue are full."""
        with self._lock:
            if self._stopping.is_set():
                raise BusyError("the engine is shutting down")
            if self._in_flight >= self._capacity:
                raise BusyError(
                    f"the engine is busy: {self._in_flight} statements are running or queued "
                    f"(limit {self._capacity}); retry later"
                )
            self._in_flight += 1

        def wrapped() -> None:
            try:
                work()
            finally:
                with self._lock:
                    self._in_flight -= 1

        self._pool.submit(wrapped)

    def start(self, operation: Operation) -> Operation:
        if self._stopping.is_set():
            operation.on_complete()
            raise BusyError("the engine is shutting down")
        self.add(operation)
        operation.arm(self.scheduler)
        try:
            operation.run(self.submit)
        except BusyError:
            self.remove(operation.handle)
            operation.on_complete()
            raise
        return operation

    # --- background ----------------------------------------------------------------------------
    def reap_idle(self) -> int:
        """Close terminal operations nobody has touched for kyuubi.operation.idle.timeout."""
        limit = self.conf.get(OPERATION_IDLE_TIMEOUT)
        now = time.monotonic()
        reaped = 0
        for operation in self.operations():
            if operation.state.terminal and now - operation.last_access > limit:
                try:
                    self.remove(operation.handle)
                except InvalidHandleError:
                    continue
                operation.close()
                reaped += 1
                log.info("closed idle operation %s", operation.id)
        return reaped

    def stop(self, timeout: float = 5.0) -> None:
        """Refuse new operations, cancel every running one with ``SHUTDOWN`` (their waiting fetches
        return at once) and give them ``timeout`` seconds to end. Safe to call more than once."""
        first = not self._stopping.is_set()
        self._stopping.set()
        for operation in self.operations():
            operation.cancel(CancelReason.SHUTDOWN)
        if not first:
            return
        deadline = time.monotonic() + timeout
        for operation in self.operations():
            operation.wait(max(0.0, deadline - time.monotonic()))
        self._pool.shutdown(wait=False, cancel_futures=True)
