"""The run registry seen from SQL clients: ``__attach:<runId>``, ``SHOW RUNS``, ``SHOW CONVERSATIONS``.

- ``__attach:<runId>`` (any session of the run's owner, or an administrator's) answers a ``reply``
  rowset: every event of the run from the first, then the run live until it ends. The attaching
  operation watches the run (a detached run is no longer detached); CancelOperation or
  CloseOperation on it stops the run, as on the run's own operation, while a dropped connection
  only detaches it again.
- ``SHOW RUNS [ALL] [LIMIT n]`` and ``SHOW CONVERSATIONS [LIMIT n]`` answer typed tables of the
  caller's rows (``ALL``: everyone's, for administrators), newest first. Times are UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from engine.common.cancel import CancelReason
from engine.common.errors import InvalidStateError
from engine.common.statement import Attach, ShowConversations, ShowRuns
from engine.common.types import REPLY_SCHEMA, ColumnSpec, HiveType, TableSchema
from engine.operation.context import OperationContext
from engine.operation.operation import Operation
from engine.operation.run_service import RunFeed, RunService

RUNS_SCHEMA = TableSchema.of(
    ColumnSpec("run_id", HiveType.STRING),
    ColumnSpec("conversation_id", HiveType.STRING),
    ColumnSpec("status", HiveType.STRING, "running, success, error, stopped or interrupted"),
    ColumnSpec("question", HiveType.STRING, "redacted"),
    ColumnSpec("started", HiveType.TIMESTAMP, "UTC"),
    ColumnSpec("ended", HiveType.TIMESTAMP, "UTC"),
    ColumnSpec("steps", HiveType.INT),
    ColumnSpec("prompt_tokens", HiveType.BIGINT),
    ColumnSpec("completion_tokens", HiveType.BIGINT),
    ColumnSpec("owner", HiveType.STRING, "the user whose run it is (SHOW RUNS ALL lists everyone's)"),
)
CONVERSATIONS_SCHEMA = TableSchema.of(
    ColumnSpec("conversation_id", HiveType.STRING),
    ColumnSpec("title", HiveType.STRING),
    ColumnSpec("runs", HiveType.BIGINT),
    ColumnSpec("updated", HiveType.TIMESTAMP, "UTC"),
)

PAGE = 1000  # events per read of the run's feed
WAIT = 30.0  # longest single wait for the next event (the cancel token ends it at once)


def _service(ctx: OperationContext) -> RunService:
    if ctx.runs is None:
        raise InvalidStateError("this session has no run service")
    return ctx.runs


def _utc(value: datetime | None) -> datetime | None:
    """A naive UTC time, as Hive's TIMESTAMP values are."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


class AttachOperation(Operation):
    """``__attach:<runId>``: replay the run's events from the first, then follow it live."""

    def __init__(self, ctx: OperationContext, statement: Attach, text: str, *, run_async: bool) -> None:
        super().__init__(ctx, text, schema=REPLY_SCHEMA, run_async=run_async)
        self.service = _service(ctx)
        self.run_id = statement.run_id  # the run it follows
        # an unknown run or another user's fails ExecuteStatement itself
        self.feed: RunFeed = self.service.open_feed(ctx.user, statement.run_id)
        self._watching = False
        self._detached = False

    def run_internal(self) -> None:
        feed, live = self.feed, self.feed.live
        if live is not None:
            self.service.hub.watch(live)
            self._watching = True
        try:
            while True:
                events = feed.read(PAGE)
                if events:
                    self.buffer.extend([event.payload for event in events])
                    continue
                if feed.ended:
                    return
                self.cancel_token.raise_if_cancelled()
                feed.wait(WAIT, self.cancel_token)
                self.cancel_token.raise_if_cancelled()
        finally:
            self._unwatch()

    def _unwatch(self) -> None:
        live = self.feed.live
        if self._watching and live is not None:
            self._watching = False
            self.service.hub.unwatch(live)

    def _stop_run(self, message: str) -> None:
        live = self.feed.live
        if live is not None and not live.ended:
            live.stop(CancelReason.USER, message)

    def cancel(self, reason: CancelReason = CancelReason.USER) -> None:
        """CancelOperation on the attached operation stops the run it follows."""
        if reason is CancelReason.USER:
            self._stop_run(f"the run was cancelled by {self.ctx.user} from an attached operation")
        super().cancel(reason)

    def close(self) -> None:
        """CloseOperation (or CloseSession) stops the run too, as on the run's own operation."""
        if not self.state.terminal and not self._detached:
            self._stop_run(f"the run's attached operation was closed by {self.ctx.user}")
        super().close()

    def detach(self, on_end: Callable[[], None]) -> bool:
        """A dropped connection ends this follower but not the run (which may become detached)."""
        self._detached = True
        self.cancel_token.cancel(CancelReason.CLIENT_GONE)
        return False


class ShowRunsOperation(Operation):
    """``SHOW RUNS [ALL] [LIMIT n]``."""

    def __init__(self, ctx: OperationContext, statement: ShowRuns, text: str) -> None:
        super().__init__(ctx, text, schema=RUNS_SCHEMA, run_async=False)
        self.show = statement

    def run_internal(self) -> None:
        records = _service(self.ctx).list_runs(
            self.ctx.user, all_users=self.show.all_users, limit=self.show.limit
        )
        self.buffer.extend(
            [
                (
                    record.id,
                    record.conversation_id,
                    record.status.value,
                    record.question,
                    _utc(record.started),
                    _utc(record.ended),
                    record.steps,
                    record.prompt_tokens,
                    record.completion_tokens,
                    record.owner,
                )
                for record in records
            ]
        )


class ShowConversationsOperation(Operation):
    """``SHOW CONVERSATIONS [LIMIT n]``."""

    def __init__(self, ctx: OperationContext, statement: ShowConversations, text: str) -> None:
        super().__init__(ctx, text, schema=CONVERSATIONS_SCHEMA, run_async=False)
        self.show = statement

    def run_internal(self) -> None:
        records = _service(self.ctx).list_conversations(self.ctx.user, limit=self.show.limit)
        self.buffer.extend(
            [(record.id, record.title, record.runs, _utc(record.updated)) for record in records]
        )
