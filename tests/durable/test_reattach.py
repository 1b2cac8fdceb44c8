"""Runs outlive their connections (issue 14 §3): a dropped connection detaches its run, which goes
on until someone attaches with ``__attach:<runId>`` or the detached timeout stops it; an explicit
cancel or close still stops it at once. Real PyHive over loopback; the run registry on SQLite and
on the real PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pyhive.exc import OperationalError

from tests.conftest import RunningEngine
from tests.durable.conftest import Start
from tests.durable.support import StoreTarget, connect, drop, payloads, rest, rows
from tests.fakes.openai_server import FakeOpenAIServer, Reply, text, tool
from tests.support.databases import wait_until

COUNT_SQL = {"sql": "SELECT COUNT(*) AS n FROM orders"}


@pytest.fixture
def holds() -> Iterator[list[threading.Event]]:
    """Events that hold scripted LLM streams; all released at teardown."""
    made: list[threading.Event] = []
    yield made
    for hold in made:
        hold.set()


def held(holds: list[threading.Event], reply: Reply) -> Reply:
    """``reply`` held after its first chunk until the returned reply's ``wait_for`` is set."""
    hold = threading.Event()
    holds.append(hold)
    reply.wait_for = hold
    return reply


def kinds(events: list[dict[str, Any]]) -> list[str]:
    """Event types, a run of coalesced deltas counted once."""
    found: list[str] = []
    for event in events:
        if not (found and found[-1] == event["type"] == "content_delta"):
            found.append(event["type"])
    return found


def detached(engine: RunningEngine, run_id: str) -> bool:
    run = engine.app.operations.hub.get(run_id)  # type: ignore[union-attr]
    return run is not None and run.watchers == 0 and run.detached_timer is not None


def attached(engine: RunningEngine, run_id: str) -> bool:
    run = engine.app.operations.hub.get(run_id)  # type: ignore[union-attr]
    return run is not None and run.watchers > 0 and run.detached_timer is None


def test_a_dropped_run_is_reattached_and_every_event_arrives_once_in_order(
    durable: Start, llm: FakeOpenAIServer, store: StoreTarget, holds: list[threading.Event]
) -> None:
    engine = durable()
    first = held(holds, tool("run_select_query", COUNT_SQL))
    second = held(holds, text("There ", "are ", "3 orders."))
    llm.add(first, second)
    owner = connect(engine.host, engine.port)
    cursor = owner.cursor()
    cursor.execute("how many orders are there?", async_=True)
    seen = rows(cursor, 2)  # agent_start, step_start; the LLM holds its first reply
    assert [row["type"] for row in seen] == ["agent_start", "step_start"]
    run_id, conversation_id = seen[0]["runId"], seen[0]["conversationId"]
    drop(owner)  # the client dies: no CloseOperation, no CloseSession
    assert wait_until(lambda: detached(engine, run_id), 10), "the run was not detached"
    assert first.wait_for is not None
    first.wait_for.set()  # the detached run goes on: its tool call runs, then the LLM holds again
    assert llm.wait_for_requests(2, 10)

    with connect(engine.host, engine.port) as again:
        attach = again.cursor()
        attach.execute(f"__attach:{run_id}", async_=True)
        replayed = rows(attach, 6)  # what happened while nobody watched is replayed first
        assert attached(engine, run_id)
        assert second.wait_for is not None
        second.wait_for.set()  # then the run goes on live
        followed = replayed + rest(attach)

    stored = store.events(run_id)
    assert [seq for seq, _, _ in stored] == list(range(1, len(stored) + 1))  # no gap
    assert followed == payloads(stored)  # every event exactly once, in order
    assert followed[:2] == seen
    # what happened while nobody watched, then what followed live
    while_detached = ["tool_call", "tool_result", "step_end", "step_start"]
    assert kinds(followed)[2:] == [*while_detached, "content_delta", "step_end", "agent_finish"]
    assert followed[0] == {"type": "agent_start", "runId": run_id, "conversationId": conversation_id}
    assert store.status(run_id) == "success"


def test_a_finished_run_replays_and_ends(durable: Start, llm: FakeOpenAIServer, store: StoreTarget) -> None:
    engine = durable()
    llm.add(text("Three."))
    with connect(engine.host, engine.port) as connection:
        cursor = connection.cursor()
        cursor.execute("how many orders?")
        original = rest(cursor)
    run_id = original[0]["runId"]
    with connect(engine.host, engine.port) as connection:
        cursor = connection.cursor()
        cursor.execute(f"__attach:{run_id}")  # runAsync=false: answered once it has replayed
        assert rest(cursor) == original == payloads(store.events(run_id))


def test_the_detached_timeout_stops_the_run(
    durable: Start, llm: FakeOpenAIServer, store: StoreTarget, holds: list[threading.Event]
) -> None:
    engine = durable(**{"run.detached.timeout": "PT0.5S"})
    llm.add(held(holds, text("never", " finished")))
    owner = connect(engine.host, engine.port)
    cursor = owner.cursor()
    cursor.execute("a long question", async_=True)
    run_id = rows(cursor, 1)[0]["runId"]
    drop(owner)
    assert wait_until(lambda: store.status(run_id) == "stopped", 20), store.run(run_id)
    record = store.run(run_id)
    assert "run.detached.timeout" in record["error"]
    last = store.events(run_id)[-1]
    assert last[1] == "error" and "detached" in last[2]["message"]


