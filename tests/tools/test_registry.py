"""The registry's contract with tools of its own kind: specs, validation, error-as-result,
timeout, cancel, the bounded named pool, redaction and offload."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from engine.common.cancel import CancelReason, CancelToken
from engine.common.deadline import DeadlineScheduler
from engine.common.errors import DatasourceError
from engine.tools import RiskLevel, Tool, ToolArgs, ToolContext, ToolRegistry, ToolResult
from tests.tools.conftest import make_conf


class EchoArgs(ToolArgs):
    text: str = Field(description="what to echo")
    times: int = Field(1, ge=1, le=5)


class NoArgs(ToolArgs):
    pass


class Probe:
    """Tools that record what they saw; ``block`` waits for its cancel token."""

    def __init__(self) -> None:
        self.threads: list[str] = []
        self.cancelled = threading.Event()
        self.started = threading.Event()
        self.release = threading.Event()
        self.busy_entered = threading.Event()
        self.running = 0
        self.peak = 0
        self.lock = threading.Lock()

    def echo(self, args: EchoArgs, ctx: ToolContext) -> ToolResult:
        self.threads.append(threading.current_thread().name)
        return ToolResult(" ".join([args.text] * args.times))

    def block(self, args: NoArgs, ctx: ToolContext) -> ToolResult:
        self.started.set()
        unregister = ctx.cancel.on_cancel(self.cancelled.set)
        try:
            self.cancelled.wait(30)
            return ToolResult("finished")
        finally:
            unregister()

    def busy(self, args: NoArgs, ctx: ToolContext) -> ToolResult:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        self.busy_entered.set()
        try:
            self.release.wait(10)
        finally:
            with self.lock:
                self.running -= 1
        return ToolResult("done")

    def crash(self, args: NoArgs, ctx: ToolContext) -> ToolResult:
        raise RuntimeError("boom\nsecond line with s3cretpass")

    def fail(self, args: NoArgs, ctx: ToolContext) -> ToolResult:
        raise DatasourceError("connection refused for password=s3cretpass at host")

    def big(self, args: NoArgs, ctx: ToolContext) -> ToolResult:
        return ToolResult("\n".join(f"line {i}" for i in range(2000)))


@pytest.fixture
def registry(probe: Probe, scheduler: DeadlineScheduler) -> Iterator[ToolRegistry]:
    """The probe's tools on a pool of 4, closed after the test."""
    registry = registry_with(probe, scheduler)
    yield registry
    registry.close()


def registry_with(
    probe: Probe, scheduler: DeadlineScheduler, pool_size: int = 4, **conf: str
) -> ToolRegistry:
    registry = ToolRegistry(
        make_conf(**conf), scheduler=scheduler, pool_size=pool_size, secrets=["s3cretpass"]
    )
    registry.register(Tool("echo", "Echo the text.", RiskLevel.SAFE, EchoArgs, probe.echo))
    registry.register(Tool("block", "Wait until cancelled.", RiskLevel.SAFE, NoArgs, probe.block))
    registry.register(Tool("busy", "Wait for release.", RiskLevel.SAFE, NoArgs, probe.busy))
    registry.register(Tool("crash", "Raise.", RiskLevel.DESTRUCTIVE, NoArgs, probe.crash))
    registry.register(Tool("fail", "Raise a domain error.", RiskLevel.SAFE, NoArgs, probe.fail))
    registry.register(Tool("big", "Large output.", RiskLevel.SAFE, NoArgs, probe.big))
    return registry


@pytest.fixture
def probe() -> Probe:
    return Probe()


def context(tmp_path: Path, cancel: CancelToken | None = None, **conf: str) -> ToolContext:
    return ToolContext("sess", tmp_path / "sess", cancel or CancelToken(), make_conf(**conf))


