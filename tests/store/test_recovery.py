"""Restart: what a killed engine left ``running`` becomes ``interrupted`` (events kept) and its
pending approvals ``expired``; a clean stop (SIGTERM) loses nothing; SIGKILL loses at most what
was queued since the last flush. Live engines sharing the store are left alone."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.common.record import ApprovalStatus, RunStatus
from engine.store.maintenance import INTERRUPTED_ERROR
from engine.store.schema import INSTANCES, RUNS
from tests.store.conftest import OpenStore, StoreDb
from tests.support.databases import wait_until

ROOT = Path(__file__).resolve().parents[2]


class Child:
    """``python -m tests.store.child URL MODE``, read line by line with a timeout."""

    def __init__(self, url: str, mode: str, log: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self._log = log
        self._stderr = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.store.child", url, mode],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self._buffer = b""
        self._selector = selectors.DefaultSelector()
        assert self.process.stdout is not None
        self._selector.register(self.process.stdout, selectors.EVENT_READ)

    def line(self, timeout: float = 30.0) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            if not self._selector.select(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"the child said nothing; its stderr: {self.stderr()}")
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                raise EOFError(f"the child ended (exit {self.process.poll()}); its stderr: {self.stderr()}")
            self._buffer += chunk
        text, _, self._buffer = self._buffer.partition(b"\n")
        return text.decode().strip()

    def stderr(self) -> str:
        return self._log.read_text(errors="replace")[-2000:]

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)
        self.process.wait(30.0)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30.0)
        self._selector.close()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


@pytest.fixture
def child(store_db: StoreDb, tmp_path: Path) -> Iterator[Callable[[str, str], Child]]:
    started: list[Child] = []

    class Tracked(Child):
        def __init__(self, url: str, mode: str) -> None:
            super().__init__(url, mode, tmp_path / f"child-{len(started)}.stderr")
            started.append(self)

    yield Tracked
    for each in started:
        each.close()


def test_sigkill_leaves_runs_interrupted_and_approvals_expired(
    store_db: StoreDb, open_store: OpenStore, child: Callable[[str, str], Child]
) -> None:
    writer = child(store_db.url, "park")
    assert writer.line() == "ready"
    writer.signal(signal.SIGKILL)

    store = open_store()  # the dead pid on this host gives it away at once
    assert store.recovered.runs == 2 and store.recovered.approvals == 1
    run = store.get_run("run-2")
    assert run is not None and run.status is RunStatus.INTERRUPTED
    assert run.error == INTERRUPTED_ERROR and run.ended is not None
    assert [event.seq for event in store.events_after("run-2")] == [1, 2, 3, 4, 5]
    approval = store.get_approval("req-1")
    assert approval is not None and approval.status is ApprovalStatus.EXPIRED and approval.decided is not None
    conversation = store.get_conversation("conv-1")
    assert conversation is not None and conversation.runs == 1
    assert store_db.query("SELECT count(*) FROM instances")[0][0] == 1  # only the new engine's


def test_sigkill_loses_only_what_was_not_flushed(
    store_db: StoreDb, open_store: OpenStore, child: Callable[[str, str], Child]
) -> None:
    writer = child(store_db.url, "flushed")
    assert writer.line() == "flushed 100"
    assert writer.line() == "queued 500"
    writer.signal(signal.SIGKILL)
    store = open_store()
    committed = [event.seq for event in store.events_after("run-1", limit=1000)]
    assert committed[:100] == list(range(1, 101))  # everything flushed survived
    assert committed == list(range(1, len(committed) + 1))  # and nothing after a gap


def test_sigkill_while_streaming_loses_at_most_the_last_flush_interval(
    store_db: StoreDb, open_store: OpenStore, child: Callable[[str, str], Child]
) -> None:
    writer = child(store_db.url, "stream")
    appended: list[tuple[int, float, int]] = []  # (seq, monotonic time, events the writer committed)
    while len(appended) < 2 or appended[-1][1] - appended[0][1] < 3.0:
        seq, at, committed = writer.line().split()
        appended.append((int(seq), float(at), int(committed)))
    killed_at = time.monotonic()
    writer.signal(signal.SIGKILL)
    store = open_store()
    run = store.get_run("run-1")
    assert run is not None and run.status is RunStatus.INTERRUPTED
    count = store_db.query("SELECT count(*) FROM events WHERE run_id = 'run-1'")[0][0]
    assert count == run.last_seq  # no gap
    # whatever the writer had committed survives the kill (exact)...
    assert run.last_seq >= appended[-1][2]
    # ...and what is lost is only the recent past: every event appended well before the kill is
    # there (a wide margin over the 50 ms flush interval absorbs a loaded machine)
    old_enough = [seq for seq, at, _ in appended if at < killed_at - 2.5]
    assert old_enough and run.last_seq >= old_enough[-1]


def test_sigterm_writes_everything_queued(
    store_db: StoreDb, open_store: OpenStore, child: Callable[[str, str], Child]
) -> None:
    writer = child(store_db.url, "term")  # a 30 s flush interval: all 3000 are still queued
    assert writer.line() == "queued 3000"
    writer.process.send_signal(signal.SIGTERM)
    assert writer.line() == "closed"
    assert writer.process.wait(30.0) == 0
    store = open_store()
    assert [event.seq for event in store.events_after("run-1", limit=10_000)] == list(range(1, 3001))
    run = store.get_run("run-1")  # closed while running: interrupted by the engine itself
    assert run is not None and run.status is RunStatus.INTERRUPTED
    assert store.recovered.runs == 0


def test_live_engines_sharing_a_store_keep_their_runs(open_store: OpenStore) -> None:
    first = open_store()
    journal = first.start_run("live", "alice", "q")
    assert journal.wait_committed(10.0)
    second = open_store()
    assert second.recovered.runs == 0
    run = second.get_run("live")
    assert run is not None and run.status is RunStatus.RUNNING


def test_an_engine_whose_heartbeat_stops_is_recovered_by_another(
    store_db: StoreDb, open_store: OpenStore
) -> None:
    store = open_store()  # heartbeat every 0.2 s: an instance 1.2 s silent is gone
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    engine = sa.create_engine(store_db.url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.insert(INSTANCES).values(
                    id="elsewhere", host="another-host", pid=1, started=long_ago, heartbeat=long_ago
                )
            )
            connection.execute(
                sa.insert(RUNS).values(
                    id="orphan",
                    owner="bob",
                    question="q",
                    status="running",
                    started=long_ago,
                    steps=0,
                    prompt_tokens=0,
                    completion_tokens=0,
                    incomplete=False,
                    events_dropped=0,
                    instance="elsewhere",
                )
            )
    finally:
        engine.dispose()

    def interrupted() -> bool:
        run = store.get_run("orphan")
        return run is not None and run.status is RunStatus.INTERRUPTED

    assert wait_until(interrupted, 20.0)  # by the maintenance thread, not only at start-up
    assert wait_until(lambda: store_db.query("SELECT id FROM instances WHERE id = 'elsewhere'") == [], 20.0)


def test_an_engine_taken_for_gone_registers_again(store_db: StoreDb, open_store: OpenStore) -> None:
    store = open_store()  # heartbeat every 0.2 s
    engine = sa.create_engine(store_db.url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:  # what a peer does after a long outage of this engine
            connection.execute(sa.delete(INSTANCES).where(INSTANCES.c.id == store.instance_id))
    finally:
        engine.dispose()
    assert wait_until(lambda: len(store_db.query("SELECT id FROM instances")) == 1, 20.0)
    journal = store.start_run("after", "alice", "q")
    assert journal.wait_committed(10.0)
    other = open_store()
    assert other.recovered.runs == 0
