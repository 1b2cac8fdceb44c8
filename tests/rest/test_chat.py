"""Kyuubi's chat and approve over REST, and the run events stream: one backend with the Thrift
frontend (a run started in PyHive is approved over REST and the other way round), resume after
Last-Event-ID or ?after, detach on a dropped stream and attach again, stop, conversations."""

from __future__ import annotations

import json
import threading

import httpx

from tests.durable.support import connect, rest, rows
from tests.fakes.openai_server import FakeOpenAIServer, Reply, text, tool
from tests.rest.conftest import Start
from tests.rest.support import Api, SseEvent, read_until, sse_events
from tests.support.databases import wait_until

SELECT = {"sql": "SELECT count(*) AS n FROM orders"}


def _chat_stream(client: httpx.Client, session: str, body: dict[str, object]) -> httpx.Response:
    request = client.build_request("POST", f"/api/v1/data-agent/{session}/chat", json=body)
    answer = client.send(request, stream=True)
    assert answer.status_code == 200, answer.read()
    return answer


def _until(events: object, kind: str) -> list[SseEvent]:
    found: list[SseEvent] = []
    for event in events:  # type: ignore[attr-defined]
        if event.event == "ping":
            continue
        found.append(event)
        if event.event == kind:
            return found
    raise AssertionError(f"no {kind} in {[e.event for e in found]}")


def test_chat_streams_the_run_and_approve_answers_the_parked_call(api: Api, llm: FakeOpenAIServer) -> None:
    llm.add(tool("run_select_query", SELECT), text("There are ", "three orders."))
    client = api.client()
    session = api.session(client)
    answer = _chat_stream(client, session, {"text": "how many orders?", "approvalMode": "STRICT"})
    try:
        assert answer.headers["content-type"].startswith("text/event-stream")
        events = sse_events(answer)
        first = _until(events, "approval_request")
        start, parked = first[0], first[-1]
        assert start.event == "agent_start" and start.id == 1
        assert start.json["runId"] == answer.headers["X-Run-Id"] and start.json["conversationId"]
        assert parked.json["name"] == "run_select_query"
        decided = api.client().post(
            f"/api/v1/data-agent/{session}/approve",
            json={"requestId": parked.json["requestId"], "approved": True},
        )
        assert decided.json() == {"status": "ok", "action": "approved", "requestId": parked.json["requestId"]}
        rest_of = _until(events, "done")
    finally:
        answer.close()
    seen = first + rest_of
    ids = [event.id for event in seen if event.event != "done"]
    assert ids == list(range(1, len(ids) + 1))  # the run's sequence numbers, no gaps
    assert next(e.json for e in seen if e.event == "tool_result")["isError"] is False
    assert seen[-2].event == "agent_finish" and seen[-1].event == "done"
    text_out = "".join(e.json["text"] for e in seen if e.event == "content_delta")
    assert text_out == "There are three orders."
    again = api.client().post(
        f"/api/v1/data-agent/{session}/approve",
        json={"requestId": parked.json["requestId"], "approved": False},
    )
    assert again.json()["status"] == "not_found"
    run = api.client().get(f"/api/v1/runs/{start.json['runId']}").json()
    assert run["status"] == "success" and run["lastSeq"] == ids[-1]


def test_another_users_approval_is_403(api: Api, llm: FakeOpenAIServer) -> None:
    llm.add(tool("run_select_query", SELECT), text("Three."))
    alice, bob = api.client("alice"), api.client("bob")
    session = api.session(alice)
    answer = _chat_stream(alice, session, {"text": "count", "approvalMode": "STRICT"})
    try:
        events = sse_events(answer)
        parked = _until(events, "approval_request")[-1].json
        refused = bob.post(
            f"/api/v1/data-agent/{api.session(bob)}/approve",
            json={"requestId": parked["requestId"], "approved": True},
        )
        assert refused.status_code == 403
        denied = alice.post(
            f"/api/v1/data-agent/{session}/approve",
            json={"requestId": parked["requestId"], "approved": False, "reason": "not now\nplease"},
        )
        assert denied.json()["action"] == "denied"
        result = next(e for e in _until(events, "done") if e.event == "tool_result").json
        assert result["isError"] is True and "not now please" in result["output"]
    finally:
        answer.close()