def test_specs_are_openai_tools_from_the_models(
    probe: Probe, scheduler: DeadlineScheduler, registry: ToolRegistry
) -> None:
    spec = next(s for s in registry.specs() if s["function"]["name"] == "echo")
    assert spec["type"] == "function"
    params = spec["function"]["parameters"]
    assert params["type"] == "object" and params["required"] == ["text"]
    assert params["properties"]["times"]["maximum"] == 5
    assert params["additionalProperties"] is False
    assert "title" not in params
    assert [s["function"]["name"] for s in registry.specs({"crash", "big"})] == [
        "echo",
        "block",
        "busy",
        "fail",
    ]
    assert registry.risk("crash") is RiskLevel.DESTRUCTIVE and registry.risk("nope") is None
    assert ("echo", "Echo the text.", RiskLevel.SAFE) in registry.descriptions()
    assert "echo" not in [d[0] for d in registry.descriptions(("echo",))]


def test_default_registry_has_the_seven_tools(sqlite_target: Any) -> None:
    registry = sqlite_target.registry
    assert registry.names() == [
        "run_select_query",
        "run_mutation_query",
        "list_tables",
        "describe_table",
        "sample_values",
        "read_tool_output",
        "grep_tool_output",
    ]
    risks = {name: registry.risk(name) for name in registry.names()}
    assert [n for n, r in risks.items() if r is RiskLevel.DESTRUCTIVE] == ["run_mutation_query"]
    for spec in registry.specs():
        assert spec["function"]["description"] and spec["function"]["parameters"]["type"] == "object"


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("nope", {}, "unknown tool 'nope'"),
        ("echo", "{not json", "not valid JSON"),
        ("echo", "[1, 2]", "must be a JSON object"),
        ("echo", {}, "text: Field required"),
        ("echo", {"text": "a", "times": 9}, "times: Input should be less than or equal to 5"),
        ("echo", {"text": "a", "extra": 1}, "extra: Extra inputs are not permitted"),
        ("echo", {"text": 5}, "text: Input should be a valid string"),
    ],
)
def test_bad_calls_are_error_results(
    probe: Probe,
    tmp_path: Path,
    name: str,
    arguments: Any,
    expected: str,
    scheduler: DeadlineScheduler,
    registry: ToolRegistry,
) -> None:
    result = registry.call(name, arguments, context(tmp_path))
    assert result.is_error and expected in result.output
    assert probe.threads == []


def test_json_string_arguments_and_named_pool_threads(
    probe: Probe, tmp_path: Path, scheduler: DeadlineScheduler, registry: ToolRegistry
) -> None:
    result = registry.call("echo", '{"text": "hi", "times": 2}', context(tmp_path))
    assert result == ToolResult("hi hi")
    assert probe.threads[0].startswith("tool-")


def test_exceptions_become_first_line_redacted_results(
    probe: Probe, tmp_path: Path, scheduler: DeadlineScheduler, registry: ToolRegistry
) -> None:
    crashed = registry.call("crash", {}, context(tmp_path))
    assert crashed.is_error and "boom" in crashed.output and "second line" not in crashed.output
    failed = registry.call("fail", {}, context(tmp_path))
    assert failed.is_error and "connection refused" in failed.output
    assert "s3cretpass" not in failed.output


def test_timeout_cancels_the_running_call(
    probe: Probe, tmp_path: Path, scheduler: DeadlineScheduler, registry: ToolRegistry
) -> None:
    started = time.monotonic()
    result = registry.call("block", {}, context(tmp_path, **{"tool.call.timeout": "PT0.5S"}))
    elapsed = time.monotonic() - started
    assert result.is_error and "timed out after 0.5 s" in result.output
    assert probe.cancelled.is_set()  # the tool's cancel hook (the SQL cancel) ran
    assert elapsed < 5


def test_caller_cancel_stops_the_call(probe: Probe, tmp_path: Path, scheduler: DeadlineScheduler) -> None:
    registry = registry_with(probe, scheduler)
    cancel = CancelToken()
    try:
        threading.Thread(
            target=lambda: probe.started.wait(10) and cancel.cancel(CancelReason.USER),
            name="test-canceller",
        ).start()
        result = registry.call("block", {}, context(tmp_path, cancel))
        assert result.is_error and "was cancelled" in result.output
        assert probe.cancelled.is_set()
    finally:
        registry.close()


def test_already_cancelled_call_does_not_run(
    probe: Probe, tmp_path: Path, scheduler: DeadlineScheduler
) -> None:
    registry = registry_with(probe, scheduler)
    cancel = CancelToken()
    cancel.cancel(CancelReason.USER)
    try:
        result = registry.call("echo", {"text": "x"}, context(tmp_path, cancel))
        assert result.is_error and "cancelled" in result.output
        assert probe.threads == []
    finally:
        registry.close()


