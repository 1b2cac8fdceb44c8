"""PyHive against the real server: SASL PLAIN (NONE and CUSTOM), NOSASL, sync and async cursors,
fetchmany while a statement runs."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from pyhive import hive
from pyhive.exc import OperationalError
from TCLIService.ttypes import TOperationState
from thrift.transport.TTransport import TTransportException

from tests.frontend.providers import END, QueueProvider
from tests.support.passwords import write_password_file


def _rows(cursor: Any) -> list[dict[str, Any]]:
    return [json.loads(row[0]) for row in cursor.fetchall()]


def _ask(connection: Any, question: str = "how many orders?") -> list[dict[str, Any]]:
    cursor = connection.cursor()
    try:
        cursor.execute(question)
        assert cursor.description[0][:2] == ("reply", "STRING_TYPE")
        return _rows(cursor)
    finally:
        cursor.close()


def test_sasl_plain_any_password(server: Any) -> None:
    with hive.connect(server.host, server.port, username="alice", password="whatever", auth="CUSTOM") as conn:
        events = _ask(conn, "what is in the demo database?")
    kinds = [event["type"] for event in events]
    assert kinds[0] == "agent_start" and kinds[-1] == "agent_finish"
    assert "step_start" in kinds and "content_delta" in kinds
    text = "".join(event.get("text", "") for event in events)
    assert "what is in the demo database?" in text


def test_sasl_plain_auth_none(server: Any) -> None:
    with hive.connect(server.host, server.port, username="bob", auth="NONE") as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT 1")
        assert cursor.fetchall() == [(1,)]


def test_nosasl(nosasl_server: Any) -> None:
    with hive.connect(nosasl_server.host, nosasl_server.port, username="carol", auth="NOSASL") as conn:
        events = _ask(conn)
    assert events[-1]["type"] == "agent_finish"


def _password_file(tmp_path: Path, user: str, password: str) -> Path:
    return write_password_file(tmp_path / "passwords", {user: password}, header="users")


def test_custom_password_file(hs2: Any, tmp_path: Path) -> None:
    path = _password_file(tmp_path, "dave", "s3cret")
    stack = hs2({"kyuubi.authentication": "CUSTOM", "kyuubi.authentication.password.file": str(path)})
    with hive.connect(stack.host, stack.port, username="dave", password="s3cret", auth="CUSTOM") as conn:
        assert _ask(conn)[-1]["type"] == "agent_finish"
    for user, password in (("dave", "wrong"), ("nobody", "s3cret")):
        with pytest.raises(Exception) as caught:
            hive.connect(stack.host, stack.port, username=user, password=password, auth="CUSTOM")
        assert "s3cret" not in str(caught.value)
    # the server still serves after refusing logins
    with hive.connect(stack.host, stack.port, username="dave", password="s3cret", auth="CUSTOM") as conn:
        assert _ask(conn)[0]["type"] == "agent_start"


def test_async_cursor_poll(server: Any) -> None:
    with hive.connect(server.host, server.port, username="erin") as conn:
        cursor = conn.cursor()
        cursor.execute("echo me", async_=True)
        status = cursor.poll()
        assert status.operationState in (
            TOperationState.INITIALIZED_STATE,
            TOperationState.PENDING_STATE,
            TOperationState.RUNNING_STATE,
            TOperationState.FINISHED_STATE,
        )
        while cursor.poll().operationState != TOperationState.FINISHED_STATE:
            assert cursor.poll(get_progress_update=False).operationState not in (
                TOperationState.ERROR_STATE,
                TOperationState.CANCELED_STATE,
            )
        events = _rows(cursor)
        assert events[0]["type"] == "agent_start" and events[-1]["type"] == "agent_finish"


def test_fetchmany_while_running(hs2: Any) -> None:
    """fetchmany returns rows while the run is still RUNNING (PyHive ends at an empty batch, so each
    fetchmany asks for rows that are on their way; the long poll covers the gap)."""
    provider = QueueProvider()
    stack = hs2(provider=provider)
    with hive.connect(stack.host, stack.port, username="frank") as conn:
        cursor = conn.cursor()
        cursor.arraysize = 5
        cursor.execute("stream rows", async_=True)
        assert provider.started.wait(10)
        rows: list[dict[str, Any]] = []
        for batch in range(3):
            for step in range(batch * 5, batch * 5 + 5):
                provider.rows.put(step)
            got = cursor.fetchmany(5)
            assert len(got) == 5
            rows.extend(json.loads(row[0]) for row in got)
            assert cursor.poll().operationState == TOperationState.RUNNING_STATE
        provider.rows.put(END)
        rows.extend(json.loads(row[0]) for row in cursor.fetchall())
    assert rows[0]["type"] == "agent_start" and rows[-1]["type"] == "agent_finish"
    assert [row["step"] for row in rows if row["type"] == "step_start"] == list(range(15))


def test_sync_fetch_sees_every_row_of_a_running_statement(hs2: Any) -> None:
    """PyHive's synchronous cursor stops at the first empty batch: the long poll must keep it going."""
    provider = QueueProvider()
    stack = hs2(provider=provider)
    with hive.connect(stack.host, stack.port, username="gina") as conn:
        cursor = conn.cursor()
        cursor.execute("stream rows", async_=True)
        assert provider.started.wait(10)

        def feed() -> None:
            for step in range(50):
                provider.rows.put(step)
            provider.rows.put(END)

        feeder = threading.Thread(target=feed, name="test-feeder")
        feeder.start()
        rows = [json.loads(row[0]) for row in cursor.fetchall()]
        feeder.join(10)
    steps = [row["step"] for row in rows if row["type"] == "step_start"]
    assert steps == list(range(50))
    assert rows[-1]["type"] == "agent_finish"


