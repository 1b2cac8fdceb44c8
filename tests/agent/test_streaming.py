"""Streaming to DB-API clients (issue 13 §2): PyHive and impyla read until a fetch comes back empty,
so a FetchResults of a running statement waits for its next row instead of answering empty. Async
execute then a plain ``fetchall()`` gets every event through ``agent_finish`` across a long LLM
stall and across a parked approval answered from another connection; a cancel from another
connection, and the engine stopping, release a blocked fetch at once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from impala.dbapi import connect as impyla_connect
from pyhive import hive
from TCLIService import ttypes

from engine.agent.approval import PendingApproval
from engine.common.handle import OperationHandle
from engine.operation.operation import Operation
from tests.agent.e2e import AGENT, engine_conf
from tests.fakes.openai_server import FakeOpenAIServer, Reply, text, tool
from tests.support.databases import wait_until

STALL = 10.0  # seconds the fake LLM says nothing (a slow model, a long reasoning phase)
CANCELED = 3


@pytest.fixture
def llm() -> Any:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def agent_engine(start_engine: Any, shop: Any, llm: FakeOpenAIServer) -> Callable[..., Any]:
    def factory(extra: dict[str, str] | None = None) -> Any:
        return start_engine(engine_conf(llm, f"jdbc:sqlite:{shop}", extra))

    return factory


def fetch_all_async(engine: Any, client: str, question: str) -> list[dict[str, Any]]:
    """Execute asynchronously, then one plain ``fetchall()``: what a DB-API user writes."""
    if client == "pyhive":
        with hive.connect(engine.host, engine.port, username="alice") as conn:
            cursor = conn.cursor()
            cursor.execute(question, async_=True)
            rows = cursor.fetchall()
    else:
        conn = impyla_connect(engine.host, engine.port, auth_mechanism="PLAIN", user="alice", password="x")
        try:
            cursor = conn.cursor()
            cursor.execute_async(question)
            rows = cursor.fetchall()
            cursor.close()
        finally:
            conn.close()
    return [json.loads(row[0]) for row in rows]


def assert_complete(events: list[dict[str, Any]]) -> None:
    kinds = [event["type"] for event in events]
    assert kinds[0] == "agent_start" and kinds[-1] == "agent_finish", kinds
    assert kinds.count("step_start") == kinds.count("step_end") == 2, kinds


CLIENTS = ["pyhive", "impyla"]
COUNT_AFTER_A_STALL = (
    tool("run_select_query", {"sql": "SELECT COUNT(*) AS n FROM orders"}),
    Reply(text=("There are ", "3 orders."), first_delay=STALL),
)
INSERT_AFTER_APPROVAL = (
    tool("run_mutation_query", {"sql": "INSERT INTO orders (customer, amount) VALUES ('zoe', 99.0)"}),
    text("Added zoe."),
)


@pytest.mark.parametrize("client", CLIENTS)
def test_fetchall_reads_every_event_across_a_long_llm_stall(
    agent_engine: Callable[..., Any], llm: FakeOpenAIServer, client: str
) -> None:
    llm.add(*COUNT_AFTER_A_STALL)
    engine = agent_engine()
    started = time.monotonic()
    events = fetch_all_async(engine, client, "How many orders are there?")
    assert time.monotonic() - started >= STALL  # the stall happened while the client was reading
    assert_complete(events)
    result = next(event for event in events if event["type"] == "tool_result")
    assert result["isError"] is False and "3" in result["output"]
    answer = "".join(event["text"] for event in events if event["type"] == "content_delta")
    assert answer == "There are 3 orders."


def pending_approval(engine: Any) -> tuple[Any, PendingApproval] | None:
    """The engine's parked tool call and the session holding it, if any (read in-process)."""
    for session in engine.backend.sessions.sessions():
        for pending in session.agent.approvals.pending():
            return session, pending
    return None


def approve_later(engine: Any, delay: float, replies: list[dict[str, Any]]) -> threading.Thread:
    """Once a call parks, wait ``delay`` seconds (the reader stays blocked meanwhile), then send
    ``__approve:`` from another connection, on the session that parked it."""

    def run() -> None:
        assert wait_until(lambda: pending_approval(engine) is not None, 30)
        found = pending_approval(engine)
        assert found is not None
        session, pending = found
        threading.Event().wait(delay)  # the point of the test: the approval takes a while
        with hive.connect(engine.host, engine.port, username="alice") as other:
            handle = ttypes.TSessionHandle(
                sessionId=ttypes.THandleIdentifier(guid=session.handle.guid, secret=session.handle.secret)
            )
            response = other.client.ExecuteStatement(
                ttypes.TExecuteStatementReq(
                    sessionHandle=handle, statement=f"__approve:{pending.request_id}", runAsync=False
                )
            )
            assert response.status.statusCode == ttypes.TStatusCode.SUCCESS_STATUS, response.status
            fetched = other.client.FetchResults(
                ttypes.TFetchResultsReq(
                    operationHandle=response.operationHandle,
                    orientation=ttypes.TFetchOrientation.FETCH_NEXT,
                    maxRows=10,
                )
            )
            replies.extend(json.loads(value) for value in fetched.results.columns[0].stringVal.values)

    thread = threading.Thread(target=run, name="test-approver")
    thread.start()
    return thread


