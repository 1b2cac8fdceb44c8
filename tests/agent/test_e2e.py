"""End to end: PyHive -> engine -> ReAct loop -> fake LLM + SQL tools over a real database."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from tests.agent.e2e import AGENT, connect, engine_conf, final_state, stream_events
from tests.fakes.openai_server import FakeOpenAIServer, Reply, error, text, tool

FINISHED, ERROR = 2, 5


@pytest.fixture
def llm():
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def agent_engine(start_engine, shop, llm):
    def factory(extra: dict[str, str] | None = None):
        return start_engine(engine_conf(llm, f"jdbc:sqlite:{shop}", extra))

    return factory


def count(shop: Path, where: str) -> int:
    with sqlite3.connect(shop) as connection:
        return connection.execute(f"SELECT COUNT(*) FROM orders WHERE {where}").fetchone()[0]


def test_question_answered_through_run_select_query(agent_engine, llm):
    engine = agent_engine()
    llm.add(
        tool("run_select_query", {"sql": "SELECT SUM(amount) AS total FROM orders WHERE customer = 'ada'"}),
        text("Ada ", "spent ", "19.75 ", "in total."),
    )
    with connect(engine) as conn:
        cursor = conn.cursor()
        cursor.execute("How much did Ada spend?", async_=True)
        events = [row.event for row in stream_events(cursor)]
        assert final_state(cursor).operationState == FINISHED
    kinds = [event["type"] for event in events]
    assert kinds[0] == "agent_start" and kinds[-1] == "agent_finish"
    result = next(event for event in events if event["type"] == "tool_result")
    assert "19.75" in result["output"] and result["isError"] is False
    assert "".join(e["text"] for e in events if e["type"] == "content_delta") == "Ada spent 19.75 in total."


def test_fetch_while_running_gets_content_before_the_end(agent_engine, llm):
    engine = agent_engine()
    llm.add(Reply(text=("The first words. ", "More words. ", "The end."), delay=0.8))
    with connect(engine) as conn:
        cursor = conn.cursor()
        cursor.execute("Tell me slowly", async_=True)
        rows = list(stream_events(cursor))
    first_content = next(row.at for row in rows if row.event["type"] == "content_delta")
    finish = next(row.at for row in rows if row.event["type"] == "agent_finish")
    assert finish - first_content > 1.0
    assert (
        "".join(r.event["text"] for r in rows if r.event["type"] == "content_delta")
        == "The first words. More words. The end."
    )


def run_with_decision(engine, llm, decide, user_for_decision: str = "alice", same_session: bool = True):
    """Run a mutation question; when the approval_request row arrives, ``decide(request_id)``
    returns the control statement to send. Returns (events, reply row, final status)."""
    reply_rows: list[dict] = []
    with connect(engine) as conn:
        cursor = conn.cursor()
        cursor.execute("Add a row for zoe", async_=True)
        events = []
        for row in stream_events(cursor):
            events.append(row.event)
            if row.event["type"] == "approval_request" and decide is not None:
                statement = decide(row.event["requestId"])
                if same_session:
                    control = conn.cursor()
                    control.execute(statement)
                    reply_rows.extend(json.loads(r[0]) for r in control.fetchall())
                else:
                    with connect(engine, user=user_for_decision) as other:
                        control = other.cursor()
                        control.execute(statement)
                        reply_rows.extend(json.loads(r[0]) for r in control.fetchall())
        status = final_state(cursor)
    return events, reply_rows, status


INSERT_ZOE = {"sql": "INSERT INTO orders (customer, amount) VALUES ('zoe', 99.0)"}


def test_normal_mode_approve_writes_the_row(agent_engine, llm, shop):
    engine = agent_engine()
    llm.add(tool("run_mutation_query", INSERT_ZOE), text("Added zoe."))
    events, replies, status = run_with_decision(engine, llm, lambda rid: f"__approve:{rid}")
    assert status.operationState == FINISHED
    request = next(e for e in events if e["type"] == "approval_request")
    assert replies == [{"status": "ok", "action": "approved", "requestId": request["requestId"]}]
    assert [e["type"] for e in events].count("tool_call") == 1
    assert count(shop, "customer = 'zoe'") == 1


def test_normal_mode_deny_keeps_the_database_and_tells_the_model(agent_engine, llm, shop):
    engine = agent_engine()
    llm.add(tool("run_mutation_query", INSERT_ZOE), text("Not added."))
    events, replies, status = run_with_decision(engine, llm, lambda rid: f"__deny:{rid} the table is frozen")
    assert status.operationState == FINISHED and replies[0]["action"] == "denied"
    assert count(shop, "customer = 'zoe'") == 0
    result = next(e for e in events if e["type"] == "tool_result")
    assert result["isError"] and "the table is frozen" in result["output"]
    assert "the table is frozen" in llm.requests[-1]["messages"][-1]["content"]


def test_approval_timeout(agent_engine, llm, shop):
    engine = agent_engine({AGENT + "approval.timeout": "PT0.5S"})
    llm.add(tool("run_mutation_query", INSERT_ZOE), text("Timed out."))
    events, _replies, status = run_with_decision(engine, llm, None)
    assert status.operationState == FINISHED
    result = next(e for e in events if e["type"] == "tool_result")
    assert result["isError"] and "not approved in time" in result["output"]
    assert count(shop, "customer = 'zoe'") == 0


def test_approve_from_another_users_session_is_not_found(agent_engine, llm, shop):
    engine = agent_engine({AGENT + "approval.timeout": "PT1S"})
    llm.add(tool("run_mutation_query", INSERT_ZOE), text("ok"))
    _events, replies, _status = run_with_decision(
        engine, llm, lambda rid: f"__approve:{rid}", user_for_decision="mallory", same_session=False
    )
    assert replies[0]["status"] == "not_found"
    assert count(shop, "customer = 'zoe'") == 0


def _control(conn, statement: str) -> dict:
    cursor = conn.cursor()
    cursor.execute(statement)
    (row,) = cursor.fetchall()
    return json.loads(row[0])


def test_a_parked_call_is_answered_from_another_session_of_the_same_user(agent_engine, llm, shop, tmp_path):
    engine = agent_engine()
    llm.add(tool("run_mutation_query", INSERT_ZOE), text("Added zoe."))
    with connect(engine) as runner, connect(engine) as second, connect(engine, user="mallory") as other:
        cursor = runner.cursor()
        cursor.execute("Add a row for zoe", async_=True)
        events, replies = [], []
        for row in stream_events(cursor):
            events.append(row.event)
            if row.event["type"] == "approval_request":
                request_id = row.event["requestId"]
                replies.append(_control(other, f"__approve:{request_id}"))  # another user
                assert count(shop, "customer = 'zoe'") == 0
                replies.append(_control(second, f"__approve:{request_id}"))
                replies.append(_control(second, f"__deny:{request_id} too late"))  # already decided
        assert final_state(cursor).operationState == FINISHED
    assert [reply["status"] for reply in replies] == ["not_found", "ok", "not_found"]
    assert [e["type"] for e in events].count("tool_call") == 1
    assert count(shop, "customer = 'zoe'") == 1
    audit = [json.loads(line) for line in (tmp_path / "engine-work" / "audit.log").read_text().splitlines()]
    assert [(a["decision"], a["user"], a["decidedBy"]) for a in audit] == [("approved", "alice", "alice")]
    assert audit[0]["decidedInSession"] and audit[0]["decidedInSession"] != audit[0]["session"]


def test_closing_the_parking_session_denies_its_call(agent_engine, llm, shop):
    engine = agent_engine()
    llm.add(tool("run_mutation_query", INSERT_ZOE), text("never"))
    with connect(engine) as second:
        runner = connect(engine)
        cursor = runner.cursor()
        cursor.execute("Add a row for zoe", async_=True)
        for row in stream_events(cursor):
            if row.event["type"] == "approval_request":
                request_id = row.event["requestId"]
                break
        runner.close()
        assert _control(second, f"__approve:{request_id}")["status"] == "not_found"
    assert count(shop, "customer = 'zoe'") == 0


def test_llm_429_then_success(agent_engine, llm):
    engine = agent_engine()
    llm.add(error(429, retry_after="0"), text("fine"))
    with connect(engine) as conn:
        cursor = conn.cursor()
        cursor.execute("q", async_=True)
        events = [r.event for r in stream_events(cursor)]
        assert final_state(cursor).operationState == FINISHED
    assert "".join(e.get("text", "") for e in events if e["type"] == "content_delta") == "fine"


@pytest.mark.parametrize(
    "replies, expected",
    [
        ([error(500, "overloaded")] * 4, "HTTP 500"),
        ([Reply(text=("half ", "an ", "answer"), drop_after=2)], "mid-response"),
    ],
    ids=["500-storm", "drop-mid-stream"],
)
def test_llm_faults_end_in_a_clear_error(agent_engine, llm, replies, expected):
    engine = agent_engine({AGENT + "llm.max.retries": "3"})
    llm.add(*replies)
    with connect(engine) as conn:
        cursor = conn.cursor()
        cursor.execute("q", async_=True)
        events = [r.event for r in stream_events(cursor)]
        status = final_state(cursor)
    assert status.operationState == ERROR
    assert expected in status.errorMessage
    errors = [e for e in events if e["type"] == "error"]
    assert len(errors) == 1 and expected in errors[0]["message"]


def test_memory_second_question_sees_the_first(agent_engine, llm):
    engine = agent_engine()
    llm.add(text("Ada has 2 orders."), text("Bob has 1."))
    with connect(engine) as conn:
        for question in ("How many orders has Ada?", "And Bob?"):
            cursor = conn.cursor()
            cursor.execute(question, async_=True)
            list(stream_events(cursor))
    second = llm.requests[-1]["messages"]
    contents = [m.get("content") for m in second]
    assert "How many orders has Ada?" in contents and "Ada has 2 orders." in contents
    assert contents[-1] == "And Bob?"


def test_compaction_across_turns_and_within_a_turn(agent_engine, llm):
    engine = agent_engine({AGENT + "compaction.trigger.tokens": "256"})
    long_question = "Please look at the orders table and describe it. " * 12
    llm.add(text("first answer"), Reply(text=("## What the user wants\nsummary",)), text("second answer"))
    with connect(engine) as conn:
        rows = []
        for question in (long_question, long_question + " again"):
            cursor = conn.cursor()
            cursor.execute(question, async_=True)
            rows.append([r.event for r in stream_events(cursor)])
    compaction = [e for e in rows[1] if e["type"] == "compaction"]
    assert len(compaction) == 1 and compaction[0]["summarized"] == 2 and compaction[0]["triggerTokens"] == 256
    assert "summary" in llm.requests[-1]["messages"][1]["content"]
    # within one turn: a long question that runs several large queries
    big = {"sql": "SELECT o1.customer || '" + "x" * 40 + "' FROM orders o1, orders o2, orders o3, orders o4"}
    llm.add(*(tool("run_select_query", big) for _ in range(4)), text("done"))
    with connect(engine) as conn2:  # a new session: a single turn
        cursor = conn2.cursor()
        cursor.execute("one long turn", async_=True)
        events = [r.event for r in stream_events(cursor)]
    assert any(e["type"] == "compaction" for e in events), events
    tool_messages = [m for m in llm.requests[-1]["messages"] if m["role"] == "tool"]
    assert tool_messages[0]["content"].startswith("[compacted")


def test_cancel_during_a_stalled_stream(agent_engine, llm):
    engine = agent_engine()
    gate = threading.Event()
    llm.add(Reply(text=("never",), wait_for=gate))
    try:
        with connect(engine) as conn:
            cursor = conn.cursor()
            cursor.execute("q", async_=True)
            assert llm.wait_for_requests(1)
            cursor.cancel()
            assert final_state(cursor, timeout=3).operationState == 3  # CANCELED
    finally:
        gate.set()