def test_cancel_running_statement(hs2: Any) -> None:
    provider = QueueProvider()
    stack = hs2(provider=provider)
    with hive.connect(stack.host, stack.port, username="hank") as conn:
        cursor = conn.cursor()
        cursor.execute("never ends", async_=True)
        assert provider.started.wait(10)
        cursor.cancel()
        state = cursor.poll().operationState
        while state in (TOperationState.RUNNING_STATE, TOperationState.PENDING_STATE):
            state = cursor.poll().operationState
        assert state == TOperationState.CANCELED_STATE


def test_error_reaches_the_client(server: Any) -> None:
    with hive.connect(server.host, server.port, username="ivy") as conn:
        cursor = conn.cursor()
        with pytest.raises(OperationalError) as caught:
            cursor.execute("__approve:")
        assert "42000" in str(caught.value) or "id" in str(caught.value).lower()
        cursor.execute("SELECT 1")  # the connection is still usable
        assert cursor.fetchall() == [(1,)]


@pytest.mark.parametrize(("server_auth", "client_auth"), [("NONE", "NOSASL"), ("NOSASL", "NONE")])
def test_wrong_transport_fails_fast(hs2: Any, server_auth: str, client_auth: str) -> None:
    """A client whose transport does not match gets a closed socket, never a hang."""
    stack = hs2({"kyuubi.authentication": server_auth})
    with pytest.raises((TTransportException, OSError, EOFError)):
        hive.connect(stack.host, stack.port, username="x", auth=client_auth)
    with hive.connect(
        stack.host, stack.port, username="y", auth="NOSASL" if client_auth == "NONE" else "NONE"
    ) as conn:
        assert _ask(conn)[-1]["type"] == "agent_finish"


@pytest.mark.parametrize("auth", ["NONE", "NOSASL"])
def test_sqlalchemy_hive_dialect(hs2: Any, auth: str) -> None:
    stack = hs2({"kyuubi.authentication": auth})
    query = "?auth=NOSASL" if auth == "NOSASL" else ""
    engine = sqlalchemy.create_engine(f"hive://sam@{stack.host}:{stack.port}/default{query}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(sqlalchemy.text("how many rows per table?")).fetchall()
    finally:
        engine.dispose()
    events = [json.loads(row[0]) for row in rows]
    assert events[0]["type"] == "agent_start" and events[-1]["type"] == "agent_finish"