def test_a_thrift_run_is_approved_over_rest(rest_engine: Start, llm: FakeOpenAIServer) -> None:
    engine, api = rest_engine(**{"approval.mode": "STRICT"})
    llm.add(tool("run_select_query", SELECT), text("Three."))
    with connect(engine.host, engine.port) as connection:
        cursor = connection.cursor()
        cursor.execute("how many orders?", async_=True)
        seen = rows(cursor, 3)
        assert seen[2]["type"] == "approval_request"
        client = api.client()
        decided = client.post(
            f"/api/v1/data-agent/{api.session(client)}/approve",
            json={"requestId": seen[2]["requestId"], "approved": True},
        )
        assert decided.json()["status"] == "ok"
        followed = seen + rest(cursor)
    assert followed[-1]["type"] == "agent_finish"
    assert any(row["type"] == "tool_result" and not row["isError"] for row in followed)


def test_a_rest_run_is_approved_over_thrift(rest_engine: Start, llm: FakeOpenAIServer) -> None:
    engine, api = rest_engine()
    llm.add(tool("run_select_query", SELECT), text("Three."))
    client = api.client()
    answer = _chat_stream(client, api.session(client), {"text": "count them", "approvalMode": "STRICT"})
    try:
        events = sse_events(answer)
        parked = _until(events, "approval_request")[-1].json
        with connect(engine.host, engine.port) as connection:
            cursor = connection.cursor()
            cursor.execute(f"__approve:{parked['requestId']}")
            assert json.loads(cursor.fetchall()[0][0])["status"] == "ok"
        tail = _until(events, "done")
    finally:
        answer.close()
    assert [e.event for e in tail][-2:] == ["agent_finish", "done"]
    # and the run is the same object for both frontends
    with connect(engine.host, engine.port) as connection:
        cursor = connection.cursor()
        cursor.execute("SHOW RUNS")
        assert len(cursor.fetchall()) == 1


def _finished_run(api: Api, llm: FakeOpenAIServer) -> tuple[str, list[SseEvent]]:
    llm.add(text("One ", "two ", "three."))
    client = api.client()
    events = api.chat(client, api.session(client), "count to three")
    return events[0].json["runId"], events


def test_run_events_replay_and_resume_without_duplicates_or_gaps(api: Api, llm: FakeOpenAIServer) -> None:
    run_id, chatted = _finished_run(api, llm)
    client = api.client()
    with client.stream("GET", f"/api/v1/runs/{run_id}/events") as answer:
        replayed = read_until(answer)
    assert [(e.id, e.event, e.data) for e in replayed] == [(e.id, e.event, e.data) for e in chatted]
    last = replayed[-2].id
    assert last is not None
    for cut in range(0, last + 1):
        with client.stream(
            "GET", f"/api/v1/runs/{run_id}/events", headers={"Last-Event-ID": str(cut)}
        ) as answer:
            resumed = read_until(answer)
        assert [e.id for e in resumed[:-1]] == list(range(cut + 1, last + 1))
        with client.stream("GET", f"/api/v1/runs/{run_id}/events", params={"after": cut}) as answer:
            assert [e.id for e in read_until(answer)[:-1]] == list(range(cut + 1, last + 1))
    root = api.client("root")  # an administrator may follow it too
    with root.stream("GET", f"/api/v1/runs/{run_id}/events", params={"after": last}) as answer:
        assert [e.event for e in read_until(answer)] == ["done"]


def test_a_dropped_chat_detaches_the_run_and_the_events_endpoint_attaches_again(
    rest_engine: Start, llm: FakeOpenAIServer
) -> None:
    engine, api = rest_engine()
    hold = threading.Event()
    llm.add(Reply(text=("Still ", "going."), wait_for=hold))
    client = api.client()
    answer = _chat_stream(client, api.session(client), {"text": "a long one"})
    events = sse_events(answer)
    start = next(events)
    run_id = start.json["runId"]
    seen = [start]
    for event in events:  # until the step whose reply is held
        seen.append(event)
        if event.event == "step_start":
            break
    answer.close()  # the client drops the stream
    live = engine.app.operations.hub.get(run_id)  # type: ignore[union-attr]
    assert live is not None
    assert wait_until(lambda: live.watchers == 0 and live.detached_timer is not None, 10)
    assert client.get(f"/api/v1/runs/{run_id}").json()["status"] == "running"
    with client.stream(
        "GET", f"/api/v1/runs/{run_id}/events", headers={"Last-Event-ID": str(seen[-1].id)}
    ) as again:
        assert wait_until(lambda: live.watchers == 1 and live.detached_timer is None, 10)
        hold.set()
        tail = read_until(again)
    assert tail[0].id == seen[-1].id + 1  # type: ignore[operator]
    assert tail[-2].event == "agent_finish" and tail[-1].event == "done"
    assert wait_until(lambda: client.get(f"/api/v1/runs/{run_id}").json()["status"] == "success", 10)