def test_attaching_disarms_the_detached_timeout(
    durable: Start, llm: FakeOpenAIServer, store: StoreTarget, holds: list[threading.Event]
) -> None:
    engine = durable(**{"run.detached.timeout": "PT30S"})
    reply = held(holds, text("slow ", "answer"))
    llm.add(reply)
    owner = connect(engine.host, engine.port)
    cursor = owner.cursor()
    cursor.execute("a slow question", async_=True)
    run_id = rows(cursor, 1)[0]["runId"]
    drop(owner)
    assert wait_until(lambda: detached(engine, run_id), 10)
    with connect(engine.host, engine.port) as again:
        attach = again.cursor()
        attach.execute(f"__attach:{run_id}", async_=True)
        rows(attach, 2)
        assert attached(engine, run_id)
        watcher = connect(engine.host, engine.port)  # a second follower drops too: still watched
        second = watcher.cursor()
        second.execute(f"__attach:{run_id}", async_=True)
        rows(second, 2)
        drop(watcher)
        assert wait_until(lambda: engine.app.operations.hub.get(run_id).watchers == 1, 10)  # type: ignore[union-attr]
        assert attached(engine, run_id)
        assert reply.wait_for is not None
        reply.wait_for.set()
        assert rest(attach)[-1]["type"] == "agent_finish"
    assert store.status(run_id) == "success"


def test_cancel_and_close_still_stop_the_run_at_once(
    durable: Start, llm: FakeOpenAIServer, store: StoreTarget, holds: list[threading.Event]
) -> None:
    engine = durable()
    llm.add(held(holds, text("held")), held(holds, text("held too")))
    with connect(engine.host, engine.port) as connection:
        cursor = connection.cursor()
        cursor.execute("cancel me", async_=True)
        run_id = rows(cursor, 1)[0]["runId"]
        cursor.cancel()  # CancelOperation: the stored status is committed when it returns
        assert store.status(run_id) == "stopped"
    closing = connect(engine.host, engine.port)
    cursor = closing.cursor()
    cursor.execute("close my session", async_=True)
    closed_run = rows(cursor, 1)[0]["runId"]
    closing.close()  # CloseSession
    assert wait_until(lambda: store.status(closed_run) == "stopped", 10)


def test_another_users_run_is_refused_and_an_unknown_run_is_not_found(
    durable: Start, llm: FakeOpenAIServer, store: StoreTarget
) -> None:
    engine = durable(**{"kyuubi.server.administrators": "root"})
    llm.add(text("Mine."), text("Root's."))
    with connect(engine.host, engine.port) as connection:
        cursor = connection.cursor()
        cursor.execute("my question")
        events = rest(cursor)
    run_id = events[0]["runId"]
    with connect(engine.host, engine.port, user="bob") as connection:
        cursor = connection.cursor()
        with pytest.raises(OperationalError, match="belongs to another user"):
            cursor.execute(f"__attach:{run_id}")
        with pytest.raises(OperationalError, match="there is no run nope"):
            cursor.execute("__attach:nope")
    with connect(engine.host, engine.port, user="root") as connection:  # an administrator watches
        cursor = connection.cursor()
        cursor.execute(f"__attach:{run_id}")
        assert rest(cursor) == events


def test_a_parked_approval_is_answered_after_reattaching(
    durable: Start, llm: FakeOpenAIServer, store: StoreTarget, shop: Any
) -> None:
    engine = durable(**{"approval.mode": "NORMAL"})
    llm.add(
        tool("run_mutation_query", {"sql": "DELETE FROM orders WHERE customer = 'bob'"}),
        text("Deleted bob's orders."),
    )
    owner = connect(engine.host, engine.port)
    cursor = owner.cursor()
    cursor.execute("delete bob's orders", async_=True)
    seen = rows(cursor, 3)
    assert seen[2]["type"] == "approval_request"
    run_id, request_id = seen[0]["runId"], seen[2]["requestId"]
    drop(owner)
    assert wait_until(lambda: detached(engine, run_id), 10)
    assert wait_until(lambda: store.query("SELECT status FROM approvals") == [("pending",)], 10)
    with connect(engine.host, engine.port) as again:
        attach = again.cursor()
        attach.execute(f"__attach:{run_id}", async_=True)
        replayed = rows(attach, 3)
        assert replayed == seen
        decide = again.cursor()  # a second statement of the new session answers it
        decide.execute(f"__approve:{request_id}")
        assert '"status":"ok"' in decide.fetchall()[0][0]
        followed = replayed + rest(attach)
    assert followed[-1]["type"] == "agent_finish"
    assert [row["type"] for row in followed if row["type"] == "tool_call"] == ["tool_call"]
    assert store.query("SELECT status, decided_by FROM approvals WHERE request_id = :r", r=request_id) == [
        ("approved", "alice")
    ]
    assert store.status(run_id) == "success"


def test_a_run_of_another_engine_on_the_same_store_is_followed_from_the_store(
    durable: Start, llm: FakeOpenAIServer, store: StoreTarget, holds: list[threading.Event]
) -> None:
    running, watching = durable(), durable()  # two engines sharing one run registry
    reply = held(holds, text("Counted ", "them."))
    llm.add(reply)
    with connect(running.host, running.port) as owner:
        cursor = owner.cursor()
        cursor.execute("count them", async_=True)
        mine = rows(cursor, 1)
        run_id = mine[0]["runId"]
        assert wait_until(lambda: store.status(run_id) == "running", 10)  # its start is committed
        with connect(watching.host, watching.port) as other:
            attach = other.cursor()
            attach.execute(f"__attach:{run_id}", async_=True)
            first = rows(attach, 2)  # what the other engine has committed so far
            assert reply.wait_for is not None
            reply.wait_for.set()
            followed = first + rest(attach)  # then polled until the run's end is committed
        mine += rest(cursor)
    assert followed == mine == payloads(store.events(run_id))
    assert followed[-1]["type"] == "agent_finish"
