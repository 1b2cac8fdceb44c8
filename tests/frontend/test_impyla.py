"""impyla against the real server: PLAIN and its NOSASL default, and its Impala-only calls
(GetLog, CloseImpalaOperation) answered with Thrift's UNKNOWN_METHOD on the same connection."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from impala.dbapi import connect
from thrift.transport.TTransport import TTransportException


def _run(connection: Any, question: str) -> tuple[list[dict[str, Any]], str]:
    cursor = connection.cursor()
    cursor.execute(question)
    assert cursor.description[0][0] == "reply"
    rows = [json.loads(row[0]) for row in cursor.fetchall()]
    log_text = cursor.get_log()  # GetLog -> UNKNOWN_METHOD -> FetchResults(fetchType=1)
    cursor.close()  # CloseImpalaOperation -> UNKNOWN_METHOD -> CloseOperation
    return rows, log_text


def test_impyla_plain(server: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="engine.frontend")
    connection = connect(server.host, server.port, auth_mechanism="PLAIN", user="ivan", password="x")
    try:
        for question in ("first question", "second question on the same connection"):
            rows, log_text = _run(connection, question)
            assert rows[0]["type"] == "agent_start" and rows[-1]["type"] == "agent_finish"
            assert question in "".join(row.get("text", "") for row in rows)
            assert isinstance(log_text, str)
    finally:
        connection.close()
    messages = [record.getMessage() for record in caplog.records]
    assert any("unknown method GetLog" in message for message in messages)
    assert any("unknown method CloseImpalaOperation" in message for message in messages)
    # impyla sends the OS user in OpenSession.username; the session belongs to the SASL user
    assert any("opened for ivan" in message for message in messages)
    assert any("client V6, answering V6" in message for message in messages)


def test_impyla_nosasl_default(nosasl_server: Any) -> None:
    connection = connect(nosasl_server.host, nosasl_server.port)
    try:
        rows, _ = _run(connection, "hello over NOSASL")
        assert rows[-1]["type"] == "agent_finish"
    finally:
        connection.close()


def test_impyla_against_the_wrong_transport_fails_fast(nosasl_server: Any) -> None:
    """A SASL client on a NOSASL server gets a closed socket, not a hang."""
    with pytest.raises((TTransportException, OSError, EOFError)):
        connect(
            nosasl_server.host, nosasl_server.port, auth_mechanism="PLAIN", user="u", password="x", timeout=20
        )