def test_pool_is_bounded(probe: Probe, tmp_path: Path, scheduler: DeadlineScheduler) -> None:
    registry = registry_with(probe, scheduler, pool_size=2)
    results: list[ToolResult] = []
    try:
        callers = [
            threading.Thread(
                target=lambda: results.append(registry.call("busy", {}, context(tmp_path))),
                name=f"caller-{i}",
            )
            for i in range(5)
        ]
        for caller in callers:
            caller.start()
        deadline = time.monotonic() + 5
        while probe.peak < 2 and time.monotonic() < deadline:
            probe.release.wait(0.02)
        probe.release.set()
        for caller in callers:
            caller.join(10)
        assert probe.peak == 2
        assert len(results) == 5 and all(r.output == "done" for r in results)
    finally:
        registry.close()


def test_large_output_is_offloaded_to_the_session_dir(
    probe: Probe, tmp_path: Path, scheduler: DeadlineScheduler, registry: ToolRegistry
) -> None:
    ctx = context(tmp_path)
    result = registry.call("big", {}, ctx)
    assert not result.is_error
    assert "2000 lines" in result.output and "line 0" in result.output and "line 1999" in result.output
    assert "line 1000\n" not in result.output
    files = list((ctx.workdir / "tool-output").iterdir())
    assert len(files) == 1 and files[0].read_text().count("\n") == 1999
    assert files[0].name in result.output


def test_closed_registry_answers_with_an_error(
    probe: Probe, tmp_path: Path, scheduler: DeadlineScheduler
) -> None:
    registry = registry_with(probe, scheduler)
    registry.close()
    result = registry.call("echo", {"text": "x"}, context(tmp_path))
    assert result.is_error and "closed" in result.output


@pytest.fixture
def one_thread_taken(probe: Probe, tmp_path: Path, scheduler: DeadlineScheduler) -> Iterator[ToolRegistry]:
    """A registry whose only pool thread runs a ``busy`` call until the test ends."""
    registry = registry_with(probe, scheduler, pool_size=1)
    holder = threading.Thread(target=lambda: registry.call("busy", {}, context(tmp_path)), name="test-holder")
    holder.start()
    try:
        assert probe.busy_entered.wait(5)
        yield registry
    finally:
        probe.release.set()
        holder.join(10)
        registry.close()


def test_a_cancel_ends_the_wait_for_a_free_tool_thread(
    one_thread_taken: ToolRegistry, probe: Probe, tmp_path: Path
) -> None:
    cancel = CancelToken()
    threading.Timer(0.2, cancel.cancel).start()
    started = time.monotonic()
    result = one_thread_taken.call("echo", {"text": "x"}, context(tmp_path, cancel))
    assert result.is_error and "was cancelled" in result.output
    assert time.monotonic() - started < 2
    assert probe.threads == []  # it never ran


def test_the_call_timeout_covers_the_wait_for_a_free_tool_thread(
    one_thread_taken: ToolRegistry, tmp_path: Path
) -> None:
    result = one_thread_taken.call(
        "echo", {"text": "x"}, context(tmp_path, **{"tool.call.timeout": "PT0.3S"})
    )
    assert result.is_error
    assert result.output == (
        "Tool call echo timed out after 0.3 s (tool.call.timeout) while waiting for a free tool thread"
    )


def test_the_callers_deadline_reaches_the_call_with_the_callers_message(
    probe: Probe, tmp_path: Path, scheduler: DeadlineScheduler
) -> None:
    """The run's deadline comes before tool.call.timeout: the call stops, naming run.timeout."""
    registry = registry_with(probe, scheduler)
    run = CancelToken(
        scheduler, deadline=time.monotonic() + 0.3, timeout_message="the statement timed out (run.timeout)"
    )
    try:
        result = registry.call("block", {}, context(tmp_path, run))
        assert result.is_error and result.output == "the statement timed out (run.timeout)"
        assert probe.cancelled.is_set()
        assert run.reason is CancelReason.TIMEOUT
    finally:
        registry.close()
