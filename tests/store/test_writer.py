"""The batching writer: events of many runs per transaction, ordered and unique sequence numbers,
and the barrier an operation waits on before it reports a terminal state."""

from __future__ import annotations

import json
import threading
import time

import pytest
import sqlalchemy as sa

from engine.common.record import RunStatus
from engine.store import RunStore
from engine.store.store import StoreOptions
from tests.store.conftest import OpenStore, StoreDb


def _payload(run: str, seq: int) -> str:
    return json.dumps({"type": "content_delta", "text": f"{run}:{seq}"}, separators=(",", ":"))


def test_events_of_many_runs_share_transactions(store_db: StoreDb, open_store: OpenStore) -> None:
    # a long flush interval: only the 500-event threshold (and the barrier) make the writer commit
    store = open_store(options=StoreOptions(flush_interval=30.0))
    journals = [store.start_run(f"run-{n}", "alice", "q") for n in range(4)]
    for seq in range(1, 251):
        for journal in journals:
            assert journal.append("content_delta", _payload(journal.run_id, seq)) == seq
    assert store.flush(10.0)

    stats = store.stats()
    assert stats.events_committed == 1000
    sizes = store.writer.batch_sizes()
    assert sum(sizes) == 1000
    assert max(sizes) >= 500  # the threshold flushed a full batch mixing all four runs
    assert stats.transactions <= 4
    if store_db.backend == "postgresql":
        # seen from the database itself: the rows of one transaction share its xmin
        groups = store_db.query("SELECT count(DISTINCT run_id), count(*) FROM events GROUP BY xmin::text")
        assert max(count for _, count in groups) >= 500
        assert max(runs for runs, _ in groups) == 4


def test_a_quiet_run_is_committed_within_the_flush_interval(open_store: OpenStore) -> None:
    store = open_store()  # 50 ms
    journal = store.start_run("r", "alice", "q")
    journal.append("agent_start", '{"type":"agent_start"}')
    # no flush() and no finish(): the periodic flush alone must write it
    assert store.writer.wait(store.writer.last_ticket(), 10.0)
    assert [event.seq for event in store.events_after("r")] == [1]


def test_sequence_numbers_are_ordered_and_unique_across_threads(
    store_db: StoreDb, open_store: OpenStore
) -> None:
    store = open_store()
    journals = [store.start_run(f"run-{n}", "bob", f"question {n}") for n in range(8)]
    start = threading.Barrier(len(journals))

    def produce(journal_index: int) -> None:
        journal = journals[journal_index]
        start.wait(10.0)
        for seq in range(1, 301):
            journal.append("content_delta", _payload(journal.run_id, seq))

    threads = [
        threading.Thread(target=produce, args=(n,), name=f"test-producer-{n}") for n in range(len(journals))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30.0)
    for journal in journals:
        journal.finish(RunStatus.SUCCESS, steps=1)
        assert journal.wait_committed(10.0)

    for journal in journals:
        seen: list[int] = []
        after = 0
        while page := store.events_after(journal.run_id, after, limit=128):
            seen.extend(event.seq for event in page)
            assert all(event.payload == _payload(journal.run_id, event.seq) for event in page)
            after = page[-1].seq
        assert seen == list(range(1, 301))
        run = store.get_run(journal.run_id)
        assert run is not None and run.last_seq == 300 and not run.incomplete
    duplicates = store_db.query("SELECT run_id, seq FROM events GROUP BY run_id, seq HAVING count(*) > 1")
    assert duplicates == []


def test_run_and_sequence_are_unique_in_the_database(store_db: StoreDb, store: RunStore) -> None:
    journal = store.start_run("r", "alice", "q")
    journal.append("agent_start", '{"type":"agent_start"}')
    assert store.flush(10.0)
    engine = sa.create_engine(store_db.url, poolclass=sa.pool.NullPool)
    try:
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO events (run_id, seq, type, payload, time) "
                    "VALUES ('r', 1, 'error', '{}', CURRENT_TIMESTAMP)"
                )
            )
    finally:
        engine.dispose()
    # the writer's own inserts are idempotent: a replayed event keeps the first one
    store.writer.append_event("r", 1, "error", '{"type":"error"}', time.time())
    assert store.flush(10.0)
    assert [(event.seq, event.type) for event in store.events_after("r")] == [(1, "agent_start")]


def test_the_barrier_commits_the_last_event_and_the_final_status(
    store_db: StoreDb, open_store: OpenStore
) -> None:
    store = open_store(options=StoreOptions(flush_interval=30.0))  # only the barrier can flush
    journal = store.start_run("r", "carol", "how many orders?", model="m1")
    for seq in range(1, 11):
        journal.append("content_delta", _payload("r", seq))
    journal.append("agent_finish", '{"type":"agent_finish","steps":2}')
    journal.finish(RunStatus.SUCCESS, steps=2, prompt_tokens=120, completion_tokens=30)
    assert journal.wait_committed(10.0)

    # another connection (as another engine or the REST API would) sees all of it at once
    [(status, steps, prompt, completion, ended)] = store_db.query(
        "SELECT status, steps, prompt_tokens, completion_tokens, ended FROM runs WHERE id = 'r'"
    )
    assert (status, steps, prompt, completion) == ("success", 2, 120, 30) and ended is not None
    [(count, last)] = store_db.query("SELECT count(*), max(seq) FROM events WHERE run_id = 'r'")
    assert (count, last) == (11, 11)
    journal.finish(RunStatus.ERROR, error="late")  # a second end is ignored
    assert journal.wait_committed(10.0)
    run = store.get_run("r")
    assert run is not None and run.status is RunStatus.SUCCESS and run.error is None


def test_errors_are_redacted_and_nul_characters_survive(open_store: OpenStore) -> None:
    store = open_store()
    journal = store.start_run("r", "alice", "what is\x00 up? api_key=sk-abcdefghijklmnopqrstuvwx")
    journal.append("content_delta", '{"type":"content_delta","text":"a\\u0000b"}')
    journal.finish(RunStatus.ERROR, error="failed: password=hunter22\x00")
    assert journal.wait_committed(10.0)
    run = store.get_run("r")
    assert run is not None
    assert "sk-abc" not in run.question and "\x00" not in run.question
    assert run.error is not None and "hunter22" not in run.error
    assert store.events_after("r")[0].payload == '{"type":"content_delta","text":"a\\u0000b"}'


def test_a_write_the_database_refuses_is_dropped_alone(store: RunStore) -> None:
    good = store.start_run("good", "alice", "q")
    good.append("agent_start", "{}")
    store.writer.append_event("no-such-run", 1, "agent_start", "{}", time.time())
    good.append("step_start", "{}")
    good.finish(RunStatus.SUCCESS)
    assert good.wait_committed(10.0)
    assert [event.seq for event in store.events_after("good")] == [1, 2]
    assert store.events_after("no-such-run") == []
    assert store.stats().write_errors >= 1
