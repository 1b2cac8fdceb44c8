"""The backend service driven directly (domain API, no Thrift): sessions, statements, control."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.agent.echo import EchoProvider
from engine.agent.events import (
    AgentEvent,
    AgentFinishEvent,
    AgentStartEvent,
    ApprovalRequestEvent,
    ContentDeltaEvent,
    StepEndEvent,
    StepStartEvent,
    ToolResultEvent,
)
from engine.agent.provider import AgentSession, RunRequest
from engine.backend import BackendService
from engine.common.config import EngineConf
from engine.common.deadline import DeadlineScheduler
from engine.common.errors import (
    BusyError,
    ConfigError,
    InvalidHandleError,
    InvalidStateError,
    InvalidStatementError,
    OperationCanceledError,
    PermissionDeniedError,
    UnsupportedError,
)
from engine.common.handle import OperationHandle, SessionHandle
from engine.operation.fetch_buffer import FetchOrientation
from engine.operation.manager import OperationManager
from engine.operation.state import OperationState
from engine.session.manager import SessionManager

NEXT = FetchOrientation.FETCH_NEXT


class GatedProvider:
    """A provider that streams rows as the test releases them, and can park a tool call."""

    name = "GATED"

    def __init__(self) -> None:
        self.release = threading.Semaphore(0)
        self.requests: list[RunRequest] = []
        self.decisions: list[object] = []

    def open_session(self, session: AgentSession) -> None:
        session.memory = []

    def close_session(self, session: AgentSession) -> None:
        pass

    def run(self, request: RunRequest) -> Iterator[AgentEvent]:
        self.requests.append(request)
        yield AgentStartEvent()
        yield StepStartEvent(1)
        if request.question == "park":
            pending = request.session.approvals.open_request(
                "call-1", "run_mutation_query", {"sql": "x"}, "DESTRUCTIVE", request.operation_id
            )
            yield ApprovalRequestEvent(
                pending.request_id, "call-1", "run_mutation_query", {"sql": "x"}, "DESTRUCTIVE"
            )
            decision = request.session.approvals.wait(pending, 10.0, request.cancel)
            self.decisions.append(decision)
            yield ToolResultEvent("call-1", "run_mutation_query", decision.reason, not decision.approved)
        else:
            for index in range(3):
                while not self.release.acquire(timeout=0.05):
                    request.cancel.raise_if_cancelled()
                yield ContentDeltaEvent(f"part{index} ")
        yield StepEndEvent(1)
        yield AgentFinishEvent(steps=1)

    def close(self) -> None:
        pass


def make_backend(
    tmp_path: Path, provider: object, *pairs: str, scheduler: DeadlineScheduler
) -> BackendService:
    conf = EngineConf.load([f"kyuubi.engine.data.agent.work.dir={tmp_path}", *pairs], environ={})
    operations = OperationManager(conf, scheduler)
    return BackendService(conf, SessionManager(conf, provider, operations))  # type: ignore[arg-type]


@pytest.fixture
def echo_backend(tmp_path: Path, scheduler: DeadlineScheduler) -> Iterator[BackendService]:
    backend = make_backend(tmp_path, EchoProvider(), scheduler=scheduler)
    yield backend
    backend.stop()


@pytest.fixture
def gated(tmp_path: Path, scheduler: DeadlineScheduler) -> Iterator[tuple[BackendService, GatedProvider]]:
    provider = GatedProvider()
    backend = make_backend(tmp_path, provider, scheduler=scheduler)
    yield backend, provider
    backend.stop()


def drain(backend: BackendService, op: OperationHandle, user: str | None = "alice") -> list:
    rows: list = []
    while True:
        batch = backend.fetch_results(op, user, NEXT, 100)
        rows.extend(batch.columns[0])
        if not batch.has_more_rows and batch.row_count == 0:
            return rows


def test_protocol_is_min_of_client_and_server(echo_backend: BackendService) -> None:
    for client in range(0, 11):
        _, version, configuration = echo_backend.open_session(client, "alice", None, "127.0.0.1", {})
        assert version == client
        assert isinstance(configuration, dict)
    _, version, _ = echo_backend.open_session(42, "alice", None, "127.0.0.1", {})
    assert version == 10


def test_echo_statement_emits_kyuubis_event_sequence(echo_backend: BackendService) -> None:
    session, _, _ = echo_backend.open_session(5, "alice", None, "127.0.0.1", {})
    op = echo_backend.execute_statement(session, "alice", "how many orders?", {}, run_async=False)
    assert echo_backend.get_operation_status(op, "alice").state == OperationState.FINISHED
    schema = echo_backend.get_result_set_metadata(op, "alice")
    assert [c.name for c in schema.columns] == ["reply"]
    events = [json.loads(row) for row in drain(echo_backend, op)]
    types = [event["type"] for event in events]
    assert (
        types[0] == "agent_start" and types[1] == "step_start" and types[-2:] == ["step_end", "agent_finish"]
    )
    deltas = [event for event in events if event["type"] == "content_delta"]
    text = "".join(event["text"] for event in deltas)
    assert "how many orders?" in text
    assert len(deltas) < len(text.split())  # coalesced: not one row per token
    assert events[-1] == {
        "type": "agent_finish",
        "steps": 1,
        "accumulatedPromptTokens": 0,
        "accumulatedCompletionTokens": 0,
        "lastPromptTokens": 0,
        "lastCompletionTokens": 0,
    }


def test_rows_are_fetchable_while_the_run_is_going(gated: tuple[BackendService, GatedProvider]) -> None:
    backend, provider = gated
    session, _, _ = backend.open_session(9, "alice", None, "127.0.0.1", {})
    op = backend.execute_statement(session, "alice", "stream", {}, run_async=True)
    first = backend.fetch_results(op, "alice", NEXT, 100)
    assert first.has_more_rows
    assert [json.loads(r)["type"] for r in first.columns[0]] == ["agent_start", "step_start"]
    assert backend.get_operation_status(op, "alice").state == OperationState.RUNNING
    provider.release.release()
    batch = backend.fetch_results(op, "alice", NEXT, 100)
    assert json.loads(batch.columns[0][0]) == {"type": "content_delta", "text": "part0 "}
    assert batch.has_more_rows
    with pytest.raises(BusyError, match="already running a statement"):
        backend.execute_statement(session, "alice", "second question", {}, run_async=True)
    provider.release.release()
    provider.release.release()
    rest = drain(backend, op)
    assert json.loads(rest[-1])["type"] == "agent_finish"
    # the session is free again
    op2 = backend.execute_statement(
        session, "alice", "park", {"kyuubi.engine.data.agent.approval.mode": "STRICT"}, run_async=True
    )
    backend.cancel_operation(op2, "alice")


def test_cancel_stops_the_run_and_frees_the_session(gated: tuple[BackendService, GatedProvider]) -> None:
    backend, provider = gated
    session, _, _ = backend.open_session(9, "alice", None, "127.0.0.1", {})
    op = backend.execute_statement(session, "alice", "stream", {}, run_async=True)
    backend.cancel_operation(op, "alice")
    assert backend.get_operation_status(op, "alice").state == OperationState.CANCELED
    operation = backend.sessions.get_operation(op, "alice")
    assert operation.wait(5.0)
    provider.release.release()
    op2 = backend.execute_statement(session, "alice", "stream", {}, run_async=True)
    backend.close_operation(op2, "alice")
    with pytest.raises(InvalidHandleError):
        backend.fetch_results(op2, "alice", NEXT, 10)


def test_approvals_park_and_release(gated: tuple[BackendService, GatedProvider]) -> None:
    backend, provider = gated
    session, _, _ = backend.open_session(9, "alice", None, "127.0.0.1", {})
    op = backend.execute_statement(session, "alice", "park", {}, run_async=True)
    request = None
    while request is None:
        for row in backend.fetch_results(op, "alice", NEXT, 100).columns[0]:
            if json.loads(row)["type"] == "approval_request":
                request = json.loads(row)
    # another user's session cannot decide it
    other, _, _ = backend.open_session(9, "mallory", None, "127.0.0.1", {})
    reply_op = backend.execute_statement(
        other, "mallory", f"__approve:{request['requestId']}", {}, run_async=False
    )
    assert json.loads(drain(backend, reply_op, "mallory")[0]) == {
        "status": "not_found",
        "action": "approved",
        "requestId": request["requestId"],
    }
    reply_op = backend.execute_statement(
        session, "alice", f"__deny:{request['requestId']} too risky", {}, run_async=False
    )
    assert json.loads(drain(backend, reply_op)[0]) == {
        "status": "ok",
        "action": "denied",
        "requestId": request["requestId"],
    }
    rows = [json.loads(r) for r in drain(backend, op)]
    result = next(r for r in rows if r["type"] == "tool_result")
    assert result["isError"] and "too risky" in result["output"]
    assert [d.approved for d in provider.decisions] == [False]
    audit = (Path(backend.sessions.work_dir) / "audit.log").read_text()
    assert '"decision":"denied"' in audit and "too risky" in audit


def test_control_statements_never_reach_the_provider(gated: tuple[BackendService, GatedProvider]) -> None:
    backend, provider = gated
    assert provider.requests == []
    session, _, _ = backend.open_session(5, "alice", None, "127.0.0.1", {"use:database": "default"})
    op = backend.execute_statement(session, "alice", "USE `sales`", {}, run_async=False)
    assert backend.get_operation_status(op, "alice").has_result_set is False
    op = backend.execute_statement(session, "alice", "SELECT 1", {}, run_async=False)
    schema = backend.get_result_set_metadata(op, "alice")
    assert [(c.name, c.type.name) for c in schema.columns] == [("_c0", "INT")]
    assert backend.fetch_results(op, "alice", NEXT, 10).columns == [[1]]
    op = backend.execute_statement(session, "alice", "select 'x' as probe, true, null", {}, run_async=False)
    assert backend.fetch_results(op, "alice", NEXT, 10).columns == [["x"], [True], [None]]
    op = backend.execute_statement(session, "alice", "SELECT current_database()", {}, run_async=False)
    assert backend.fetch_results(op, "alice", NEXT, 10).columns == [["sales"]]
    backend.execute_statement(
        session, "alice", "SET kyuubi.engine.data.agent.approval.mode=STRICT", {}, run_async=False
    )
    op = backend.execute_statement(session, "alice", "SET", {}, run_async=False)
    assert "kyuubi.engine.data.agent.approval.mode=STRICT" in drain(backend, op)
    op = backend.execute_statement(session, "alice", "__approve:nope", {}, run_async=False)
    assert json.loads(drain(backend, op)[0])["status"] == "not_found"
    with pytest.raises(InvalidStatementError, match="requestId cannot be empty"):
        backend.execute_statement(session, "alice", "__approve:   ", {}, run_async=False)
    with pytest.raises(Exception, match="accepted values"):
        backend.execute_statement(
            session, "alice", "SET kyuubi.engine.data.agent.approval.mode=SOMETIMES", {}, run_async=False
        )
    assert provider.requests == []


def test_unknown_handles_other_users_and_closed_operations(echo_backend: BackendService) -> None:
    with pytest.raises(InvalidHandleError, match="Invalid SessionHandle"):
        echo_backend.execute_statement(SessionHandle(), "alice", "q", {}, run_async=False)
    with pytest.raises(InvalidHandleError, match="Invalid OperationHandle"):
        echo_backend.get_operation_status(OperationHandle(), "alice")
    session, _, _ = echo_backend.open_session(5, "alice", None, "127.0.0.1", {})
    with pytest.raises(PermissionDeniedError):
        echo_backend.execute_statement(session, "bob", "q", {}, run_async=False)
    op = echo_backend.execute_statement(session, "alice", "q", {}, run_async=False)
    with pytest.raises(PermissionDeniedError):
        echo_backend.fetch_results(op, "bob", NEXT, 10)
    with pytest.raises(UnsupportedError, match="FETCH_LAST"):
        echo_backend.fetch_results(op, "alice", FetchOrientation.FETCH_LAST, 10)
    operation = echo_backend.sessions.get_operation(op, "alice")
    echo_backend.close_operation(op, "alice")
    with pytest.raises(InvalidStateError):
        operation.fetch(NEXT, 10)
    with pytest.raises(InvalidHandleError):
        echo_backend.close_operation(op, "alice")
    echo_backend.close_session(session, "alice")
    with pytest.raises(InvalidHandleError):
        echo_backend.close_session(session, "alice")


def test_operation_log_is_fetchable(echo_backend: BackendService) -> None:
    session, _, _ = echo_backend.open_session(9, "alice", None, "127.0.0.1", {})
    op = echo_backend.execute_statement(session, "alice", "q", {}, run_async=False)
    log = echo_backend.fetch_results(op, "alice", NEXT, 100, fetch_log=True)
    assert any("RUNNING -> FINISHED" in line for line in log.columns[0])


def test_bad_session_configuration_is_a_clear_error(echo_backend: BackendService) -> None:
    with pytest.raises(ConfigError, match=r"kyuubi\.engine\.data\.agent\.max\.iterations"):
        echo_backend.open_session(
            5, "alice", None, "127.0.0.1", {"set:hiveconf:kyuubi.engine.data.agent.max.iterations": "-1"}
        )


def test_idle_sessions_are_reaped(tmp_path: Path, scheduler: DeadlineScheduler) -> None:
    backend = make_backend(
        tmp_path,
        EchoProvider(),
        "kyuubi.session.idle.timeout=PT0.05S",
        "kyuubi.operation.idle.timeout=PT0.05S",
        scheduler=scheduler,
    )
    try:
        session, _, _ = backend.open_session(5, "alice", None, "127.0.0.1", {})
        threading.Event().wait(0.1)
        assert backend.sessions.reap_idle() == 1
        with pytest.raises(InvalidHandleError):
            backend.get_info(session, "alice", "CLI_DBMS_NAME")
    finally:
        backend.stop()


# --- a fetch of a running operation waits for its next row; cancel, close and stop release it ------
class Waiter:
    """Runs one blocking backend call on its own thread and keeps what it returned or raised."""

    def __init__(self, call: Any) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(call,), name="test-waiter")
        self._thread.start()

    def _run(self, call: Any) -> None:
        try:
            self.result = call()
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()

    def join(self) -> None:
        self._thread.join(10)


def started_stream(backend: BackendService, overlay: dict[str, str] | None = None) -> OperationHandle:
    """A running "stream" statement whose first rows (agent_start, step_start) were fetched."""
    session, _, _ = backend.open_session(9, "alice", None, "127.0.0.1", {})
    op = backend.execute_statement(session, "alice", "stream", overlay or {}, run_async=True)
    if not overlay:
        kinds = []
        while len(kinds) < 2:
            kinds += [json.loads(r)["type"] for r in backend.fetch_results(op, "alice", NEXT, 100).columns[0]]
        assert kinds == ["agent_start", "step_start"]
    return op


def test_a_fetch_waits_for_the_next_row_instead_of_answering_empty(
    gated: tuple[BackendService, GatedProvider],
) -> None:
    backend, provider = gated
    op = started_stream(backend)
    waiter = Waiter(lambda: backend.fetch_results(op, "alice", NEXT, 100))
    assert not waiter.done.wait(0.5)  # nothing to answer yet: PyHive would take empty for the end
    provider.release.release()
    assert waiter.done.wait(5)
    assert [json.loads(r) for r in waiter.result.columns[0]] == [{"type": "content_delta", "text": "part0 "}]
    assert waiter.result.has_more_rows
    provider.release.release()
    provider.release.release()
    assert json.loads(drain(backend, op)[-1])["type"] == "agent_finish"


@pytest.mark.parametrize("how", ["cancel", "close", "stop"])
def test_cancel_close_and_stop_release_a_waiting_fetch_at_once(
    gated: tuple[BackendService, GatedProvider], how: str
) -> None:
    backend, _provider = gated
    op = started_stream(backend)
    waiter = Waiter(lambda: backend.fetch_results(op, "alice", NEXT, 100))
    assert not waiter.done.wait(0.3)
    {
        "cancel": lambda: backend.cancel_operation(op, "alice"),
        "close": lambda: backend.close_operation(op, "alice"),
        "stop": backend.stop,
    }[how]()
    assert waiter.done.wait(2), f"{how} did not release the waiting fetch"
    waiter.join()
    if waiter.error is None:
        assert not waiter.result.has_more_rows
    else:  # closed while it waited: the fetch reports the closed handle
        assert isinstance(waiter.error, InvalidHandleError | InvalidStateError), waiter.error


TABLE_MODE = {"kyuubi.engine.data.agent.result.mode": "table"}


@pytest.mark.parametrize("call", ["fetch", "metadata"])
def test_a_cancel_releases_a_wait_for_a_table_mode_schema(
    gated: tuple[BackendService, GatedProvider], call: str
) -> None:
    """In table mode the columns are known only when the run finds its table: FetchResults and
    GetResultSetMetadata wait for them, and a cancel from elsewhere ends both waits at once."""
    backend, _provider = gated
    op = started_stream(backend, TABLE_MODE)
    waiter = Waiter(
        (lambda: backend.fetch_results(op, "alice", NEXT, 100))
        if call == "fetch"
        else (lambda: backend.get_result_set_metadata(op, "alice"))
    )
    assert not waiter.done.wait(0.3)
    backend.cancel_operation(op, "alice")
    assert waiter.done.wait(2), "the cancel did not release the schema wait"
    waiter.join()
    if call == "fetch":
        assert waiter.error is None and waiter.result.row_count == 0 and not waiter.result.has_more_rows
    else:
        assert isinstance(waiter.error, InvalidStateError | OperationCanceledError), waiter.error


def test_fetch_wait_caps_the_wait(tmp_path: Path, scheduler: DeadlineScheduler) -> None:
    provider = GatedProvider()
    backend = make_backend(
        tmp_path,
        provider,
        "kyuubi.engine.data.agent.fetch.wait=PT0.3S",
        "kyuubi.engine.data.agent.approval.timeout=PT0.2S",
        scheduler=scheduler,
    )
    try:
        op = started_stream(backend)
        batch = backend.fetch_results(op, "alice", NEXT, 100)  # nothing came within fetch.wait
        assert batch.row_count == 0 and batch.has_more_rows
    finally:
        backend.stop()


def test_the_run_timeout_names_its_key(gated: tuple[BackendService, GatedProvider]) -> None:
    backend, _provider = gated
    session, _, _ = backend.open_session(9, "alice", None, "127.0.0.1", {})
    op = backend.execute_statement(
        session, "alice", "stream", {"kyuubi.engine.data.agent.run.timeout": "PT0.3S"}, run_async=True
    )
    assert backend.sessions.get_operation(op, "alice").wait(5)
    status = backend.get_operation_status(op, "alice")
    assert status.state == OperationState.TIMEDOUT
    assert status.error_message == "the statement timed out after 0.3 s (run.timeout)"
    op = backend.execute_statement(session, "alice", "stream", {}, run_async=True, query_timeout=1)
    assert backend.sessions.get_operation(op, "alice").wait(5)
    assert backend.get_operation_status(op, "alice").error_message == (
        "the statement timed out after 1 s (queryTimeout)"
    )
