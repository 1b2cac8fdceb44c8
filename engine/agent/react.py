"""The ReAct loop: one generator of agent events per statement, with an explicit step budget.

Per step, in Kyuubi's order: ``step_start``; ``compaction`` (when the predicted prompt reaches the
trigger); coalesced ``reasoning_delta``/``content_delta`` while the model streams; then for each
tool call ``approval_request`` (when gated) and ``tool_call`` + ``tool_result`` (a denied call
gets only an error ``tool_result``, as in Kyuubi); ``step_end``. The run ends with
``agent_finish``; a failed run yields ``error`` and ``agent_finish`` and then raises AgentError.
Cancellation is checked before every LLM call, before every tool call and while streaming; it
raises OperationCanceledError, and the memory is repaired on every exit path.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

from engine.agent.compaction import Compactor, summary_request
from engine.agent.events import (
    AgentEvent,
    AgentFinishEvent,
    AgentStartEvent,
    ApprovalRequestEvent,
    ContentDeltaEvent,
    DeltaCoalescer,
    ErrorEvent,
    ReasoningDeltaEvent,
    StepEndEvent,
    StepStartEvent,
    ToolCallEvent,
    ToolResultEvent,
)
from engine.agent.llm import LlmCallOptions, LlmClient, LlmError, LlmTurn, TextDelta, ToolCallRequest
from engine.agent.memory import ConversationMemory
from engine.agent.port import Toolbox
from engine.agent.prompt import build_system_prompt, load_prompt
from engine.agent.provider import RunRequest
from engine.agent.settings import RunSettings
from engine.agent.toolctx import make_tool_context
from engine.common.cancel import CancelToken
from engine.common.errors import AgentError, EngineError, OperationCanceledError, OperationTimeoutError
from engine.common.result import QueryResult

log = logging.getLogger(__name__)


@dataclass
class _Tally:
    steps: int = 0
    prompt: int = 0
    completion: int = 0
    last_prompt: int = 0
    last_completion: int = 0

    def finish(self) -> AgentFinishEvent:
        return AgentFinishEvent(
            self.steps, self.prompt, self.completion, self.last_prompt, self.last_completion
        )


class ReactAgent:
    """Shared by every session of a provider; all per-run state lives in :meth:`run`'s frame."""

    def __init__(self, llm: LlmClient, tools: Toolbox, dialect_section: str) -> None:
        self.llm = llm
        self.tools = tools
        self.dialect_section = dialect_section

    def known_tools(self) -> list[str]:
        return self.tools.names()

    def system_prompt(self, disabled: frozenset[str]) -> str:
        return build_system_prompt(self.tools.descriptions(disabled), self.dialect_section)

    def run(self, request: RunRequest) -> Generator[AgentEvent, None, None]:
        settings = RunSettings.from_conf(request.conf, self.known_tools())
        session = request.session
        if session.memory is None:
            session.memory = ConversationMemory()
        memory = session.memory
        with memory.turn():
            yield from self._run(request, settings, memory)

    def _run(
        self, request: RunRequest, settings: RunSettings, memory: ConversationMemory
    ) -> Iterator[AgentEvent]:
        cancel = request.cancel
        tally = _Tally()
        coalescer = DeltaCoalescer()
        system_prompt = self.system_prompt(settings.disabled_tools)
        specs = self.tools.specs(settings.disabled_tools)
        options = LlmCallOptions(
            model=settings.model,
            request_timeout=settings.request_timeout,
            temperature=settings.temperature,
            max_retries=settings.max_retries,
            backoff=settings.retry_backoff,
        )
        compactor = Compactor(self._summarizer(system_prompt, options), request.session.workdir)
        if settings.log_content:
            log.debug("question: %s", request.question)
        yield AgentStartEvent()
        memory.add_user(request.question)
        try:
            for step in range(1, settings.max_iterations + 1):
                cancel.raise_if_cancelled()
                tally.steps = step
                yield StepStartEvent(step)
                compaction = compactor.maybe_compact(
                    memory, system_prompt, settings.compaction_trigger, cancel, request.session.workdir
                )
                if compaction is not None:
                    yield compaction
                cancel.raise_if_cancelled()
                turn: LlmTurn | None = None
                for item in self.llm.stream(memory.build(system_prompt), specs, options, cancel):
                    if item is None:
                        if coalescer.due():
                            yield from coalescer.flush()
                    elif isinstance(item, TextDelta):
                        kind = ContentDeltaEvent if item.kind == "content" else ReasoningDeltaEvent
                        yield from coalescer.feed(kind(item.text))
                    else:
                        turn = item
                yield from coalescer.flush()
                assert turn is not None
                if turn.usage is not None:
                    tally.prompt += turn.usage.prompt_tokens
                    tally.completion += turn.usage.completion_tokens
                    tally.last_prompt, tally.last_completion = (
                        turn.usage.prompt_tokens,
                        turn.usage.completion_tokens,
                    )
                    memory.record_usage(
                        turn.usage.prompt_tokens, turn.usage.completion_tokens, turn.usage.total_tokens
                    )
                if turn.empty:
                    yield from self._fail("the LLM returned an empty response", tally)
                memory.add_assistant(turn.assistant_message())
                if settings.log_content:
                    log.debug("model output: %s", turn.content)
                if not turn.tool_calls:
                    yield StepEndEvent(step)
                    yield tally.finish()
                    return
                for call in turn.tool_calls:
                    yield from self._tool_call(call, request, settings, memory)
                yield StepEndEvent(step)
            yield from self._fail(
                f"reached the step budget ({settings.max_iterations} steps, max.iterations) without a final answer",
                tally,
            )
        except LlmError as exc:
            yield from coalescer.flush()
            yield from self._fail(str(exc), tally)
        except (OperationCanceledError, OperationTimeoutError, AgentError):
            raise
        except EngineError as exc:
            yield from self._fail(str(exc), tally)
        except Exception as exc:  # a bug must still end the run with a clear error row
            log.exception("the agent run failed")
            yield from self._fail(f"internal error: {type(exc).__name__}: {exc}", tally)

    def _fail(self, message: str, tally: _Tally) -> Iterator[AgentEvent]:
        yield ErrorEvent(message)
        yield tally.finish()
        raise AgentError(message)

    def _summarizer(self, system_prompt: str, options: LlmCallOptions):  # type: ignore[no-untyped-def]
        def summarize(old: list[dict[str, Any]], cancel: CancelToken) -> str:
            messages = summary_request(old, system_prompt, load_prompt("compaction"))
            return self.llm.complete(messages, options, cancel)

        return summarize

    def _tool_call(
        self, call: ToolCallRequest, request: RunRequest, settings: RunSettings, memory: ConversationMemory
    ) -> Iterator[AgentEvent]:
        cancel = request.cancel
        try:
            args = json.loads(call.arguments or "{}")
            if not isinstance(args, dict):
                raise ValueError("the arguments must be a JSON object")
        except ValueError as exc:
            yield self._result(
                memory, call, f"Tool call failed: malformed arguments ({exc}): {call.arguments[:500]}", True
            )
            return
        if call.name in settings.disabled_tools:
            yield self._result(
                memory, call, f"Tool call failed: the tool {call.name} is disabled for this session", True
            )
            return
        risk = self.tools.risk(call.name)
        if settings.gated(risk):
            assert risk is not None  # gated() is False for unknown tools
            risk_name = risk.value
            approvals = request.session.approvals
            pending = approvals.open_request(call.id, call.name, args, risk_name, request.operation_id)
            yield ApprovalRequestEvent(pending.request_id, call.id, call.name, args, risk_name)
            decision = approvals.wait(pending, settings.approval_timeout, cancel)
            cancel.raise_if_cancelled()
            if not decision.approved:
                kind = "not approved in time" if decision.timed_out else "denied"
                yield self._result(memory, call, f"Tool call {kind}: {decision.reason}", True)
                return
        cancel.raise_if_cancelled()
        yield ToolCallEvent(call.id, call.name, args)
        # tool.call.timeout is the tool registry's: a call that passes it comes back as an error result
        context = make_tool_context(request.session.session_id, request.session.workdir, cancel, request.conf)
        result = self.tools.call(call.name, args, context)
        cancel.raise_if_cancelled()
        output = str(result.output)
        if settings.log_content:
            log.debug("tool %s result: %s", call.name, output)
        yield self._result(memory, call, output, bool(result.is_error), result.table)

    @staticmethod
    def _result(
        memory: ConversationMemory,
        call: ToolCallRequest,
        output: str,
        is_error: bool,
        table: QueryResult | None = None,
    ) -> ToolResultEvent:
        memory.add_tool_result(call.id, output)
        return ToolResultEvent(call.id, call.name, output, is_error, table=table)
