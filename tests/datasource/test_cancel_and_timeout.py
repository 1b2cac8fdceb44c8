"""PostgreSQL and MariaDB: a cancel or a query timeout stops the statement inside the database,
and the datasource stays usable afterwards."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from engine.common.cancel import CancelReason, CancelToken
from engine.common.errors import OperationCanceledError, OperationTimeoutError
from engine.datasource import Datasource
from tests.support.databases import mysql_query, pg_query, wait_until


def _pg_active(marker: str) -> int:
    return pg_query(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s AND pid <> pg_backend_pid()",
        f"%{marker}%",
    )[0][0]


def _mysql_running(marker: str) -> int:
    return mysql_query(
        "SELECT count(*) FROM information_schema.processlist WHERE command = 'Query' AND info LIKE %s "
        "AND id <> CONNECTION_ID()",
        f"%{marker}%",
    )[0][0]


def _pg_long_write(datasource: Datasource, marker: str) -> None:
    datasource.execute_write(f"SELECT pg_sleep(30) AS {marker}", timeout=0.5)


def _mysql_long_join(datasource: Datasource, marker: str) -> None:
    datasource.execute_read(
        "SELECT sum(a.seq * b.seq) FROM seq_1_to_100000 a, seq_1_to_100000 b", max_rows=1, timeout=0.5
    )


@dataclass(frozen=True)
class Server:
    fixture: str  # the datasource fixture
    sleep: str  # a statement that sleeps {seconds}, with {marker} in its text
    running: Callable[[str], int]  # statements running now with the marker in their text
    long_other: Callable[[Datasource, str], None]  # another long statement, given timeout=0.5


SERVERS = {
    "postgresql": Server("pg_ds", "SELECT pg_sleep({seconds}) AS {marker}", _pg_active, _pg_long_write),
    "mariadb": Server("mysql_ds", "SELECT SLEEP({seconds}) AS {marker}", _mysql_running, _mysql_long_join),
}


@pytest.fixture(params=list(SERVERS))
def server(request: pytest.FixtureRequest) -> tuple[str, Server, Datasource]:
    spec = SERVERS[request.param]
    return request.param, spec, request.getfixturevalue(spec.fixture)


def test_cancel_kills_the_query_within_two_seconds(server: tuple[str, Server, Datasource]) -> None:
    kind, spec, datasource = server
    marker = f"slow_{uuid.uuid4().hex[:8]}"
    token = CancelToken()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            datasource.execute_read(
                spec.sleep.format(seconds=60, marker=marker), max_rows=1, timeout=120, cancel=token
            )
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run, name=f"test-{kind}-query")
    worker.start()
    assert wait_until(lambda: spec.running(marker) == 1, 10)
    cancelled_at = time.monotonic()
    token.cancel(CancelReason.USER)
    worker.join(5)
    assert not worker.is_alive() and time.monotonic() - cancelled_at < 2.0
    assert isinstance(outcome[0], OperationCanceledError)
    assert wait_until(lambda: spec.running(marker) == 0, 2)
    assert datasource.execute_read("SELECT 1", max_rows=1, timeout=5).rows == [(1,)]


def test_timeout_inside_the_database(server: tuple[str, Server, Datasource]) -> None:
    _kind, spec, datasource = server
    marker = f"timeout_{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    with pytest.raises(OperationTimeoutError, match=r"query\.timeout"):
        datasource.execute_read(spec.sleep.format(seconds=30, marker=marker), max_rows=1, timeout=0.5)
    assert time.monotonic() - started < 2.5
    assert wait_until(lambda: spec.running(marker) == 0, 2)
    with pytest.raises(OperationTimeoutError):
        spec.long_other(datasource, marker)
    assert time.monotonic() - started < 5
