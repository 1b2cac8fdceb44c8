"""Retention: runs that ended longer ago than ``store.retention`` go, with their events and
approvals, a bounded number per pass, in the background."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.common.record import RunStatus
from engine.store import RunStore
from tests.store.conftest import FAST, OpenStore, StoreDb
from tests.support.databases import wait_until

DAY = 86400.0


def _finished_run(store: RunStore, run_id: str, conversation_id: str | None = None) -> None:
    journal = store.start_run(run_id, "alice", "q", conversation_id=conversation_id)
    journal.append("agent_start", "{}")
    store.request_approval(run_id, f"req-{run_id}", "run_mutation_query", "{}", "DESTRUCTIVE")
    journal.finish(RunStatus.SUCCESS)
    assert journal.wait_committed(10.0)


def test_a_pass_deletes_old_runs_and_what_hangs_off_them(store_db: StoreDb, open_store: OpenStore) -> None:
    store = open_store(retention=30 * DAY, options=FAST.__class__(heartbeat_interval=60.0))
    old = store.create_conversation("alice", "default", conversation_id="old")
    kept = store.create_conversation("alice", "default", conversation_id="kept")
    _finished_run(store, "r-old", old.id)
    _finished_run(store, "r-kept", kept.id)
    running = store.start_run("r-running", "alice", "q", conversation_id=kept.id)
    store.add_token_usage("alice", 5, 5, day=datetime.now(UTC).date() - timedelta(days=40))
    store.add_token_usage("alice", 7, 7)
    assert running.wait_committed(10.0)

    # today nothing has ended long enough ago; only the 40-day-old token count goes
    assert store.maintenance.sweep() == 0
    assert store.token_usage("alice", datetime.now(UTC).date() - timedelta(days=40)).total == 0
    assert store.token_usage("alice").total == 14
    # seen from 31 days on, every run that has ended is old, the running one is not
    later = datetime.now(UTC) + timedelta(days=31)
    assert store.maintenance.sweep(now=later) == 2
    assert store.get_run("r-old") is None and store.get_run("r-kept") is None
    assert store.get_run("r-running") is not None
    assert store_db.query("SELECT count(*) FROM events")[0][0] == 0
    assert store_db.query("SELECT count(*) FROM approvals")[0][0] == 0
    # conversations left without runs and not updated since go too; one with a run stays
    assert store.get_conversation("old") is None
    assert store.get_conversation("kept") is not None


def test_a_pass_is_bounded(open_store: OpenStore) -> None:
    store = open_store(options=FAST.__class__(heartbeat_interval=60.0))
    for n in range(130):
        store.start_run(f"r{n}", "alice", "q").finish(RunStatus.ERROR, error="x")
    assert store.flush(10.0)
    later = datetime.now(UTC) + timedelta(days=31)
    assert store.maintenance.sweep(now=later) == 100
    assert store.maintenance.sweep(now=later) == 30
    assert store.maintenance.sweep(now=later) == 0


def test_the_background_thread_applies_the_retention(open_store: OpenStore) -> None:
    store = open_store(retention=1.0)  # FAST: a pass every 0.2 s
    _finished_run(store, "short-lived")
    assert wait_until(lambda: store.get_run("short-lived") is None, 30.0)
