"""The operation log (FetchResults fetchType=1): the bounded window, the lines an agent run's events
become, PyHive's ``fetch_logs()`` on a real run, and the status long poll that wakes on a new line."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from pyhive import hive

from engine.agent.events import (
    AgentFinishEvent,
    AgentStartEvent,
    ApprovalRequestEvent,
    CompactionEvent,
    ContentDeltaEvent,
    ErrorEvent,
    StepStartEvent,
    ToolCallEvent,
    ToolResultEvent,
)
from engine.common.result import QueryResult
from engine.common.types import ColumnSpec
from engine.frontend.idl import TCLI
from engine.operation.operation_log import SQL_CHARS, OperationLog, ProgressLog
from tests.agent.e2e import AGENT, connect, engine_conf, stream_events
from tests.fakes.openai_server import text, tool
from tests.frontend.providers import END, QueueProvider
from tests.frontend.rawclient import RawClient

V10 = TCLI.TProtocolVersion.HIVE_CLI_SERVICE_PROTOCOL_V10


# --- the window ---------------------------------------------------------------------------------
def test_lines_are_read_once_in_order_and_fetch_first_rereads() -> None:
    log = OperationLog(max_lines=10)
    for n in range(5):
        log.append(f"line {n}")
    assert log.read(3) == (["line 0", "line 1", "line 2"], 0, True)
    assert log.read(10) == (["line 3", "line 4"], 3, False)
    assert log.read(10) == ([], 5, False)
    assert log.read(2, from_start=True) == (["line 0", "line 1"], 0, True)
    assert log.total == 5


def test_a_long_run_keeps_a_window_and_says_what_was_dropped() -> None:
    log = OperationLog(max_lines=100)
    for n in range(10_000):
        log.append(f"line {n}")
    assert log.total == 10_000
    lines, start, pending = log.read(5)
    assert start == 0 and pending
    assert "9900 earlier log line(s) dropped (an operation keeps its last 100 lines)" in lines[0]
    assert lines[1:] == ["line 9900", "line 9901", "line 9902", "line 9903"]
    rest, start, pending = log.read(1000)
    assert start == 9904 and rest[0] == "line 9904" and rest[-1] == "line 9999" and not pending
    # a reader that keeps up never sees a drop note
    for n in range(150):
        log.append(f"more {n}")
        assert log.read(10)[0] == [f"more {n}"]


def test_a_huge_line_is_cut() -> None:
    log = OperationLog(max_lines=10, max_line_chars=50)
    log.append("x" * 10_000)
    (line,), _, _ = log.read(1)
    assert line == "x" * 50 + "..."


# --- the translator -----------------------------------------------------------------------------
def _lines(*events: Any, parks: bool = True) -> list[str]:
    written: list[str] = []
    progress = ProgressLog(written.append, 300.0, parks=parks)
    for event in events:
        progress.on_event(event)
    return [line.split(" ", 1)[1] for line in written]  # without the time


def test_each_event_kind_becomes_one_short_line() -> None:
    table = QueryResult((ColumnSpec("n"),), [(1,), (2,), (3,)], truncated=False, elapsed=0.0123)
    capped = QueryResult((ColumnSpec("n"),), [(1,)] * 200, truncated=True, elapsed=0.5)
    lines = _lines(
        AgentStartEvent(),
        StepStartEvent(1),
        ContentDeltaEvent("thinking about it"),
        ToolCallEvent("c1", "run_select_query", {"sql": "SELECT n\n  FROM   t"}),
        ToolResultEvent("c1", "run_select_query", "| n |\n|---|\n| 1 |", False, table=table),
        ToolCallEvent("c2", "run_select_query", {"sql": "SELECT n FROM big"}),
        ToolResultEvent("c2", "run_select_query", "...", False, table=capped),
        ToolCallEvent("c3", "describe_table", {"table": "orders"}),
        ToolResultEvent("c3", "describe_table", "## orders\n| column | type |\n| id | INT |", False),
        ToolResultEvent(
            "c4", "run_mutation_query", "The statement ran and was committed: 1 row affected.", False
        ),
        ToolResultEvent("c5", "run_select_query", "Tool call failed: no such table: nope\n(SQLite)", True),
        CompactionEvent(summarized=6, kept=2, trigger_tokens=256, observed_tokens=900),
        ErrorEvent("the LLM stream failed"),
        AgentFinishEvent(steps=3, accumulated_prompt_tokens=1200, accumulated_completion_tokens=80),
    )
    assert lines == [
        "INFO step 1",
        "INFO calling run_select_query: SELECT n FROM t",
        "INFO run_select_query returned 3 rows in 0.012 s",
        "INFO calling run_select_query: SELECT n FROM big",
        "INFO run_select_query returned 200 rows (more exist: cut at the tool's row cap) in 0.500 s",
        'INFO calling describe_table: {"table":"orders"}',
        "INFO describe_table done: 3 lines of output",
        "INFO run_mutation_query done: The statement ran and was committed: 1 row affected.",
        "WARN run_select_query failed: Tool call failed: no such table: nope (SQLite)",
        "INFO compaction: 6 older message(s) summarized, 2 kept (prompt 900 tokens, trigger 256)",
        "INFO agent finished after 3 step(s) (1200 prompt + 80 completion tokens)",
    ]


def test_a_parked_call_names_its_request_and_the_two_statements_that_answer_it() -> None:
    request = ApprovalRequestEvent(
        "0f3c9a7e51d24b6c8e2a4d6f8b0c1e3a",
        "c1",
        "run_mutation_query",
        {"sql": "DELETE FROM t"},
        "DESTRUCTIVE",
    )
    assert _lines(request) == [
        "WARN approval needed: run_mutation_query (DESTRUCTIVE) waits up to 300 s, "
        "request 0f3c9a7e51d24b6c8e2a4d6f8b0c1e3a: DELETE FROM t",
        "WARN   to approve, run in another session: __approve:0f3c9a7e51d24b6c8e2a4d6f8b0c1e3a",
        "WARN   to deny, run in another session: __deny:0f3c9a7e51d24b6c8e2a4d6f8b0c1e3a <reason>",
    ]
    # result mode 'table' denies gated calls at once: no statement to run
    (line,) = _lines(request, parks=False)
    assert "cannot ask for: denied" in line and "__approve:" not in line


def test_no_secret_reaches_a_line_and_long_sql_is_cut() -> None:
    key = "sk-proj-" + "A1b2C3d4" * 4
    lines = _lines(
        ToolCallEvent("c1", "run_mutation_query", {"sql": "ALTER ROLE app PASSWORD = 'hunter2hunter2'"}),
        ToolResultEvent(
            "c1", "run_select_query", f"failed: postgresql://app:hunter2hunter2@db/x {key}", True
        ),
        ApprovalRequestEvent("r1", "c2", "run_mutation_query", {"sql": f"SELECT '{key}'"}, "DESTRUCTIVE"),
        ToolCallEvent("c3", "run_select_query", {"sql": "SELECT " + "x, " * 2000 + "y"}),
    )
    joined = "\n".join(lines)
    assert "hunter2hunter2" not in joined and key not in joined
    long_call = lines[-1]
    assert long_call.endswith("more characters)") and len(long_call) < SQL_CHARS + 100


# --- real clients ---------------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_pyhive_fetch_logs_follows_a_run(start_engine: Any, shop: Path, llm: Any) -> None:
    engine = start_engine(
        engine_conf(llm, f"jdbc:sqlite:{shop}", {AGENT + "compaction.trigger.tokens": "256"})
    )
    big = {"sql": "SELECT o1.customer || '" + "x" * 40 + "' FROM orders o1, orders o2, orders o3, orders o4"}
    llm.add(*(tool("run_select_query", big) for _ in range(4)), text("done"))
    with connect(engine) as conn:
        cursor = conn.cursor()
        cursor.execute("one long turn", async_=True)
        logs: list[str] = []
        for row in stream_events(cursor):
            logs.extend(cursor.fetch_logs())  # while the rows stream
            if row.event["type"] == "agent_finish":
                break
        logs.extend(cursor.fetch_logs())
    text_only = [line.split(" ", 1)[1] for line in logs]
    assert text_only[:2] == ["INFO state INITIALIZED -> PENDING", "INFO state PENDING -> RUNNING"]
    assert text_only.count("INFO calling run_select_query: " + big["sql"]) == 4
    assert sum(line.startswith("INFO run_select_query returned 81 rows") for line in text_only) == 4
    assert any(line.startswith("INFO compaction: ") for line in text_only)
    assert [line for line in text_only if line.startswith("INFO step ")] == [
        f"INFO step {n}" for n in range(1, 6)
    ]


def _status(client: RawClient, operation: Any) -> Any:
    return client.GetOperationStatus(
        TCLI.TGetOperationStatusReq(operationHandle=operation, getProgressUpdate=True)
    )


@pytest.mark.timeout(60)
def test_status_long_polls_until_a_log_line_or_a_state_change(hs2: Any) -> None:
    provider = QueueProvider()
    stack = hs2({"kyuubi.operation.status.polling.timeout": "PT50S"}, provider=provider)
    client = RawClient(stack.host, stack.port)
    try:
        session = client.open_session(V10).sessionHandle
        operation = client.execute(session, "stream rows", run_async=True)
        assert provider.started.wait(10)
        answers: list[Any] = []
        poller = threading.Thread(target=lambda: answers.append(_status(client, operation)), name="test-poll")
        poller.start()
        poller.join(0.5)
        assert poller.is_alive()  # nothing new: the call waits (up to 50 s)
        provider.rows.put(1)  # a step: one new line in the operation log
        poller.join(10)
        assert not poller.is_alive() and answers[0].operationState == TCLI.TOperationState.RUNNING_STATE
        assert answers[0].progressUpdateResponse is None
        log = client.fetch(operation, 100, fetch_type=1)
        assert log.results.columns[0].stringVal.values[-1].endswith("INFO step 1")
        provider.rows.put(END)
        finished = _status(client, operation)  # answers when the state changes
        while finished.operationState == TCLI.TOperationState.RUNNING_STATE:
            finished = _status(client, operation)
        assert finished.operationState == TCLI.TOperationState.FINISHED_STATE
        rows = client.fetch(operation, 100)
        assert json.loads(rows.results.columns[0].stringVal.values[-1])["type"] == "agent_finish"
    finally:
        client.close()


@pytest.mark.timeout(60)
def test_cancel_releases_a_status_long_poll(hs2: Any) -> None:
    provider = QueueProvider()
    stack = hs2({"kyuubi.operation.status.polling.timeout": "PT50S"}, provider=provider)
    with hive.connect(stack.host, stack.port, username="kim") as conn:
        cursor = conn.cursor()
        cursor.execute("never ends", async_=True)
        assert provider.started.wait(10)
        client = RawClient(stack.host, stack.port, user="kim")
        try:
            answers: list[Any] = []
            pyhive_handle = cursor._operationHandle
            handle = TCLI.TOperationHandle(
                operationId=TCLI.THandleIdentifier(
                    guid=pyhive_handle.operationId.guid, secret=pyhive_handle.operationId.secret
                ),
                operationType=pyhive_handle.operationType,
                hasResultSet=pyhive_handle.hasResultSet,
            )
            poller = threading.Thread(
                target=lambda: answers.append(_status(client, handle)), name="test-poll"
            )
            poller.start()
            cursor.cancel()
            poller.join(10)
            assert not poller.is_alive()
            assert answers[0].operationState == TCLI.TOperationState.CANCELED_STATE
        finally:
            client.close()
