"""Restarts (issue 14 §5): the engine in its own process, stopped mid-run by SIGTERM (nothing a
client saw is lost; the run is ``interrupted``) or SIGKILL (what a previous process left running
becomes ``interrupted`` and its pending approvals ``expired`` before the new engine serves)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.durable.support import StoreTarget, connect, payloads, rest, rows
from tests.fakes.openai_server import FakeOpenAIServer, text, tool
from tests.support.databases import wait_until

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def hold() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def show_runs(engine: Any) -> list[tuple[Any, ...]]:
    with connect(engine.host, engine.port) as connection:
        cursor = connection.cursor()
        cursor.execute("SHOW RUNS")
        return list(cursor.fetchall())


def test_sigterm_mid_run_keeps_every_fetched_event_and_interrupts_the_run(
    engine_process: Any, llm: FakeOpenAIServer, store: StoreTarget, hold: threading.Event
) -> None:
    answer = text("Three ", "orders.")
    answer.wait_for = hold  # the second reply holds after its first chunk
    llm.add(tool("run_select_query", {"sql": "SELECT COUNT(*) FROM orders"}), answer)
    first = engine_process()
    owner = connect(first.host, first.port)
    cursor = owner.cursor()
    cursor.execute("how many orders?", async_=True)
    fetched = rows(cursor, 6)  # up to the second step_start: the LLM holds there
    run_id = fetched[0]["runId"]
    first.signal(signal.SIGTERM)
    assert first.wait() == 0
    second = engine_process()
    try:
        [run] = show_runs(second)
        assert run[0] == run_id and run[2] == "interrupted"
        with connect(second.host, second.port) as connection:
            attach = connection.cursor()
            attach.execute(f"__attach:{run_id}")
            replayed = rest(attach)
    finally:
        second.signal(signal.SIGTERM)
        assert second.wait() == 0
    assert replayed[: len(fetched)] == fetched  # every event the client had fetched, in order
    assert replayed == payloads(store.events(run_id))
    assert replayed[-1]["type"] == "error" and "shutting down" in replayed[-1]["message"]
    assert "interrupted" in "".join(first.output)


def test_sigkill_leaves_a_run_that_the_next_engine_interrupts(
    engine_process: Any, llm: FakeOpenAIServer, store: StoreTarget
) -> None:
    llm.add(tool("run_mutation_query", {"sql": "DELETE FROM orders"}))
    first = engine_process(**{"approval.mode": "NORMAL"})
    owner = connect(first.host, first.port)
    cursor = owner.cursor()
    cursor.execute("delete every order", async_=True)
    seen = rows(cursor, 3)
    assert seen[2]["type"] == "approval_request"
    run_id = seen[0]["runId"]
    # the parked call is committed within a flush interval; SIGKILL after that
    assert wait_until(lambda: store.query("SELECT status FROM approvals") == [("pending",)], 10)
    first.signal(signal.SIGKILL)
    first.wait()
    assert store.status(run_id) == "running"  # nobody could tell the store
    second = engine_process()
    try:
        assert store.status(run_id) == "interrupted"  # recovered before the engine served
        assert store.query("SELECT status FROM approvals") == [("expired",)]
        [run] = show_runs(second)
        assert run[0] == run_id and run[2] == "interrupted"
        assert payloads(store.events(run_id)) == seen
    finally:
        second.signal(signal.SIGTERM)
        assert second.wait() == 0