@pytest.mark.parametrize("client", CLIENTS)
def test_fetchall_reads_every_event_across_a_parked_approval(
    agent_engine: Callable[..., Any], llm: FakeOpenAIServer, client: str
) -> None:
    """Approved from another connection a few seconds after the call parked (NORMAL mode)."""
    llm.add(*INSERT_AFTER_APPROVAL)
    engine = agent_engine()
    replies: list[dict[str, Any]] = []
    approver = approve_later(engine, 3.0, replies)
    try:
        events = fetch_all_async(engine, client, "Add a row for zoe")
    finally:
        approver.join(30)
    assert replies and replies[0]["status"] == "ok" and replies[0]["action"] == "approved"
    assert_complete(events)
    kinds = [event["type"] for event in events]
    assert kinds.index("approval_request") < kinds.index("tool_call") < kinds.index("tool_result")
    result = next(event for event in events if event["type"] == "tool_result")
    assert result["isError"] is False


def the_operation(engine: Any, cursor: Any) -> Operation:
    handle = cursor._operationHandle.operationId
    return engine.backend.sessions.get_operation(OperationHandle(handle.guid, handle.secret), "alice")


class BlockedReader:
    """A PyHive ``fetchall()`` on its own thread, started once the client read the run's first rows
    (its next fetch waits: the fake LLM stalls)."""

    def __init__(self, engine: Any, llm: FakeOpenAIServer, gate: threading.Event) -> None:
        llm.add(Reply(text=("never sent",), wait_for=gate))
        self.conn = hive.connect(engine.host, engine.port, username="alice")
        self.cursor = self.conn.cursor()
        self.cursor.execute("a question the model stalls on", async_=True)
        self.rows: list[Any] = []
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._read, name="test-reader")
        self.thread.start()
        assert llm.wait_for_requests(1)
        operation = the_operation(engine, self.cursor)
        assert wait_until(lambda: operation.buffer.position >= 2, 10)  # agent_start, step_start read
        assert not self.done.wait(0.3)  # and the next fetch waits

    def _read(self) -> None:
        try:
            self.rows = self.cursor.fetchall()
        except BaseException as exc:  # the engine stopping may close the connection under it
            self.error = exc
        finally:
            self.done.set()

    def close(self) -> None:
        self.thread.join(10)
        try:
            self.conn.close()
        except Exception:
            pass


@pytest.fixture
def blocked(agent_engine: Callable[..., Any], llm: FakeOpenAIServer) -> Iterator[tuple[Any, BlockedReader]]:
    """An engine and a PyHive ``fetchall()`` blocked on a run whose model stalls until the test ends."""
    engine = agent_engine()
    gate = threading.Event()
    reader = BlockedReader(engine, llm, gate)
    try:
        yield engine, reader
    finally:
        gate.set()
        reader.close()


def test_a_cancel_from_another_connection_releases_a_blocked_fetch_at_once(
    blocked: tuple[Any, BlockedReader],
) -> None:
    engine, reader = blocked
    with hive.connect(engine.host, engine.port, username="alice") as other:
        cancelled_at = time.monotonic()
        response = other.client.CancelOperation(
            ttypes.TCancelOperationReq(operationHandle=reader.cursor._operationHandle)
        )
        assert response.status.statusCode == ttypes.TStatusCode.SUCCESS_STATUS
        assert reader.done.wait(2), "the cancel did not release the blocked fetch"
        assert time.monotonic() - cancelled_at < 2
    assert reader.error is None
    assert [json.loads(row[0])["type"] for row in reader.rows][:2] == ["agent_start", "step_start"]
    assert reader.cursor.poll().operationState == CANCELED


def test_the_engine_stopping_releases_a_blocked_fetch_at_once(blocked: tuple[Any, BlockedReader]) -> None:
    engine, reader = blocked
    started = time.monotonic()
    engine.stop()
    assert reader.done.wait(2), "the engine stopped without releasing the blocked fetch"
    assert time.monotonic() - started < 4  # the server did not wait for the fetch to time out
    if reader.error is None:  # the fetch answered before the connection closed
        assert [json.loads(row[0])["type"] for row in reader.rows][:2] == ["agent_start", "step_start"]


def test_approval_timeout_must_stay_below_fetch_wait(
    agent_engine: Callable[..., Any], llm: FakeOpenAIServer
) -> None:
    """A session cannot make its parked calls outlast a waiting fetch."""
    engine = agent_engine({AGENT + "approval.timeout": "PT1M", AGENT + "fetch.wait": "PT2M"})
    with pytest.raises(Exception, match=r"fetch\.wait .* must be longer than .*approval\.timeout"):
        hive.connect(
            engine.host,
            engine.port,
            username="alice",
            configuration={AGENT + "approval.timeout": "PT3M"},
        )
