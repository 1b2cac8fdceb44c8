"""The read API the wiring and the REST API use, and the indexes behind every query."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from engine.common.errors import StoreError
from engine.common.record import ApprovalStatus, MemoryRecord, RunStatus, datasource_fingerprint
from engine.store import RunStore
from tests.store.conftest import OpenStore, StoreDb

DS = datasource_fingerprint("jdbc:postgresql://db/shop?password=never-stored")


@pytest.fixture
def history(store: RunStore) -> RunStore:
    """alice: conversation c1 (r1 success, r2 error), c2 (r3 running), r4 without one; bob: r5."""
    store.create_conversation("alice", DS, conversation_id="c1", settings={"model": "m1"})
    store.create_conversation("alice", DS, conversation_id="c2")
    store.create_conversation("bob", DS, conversation_id="b1", title="bob's")
    plan = [
        ("r1", "alice", "c1", RunStatus.SUCCESS),
        ("r2", "alice", "c1", RunStatus.ERROR),
        ("r3", "alice", "c2", None),
        ("r4", "alice", None, RunStatus.STOPPED),
        ("r5", "bob", "b1", RunStatus.SUCCESS),
    ]
    for run_id, owner, conversation, status in plan:
        journal = store.start_run(
            run_id, owner, f"question {run_id}", conversation_id=conversation, model="m1"
        )
        for n in range(3):
            journal.append("content_delta", f'{{"n":{n}}}')
        if status is not None:
            journal.finish(status, error="boom" if status is RunStatus.ERROR else None, steps=2)
        assert journal.wait_committed(10.0)
    return store


def test_list_runs_by_owner_status_conversation_and_page(history: RunStore) -> None:
    ids = lambda runs: [run.id for run in runs]  # noqa: E731
    assert ids(history.list_runs("alice")) == ["r4", "r3", "r2", "r1"]  # newest first
    assert ids(history.list_runs()) == ["r5", "r4", "r3", "r2", "r1"]  # an administrator's view
    assert ids(history.list_runs("alice", status=RunStatus.RUNNING)) == ["r3"]
    assert ids(history.list_runs(status=RunStatus.SUCCESS)) == ["r5", "r1"]
    assert ids(history.list_runs("alice", conversation_id="c1")) == ["r2", "r1"]
    assert ids(history.list_runs("bob", conversation_id="c1")) == []
    first = history.list_runs("alice", limit=2)
    assert ids(first) == ["r4", "r3"]
    assert ids(history.list_runs("alice", before=first[-1].started, limit=2)) == ["r2", "r1"]

    run = history.get_run("r2")
    assert run is not None
    assert (run.owner, run.conversation_id, run.status, run.error, run.steps) == (
        "alice",
        "c1",
        RunStatus.ERROR,
        "boom",
        2,
    )
    assert run.model == "m1" and run.last_seq == 3 and run.ended is not None and run.started.tzinfo is UTC
    assert history.get_run("missing") is None


def test_events_page_after_a_sequence_number(history: RunStore) -> None:
    journal = history.start_run("long", "alice", "q")
    for n in range(1, 26):
        journal.append("content_delta", f'{{"n":{n}}}')
    assert journal.wait_committed(10.0)
    pages = []
    after = 0
    while page := history.events_after("long", after, limit=10):
        pages.append([event.seq for event in page])
        after = page[-1].seq
    assert pages == [list(range(1, 11)), list(range(11, 21)), list(range(21, 26))]
    assert history.events_after("long", 24)[0].payload == '{"n":25}'
    assert history.events_after("missing") == []


def test_conversations_newest_first_with_run_counts(history: RunStore) -> None:
    conversations = history.list_conversations("alice")
    assert [(c.id, c.runs) for c in conversations] == [("c2", 1), ("c1", 2)]
    c1 = history.get_conversation("c1")
    assert c1 is not None
    assert c1.owner == "alice" and c1.datasource == DS and c1.settings == {"model": "m1"}
    assert c1.title == "question r1"  # a conversation without a title takes its first question's
    assert "never-stored" not in repr(c1)
    assert history.get_conversation("b1").title == "bob's"  # type: ignore[union-attr]
    assert history.list_conversations("alice", limit=1)[0].id == "c2"
    assert [c.id for c in history.list_conversations("alice", before=conversations[0].updated)] == ["c1"]
    assert history.get_conversation("missing") is None


def test_rename_and_delete_a_conversation(store_db: StoreDb, history: RunStore) -> None:
    assert history.rename_conversation("c1", "Orders by country")
    assert history.get_conversation("c1").title == "Orders by country"  # type: ignore[union-attr]
    assert not history.rename_conversation("missing", "x")

    history.request_approval("r1", "req-1", "run_mutation_query", "{}", "DESTRUCTIVE")
    assert history.delete_conversation("c1")
    assert history.get_conversation("c1") is None
    assert history.get_run("r1") is None and history.get_run("r2") is None
    assert history.events_after("r1") == [] and history.get_approval("req-1") is None
    assert [run.id for run in history.list_runs("alice")] == ["r4", "r3"]
    assert not history.delete_conversation("c1")
    left = store_db.query("SELECT count(*) FROM events WHERE run_id IN ('r1', 'r2')")
    assert left[0][0] == 0


def test_memory_survives_as_saved(open_store: OpenStore) -> None:
    store = open_store()
    store.create_conversation("alice", DS, conversation_id="c")
    assert store.load_memory("c") is None
    messages = (
        {"role": "user", "content": "combien de commandes ? 注文"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "run_select_query", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        {"role": "user", "content": "[summary of earlier turns]"},
    )
    store.save_memory("c", MemoryRecord(messages[:1], {"cumulative_prompt_tokens": 1}))
    store.save_memory("c", MemoryRecord(messages, {"cumulative_prompt_tokens": 10, "last_total_tokens": 7}))
    assert store.flush(10.0)
    store.close()

    reopened = open_store()  # as after a restart
    memory = reopened.load_memory("c")
    assert memory is not None
    assert memory.messages == messages
    assert memory.counters == {"cumulative_prompt_tokens": 10, "last_total_tokens": 7}
    assert reopened.load_memory("missing") is None


def test_token_usage_per_user_per_day(store: RunStore) -> None:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    store.add_token_usage("alice", 100, 20)
    store.add_token_usage("alice", 5, 1)
    store.add_token_usage("alice", 1, 1, day=yesterday)
    store.add_token_usage("bob", 9, 9)
    assert store.flush(10.0)
    usage = store.token_usage("alice")
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total) == (105, 21, 126)
    assert store.token_usage("alice", yesterday).total == 2
    assert store.token_usage("carol").total == 0
    assert store.token_usage("bob", date(2000, 1, 1)).day == date(2000, 1, 1)


def test_approvals_keep_their_first_decision(history: RunStore) -> None:
    history.request_approval("r3", "req-a", "run_mutation_query", '{"sql":"DELETE FROM t"}', "DESTRUCTIVE")
    history.request_approval("r3", "req-b", "run_select_query", '{"sql":"SELECT 1"}', "SAFE")
    history.decide_approval("req-a", ApprovalStatus.DENIED, decided_by="alice", reason="not now")
    history.decide_approval("req-a", ApprovalStatus.APPROVED, decided_by="alice")  # too late
    history.decide_approval("req-b", ApprovalStatus.TIMED_OUT)
    assert history.flush(10.0)
    a = history.get_approval("req-a")
    assert a is not None
    assert (a.status, a.decided_by, a.reason, a.tool, a.risk) == (
        ApprovalStatus.DENIED,
        "alice",
        "not now",
        "run_mutation_query",
        "DESTRUCTIVE",
    )
    assert a.arguments == '{"sql":"DELETE FROM t"}' and a.decided is not None and a.decided >= a.requested
    assert [(x.request_id, x.status) for x in history.list_approvals("r3")] == [
        ("req-a", ApprovalStatus.DENIED),
        ("req-b", ApprovalStatus.TIMED_OUT),
    ]
    with pytest.raises(ValueError):
        history.decide_approval("req-a", ApprovalStatus.PENDING)


def test_many_threads_read_while_the_writer_writes(history: RunStore) -> None:
    journal = history.start_run("busy", "alice", "q")
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                history.list_runs("alice", limit=10)
                history.events_after("busy", 0, limit=50)
                history.list_conversations("alice")
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    readers = [threading.Thread(target=read, name=f"test-reader-{n}") for n in range(12)]
    for reader in readers:
        reader.start()
    for n in range(2000):
        journal.append("content_delta", f'{{"n":{n}}}')
    journal.finish(RunStatus.SUCCESS)
    assert journal.wait_committed(20.0)
    stop.set()
    for reader in readers:
        reader.join(30.0)
    assert errors == []
    assert history.get_run("busy").last_seq == 2000  # type: ignore[union-attr]


def test_a_closed_store_ignores_writes_and_says_so(open_store: OpenStore) -> None:
    store = open_store()
    store.close()
    journal = store.start_run("r", "alice", "q")  # never raises on the fetch path
    journal.append("agent_start", "{}")
    journal.finish(RunStatus.SUCCESS)
    assert not journal.wait_committed(5.0)  # at once: the writer has stopped
    with pytest.raises(StoreError, match="closed"):
        store.list_runs("alice")


# --- every read is served by an index ---------------------------------------------------------------


@pytest.fixture
def statements(history: RunStore) -> Iterator[list[tuple[str, Any]]]:
    captured: list[tuple[str, Any]] = []
    mine = (
        threading.current_thread()
    )  # not the maintenance thread's (it reads the tiny instances table whole)

    def capture(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        if threading.current_thread() is mine and statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    sa.event.listen(history.engine, "before_cursor_execute", capture)
    yield captured
    sa.event.remove(history.engine, "before_cursor_execute", capture)


def test_reads_use_indexes(store_db: StoreDb, history: RunStore, statements: list[tuple[str, Any]]) -> None:
    history.list_runs("alice", limit=5)
    history.list_runs(limit=5)
    history.list_runs("alice", status=RunStatus.RUNNING)
    history.list_runs(status=RunStatus.RUNNING)
    history.list_runs("alice", conversation_id="c1")
    history.get_run("r1")
    history.events_after("r1", 1, limit=10)
    history.list_conversations("alice")
    history.get_conversation("c1")
    history.load_memory("c1")
    history.get_approval("req")
    history.list_approvals("r1")
    history.token_usage("alice")
    assert len(statements) >= 13
    raw = history.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if store_db.backend == "postgresql":
            cursor.execute("SET enable_seqscan = off")  # tiny tables: ask whether an index plan exists
        for statement, parameters in statements:
            prefix = "EXPLAIN QUERY PLAN " if store_db.backend == "sqlite" else "EXPLAIN "
            cursor.execute(prefix + statement, parameters)
            plan = [str(row[-1]) for row in cursor.fetchall()]
            if store_db.backend == "sqlite":
                scans = [line for line in plan if line.startswith("SCAN") and "USING" not in line]
            else:
                scans = [line for line in plan if "Seq Scan" in line]
            assert scans == [], (statement, plan)
    finally:
        raw.close()
