"""Approvals in the loop: NORMAL/STRICT/AUTO_APPROVE, approve, deny with a reason, timeout,
another user's decision, cancellation and session close, and the audit log."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from engine.agent.approval import args_hash
from engine.agent.settings import SettingsPolicy
from engine.common.cancel import CancelToken
from engine.common.errors import ConfigError, OperationCanceledError
from tests.fakes.openai_server import text, tool

INSERT = {"sql": "INSERT INTO orders (customer, amount) VALUES ('zoe', 99.0)"}


def zoe_rows(h) -> int:
    """Rows for zoe, read from the datasource's SQLite file with a separate client."""
    with sqlite3.connect(h.datasource.spec.sqlite_path) as connection:
        return connection.execute("SELECT COUNT(*) FROM orders WHERE customer='zoe'").fetchone()[0]


def decide_on_request(h, approved: bool, reason: str = "", user: str = "alice", results: list | None = None):
    def on_event(event) -> None:
        if event.type == "approval_request":
            ok = h.session.approvals.decide(event.request_id, user, approved, reason)
            if results is not None:
                results.append(ok)

    return on_event


def test_normal_mode_approve_runs_the_mutation(harness):
    h = harness()
    h.llm.add(tool("run_mutation_query", INSERT), text("Inserted."))
    out = h.run("add zoe", on_event=decide_on_request(h, True))
    assert out.error is None
    assert out.types()[2:5] == ["approval_request", "tool_call", "tool_result"]
    request = out.of("approval_request")[0].to_dict()
    assert set(request) == {"type", "requestId", "id", "name", "args", "riskLevel"}
    assert request["riskLevel"] == "DESTRUCTIVE" and request["args"] == INSERT
    assert request["id"] == out.of("tool_call")[0].tool_call_id
    assert zoe_rows(h) == 1
    audit = [json.loads(line) for line in h.audit_path.read_text().splitlines()]
    assert audit[-1]["decision"] == "approved" and audit[-1]["user"] == "alice"
    assert audit[-1]["tool"] == "run_mutation_query" and audit[-1]["argsSha256"] == args_hash(INSERT)
    assert audit[-1]["time"]


def test_normal_mode_deny_reaches_the_model(harness):
    h = harness()
    h.llm.add(tool("run_mutation_query", INSERT), text("Understood."))
    out = h.run("add zoe", on_event=decide_on_request(h, False, "not during the audit"))
    assert out.error is None
    assert "tool_call" not in out.types()  # Kyuubi: a denied call has only an error result
    result = out.of("tool_result")[0]
    assert result.is_error and "not during the audit" in result.output
    assert zoe_rows(h) == 0
    tool_message = h.llm.requests[1]["messages"][-1]
    assert tool_message["role"] == "tool" and "not during the audit" in tool_message["content"]
    audit = [json.loads(line) for line in h.audit_path.read_text().splitlines()]
    assert audit[-1]["decision"] == "denied" and audit[-1]["reason"] == "not during the audit"


def test_approval_timeout_counts_as_a_deny(harness):
    h = harness({"kyuubi.engine.data.agent.approval.timeout": "PT0.3S"})
    h.llm.add(tool("run_mutation_query", INSERT), text("No answer, skipped."))
    out = h.run("add zoe")
    assert out.error is None
    result = out.of("tool_result")[0]
    assert result.is_error and "not approved in time" in result.output
    assert zoe_rows(h) == 0
    audit = [json.loads(line) for line in h.audit_path.read_text().splitlines()]
    assert audit[-1]["decision"] == "timeout"


def test_another_users_decision_is_not_found(harness):
    h = harness({"kyuubi.engine.data.agent.approval.timeout": "PT0.5S"})
    other = h.new_session(user="mallory")
    h.llm.add(tool("run_mutation_query", INSERT), text("done"))
    results: list[bool] = []

    def on_event(event) -> None:
        if event.type == "approval_request":
            results.append(h.session.approvals.decide(event.request_id, "mallory", True))  # wrong user
            results.append(other.approvals.decide(event.request_id, "mallory", True))  # her own session

    out = h.run("add zoe", on_event=on_event)
    assert results == [False, False]
    assert out.of("tool_result")[0].is_error and zoe_rows(h) == 0


def test_another_session_of_the_same_user_decides(harness):
    h = harness()
    second = h.new_session(user="alice")
    h.llm.add(tool("run_mutation_query", INSERT), text("Inserted."))
    results: list[bool] = []

    def on_event(event) -> None:
        if event.type == "approval_request":
            results.append(second.approvals.decide(event.request_id, "alice", True))

    out = h.run("add zoe", on_event=on_event)
    assert results == [True] and out.error is None and zoe_rows(h) == 1
    assert second.approvals.pending() == [] and h.session.approvals.pending() == []
    audit = [json.loads(line) for line in h.audit_path.read_text().splitlines()]
    assert audit[-1]["decision"] == "approved" and audit[-1]["decidedBy"] == "alice"
    assert audit[-1]["session"] == "s1" and audit[-1]["decidedInSession"] == second.session_id


def test_strict_gates_safe_tools_and_auto_approve_gates_nothing(harness):
    h = harness()
    h.llm.add(tool("run_select_query", {"sql": "SELECT 1"}), text("one"))
    out = h.run(
        "q", {"kyuubi.engine.data.agent.approval.mode": "STRICT"}, on_event=decide_on_request(h, True)
    )
    assert "approval_request" in out.types() and out.of("approval_request")[0].risk_level == "SAFE"
    h.llm.add(tool("run_mutation_query", INSERT), text("done"))
    out = h.run("q", {"kyuubi.engine.data.agent.approval.mode": "AUTO_APPROVE"})
    assert "approval_request" not in out.types() and zoe_rows(h) == 1


def test_approval_mode_floor(harness):
    h = harness({"kyuubi.engine.data.agent.approval.mode.min": "NORMAL"})
    policy = SettingsPolicy.from_conf(h.conf, h.tools.names())
    with pytest.raises(ConfigError, match=r"approval\.mode"):
        policy.check(h.request("q", {"kyuubi.engine.data.agent.approval.mode": "AUTO_APPROVE"}).conf)
    policy.check(h.request("q", {"kyuubi.engine.data.agent.approval.mode": "STRICT"}).conf)


def test_cancel_while_parked_denies_the_request(harness):
    h = harness()
    h.llm.add(tool("run_mutation_query", INSERT))
    token = CancelToken()
    out = h.run(
        "add zoe",
        cancel=token,
        on_event=lambda e: e.type == "approval_request" and threading.Timer(0.2, token.cancel).start(),
    )
    assert isinstance(out.error, OperationCanceledError)
    assert zoe_rows(h) == 0 and h.session.approvals.pending() == []
    assert h.session.memory.messages[-1]["role"] == "tool"  # repaired: no orphaned call


def test_session_close_denies_pending_requests(harness):
    h = harness()
    h.llm.add(tool("run_mutation_query", INSERT), text("closed"))
    out = h.run(
        "add zoe",
        on_event=lambda e: (
            e.type == "approval_request" and threading.Timer(0.2, h.session.approvals.close).start()
        ),
    )
    result = out.of("tool_result")[0]
    assert result.is_error and "closed" in result.output and zoe_rows(h) == 0
