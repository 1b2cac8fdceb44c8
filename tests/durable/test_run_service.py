"""The run service a second frontend (the REST API) uses without sessions: follow a run's events
from a sequence number (replayed, then live, woken without a thread of its own), stop a run,
list and get runs and conversations, each for a calling user (administrators: anyone's runs)."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from engine.common.cancel import CancelToken
from engine.common.errors import NotFoundError, PermissionDeniedError
from engine.common.record import RunStatus
from tests.durable.conftest import Start
from tests.durable.support import StoreTarget, connect, payloads, rest, rows
from tests.fakes.openai_server import FakeOpenAIServer, text
from tests.support.databases import wait_until


def test_follow_a_run_from_a_sequence_number_and_stop_it(
    durable: Start, llm: FakeOpenAIServer, store: StoreTarget
) -> None:
    engine = durable(**{"kyuubi.server.administrators": "root"})
    service = engine.backend.runs
    hold = threading.Event()
    answer = text("Counting ", "orders.")
    answer.wait_for = hold
    llm.add(answer, text("Never sent."))
    try:
        with connect(engine.host, engine.port) as connection:
            cursor = connection.cursor()
            cursor.execute("count the orders", async_=True)
            run_id = rows(cursor, 1)[0]["runId"]
            feed = service.open_feed("alice", run_id, after=1)  # resumes after agent_start
            woken = threading.Event()
            unsubscribe = feed.subscribe(woken.set)
            replayed = feed.read()
            assert [event.type for event in replayed] == ["step_start"] and replayed[0].seq == 2
            woken.clear()
            hold.set()
            assert woken.wait(10)  # a live event wakes the follower
            followed = list(replayed)
            while not feed.ended:
                followed.extend(feed.read())
                if not feed.ended:
                    feed.wait(5.0)
            unsubscribe()
            assert [event.seq for event in followed] == list(range(2, len(followed) + 2))
            assert [event.payload for event in followed] == [row for _, _, row in store.query(
                "SELECT seq, type, payload FROM events WHERE run_id = :r AND seq > 1 ORDER BY seq", r=run_id
            )]  # fmt: skip
            rest(cursor)

            cursor.execute("a second question", async_=True)
            second = rows(cursor, 1)[0]["runId"]
            with pytest.raises(PermissionDeniedError):
                service.cancel_run("bob", second)
            assert service.cancel_run("root", second)  # an administrator may stop anyone's run
            assert rest(cursor)[-1]["type"] == "error"
    finally:
        hold.set()
    assert wait_until(lambda: store.status(second) == "stopped", 10)
    assert service.get_run("alice", second).status is RunStatus.STOPPED
    assert not service.cancel_run("alice", second)  # it has ended
    assert [run.id for run in service.list_runs("alice")] == [second, run_id]
    assert [run.id for run in service.list_runs("root", all_users=True)] == [second, run_id]
    [conversation] = service.list_conversations("alice")
    assert service.get_conversation("alice", conversation.id).runs == 2
    with pytest.raises(PermissionDeniedError):
        service.get_conversation("root", conversation.id)  # conversations stay their owner's
    with pytest.raises(NotFoundError):
        service.get_run("alice", "no-such-run")


def test_follow_replays_a_finished_run_and_a_cancel_ends_a_live_follow(
    durable: Start, llm: FakeOpenAIServer, store: StoreTarget
) -> None:
    engine = durable()
    service = engine.backend.runs
    hold = threading.Event()
    slow = text("slow")
    slow.wait_for = hold
    llm.add(text("Done."), slow)
    try:
        with connect(engine.host, engine.port) as connection:
            cursor = connection.cursor()
            cursor.execute("first")
            finished = rest(cursor)
            run_id = finished[0]["runId"]
            replay = [
                json.loads(event.payload) for event in service.follow("alice", run_id, 0, CancelToken())
            ]
            assert replay == finished == payloads(store.events(run_id))

            cursor.execute("second", async_=True)
            live_id = rows(cursor, 1)[0]["runId"]
            cancel = CancelToken()
            seen: list[Any] = []
            follower = threading.Thread(
                target=lambda: seen.extend(service.follow("alice", live_id, 0, cancel)), name="test-follower"
            )
            follower.start()
            assert wait_until(lambda: len(seen) >= 2, 10)
            cancel.cancel()  # the follower leaves; the run goes on
            follower.join(10)
            assert not follower.is_alive()
            hold.set()
            assert rest(cursor)[-1]["type"] == "agent_finish"
    finally:
        hold.set()
    assert store.status(live_id) == "success"
