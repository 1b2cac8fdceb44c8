"""The tool registry: names, OpenAI tool specs from the pydantic argument models, argument
validation, and calls that never raise.

Each call runs on the bounded pool (threads ``tool-N``, ``tool.pool.size``) under a child of
the caller's cancel token. ``tool.call.timeout`` lives here and only here: the child token times out
on the engine's deadline scheduler, or is cancelled with the caller's; either way the cancellation
stops the running SQL statement (the datasource registers its driver cancel on that token). Waiting
for a pool thread and for the call's end are waits on a condition woken by the token, never polls.
Unknown tools, malformed or invalid arguments, guard rejections, database errors, timeouts and
cancels all come back as ``is_error`` results with one concise, credential-free line for the model.
Large outputs are offloaded.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import threading
import time
from collections.abc import Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from engine.common.cancel import CancelReason, CancelToken
from engine.common.config import TOOL_CALL_TIMEOUT, TOOL_POOL_SIZE, EngineConf
from engine.common.deadline import DeadlineScheduler
from engine.common.errors import EngineError, OperationCanceledError, OperationTimeoutError
from engine.common.metrics import Metrics, NoMetrics
from engine.common.redaction import redact_text
from engine.tools.base import A, RiskLevel, Tool, ToolArgs, ToolContext, ToolResult
from engine.tools.output import TOOLS as OUTPUT_TOOLS
from engine.tools.output import needs_offload, offload
from engine.tools.port import CatalogView, SqlSource
from engine.tools.schema import DESCRIBE_TABLE, LIST_TABLES, SAMPLE_VALUES, schema_tools
from engine.tools.sql import RUN_MUTATION_QUERY, RUN_SELECT_QUERY, sql_tools

log = logging.getLogger(__name__)

# The tools ToolRegistry.default registers, by name (known before any datasource exists).
DEFAULT_TOOL_NAMES: tuple[str, ...] = (
    RUN_SELECT_QUERY,
    RUN_MUTATION_QUERY,
    LIST_TABLES,
    DESCRIBE_TABLE,
    SAMPLE_VALUES,
    *(tool.name for tool in OUTPUT_TOOLS),
)

CANCEL_GRACE = 5.0  # seconds a cancelled call gets to stop its statement and return
_pool_ids = itertools.count(1)


class ToolRegistry:
    def __init__(
        self,
        conf: EngineConf,
        *,
        scheduler: DeadlineScheduler,
        pool_size: int | None = None,
        secrets: Collection[str] = (),
        metrics: Metrics | None = None,
    ) -> None:
        self._tools: dict[str, Tool[Any]] = {}
        self._metrics: Metrics = metrics or NoMetrics()
        size = pool_size if pool_size is not None else conf.get(TOOL_POOL_SIZE)
        self._size = size
        self._scheduler = scheduler
        self._slots = threading.Condition()  # guards _free: pool threads not running a call
        self._free = size
        thread_ids = itertools.count(1)
        pool_id = next(_pool_ids)

        def name_thread() -> None:
            number = next(thread_ids)
            threading.current_thread().name = f"tool-{number}" if pool_id == 1 else f"tool-{pool_id}.{number}"

        self._pool = ThreadPoolExecutor(max_workers=size, initializer=name_thread)
        self._secrets = [s for s in secrets if s]
        self._closed = False
        self._specs: dict[str, dict[str, Any]] = {}

    @classmethod
    def default(
        cls,
        datasource: SqlSource,
        catalog: CatalogView,
        conf: EngineConf,
        *,
        scheduler: DeadlineScheduler,
        secrets: Collection[str] = (),
        metrics: Metrics | None = None,
    ) -> ToolRegistry:
        """The seven engine tools over ``datasource`` and its ``catalog``; ``secrets`` are masked in
        every error text a tool returns; ``metrics`` records every call."""
        registry = cls(conf, scheduler=scheduler, secrets=secrets, metrics=metrics)
        for tool in (*sql_tools(datasource), *schema_tools(datasource, catalog), *OUTPUT_TOOLS):
            registry.register(tool)
        return registry

    def register(self, tool: Tool[A]) -> None:
        if tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name} is already registered")
        self._tools[tool.name] = tool
        # Generated once: building JSON schemas from pydantic costs ~0.6 ms a tool, every LLM call.
        self._specs[tool.name] = tool.spec()

    # --- description --------------------------------------------------------------------------
    def names(self) -> list[str]:
        return list(self._tools)

    def risk(self, name: str) -> RiskLevel | None:
        tool = self._tools.get(name)
        return tool.risk if tool is not None else None

    def specs(self, disabled: Collection[str] = ()) -> list[dict[str, Any]]:
        """OpenAI ``tools=`` entries; shared, generated once: callers must not mutate them."""
        return [self._specs[name] for name in self._tools if name not in disabled]

    def descriptions(self, disabled: Collection[str] = ()) -> list[tuple[str, str, RiskLevel]]:
        return [
            (name, tool.description, tool.risk) for name, tool in self._tools.items() if name not in disabled
        ]

    # --- calls --------------------------------------------------------------------------------
    def call(self, name: str, arguments: str | dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Run one tool call; never raises."""
        started = time.monotonic()
        try:
            result = self._call(name, arguments, ctx)
        except Exception as exc:  # the contract: nothing escapes a tool call
            log.warning("tool %s failed unexpectedly", name, exc_info=True)
            result = ToolResult.error(f"Tool {name} failed: {self._text(exc)}")
        seconds = time.monotonic() - started
        log.info("tool %s %s in %.3f s", name, "failed" if result.is_error else "done", seconds)
        # an unknown name is whatever the model wrote: one label for all of them
        label = name if name in self._tools else "unknown"
        self._metrics.tool_call(label, "error" if result.is_error else "success", seconds)
        return result

    def _call(self, name: str, arguments: str | dict[str, Any], ctx: ToolContext) -> ToolResult:
        tool = self._tools.get(name)
        if tool is None:
            return ToolResult.error(f"unknown tool {name!r}; the tools are: {', '.join(self._tools)}")
        try:
            raw = json.loads(arguments or "{}") if isinstance(arguments, str) else arguments
        except ValueError as exc:
            return ToolResult.error(f"the arguments of {name} are not valid JSON: {exc}")
        if not isinstance(raw, dict):
            return ToolResult.error(f"the arguments of {name} must be a JSON object")
        try:
            args = tool.args.model_validate(raw)
        except ValidationError as exc:
            return ToolResult.error(f"invalid arguments for {name}: {_validation_text(exc)}")
        result = self._run(tool, args, ctx)
        if tool.offload and not result.is_error and needs_offload(result.output, ctx):
            result = replace(result, output=offload(result.output, tool.name, ctx))
        return result

    def _run(self, tool: Tool[Any], args: ToolArgs, ctx: ToolContext) -> ToolResult:
        if self._closed:
            return ToolResult.error("the tool registry is closed")
        limit = ctx.conf.get(TOOL_CALL_TIMEOUT)
        message = f"Tool call {tool.name} timed out after {limit:g} s (tool.call.timeout)"
        with ctx.cancel.child(limit, message=message, scheduler=self._scheduler) as token:
            return self._run_bounded(tool, args, replace(ctx, cancel=token), token)

    def _run_bounded(
        self, tool: Tool[Any], args: ToolArgs, ctx: ToolContext, token: CancelToken
    ) -> ToolResult:
        if not self._take_slot(token):
            return self._stopped(tool, token, started_running=False)
        done = threading.Event()
        unregister = token.on_cancel(done.set)
        try:
            future: Future[ToolResult] = self._pool.submit(
                contextvars.copy_context().run, self._invoke, tool, args, ctx
            )
        except RuntimeError:  # the pool was shut down (the registry is closing)
            self._give_slot()
            unregister()
            return ToolResult.error("the tool registry is closed")
        future.add_done_callback(lambda _f: self._call_ended(done))
        try:
            # Woken by the call's end or by the token (its deadline included); the timeout is only
            # a backstop should the scheduler be gone.
            done.wait(self._backstop(token))
            if future.done() and not token.cancelled:
                return future.result()
            if not token.cancelled:
                token.cancel(CancelReason.TIMEOUT, token.timeout_message)
            # the token's hooks already stopped the running statement: give the call a moment to end
            try:
                future.result(timeout=CANCEL_GRACE)
            except Exception:
                pass
            return self._stopped(tool, token, started_running=True)
        finally:
            unregister()

    def _take_slot(self, token: CancelToken) -> bool:
        """Wait for a free pool thread; False when the token is cancelled first."""
        with self._slots:
            if self._free == 0 and not token.cancelled:
                unregister = token.on_cancel(self._wake_slot_waiters)
                try:
                    woken = self._slots.wait_for(
                        lambda: self._free > 0 or token.cancelled, self._backstop(token)
                    )
                    if not woken:  # only if the scheduler were gone: the deadline has passed
                        token.cancel(CancelReason.TIMEOUT, token.timeout_message)
                finally:
                    unregister()
            if token.cancelled:
                return False
            self._free -= 1
            return True

    def _call_ended(self, done: threading.Event) -> None:
        self._give_slot()
        done.set()

    def _give_slot(self) -> None:
        with self._slots:
            self._free += 1
            self._slots.notify()

    def _wake_slot_waiters(self) -> None:
        with self._slots:
            self._slots.notify_all()

    @staticmethod
    def _backstop(token: CancelToken) -> float:
        remaining = token.remaining()
        return CANCEL_GRACE if remaining is None else remaining + CANCEL_GRACE

    def _stopped(self, tool: Tool[Any], token: CancelToken, *, started_running: bool) -> ToolResult:
        if token.reason is CancelReason.TIMEOUT:
            where = "" if started_running else " while waiting for a free tool thread"
            return ToolResult.error(self._text_of(token.message + where))
        suffix = "" if token.reason is CancelReason.USER else f" ({token.message})"
        return ToolResult.error(f"Tool call {tool.name} was cancelled{suffix}")

    def _invoke(self, tool: Tool[Any], args: ToolArgs, ctx: ToolContext) -> ToolResult:
        try:
            ctx.cancel.raise_if_cancelled()
            return tool.run(args, ctx)
        except OperationCanceledError:
            return ToolResult.error(f"Tool call {tool.name} was cancelled")
        except OperationTimeoutError as exc:  # its message names the key whose deadline fired
            return ToolResult.error(self._text(exc))
        except EngineError as exc:
            return ToolResult.error(self._text(exc))
        except Exception as exc:
            log.warning("tool %s raised", tool.name, exc_info=True)
            return ToolResult.error(f"{tool.name} failed: {self._text(exc)}")

    def _text(self, exc: BaseException) -> str:
        if isinstance(exc, EngineError):
            text = str(exc)
        else:
            text = f"{type(exc).__name__}: {exc}"
        return self._text_of(text, type(exc).__name__)

    def _text_of(self, text: str, fallback: str = "error") -> str:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        first = lines[0] if lines else fallback
        if len(first) > 1000:
            first = first[:1000] + "..."
        return redact_text(first, self._secrets)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)


def _validation_text(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        location = ".".join(str(item) for item in error.get("loc", ())) or "arguments"
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)