def test_cancel_stops_a_run_and_its_stream_ends(api: Api, llm: FakeOpenAIServer) -> None:
    hold = threading.Event()
    llm.add(Reply(text=("never ", "finished"), wait_for=hold))
    client = api.client()
    answer = _chat_stream(client, api.session(client), {"text": "a long one"})
    try:
        events = sse_events(answer)
        run_id = next(events).json["runId"]
        stopped = api.client().post(f"/api/v1/runs/{run_id}/cancel")
        assert stopped.json() == {"runId": run_id, "cancelled": True, "status": stopped.json()["status"]}
        tail = _until(events, "done")
    finally:
        hold.set()
        answer.close()
    assert tail[-1].event == "done"
    assert api.client().get(f"/api/v1/runs/{run_id}").json()["status"] == "stopped"
    assert api.client().post(f"/api/v1/runs/{run_id}/cancel").json()["cancelled"] is False
    assert [
        run["runId"] for run in api.client().get("/api/v1/runs", params={"status": "stopped"}).json()
    ] == [run_id]


def test_conversations_continue_rename_and_delete(api: Api, llm: FakeOpenAIServer) -> None:
    llm.add(text("Three orders."), text("Bob has one."))
    client = api.client()
    first = api.chat(client, api.session(client), "how many orders?")
    conversation = first[0].json["conversationId"]
    again = api.session(client, {"kyuubi.engine.data.agent.conversation.id": conversation})
    second = api.chat(client, again, "and bob?")
    assert second[0].json["conversationId"] == conversation
    remembered = json.dumps(llm.requests[-1]["messages"])
    assert "how many orders?" in remembered and "Three orders." in remembered
    listed = client.get("/api/v1/conversations").json()
    assert [(c["conversationId"], c["runCount"]) for c in listed] == [(conversation, 2)]
    detail = client.get(f"/api/v1/conversations/{conversation}").json()
    assert [run["question"] for run in detail["runs"]] == ["how many orders?", "and bob?"]
    runs = client.get("/api/v1/runs", params={"conversation": conversation, "limit": 1}).json()
    assert [run["question"] for run in runs] == ["and bob?"]
    renamed = client.patch(f"/api/v1/conversations/{conversation}", json={"title": "  Orders\n"})
    assert renamed.json()["title"] == "Orders"
    client.delete(f"/api/v1/sessions/{again}")
    assert client.delete(f"/api/v1/conversations/{conversation}").json()["deleted"] is True
    assert client.get(f"/api/v1/conversations/{conversation}").status_code == 404


def test_a_text_that_is_no_agent_run_answers_its_rows(api: Api) -> None:
    client = api.client()
    session = api.session(client)
    events = api.chat(client, session, "__sql:SELECT count(*) AS n FROM orders")
    assert [e.event for e in events] == ["result", "done"]
    assert events[0].json == {"columns": ["n"], "rows": [[3]], "truncated": False}
    approval = api.chat(client, session, "__approve:nobody")
    assert approval[0].event == "message" and approval[0].json["status"] == "not_found"


def test_a_busy_session_refuses_a_second_chat(api: Api, llm: FakeOpenAIServer) -> None:
    hold = threading.Event()
    llm.add(Reply(text=("slow",), wait_for=hold), text("later"))
    client = api.client()
    session = api.session(client)
    answer = _chat_stream(client, session, {"text": "first"})
    try:
        next(sse_events(answer))
        second = api.client().post(f"/api/v1/data-agent/{session}/chat", json={"text": "second"})
        assert second.status_code == 409 and second.json()["error"]
    finally:
        hold.set()
        answer.close()
