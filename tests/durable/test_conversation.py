"""Conversations survive reopening and restarts (issue 14 §2, §4): a session opened with
``kyuubi.engine.data.agent.conversation.id`` continues that conversation with its memory restored
from the run registry, so the scripted LLM (which records every request body) sees the earlier
turns, compaction included. Another user's conversation is refused."""

from __future__ import annotations

import signal
import threading
from typing import Any

import pytest
from pyhive.exc import OperationalError

from engine.agent.compaction import SUMMARY_PREFIX
from engine.frontend.idl import TCLI
from tests.durable.conftest import Start
from tests.durable.support import AGENT, StoreTarget, connect, drop, rest, rows
from tests.fakes.openai_server import FakeOpenAIServer, Reply, text
from tests.frontend.rawclient import RawClient

CONVERSATION = AGENT + "conversation.id"


def history(request: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, content) of an LLM request's messages after the system prompt."""
    return [(message["role"], message.get("content") or "") for message in request["messages"][1:]]


def ask(
    engine: Any, question: str, conversation: str | None = None, user: str = "alice"
) -> list[dict[str, Any]]:
    configuration = {CONVERSATION: conversation} if conversation else None
    with connect(engine.host, engine.port, user=user, configuration=configuration) as connection:
        cursor = connection.cursor()
        cursor.execute(question)
        return rest(cursor)


def test_open_session_answers_the_conversation_id(durable: Start, llm: FakeOpenAIServer) -> None:
    engine = durable()
    llm.add(text("First answer."))
    client = RawClient(engine.host, engine.port, user="alice")
    try:
        opened = client.open_session(9)
        conversation = opened.configuration[CONVERSATION]
        operation = client.execute(opened.sessionHandle, "a question")
        fetched = client.fetch(operation, 10)
        assert fetched.status.statusCode == TCLI.TStatusCode.SUCCESS_STATUS
        assert f'"conversationId":"{conversation}"' in fetched.results.columns[0].stringVal.values[0]
        again = client.open_session(9, configuration={f"set:hiveconf:{CONVERSATION}": conversation})
        assert again.configuration[CONVERSATION] == conversation
    finally:
        client.close()


def test_a_reconnect_continues_the_conversation(
    durable: Start, llm: FakeOpenAIServer, store: StoreTarget
) -> None:
    engine = durable()
    llm.add(text("There are 3 orders."), text("Ada placed 2 of them."))
    first = ask(engine, "how many orders are there?")
    conversation = first[0]["conversationId"]
    second = ask(engine, "and how many did ada place?", conversation)
    assert second[0]["conversationId"] == conversation
    assert history(llm.requests[1]) == [
        ("user", "how many orders are there?"),
        ("assistant", "There are 3 orders."),
        ("user", "and how many did ada place?"),
    ]
    assert store.query("SELECT COUNT(*) FROM runs WHERE conversation_id = :c", c=conversation) == [(2,)]
    llm.add(text("Hello."))
    fresh = ask(engine, "a new conversation")  # a session without the key starts a new one
    assert fresh[0]["conversationId"] != conversation
    assert history(llm.requests[2]) == [("user", "a new conversation")]


def test_compaction_is_part_of_what_is_restored(durable: Start, llm: FakeOpenAIServer) -> None:
    engine = durable(**{"compaction.trigger.tokens": "1000"})
    llm.add(
        text("Answer one."),
        Reply(text=["Answer two."], usage=(5000, 20)),  # the next prompt is predicted past the trigger
        text("A summary of turn one."),  # the compaction's summary call
        text("Answer three."),
        text("Answer four."),
    )
    conversation = ask(engine, "question one")[0]["conversationId"]
    ask(engine, "question two", conversation)
    third = ask(engine, "question three", conversation)
    assert "compaction" in [event["type"] for event in third]
    ask(engine, "question four", conversation)  # another reconnect, after the compaction
    assert history(llm.requests[-1]) == [
        ("user", SUMMARY_PREFIX + "A summary of turn one."),
        ("user", "question two"),
        ("assistant", "Answer two."),
        ("user", "question three"),
        ("assistant", "Answer three."),
        ("user", "question four"),
    ]


def test_another_users_or_an_unknown_conversation_is_refused(durable: Start, llm: FakeOpenAIServer) -> None:
    engine = durable()
    llm.add(text("Mine."))
    conversation = ask(engine, "alice's question")[0]["conversationId"]
    with pytest.raises(OperationalError, match="belongs to another user"):
        connect(engine.host, engine.port, user="bob", configuration={CONVERSATION: conversation})
    with pytest.raises(OperationalError, match="there is no conversation nope"):
        connect(engine.host, engine.port, configuration={CONVERSATION: "nope"})
    with connect(engine.host, engine.port) as connection:
        cursor = connection.cursor()
        with pytest.raises(OperationalError, match="chosen when a session opens"):
            cursor.execute(f"SET {CONVERSATION}={conversation}")


@pytest.mark.timeout(180)
def test_a_conversation_continues_after_an_engine_restart(
    engine_process: Any, llm: FakeOpenAIServer, store: StoreTarget
) -> None:
    llm.add(text("There are 3 orders."), text("Bob placed 1."))
    first = engine_process()
    conversation = ask(first, "how many orders are there?")[0]["conversationId"]
    first.signal(signal.SIGTERM)
    assert first.wait() == 0
    second = engine_process()
    try:
        answer = ask(second, "and bob?", conversation)
        assert answer[-1]["type"] == "agent_finish"
        assert history(llm.requests[1]) == [
            ("user", "how many orders are there?"),
            ("assistant", "There are 3 orders."),
            ("user", "and bob?"),
        ]
    finally:
        second.signal(signal.SIGTERM)
        assert second.wait() == 0
    assert store.query("SELECT COUNT(*) FROM runs WHERE conversation_id = :c", c=conversation) == [(2,)]


def test_a_session_joining_a_conversation_whose_run_is_detached_continues_after_it(
    durable: Start, llm: FakeOpenAIServer
) -> None:
    engine = durable()
    hold = threading.Event()
    first = text("There are ", "3 orders.")
    first.wait_for = hold
    llm.add(first, text("Ada placed 2."))
    try:
        owner = connect(engine.host, engine.port)
        cursor = owner.cursor()
        cursor.execute("how many orders are there?", async_=True)
        start = rows(cursor, 1)[0]
        drop(owner)  # the run goes on detached; its conversation stays held by it
        configuration = {CONVERSATION: start["conversationId"]}
        with connect(engine.host, engine.port, configuration=configuration) as again:
            cursor = again.cursor()
            with pytest.raises(OperationalError, match="already running a statement"):
                cursor.execute("and ada?")
            cursor.execute(f"__attach:{start['runId']}", async_=True)
            hold.set()
            assert rest(cursor)[-1]["type"] == "agent_finish"
            cursor.execute("and ada?")
            assert rest(cursor)[-1]["type"] == "agent_finish"
    finally:
        hold.set()
    assert history(llm.requests[-1]) == [
        ("user", "how many orders are there?"),
        ("assistant", "There are 3 orders."),
        ("user", "and ada?"),
    ]
