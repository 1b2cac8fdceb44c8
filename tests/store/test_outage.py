"""The store going away while runs stream: nothing blocks, writes are retried with backoff, the
error is logged once per outage, and a run whose queued events overflow is marked incomplete.

PostgreSQL is reached through a TCP proxy the test cuts; SQLite is locked by another connection
holding an exclusive transaction."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from engine.common.errors import StoreError
from engine.common.record import RunStatus
from engine.store.store import StoreOptions
from tests.store.conftest import OpenStore, StoreDb
from tests.support.databases import wait_until
from tests.support.tcp_proxy import TcpProxy

OPTIONS = StoreOptions(heartbeat_interval=0.2, retry_max=0.1, busy_timeout=0.05, close_timeout=5.0)


@dataclass
class Outage:
    url: str
    proxy: TcpProxy | None
    path: str | None
    _lock: sqlite3.Connection | None = None

    def start(self) -> None:
        if self.proxy is not None:
            self.proxy.cut()
            return
        assert self.path is not None
        self._lock = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        self._lock.execute("BEGIN EXCLUSIVE")

    def end(self) -> None:
        if self.proxy is not None:
            self.proxy.restore()
            return
        if self._lock is not None:
            self._lock.execute("ROLLBACK")
            self._lock.close()
            self._lock = None


@contextmanager
def outage_control(store_db: StoreDb) -> Iterator[Outage]:
    if store_db.backend == "postgresql":
        with TcpProxy("127.0.0.1", 5432) as proxy:
            yield Outage(store_db.via_port(proxy.port), proxy, None)
        return
    outage = Outage(store_db.url, None, str(store_db.path))
    try:
        yield outage
    finally:
        outage.end()


def _messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if text in record.getMessage()]


def test_an_outage_is_retried_logged_once_and_loses_nothing(
    store_db: StoreDb, open_store: OpenStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="engine.store")
    with outage_control(store_db) as outage:
        store = open_store(outage.url, options=OPTIONS)
        journal = store.start_run("r", "alice", "q")
        journal.append("agent_start", "{}")
        assert journal.wait_committed(10.0)

        outage.start()
        for _ in range(299):
            journal.append("content_delta", '{"type":"content_delta","text":"x"}')  # never blocks
        journal.finish(RunStatus.SUCCESS, steps=1)
        assert not journal.wait_committed(0.3)  # bounded: the operation would go on
        assert wait_until(lambda: store.stats().write_errors >= 3, 20.0)  # retried, with backoff
        assert not store.stats().reachable
        outage.end()

        assert journal.wait_committed(20.0)
        run = store.get_run("r")
        assert run is not None and run.status is RunStatus.SUCCESS and not run.incomplete
        assert [event.seq for event in store.events_after("r", limit=1000)] == list(range(1, 301))
        stats = store.stats()
        assert stats.reachable and stats.outages == 1

        # a second outage is a second pair of log lines
        outage.start()
        other = store.start_run("r2", "alice", "q")
        other.append("agent_start", "{}")
        assert wait_until(lambda: store.stats().outages == 2, 20.0)
        outage.end()
        assert store.flush(20.0)

    down = _messages(caplog, "run store unreachable")
    back = _messages(caplog, "run store reachable again")
    assert len(down) == 2 and len(back) == 2, (down, back)
    assert all(
        record.levelno == logging.ERROR for record in caplog.records if "unreachable" in record.getMessage()
    )


def test_overflowing_the_queue_marks_the_run_incomplete(store_db: StoreDb, open_store: OpenStore) -> None:
    with outage_control(store_db) as outage:
        store = open_store(outage.url, options=OPTIONS, capacity=50)
        journal = store.start_run("r", "alice", "q")
        assert journal.wait_committed(10.0)
        outage.start()
        seqs = [journal.append("content_delta", "{}") for _ in range(200)]
        assert seqs == list(range(1, 201))  # the caller's own stream is untouched
        stats = store.stats()
        assert stats.events_dropped == 150
        journal.finish(RunStatus.SUCCESS)
        outage.end()
        assert journal.wait_committed(20.0)

        run = store.get_run("r")
        assert run is not None
        assert run.incomplete and run.events_dropped == 150 and run.status is RunStatus.SUCCESS
        assert [event.seq for event in store.events_after("r", limit=1000)] == list(range(1, 51))
        store.close()


def test_reads_during_an_outage(store_db: StoreDb, open_store: OpenStore) -> None:
    """PostgreSQL down: a read fails with a clear StoreError that never shows the password.
    SQLite locked by a writer: reads go on (WAL)."""
    with outage_control(store_db) as outage:
        url = outage.url
        if store_db.backend == "postgresql":
            url = url.replace("postgres@", "postgres:pw-s3cret-value@")  # trust auth ignores it
        store = open_store(url, options=OPTIONS)
        store.start_run("r", "alice", "q").append("agent_start", "{}")
        assert store.flush(10.0)
        outage.start()
        if store_db.backend == "postgresql":
            with pytest.raises(StoreError) as caught:
                store.list_runs("alice")
            assert "pw-s3cret-value" not in str(caught.value)
            assert "run store" in str(caught.value)
        else:
            assert [run.id for run in store.list_runs("alice")] == ["r"]
        outage.end()
        assert [run.id for run in store.list_runs("alice")] == ["r"]
        store.close()
